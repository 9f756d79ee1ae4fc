"""`signpost accounts add|list|revoke|token|refusals` on a fresh embedded data directory."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from services_db.models import ApiToken
from signpost import wiring
from signpost.cli.accounts import app

runner = CliRunner()
TOKEN = re.compile(r"^spt_[A-Za-z0-9_-]{43}$", re.MULTILINE)


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _token(out: str) -> str:
    found = TOKEN.search(out)
    assert found, out
    return found.group(0)


def test_add_with_a_token_shown_once_and_stored_hashed(data_dir: Path) -> None:
    code, out = run("add", "Leeds team", "--role", "pcc_editor", "--commissioner", "pcc-E23000010", "--issue-token")
    assert code == 0 and "Account 1 added: Leeds team (pcc_editor for pcc-E23000010)" in out
    token = _token(out)
    with Session(wiring.database()) as session:
        stored = session.exec(select(ApiToken)).one()
    assert stored.token_hash != token and token not in json.dumps(stored.model_dump(mode="json"))
    code, out = run("list", "--json")
    listed = json.loads(out)
    assert code == 0 and listed[0]["tokens"][0]["prefix"] == token[:12] and token not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "X", "--role", "pcc_editor"), "needs --commissioner"),
        (("add", "X", "--role", "pcc_editor", "--commissioner", "nope"), "unknown commissioner 'nope'"),
        (("add", "X", "--role", "analyst", "--commissioner", "pcc-E23000010"), "not tied to a commissioner"),
        (("revoke", "42"), "no account 42"),
        (("revoke",), "give an account id"),
        (("token", "42"), "no account 42"),
        (("list", "--token", "spt_not-a-real-token"), "not known"),
    ],
)
def test_user_errors_exit_2_with_a_message(data_dir: Path, args: tuple[str, ...], message: str) -> None:
    code, out = run(*args)
    assert code == 2 and message in out and "Traceback" not in out


def test_only_an_admin_token_manages_accounts_and_refusals_are_listed(data_dir: Path) -> None:
    admin = _token(run("add", "Boss", "--role", "admin", "--issue-token")[1])
    analyst = _token(run("add", "Ana", "--role", "analyst", "--issue-token", "--token", admin)[1])
    code, out = run("add", "Eve", "--role", "admin", "--token", analyst)
    assert code == 2 and "only admins manage accounts" in out
    code, out = run("refusals")
    assert code == 0 and "Ana (account 2, token)" in out and "manage_accounts" in out
    code, out = run("revoke", "2", "--token", admin)
    assert code == 0 and "revoked" in out
    code, out = run("list", "--token", analyst)
    assert code == 2 and "revoked" in out


def test_revoke_one_token_by_prefix(data_dir: Path) -> None:
    first = _token(run("add", "Boss", "--role", "admin", "--issue-token")[1])
    second = _token(run("token", "1", "--expires-days", "7")[1])
    code, out = run("revoke", "--token-prefix", first[:12])
    assert code == 0 and f"Token {first[:12]} of account 1 revoked." in out
    assert run("list", "--token", first)[0] == 2
    assert run("list", "--token", second)[0] == 0
