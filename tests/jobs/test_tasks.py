"""The job functions, run directly with a clock we set, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import http.server
import os
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from jobs import tasks
from jobs.runner import JobContext
from mapping.areas import AreaRegistry
from mapping.boundaries import Boundary, BoundarySet
from mapping.crs import bng_to_wgs84, geometry_to_wgs84
from mapping.types import Confirmation, Nation, NationalCoverage, ServiceKind, Strand
from services_db import access, repository
from services_db.boundaries import store_boundaries
from services_db.formats.csv_format import write_csv
from services_db.models import CoverageSnapshot, OutboxMessage, PendingUpload, ScheduledImport
from services_db.stats import record_signposting
from tests.services_db.factories import area_service, make_service, radius_service

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
LANCASHIRE = "pcc-E23000003"
PRESTON = (53.7632, -2.7031)


def _context(engine: Engine, tmp_path: Path, now: datetime = NOW, notify=None) -> JobContext:  # type: ignore[no-untyped-def]
    return JobContext(engine=engine, data_dir=tmp_path, clock=lambda: now, stale_after_days=183, notify=notify)


def _lancashire(session: Session) -> int:
    repository.upsert_commissioners(
        session=session, commissioners=[AreaRegistry.default().commissioner_for("E23000003")]
    )
    session.commit()
    account = access.add_account(
        session=session,
        name="Lancashire PCC team",
        role="pcc_editor",
        actor="test",
        commissioner_code=LANCASHIRE,
        telegram_user_id=4242,
        now=NOW,
    )
    session.commit()
    return account.id


# --- retention ------------------------------------------------------------------------------------------


async def test_retention_deletes_expired_upload_previews_only(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as session:
        account_id = _lancashire(session)
        for nonce, expires in (("old", NOW - timedelta(minutes=1)), ("live", NOW + timedelta(minutes=10))):
            session.add(
                PendingUpload(
                    id=nonce,
                    account_id=account_id,
                    file_id="f",
                    file_name="x.csv",
                    digest="d",
                    created_at=NOW - timedelta(hours=1),
                    expires_at=expires,
                )
            )
        session.commit()
    counts = await tasks.retention(_context(engine, tmp_path))
    assert counts["upload_previews_deleted"] == 1
    with Session(engine) as session:
        assert [p.id for p in session.exec(select(PendingUpload))] == ["live"]


# --- statistics -----------------------------------------------------------------------------------------


async def test_statistics_exports_suppress_small_counts(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as session:
        for _ in range(7):
            record_signposting(
                session=session,
                at=NOW,
                lad_code="E07000123",
                pfa_code="E23000003",
                strands=[Strand.RACE],
                outcome="matched_local",
            )
        for _ in range(2):
            record_signposting(
                session=session,
                at=NOW,
                lad_code="E06000008",
                pfa_code="E23000003",
                strands=[Strand.RELIGION],
                outcome="national_only",
            )
        session.commit()
    counts = await tasks.statistics(_context(engine, tmp_path))
    assert counts["suppressed_cells"] > 0
    with open(tmp_path / "statistics" / "signposting_by_week_lad.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    by_key = {(r["lad_code"], r["strand"]): r["count"] for r in rows}
    assert by_key[("E07000123", "race")] == "7"
    assert by_key[("E06000008", "religion")] == "<5"
    assert all(set(r) == {"week", "lad_code", "pfa_code", "strand", "outcome", "count"} for r in rows)


# --- staleness reminders --------------------------------------------------------------------------------


async def test_a_stale_service_is_reminded_once_per_stale_period(engine: Engine, tmp_path: Path) -> None:
    sent: list[tuple[int, str]] = []

    async def notify(user_id: int, text: str) -> bool:
        sent.append((user_id, text))
        return True

    with Session(engine) as session:
        _lancashire(session)
        stale = radius_service(
            *PRESTON, service_id="preston-centre", commissioner_code=LANCASHIRE, verified_on=date(2026, 1, 5)
        )
        fresh = radius_service(
            *PRESTON, service_id="preston-fresh", commissioner_code=LANCASHIRE, verified_on=date(2026, 11, 1)
        )
        for record in (stale, fresh):
            repository.create_service(session=session, record=record, actor="test")
        session.commit()

    first = await tasks.staleness_reminders(_context(engine, tmp_path, notify=notify))
    again = await tasks.staleness_reminders(_context(engine, tmp_path, NOW + timedelta(days=7), notify=notify))
    assert (first["reminders"], first["delivered_on_telegram"], again["reminders"]) == (1, 1, 0)
    assert (
        len(sent) == 1 and sent[0][0] == 4242 and "preston-centre" in sent[0][1] and "preston-fresh" not in sent[0][1]
    )
    with Session(engine) as session:
        message = session.exec(select(OutboxMessage)).one()
        assert message.delivered_via == "telegram" and message.commissioner_code == LANCASHIRE

        # checked again, then stale again half a year later: a new period, a new reminder
        repository.set_verified(session=session, service_id="preston-centre", on=date(2026, 12, 1), actor="test")
        session.commit()
    later = NOW + timedelta(days=200)
    counts = await tasks.staleness_reminders(_context(engine, tmp_path, later, notify=notify))
    assert counts["reminders"] == 1 and len(sent) == 2


async def test_reminders_wait_in_the_outbox_without_the_bot(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as session:
        _lancashire(session)
        repository.create_service(
            session=session,
            actor="test",
            record=radius_service(
                *PRESTON, service_id="old-one", commissioner_code=LANCASHIRE, verified_on=date(2025, 1, 1)
            ),
        )
        session.commit()
    counts = await tasks.staleness_reminders(_context(engine, tmp_path))
    assert counts == {"reminders": 1, "delivered_on_telegram": 0, "services": 1, "unconfirmed": 0}
    with Session(engine) as session:
        message = session.exec(select(OutboxMessage)).one()
        assert message.delivered_at is None and "old-one" in message.body


async def test_the_weekly_reminder_names_unconfirmed_entries_until_they_are_handled(
    engine: Engine, tmp_path: Path
) -> None:
    with Session(engine) as session:
        _lancashire(session)
        for service_id in ("from-a-page", "another-page"):
            repository.create_service(
                session=session,
                actor="seed",
                record=radius_service(
                    *PRESTON,
                    service_id=service_id,
                    commissioner_code=LANCASHIRE,
                    confirmation=Confirmation.UNCONFIRMED,
                    verified_on=None,
                ),
            )
        session.commit()
    counts = await tasks.staleness_reminders(_context(engine, tmp_path))
    assert counts == {"reminders": 1, "delivered_on_telegram": 0, "services": 0, "unconfirmed": 2}
    with Session(engine) as session:
        body = session.exec(select(OutboxMessage)).one().body
    assert "[from-a-page]: NOT YET CONFIRMED" in body and "[another-page]: NOT YET CONFIRMED" in body
    assert "/verify ID" in body and "/close ID" in body
    week_later = NOW + timedelta(days=7)
    again = await tasks.staleness_reminders(_context(engine, tmp_path, week_later))
    assert again["unconfirmed"] == 2  # still there: named again
    with Session(engine, expire_on_commit=False) as session:
        repository.set_verified(session=session, service_id="from-a-page", on=week_later.date(), actor="pcc")
        repository.close_service(session=session, service_id="another-page", actor="pcc")
    handled = await tasks.staleness_reminders(_context(engine, tmp_path, NOW + timedelta(days=14)))
    assert handled["reminders"] == 0


# --- scheduled imports ----------------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on loopback serving tmp_path/site."""
    site = tmp_path / "site"
    site.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(site), **kwargs)

        def log_message(self, *args):  # type: ignore[no-untyped-def]
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", site
    server.shutdown()


def _register(engine: Engine, source: str) -> int:
    with Session(engine) as session:
        account_id = _lancashire(session)
        schedule = ScheduledImport(account_id=account_id, source=source, created_at=NOW)
        session.add(schedule)
        session.commit()
        return account_id


async def test_a_published_list_is_imported_with_the_editors_rights(
    engine: Engine, tmp_path: Path, served: tuple[str, Path]
) -> None:
    base, site = served
    record = radius_service(
        *PRESTON, service_id="preston-trc", commissioner_code=LANCASHIRE, verified_on=date(2026, 11, 1)
    )
    (site / "services.csv").write_text(write_csv([record]), encoding="utf-8")
    _register(engine, f"{base}/services.csv")

    counts = await tasks.scheduled_imports(_context(engine, tmp_path))
    assert counts["applied"] == 1
    with Session(engine) as session:
        assert repository.get_service(session=session, service_id="preston-trc") is not None
    assert (await tasks.scheduled_imports(_context(engine, tmp_path)))["unchanged"] == 1


@pytest.mark.parametrize("problem", ["missing", "invalid", "outside_force"])
async def test_a_bad_published_list_changes_nothing_and_tells_the_editors(
    engine: Engine, tmp_path: Path, served: tuple[str, Path], problem: str
) -> None:
    base, site = served
    if problem == "invalid":
        (site / "services.csv").write_text("id,name\nnot a slug!,\n", encoding="utf-8")
    elif problem == "outside_force":  # a Lancashire editor may not add a service in Kent
        kent = radius_service(
            51.2787, 1.0789, service_id="canterbury-trc", commissioner_code=LANCASHIRE, verified_on=date(2026, 11, 1)
        )
        (site / "services.csv").write_text(write_csv([kent]), encoding="utf-8")
    _register(engine, f"{base}/services.csv")

    counts = await tasks.scheduled_imports(_context(engine, tmp_path))
    assert counts["failed"] == 1
    with Session(engine) as session:
        assert repository.list_services(session=session) == []
        message = session.exec(select(OutboxMessage)).one()
        schedule = session.exec(select(ScheduledImport)).one()
    assert "changed nothing" in message.body and message.commissioner_code == LANCASHIRE
    assert schedule.last_run_at == NOW and schedule.last_outcome


async def test_a_published_list_path_that_is_a_device_or_fifo_is_refused_without_reading(
    engine: Engine, tmp_path: Path
) -> None:
    fifo = tmp_path / "list.csv"
    os.mkfifo(fifo)  # nobody writes to it: reading it would hang the job
    account_id = _register(engine, "/dev/zero")
    with Session(engine) as session:
        session.add(ScheduledImport(account_id=account_id, source=str(fifo), created_at=NOW))
        session.commit()
    counts = await tasks.scheduled_imports(_context(engine, tmp_path))
    assert counts["failed"] == 2
    with Session(engine) as session:
        outcomes = {s.source: s.last_outcome or "" for s in session.exec(select(ScheduledImport)).all()}
    assert "is a device" in outcomes["/dev/zero"] and "is a pipe (FIFO)" in outcomes[str(fifo)]


# --- coverage snapshot ----------------------------------------------------------------------------------


def _square(e0: float, n0: float, side: float = 10_000) -> Any:
    from shapely.geometry import box

    return geometry_to_wgs84(box(e0, n0, e0 + side, n0 + side))


def _preston_served_by_code(engine: Engine) -> None:
    """Preston and Ribble Valley as coarse squares in Lancashire (PR1 2HE, 353463 429675, lies in the eastern
    one), and a race service coded to Preston."""
    vintage = "TEST"
    preston, ribble = _square(340_000, 425_000), _square(350_000, 425_000)
    lads = BoundarySet(
        "lad",
        vintage,
        "test",
        (
            Boundary("E07000123", "Preston", "lad", vintage, preston),
            Boundary("E07000124", "Ribble Valley", "lad", vintage, ribble),
        ),
    )
    pfas = BoundarySet(
        "pfa", vintage, "test", (Boundary("E23000003", "Lancashire", "pfa", vintage, preston.union(ribble)),)
    )
    with Session(engine) as session:
        store_boundaries(session=session, boundaries=[pfas, lads])
        service = area_service("E07000123", service_id="preston-by-code", strands=[Strand.RACE])
        repository.create_service(session=session, record=service, actor="test")
        session.commit()


async def test_the_snapshot_stores_population_covered_per_force_area_and_strand(engine: Engine, tmp_path: Path) -> None:
    """Hand-made geography with known answers: 3 LSOAs (1000, 2000, 500 people); a 4 km circle covers the first two."""
    west, east = _square(350_000, 425_000), _square(360_000, 425_000)
    vintage = "TEST"
    lads = BoundarySet(
        "lad",
        vintage,
        "test",
        (
            Boundary("E07000123", "Preston", "lad", vintage, west),
            Boundary("E07000124", "Ribble Valley", "lad", vintage, east),
        ),
    )
    pfas = BoundarySet("pfa", vintage, "test", (Boundary("E23000003", "Lancashire", "pfa", vintage, west.union(east)),))
    population = tmp_path / "lsoa.csv"
    population.write_text(
        "LSOA21CD,LSOA21NM,BNG_E,BNG_N,population\n"
        "E01000001,Preston 001A,352000,429000,1000\nE01000002,Preston 001B,355000,430000,2000\n"
        "E01000003,Ribble Valley 001A,365000,430000,500\n",
        encoding="utf-8",
    )
    lon, lat = bng_to_wgs84(353_000, 429_500)
    with Session(engine) as session:
        store_boundaries(session=session, boundaries=[pfas, lads])
        service = radius_service(
            float(lat),
            float(lon),
            4_000,
            service_id="preston-trc",
            strands=[Strand.RACE],
            kind=ServiceKind.THIRD_PARTY_REPORTING,
        )
        repository.create_service(session=session, record=service, actor="test")
        national = make_service(
            "national-trc",
            kind=ServiceKind.THIRD_PARTY_REPORTING,
            coverage=NationalCoverage(Nation.ENGLAND_AND_WALES),
            strands=[Strand.DISABILITY],
        )
        repository.create_service(session=session, record=national, actor="test")
        session.commit()

    options = {"population": str(population), "partial": True}  # two districts, not all of England and Wales
    context = JobContext(engine=engine, data_dir=tmp_path, clock=lambda: NOW, options=options)
    counts = await tasks.coverage_snapshot(context)
    await tasks.coverage_snapshot(context)  # the same day again replaces, not duplicates
    assert counts["areas"] == 1 and counts["pct_population_covered_local"] == round(100 * 3000 / 3500, 2)
    assert counts["pct_population_covered_with_national"] == 100.0
    with Session(engine) as session:
        stored = list(session.exec(select(CoverageSnapshot)))
    merged = {r.strand: r for r in stored if r.scope == "with_national"}
    assert merged["disability"].population_covered == 3500 and merged["any"].population_covered == 3500
    rows = {r.strand: r for r in stored if r.scope == "local"}
    assert len(stored) == 2 * len(rows)
    assert set(rows) == {*(s.value for s in Strand), "any"}
    assert (rows["any"].population, rows["any"].population_covered) == (3500, 3000)
    assert rows["race"].population_covered == 3000 and rows["disability"].population_covered == 0
    assert all(r.taken_on == NOW.date() and r.area_code == "E23000003" for r in rows.values())
    assert "boundaries" in rows["any"].method


async def test_the_snapshot_places_people_by_the_ons_nesting_not_by_generalised_polygons(
    engine: Engine, tmp_path: Path
) -> None:
    """An LSOA of Preston (by its name) that a coarse polygon puts in Ribble Valley counts for Preston."""
    population = tmp_path / "lsoa.csv"
    population.write_text(
        "LSOA21CD,LSOA21NM,BNG_E,BNG_N,population\nE01025000,Preston 010A,353463,429675,1200\n", encoding="utf-8"
    )
    _preston_served_by_code(engine)
    options = {"population": str(population), "partial": True}
    context = JobContext(engine=engine, data_dir=tmp_path, clock=lambda: NOW, options=options)
    await tasks.coverage_snapshot(context)
    with Session(engine) as session:
        rows = {r.strand: r for r in session.exec(select(CoverageSnapshot))}
    assert (rows["race"].population, rows["race"].population_covered) == (1200, 1200)


async def test_the_nightly_job_takes_the_lsoa_lookup_and_partial_settings_as_the_report_takes_its_options(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGNPOST_LSOA_LOOKUP and SIGNPOST_POPULATION_PARTIAL reach the snapshot through the wiring, as
    --lsoa-lookup and --partial reach the report: an LSOA whose name names no district is placed by the lookup."""
    from dataclasses import replace

    from mapping.population import PopulationError
    from signpost import wiring
    from signpost.config import Settings

    def job_context() -> JobContext:  # as `signpost jobs` builds it, on an unseeded database
        built = wiring.job_context(Settings())
        built.engine.dispose()
        return replace(built, engine=sqlite_engine, clock=lambda: NOW)

    population, lookup = tmp_path / "lsoa.csv", tmp_path / "lookup.csv"
    population.write_text(
        "LSOA21CD,LSOA21NM,BNG_E,BNG_N,population\nE01025000,Renamed 010A,343463,429675,1200\n", encoding="utf-8"
    )
    lookup.write_text("LSOA21CD,LAD22CD\nE01025000,E07000123\n", encoding="utf-8")
    monkeypatch.setenv("SIGNPOST_DATA_DIR", str(tmp_path / "data"))  # its own database, not sqlite_engine's
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SIGNPOST_POPULATION", str(population))
    monkeypatch.setenv("SIGNPOST_CENSUS", "")  # empty in a copied .env.example: no counts file
    for name in ("SIGNPOST_LSOA_LOOKUP", "SIGNPOST_POPULATION_PARTIAL"):
        monkeypatch.delenv(name, raising=False)
    _preston_served_by_code(sqlite_engine)

    with pytest.raises(PopulationError, match=r"Renamed 010A.*cannot tell its district"):
        await tasks.coverage_snapshot(job_context())
    monkeypatch.setenv("SIGNPOST_LSOA_LOOKUP", str(lookup))
    with pytest.raises(PopulationError, match=r"covers 1 of .* local authorities"):
        await tasks.coverage_snapshot(job_context())
    monkeypatch.setenv("SIGNPOST_POPULATION_PARTIAL", "true")
    context = job_context()
    assert (context.options["lsoa_lookup"], context.options["partial"]) == (str(lookup), True)
    await tasks.coverage_snapshot(context)
    with Session(sqlite_engine) as session:
        rows = {r.strand: r for r in session.exec(select(CoverageSnapshot)) if r.scope == "local"}
    assert (rows["race"].population, rows["race"].population_covered) == (1200, 1200)
    assert "PARTIAL" in rows["race"].method
