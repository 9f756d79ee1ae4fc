"""`signpost jobs ...` and `signpost outbox` on the configured database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from services_db import access
from services_db.models import JobRun, OutboxMessage, ScheduledImport
from signpost.cli import app

runner = CliRunner()


def test_run_now_records_the_run_and_list_shows_it(cli_database: Engine) -> None:
    result = runner.invoke(app, ["jobs", "run-now", "retention"])
    assert result.exit_code == 0, result.output
    assert "retention: ok" in result.output
    with Session(cli_database) as session:
        assert session.exec(select(JobRun)).one().outcome == "ok"
    listing = runner.invoke(app, ["jobs", "list"])
    assert listing.exit_code == 0 and "ok" in listing.output and "never" in listing.output


def test_an_unknown_job_is_a_clear_error(cli_database: Engine) -> None:
    result = runner.invoke(app, ["jobs", "run-now", "nightly"])
    assert result.exit_code == 2
    assert "unknown job 'nightly'" in result.output and "retention" in result.output


def test_outbox_prints_undelivered_messages_once(cli_database: Engine) -> None:
    with Session(cli_database) as session:
        session.add(
            OutboxMessage(
                created_at=datetime.now(UTC),
                commissioner_code=None,
                subject="3 services to check",
                body="Please check them.",
            )
        )
        session.commit()
    first = runner.invoke(app, ["outbox"])
    second = runner.invoke(app, ["outbox"])
    assert "3 services to check" in first.output and "Please check them." in first.output
    assert "The outbox is empty." in second.output


def test_scheduled_imports_need_an_active_editor(cli_database: Engine, tmp_path: Path) -> None:
    source = tmp_path / "list.csv"
    source.write_text("id\n", encoding="utf-8")
    refused = runner.invoke(app, ["jobs", "imports", "add", str(source), "--account", "99"])
    assert refused.exit_code == 2 and "not an active pcc_editor" in refused.output
    with Session(cli_database) as session:
        editor = access.add_account(
            session=session, name="Kent team", role="pcc_editor", actor="t", commissioner_code="pcc-E23000032"
        )
        session.commit()
    added = runner.invoke(app, ["jobs", "imports", "add", str(source), "--account", str(editor.id)])
    assert added.exit_code == 0, added.output
    listing = runner.invoke(app, ["jobs", "imports", "list"])
    assert listing.exit_code == 0 and "Kent team" in listing.output and "never" in listing.output
    with Session(cli_database) as session:
        schedule_id = session.exec(select(ScheduledImport)).one().id
    removed = runner.invoke(app, ["jobs", "imports", "remove", str(schedule_id)])
    assert removed.exit_code == 0
    assert runner.invoke(app, ["jobs", "imports", "remove", str(schedule_id)]).exit_code == 2


def test_a_scheduled_import_path_that_is_not_a_file_says_what_it_is(cli_database: Engine, tmp_path: Path) -> None:
    for source, kind in (("/dev/zero", "is a device"), (str(tmp_path), "is a folder")):
        refused = runner.invoke(app, ["jobs", "imports", "add", source, "--account", "1"])
        assert refused.exit_code == 2 and kind in refused.output and "published services list" in refused.output
