"""`signpost services list|show|seed|history|restore|verify` on a fresh embedded data directory."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from mapping.types import ChannelKind, Confirmation
from services_db.convert import record_to_dict
from services_db.seed import load_national_directory, load_shipped_directory
from signpost.cli.operator import operator_actor
from signpost.cli.services import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_list_shows_the_seeded_directory_on_first_use(data_dir: Path) -> None:
    code, out = run("list")
    assert code == 0 and "galop" in out and "police-emergency-999" in out
    code, out = run("list", "--kind", "specialist_support", "--json")
    assert code == 0
    listed = {r["id"]: r for r in json.loads(out)}
    assert {"cst", "galop", "report-racism-grt", "tell-mama"} <= set(listed)
    assert {r["kind"] for r in listed.values()} == {"specialist_support"}


def test_show_prints_contacts_and_caveat(data_dir: Path) -> None:
    code, out = run("show", "tell-mama")
    assert code == 0 and "0800 456 1226" in out and "Not confirmed" in out
    code, out = run("show", "galop", "--json")
    assert code == 0 and json.loads(out)["hours"]["intervals"][-1] == "fri 10:00-16:30"


def test_unknown_ids_exit_2_with_a_message(data_dir: Path) -> None:
    for command in (("show", "nope"), ("history", "nope"), ("verify", "nope"), ("restore", "nope", "--version", "1")):
        code, out = run(*command)
        assert code == 2, command
        assert "nope" in out and "Traceback" not in out


def test_verify_history_and_restore(data_dir: Path) -> None:
    code, out = run("verify", "samaritans", "--on", "2025-02-03", "--actor", "pcc-team")
    assert code == 0 and "version 2" in out
    code, out = run("history", "samaritans", "--json")
    entries = json.loads(out)
    assert [(e["version"], e["action"], e["actor"]) for e in entries] == [
        (1, "seed", "seed"),
        (2, "verify", f"{operator_actor()} for pcc-team"),
    ]
    assert entries[1]["actor"].startswith("operator ") and "@" in entries[1]["actor"]
    assert entries[1]["changed"] == ["verified_on"]
    code, out = run("restore", "samaritans", "--version", "1")
    assert code == 0 and "now version 3" in out
    code, out = run("show", "samaritans", "--json")
    shipped = load_national_directory().services
    seeded = next(s for s in shipped if s.id == "samaritans").verified_on.isoformat()
    assert json.loads(out)["verified_on"] == seeded and json.loads(out)["version"] == 3
    code, out = run("restore", "samaritans", "--version", "9")
    assert code == 2 and "versions you can restore: 1, 2, 3" in out


def test_verify_refuses_bad_and_future_dates(data_dir: Path) -> None:
    assert run("verify", "galop", "--on", "03/02/2025")[0] == 2
    code, out = run("verify", "galop", "--on", (date.today() + timedelta(days=2)).isoformat())
    assert code == 2 and "future" in out


def test_seed_again_reports_user_changes_it_left_alone(data_dir: Path) -> None:
    assert run("verify", "galop", "--on", "2025-02-03")[0] == 0
    code, out = run("seed")
    assert code == 0 and "0 added" in out and "Left as users changed them: galop" in out


def test_list_never_cuts_ids_short_on_a_narrow_terminal(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out = run("list")
    assert code == 0
    for service in load_national_directory().services:
        assert service.id in out


def test_history_table_shows_before_and_after(data_dir: Path, tmp_path: Path) -> None:
    from signpost.cli import app as main_app

    assert run("verify", "galop", "--on", "2025-02-03")[0] == 0
    exported = tmp_path / "all.csv"
    assert runner.invoke(main_app, ["services", "export", "--format", "csv", "--out", str(exported)]).exit_code == 0
    text = exported.read_text(encoding="utf-8").replace(",help@galop.org.uk,", ",helpline@example.org,", 1)
    exported.write_text(text, encoding="utf-8")
    result = runner.invoke(main_app, ["services", "import", str(exported), "--actor", "admin"])
    assert result.exit_code == 0, result.output
    code, out = run("history", "galop")
    assert code == 0
    assert "verified_on: " in out and "-> 2025-02-03" in out
    assert "- email help@galop.org.uk" in out and "+ email helpline@example.org" in out


def test_restore_of_an_unknown_id_says_so(data_dir: Path) -> None:
    code, out = run("restore", "no-such-service", "--version", "1")
    assert code == 2 and "no service with id 'no-such-service'" in out and "signpost services list" in out


def test_show_prints_what_the_orm_record_prints(cli_database: Engine) -> None:
    """`show` reads a current directory without the ORM: byte for byte what the repository's record prints,
    for entries with hours, several phones, strands, unconfirmed flags, Welsh text and caveats."""
    from services_db import repository
    from signpost import wiring
    from signpost.cli import services

    assert run("show", "galop")[0] == 0  # a brand-new directory: migrated and seeded first
    records = load_shipped_directory().services
    picks = {
        next(r.id for r in records if r.hours.to_text()),
        next(r.id for r in records if sum(c.kind is ChannelKind.PHONE for c in r.channels) > 1),
        next(r.id for r in records if len(r.strands) > 1),
        next(r.id for r in records if r.confirmation is Confirmation.UNCONFIRMED),
        next(r.id for r in records if "cy" in r.translations),
        next(r.id for r in records if r.caveat),
    }
    with Session(wiring.database(), expire_on_commit=False) as session:
        expected = {i: repository.get_service(session=session, service_id=i) for i in picks}
    for service_id, record in expected.items():
        assert record is not None
        with services.console.capture() as printed:
            services.console.print(services.service_table(record))
        code, out = run("show", service_id)
        assert code == 0 and out == printed.get(), service_id
        code, out = run("show", service_id, "--json")
        assert code == 0 and json.loads(out) == record_to_dict(record)


def test_verify_again_the_same_day_and_restore_of_the_current_content_change_nothing(data_dir: Path) -> None:
    code, out = run("verify", "samaritans", "--on", "2025-02-03", "--actor", "pcc-team")
    assert code == 0 and "version 2" in out
    code, out = run("verify", "samaritans", "--on", "2025-02-03", "--actor", "pcc-team")
    assert code == 0 and "Nothing changed" in out and "already verified on 2025-02-03" in out
    code, out = run("restore", "samaritans", "--version", "2")
    assert code == 0 and "Nothing changed" in out and "stays version 2" in out and "Restored" not in out
    code, out = run("history", "samaritans", "--json")
    assert [e["version"] for e in json.loads(out)] == [1, 2]
    code, out = run("verify", "samaritans", "--on", "2025-02-03", "--actor", "another-person")
    assert code == 0 and "version 3" in out  # someone else checking it is news


@pytest.mark.parametrize("actor", ["evil\nFAKE", "evil\u202eFAKE", "a\x1b[2Jb", "zero\u200bwidth"])
def test_an_actor_with_control_characters_is_refused(data_dir: Path, actor: str) -> None:
    code, out = run("verify", "samaritans", "--actor", actor)
    assert code == 2 and "control or invisible character" in out and "\x1b" not in out and "\u202e" not in out
    assert len(out.strip().splitlines()) == 1 and "\\\\" not in out  # one line; each code shown once escaped
    code, out = run("history", "samaritans", "--json")
    assert [e["version"] for e in json.loads(out)] == [1]


def test_show_renders_its_own_markup_for_every_shipped_service(data_dir: Path) -> None:
    for record in load_shipped_directory().services:
        code, out = run("show", record.id)
        assert code == 0 and "[/" not in out and "[yellow]" not in out, (record.id, out)


@pytest.mark.parametrize("query", ["Leeds\x1b[31mRED", "Glasgow \x1b]0;title\x07", "LS6 \u202e1AN"])
def test_find_shows_control_characters_in_the_query_as_codes(data_dir: Path, query: str) -> None:
    from signpost.cli import app as signpost_app

    result = runner.invoke(signpost_app, ["find", query])
    assert result.exit_code == 2 and "\x1b" not in result.output and "\u202e" not in result.output
    assert "\\x1b" in result.output or "\\u202e" in result.output
