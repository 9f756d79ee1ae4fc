"""Import, export and re-import on SQLite and PostgreSQL: round trips, diffs, removal scope, versions, CLI."""

from __future__ import annotations

import os
import pwd
import socket
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from typer.testing import CliRunner

from mapping.types import ServiceRecord, ServiceStatus
from services_db import repository
from services_db.diff import canonical
from services_db.formats import FileFormat, read_services, write_services
from services_db.formats.csv_format import TEMPLATE, TEMPLATE_NOTES, template_notes
from services_db.importer import apply_import, export_directory, plan_import
from services_db.models import AuditEntry
from services_db.seed import seed
from signpost.cli import app
from tests.services_db.factories import (
    DRAMA_PHONES,
    area_service,
    mixed_directory,
    phone,
    polygon_service,
    radius_service,
    with_changes,
)

runner = CliRunner()
SUFFIX = {FileFormat.CSV: "csv", FileFormat.GEOJSON: "geojson", FileFormat.ORUK: "json"}
LEEDS_PCC, MANCHESTER_PCC = "pcc-E23000010", "pcc-E23000005"


def _directory() -> list[ServiceRecord]:
    """A mixed directory of test services, commissioned by two PCCs or nobody."""
    records = mixed_directory(60, seed=7, commissioner_codes=(LEEDS_PCC, MANCHESTER_PCC, None))
    return [*records, polygon_service(service_id="test-polygon"), radius_service(53.48, -2.24, service_id="test-r")]


def _import(session: Session, path: Path, **options: object) -> tuple[object, object]:
    plan = plan_import(session=session, path=path, **options)  # type: ignore[arg-type]
    assert plan.ok, [str(p) for p in plan.problems]
    return plan, apply_import(session=session, plan=plan, actor="test")


def _audit_count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(AuditEntry)).one()


@pytest.mark.parametrize("fmt", list(FileFormat))
def test_file_import_export_reimport_round_trips_exactly(fmt: FileFormat, session: Session, tmp_path: Path) -> None:
    records = _directory()
    source = tmp_path / f"directory.{SUFFIX[fmt]}"
    source.write_text(write_services(records, fmt), encoding="utf-8")

    plan, report = _import(session, source)
    assert len(report.created) == len(records) and not report.updated and not report.closed  # type: ignore[attr-defined]

    stored = repository.list_services(session=session)
    assert [canonical(r) for r in stored] == sorted((canonical(r) for r in records), key=lambda r: r.id)

    exported = export_directory(session=session, fmt=fmt)
    assert exported == source.read_bytes().decode("utf-8")  # byte for byte what came in

    again = tmp_path / f"again.{SUFFIX[fmt]}"
    again.write_text(exported, encoding="utf-8")
    audits = _audit_count(session)
    plan, report = _import(session, again)
    assert plan.changes.is_empty and len(plan.changes.unchanged) == len(records)  # type: ignore[attr-defined]
    assert _audit_count(session) == audits
    assert repository.list_services(session=session) == stored


@pytest.mark.parametrize("fmt", list(FileFormat))
def test_the_seeded_directory_round_trips(fmt: FileFormat, session: Session, tmp_path: Path) -> None:
    seed(session=session)
    before = repository.list_services(session=session)
    path = tmp_path / f"seed.{SUFFIX[fmt]}"
    path.write_text(export_directory(session=session, fmt=fmt), encoding="utf-8")
    plan, _ = _import(session, path, replace_all=True)
    assert plan.changes.is_empty  # type: ignore[attr-defined]
    assert repository.list_services(session=session) == before


def test_the_shipped_template_imports_and_round_trips(session: Session, tmp_path: Path) -> None:
    plan, report = _import(session, TEMPLATE)
    assert report.created == ("example-template-centre",)  # type: ignore[attr-defined]
    record = repository.get_service(session=session, service_id="example-template-centre")
    assert record is not None and record.status is ServiceStatus.SUSPENDED and "not a real service" in record.caveat
    exported = tmp_path / "export.csv"
    exported.write_text(export_directory(session=session, fmt="csv"), encoding="utf-8")
    plan, _ = _import(session, exported)
    assert plan.changes.is_empty  # type: ignore[attr-defined]


def test_the_shipped_notes_match_the_columns() -> None:
    assert TEMPLATE_NOTES.read_bytes().decode("utf-8") == template_notes()


def test_an_edit_shows_field_level_before_and_after_and_is_audited(session: Session, tmp_path: Path) -> None:
    records = _directory()
    path = tmp_path / "directory.csv"
    path.write_text(write_services(records, "csv"), encoding="utf-8")
    _import(session, path)
    target = records[3]
    edited = with_changes(target, channels=(phone(DRAMA_PHONES[-1]), *target.channels[1:]), name="Renamed centre")
    current = {r.id: r for r in repository.list_services(session=session)}
    path.write_text(
        write_services([edited if r.id == target.id else r for r in current.values()], "csv"), encoding="utf-8"
    )

    plan = plan_import(session=session, path=path)
    assert plan.ok and plan.changes is not None
    [change] = plan.changes.changed
    assert change.service_id == target.id
    shown = {(f.column, f.before, f.after) for f in change.fields}
    assert ("name", target.name, "Renamed centre") in shown
    assert any(c == "phone" and DRAMA_PHONES[-1] in after for c, _, after in shown)
    report = apply_import(session=session, plan=plan, actor="editor")
    assert report.updated == (target.id,)
    [entry] = [a for a in repository.history(session=session, service_id=target.id) if a.actor == "editor"]
    assert entry.before is not None and entry.before.name == target.name
    assert entry.after is not None and entry.after.name == "Renamed centre" and entry.version == 2


def test_removal_closes_only_services_of_the_commissioners_in_the_file(session: Session, tmp_path: Path) -> None:
    records = _directory()
    path = tmp_path / "all.csv"
    path.write_text(write_services(records, "csv"), encoding="utf-8")
    _import(session, path)
    leeds = [r for r in repository.list_services(session=session) if r.commissioner_code == LEEDS_PCC]
    dropped, kept = leeds[0], leeds[1:]
    path = tmp_path / "leeds.csv"
    path.write_text(write_services(kept, "csv"), encoding="utf-8")

    plan, report = _import(session, path)
    assert [r.id for r in plan.changes.removed] == [dropped.id]  # type: ignore[attr-defined]
    assert report.closed == (dropped.id,)  # type: ignore[attr-defined]
    after = {r.id: r for r in repository.list_services(session=session)}
    assert after[dropped.id].status is ServiceStatus.CLOSED  # closed, not deleted
    assert len(after) == len(records)
    assert all(after[r.id].status == r.status for r in records if r.id != dropped.id)
    assert repository.history(session=session, service_id=dropped.id)[-1].action == "close"


def test_replace_all_closes_everything_the_file_does_not_list(session: Session, tmp_path: Path) -> None:
    records = _directory()
    path = tmp_path / "all.csv"
    path.write_text(write_services(records, "csv"), encoding="utf-8")
    _import(session, path)
    path.write_text(write_services(records[:5], "csv"), encoding="utf-8")
    plan = plan_import(session=session, path=path)
    assert plan.changes is not None
    assert all(r.commissioner_code in {LEEDS_PCC, MANCHESTER_PCC} for r in plan.changes.removed)
    plan = plan_import(session=session, path=path, replace_all=True)
    assert plan.changes is not None
    open_before = {r.id for r in records if r.status is not ServiceStatus.CLOSED}
    assert {r.id for r in plan.changes.removed} == open_before - {r.id for r in records[:5]}


def test_an_edit_on_a_stale_export_is_refused(session: Session, tmp_path: Path) -> None:
    records = _directory()
    path = tmp_path / "all.csv"
    path.write_text(write_services(records, "csv"), encoding="utf-8")
    _import(session, path)
    export = export_directory(session=session, fmt="csv")
    target = repository.get_service(session=session, service_id=records[0].id)
    assert target is not None
    repository.update_service(
        session=session, record=replace(target, name="Changed meanwhile"), actor="other", expected_version=1
    )
    path.write_text(export.replace(records[1].name, "My edit"), encoding="utf-8")
    audits = _audit_count(session)
    plan = plan_import(session=session, path=path)
    assert not plan.ok
    [problem] = plan.problems
    assert problem.field == "version" and problem.row == 2 and "export again" in problem.message
    assert _audit_count(session) == audits


def test_a_change_between_plan_and_apply_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    records = _directory()
    path = tmp_path / "all.csv"
    path.write_text(write_services(records, "csv"), encoding="utf-8")
    with Session(engine, expire_on_commit=False) as session:
        _import(session, path)
        current = repository.list_services(session=session)
        edited = [with_changes(r, name=r.name + " (edited)") for r in current[:10]] + current[10:]
        path.write_text(write_services(edited, "csv"), encoding="utf-8")
        plan = plan_import(session=session, path=path)
        assert plan.ok and len(plan.changes.changed) == 10  # type: ignore[union-attr]
    with Session(engine, expire_on_commit=False) as other:  # another editor, in between
        repository.update_service(
            session=other, record=replace(current[7], caveat="Checked by phone"), actor="other", expected_version=1
        )
    with Session(engine, expire_on_commit=False) as session:
        audits = _audit_count(session)
        report = apply_import(session=session, plan=plan, actor="late")
        assert not report.applied and report.problems[0].field == "version"
        assert current[7].id in report.problems[0].message
        assert _audit_count(session) == audits
        names = {r.id: r.name for r in repository.list_services(session=session)}
        assert not any(n.endswith("(edited)") for n in names.values())


def test_shipped_commissioners_are_added_with_the_services(session: Session, tmp_path: Path) -> None:
    record = radius_service(53.48, -2.24, service_id="test-manchester", commissioner_code=MANCHESTER_PCC)
    path = tmp_path / "one.geojson"
    path.write_text(write_services([record], "geojson"), encoding="utf-8")
    plan, report = _import(session, path)
    assert [c.code for c in plan.commissioners] == [MANCHESTER_PCC]  # type: ignore[attr-defined]
    assert report.created == ("test-manchester",)  # type: ignore[attr-defined]
    assert MANCHESTER_PCC in {c.code for c in repository.list_commissioners(session=session)}


def test_readers_accept_what_writers_write_for_every_format() -> None:
    records = _directory()
    for fmt in FileFormat:
        parsed = read_services(write_services(records, fmt).encode(), name=f"x.{SUFFIX[fmt]}")
        assert parsed.format is fmt and not parsed.problems and len(parsed.services) == len(records)


# --- the command line ---------------------------------------------------------------------------------------


def test_cli_dry_run_shows_the_diff_and_writes_nothing(cli_database: Engine, tmp_path: Path) -> None:
    path = tmp_path / "services.csv"
    path.write_text(write_services(_directory()[:3], "csv"), encoding="utf-8")
    result = runner.invoke(app, ["services", "import", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "3 added" in result.output and "dry run: nothing was written" in result.output
    with Session(cli_database) as session:
        assert not any(r.id.startswith("test-7-") for r in repository.list_services(session=session))


def test_cli_dry_run_lists_a_readable_number_of_services(cli_database: Engine, tmp_path: Path) -> None:
    path = tmp_path / "services.csv"
    records = _directory()[:5]
    path.write_text(write_services(records, "csv"), encoding="utf-8")
    short = runner.invoke(app, ["services", "import", str(path), "--dry-run", "--show", "2"], env={"COLUMNS": "200"})
    assert short.exit_code == 0, short.output
    assert "5 added" in short.output and "... and 3 more (--show 0 lists them all)" in short.output
    assert sum(r.id in short.output for r in records) == 2
    full = runner.invoke(app, ["services", "import", str(path), "--dry-run", "--show", "0"], env={"COLUMNS": "200"})
    assert all(r.id in full.output for r in records) and "more (--show 0" not in full.output


def test_cli_import_export_and_template(cli_database: Engine, tmp_path: Path) -> None:
    path = tmp_path / "services.geojson"
    records = _directory()[:5]
    path.write_text(write_services(records, "geojson"), encoding="utf-8")
    result = runner.invoke(app, ["services", "import", str(path), "--actor", "cli test"])
    assert result.exit_code == 0, result.output
    assert "5 added" in result.output

    out = tmp_path / "export.json"
    result = runner.invoke(app, ["services", "export", "--format", "oruk", "--out", str(out)])
    assert result.exit_code == 0, result.output
    parsed = read_services(out.read_bytes(), name=out.name)
    assert {s.fields["id"] for s in parsed.services} >= {r.id for r in records}

    result = runner.invoke(app, ["services", "export", "--format", "csv"])
    assert result.exit_code == 0 and result.stdout.startswith("id,name,")

    target = tmp_path / "mine.csv"
    result = runner.invoke(app, ["services", "template", "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == TEMPLATE.read_bytes()
    assert (tmp_path / "mine_notes.csv").read_bytes().decode("utf-8") == template_notes()


def test_cli_user_errors_exit_2(cli_database: Engine, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["services", "import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    bad_format = runner.invoke(app, ["services", "export", "--format", "xlsx"])
    assert bad_format.exit_code == 2 and "csv, geojson or oruk" in bad_format.output


def test_cli_import_is_the_operators_and_says_so_in_the_audit(cli_database: Engine, tmp_path: Path) -> None:
    """The command line holds the database credentials: it acts as the operator (OS account and host), no tokens."""
    leeds = area_service("E08000035", service_id="test-leeds-centre", commissioner_code=LEEDS_PCC)
    mine = tmp_path / "mine.csv"
    mine.write_text(write_services([leeds], "csv"), encoding="utf-8")
    refused = runner.invoke(app, ["services", "import", str(mine), "--token", "spt_x"])
    assert refused.exit_code == 2 and "No such option: --token" in refused.output
    allowed = runner.invoke(app, ["services", "import", str(mine), "--actor", "Leeds team"])
    assert allowed.exit_code == 0, allowed.output
    with Session(cli_database) as session:
        [entry] = repository.history(session=session, service_id="test-leeds-centre")
    user, host = pwd.getpwuid(os.getuid()).pw_name, socket.gethostname()
    assert entry.actor == f"operator {user}@{host} for Leeds team"


def test_welsh_and_easy_read_travel_through_every_format_and_the_history(session: Session, tmp_path: Path) -> None:
    import json

    seed(session=session)
    galop = repository.get_service(session=session, service_id="galop")
    assert galop is not None and galop.translations["cy"]["eligibility"] == "Pobl LHDT+"
    oruk = json.loads(export_directory(session=session, fmt="oruk"))
    [service] = [s for s in oruk["content"] if s["x_signpost"]["id"] == "galop"]
    assert service["x_signpost"]["translations"] == galop.translations  # ORUK's own fields have no Welsh
    geojson = json.loads(export_directory(session=session, fmt="geojson"))
    [feature] = [f for f in geojson["features"] if f["id"] == "galop"]
    assert feature["properties"]["translations"]["easy"]["summary"] == galop.translations["easy"]["summary"]

    path = tmp_path / "directory.csv"
    path.write_text(export_directory(session=session, fmt="csv"), encoding="utf-8")
    text = path.read_text(encoding="utf-8")
    assert "eligibility_cy" in text.splitlines()[0] and "Pobl LHDT+" in text
    path.write_text(text.replace("Pobl LHDT+", "Pobl LHDTC+"), encoding="utf-8")
    plan = plan_import(session=session, path=path, replace_all=True)
    assert plan.ok and plan.changes is not None
    [change] = plan.changes.changed
    assert {(f.column, f.before, f.after) for f in change.fields} == {("eligibility_cy", "Pobl LHDT+", "Pobl LHDTC+")}
    apply_import(session=session, plan=plan, actor="editor")
    [entry] = [a for a in repository.history(session=session, service_id="galop") if a.actor == "editor"]
    assert entry.after is not None and entry.after.translations["cy"]["eligibility"] == "Pobl LHDTC+"
    assert entry.before is not None and entry.before.translations["cy"]["eligibility"] == "Pobl LHDT+"
