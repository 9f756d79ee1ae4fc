"""`signpost accounts add|list|revoke|token|refusals` on a fresh embedded data directory."""

from __future__ import annotations

import json
import os
import pwd
import re
import socket
import stat
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from services_db.models import ApiToken, AuditEntry
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
        (("list", "--token", "spt_not-a-real-token"), "No such option: --token"),
        (("revoke", "99999999999999999999"), "less than or equal to"),
        (("token", "2147483648"), "less than or equal to"),
        (("add", "X", "--role", "analyst", "--telegram-id", "9223372036854775808"), "less than or equal to"),
        (("add", "evil\nFAKE", "--role", "analyst"), "control character (U+000A) at character 5"),
        (("add", "Leeds \u202eteam", "--role", "analyst"), "(U+202E RIGHT-TO-LEFT OVERRIDE) at character 7"),
        (("add", "a\x1b[2Jb", "--role", "analyst"), "(U+001B) at character 2"),
    ],
)
def test_user_errors_exit_2_with_a_message(data_dir: Path, args: tuple[str, ...], message: str) -> None:
    code, out = run(*args)
    assert code == 2 and message in out and "Traceback" not in out


def test_the_command_line_acts_as_the_operator_named_by_os_account_and_host(data_dir: Path) -> None:
    run("add", "Boss", "--role", "admin")
    with Session(wiring.database()) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "account_added")).one()
    assert entry.actor == f"operator {pwd.getpwuid(os.getuid()).pw_name}@{socket.gethostname()}"


def test_the_embedded_database_is_private_to_its_owner(data_dir: Path) -> None:
    run("add", "Boss", "--role", "admin")
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    files = list(data_dir.glob("signpost.sqlite3*"))
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files), files
    # An older install's world-readable file is tightened on the next start.
    (data_dir / "signpost.sqlite3").chmod(0o644)
    data_dir.chmod(0o755)
    wiring.settings.cache_clear()
    run("list")
    assert stat.S_IMODE((data_dir / "signpost.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def test_revoke_one_token_by_prefix(data_dir: Path) -> None:
    first = _token(run("add", "Boss", "--role", "admin", "--issue-token")[1])
    second = _token(run("token", "1", "--expires-days", "7")[1])
    code, out = run("revoke", "--token-prefix", first[:12])
    assert code == 0 and f"Token {first[:12]} of account 1 revoked." in out
    code, out = run("list", "--json")
    [tokens] = [a["tokens"] for a in json.loads(out)]
    assert [(t["prefix"], t["active"]) for t in tokens] == [(first[:12], False), (second[:12], True)]


def test_a_sign_in_link_for_the_web_console(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNPOST_WEB_URL", "https://signpost.example.org/")
    wiring.settings.cache_clear()
    run("add", "Leeds team", "--role", "pcc_editor", "--commissioner", "pcc-E23000010")
    code, out = run("link", "leeds team")
    assert code == 0 and "One-time sign-in link for Leeds team" in out
    assert re.search(r"^https://signpost\.example\.org/signin\?code=[A-Za-z0-9_-]{24}$", out, re.MULTILINE), out
    assert run("link", "Nobody")[0] == 2
    assert run("link", "99999999999")[0] == 2
