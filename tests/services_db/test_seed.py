"""The shipped directory (national file + local starter file): content rules, and seeding that never overrides
what users changed."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlalchemy import Engine, event, func
from sqlmodel import Session, select

from mapping.types import ChannelKind, Nation, NationalCoverage, ServiceKind, ServiceStatus, Strand
from services_db import repository as repo
from services_db.models import AuditEntry
from services_db.seed import (
    NationalDirectory,
    load_national_directory,
    load_shipped_directory,
    seed,
    seed_if_new,
    seed_if_shipped_changed,
)
from tests.services_db.factories import make_service, with_changes

FACTS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "hate-crime-facts.md"
DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo_directory.json"
SHIPPED = load_shipped_directory()  # everything a fresh install gets
BY_ID = {s.id: s for s in SHIPPED.services}
NATIONAL = list(load_national_directory().services)  # the national file: authored from the reference facts
NATIONAL_BY_ID = {s.id: s for s in NATIONAL}
NATIONAL_COMMISSIONERS = load_national_directory().commissioners


@pytest.fixture(scope="module")
def facts() -> str:
    if not FACTS.exists():
        pytest.skip(f"reference facts not found at {FACTS}")
    return FACTS.read_text(encoding="utf-8")


# --- content --------------------------------------------------------------------------------------------


def test_the_national_routes_a_victim_needs_are_shipped() -> None:
    assert {
        "police-emergency-999",
        "police-non-emergency-101",
        "true-vision",
        "crimestoppers",
        "british-transport-police",
        "victim-support-supportline",
        "wales-hate-support-centre",
        "cst",
        "tell-mama",
        "galop",
        "samaritans",
        "citizens-advice-england-adviceline",
        "report-racism-grt",
    } <= set(NATIONAL_BY_ID)
    assert len(BY_ID) == len(SHIPPED.services), "ids must be unique"
    assert BY_ID["police-emergency-999"].kind is ServiceKind.EMERGENCY
    assert BY_ID["true-vision"].kind is ServiceKind.ONLINE_REPORTING
    assert BY_ID["samaritans"].kind is ServiceKind.EMOTIONAL_SUPPORT
    assert BY_ID["cst"].strands == {Strand.RELIGION}
    assert BY_ID["tell-mama"].strands == {Strand.RELIGION}
    assert BY_ID["galop"].strands == {Strand.SEXUAL_ORIENTATION, Strand.TRANSGENDER}
    assert BY_ID["wales-hate-support-centre"].coverage == NationalCoverage(Nation.WALES)
    assert BY_ID["citizens-advice-england-adviceline"].coverage == NationalCoverage(Nation.ENGLAND)


def test_every_national_entry_has_https_source_and_a_verified_date_not_in_the_future() -> None:
    for service in NATIONAL:
        url = urlparse(service.source_url)
        assert url.scheme == "https" and url.netloc, service.id
        assert service.verified_on is not None and date(2010, 1, 1) <= service.verified_on <= date.today()
        assert service.status is ServiceStatus.ACTIVE and service.confirmed


def test_old_or_unconfirmed_facts_carry_a_caveat() -> None:
    for service in NATIONAL:
        assert service.verified_on is not None
        if service.verified_on < date(2024, 1, 1):
            assert service.caveat, f"{service.id}: verified before 2024 without a caveat"
    for unconfirmed in ("tell-mama", "citizens-advice-england-adviceline", "report-racism-grt"):
        assert "Not confirmed" in BY_ID[unconfirmed].caveat


def test_national_entries_cover_a_nation_and_nothing_shipped_is_an_example() -> None:
    assert all(isinstance(s.coverage, NationalCoverage) for s in NATIONAL)
    assert not [s.id for s in SHIPPED.services if s.is_example]
    assert all(s.is_example for s in load_national_directory(DEMO).services)  # demo data lives in the tests


def test_every_contact_appears_exactly_in_the_reference_facts(facts: str) -> None:
    for service in NATIONAL:
        for channel in service.channels:
            assert channel.value in facts, f"{service.id}: {channel.kind} {channel.value!r} is not in the facts"


def test_every_phone_number_in_the_seed_is_in_the_reference_facts(facts: str) -> None:
    digits_in_facts = {re.sub(r"\D", "", m) for m in re.findall(r"\d[\d ]{1,14}\d|\d{3,}", facts)}
    for service in NATIONAL:
        for channel in service.channels:
            if channel.kind in (ChannelKind.PHONE, ChannelKind.TEXT, ChannelKind.RELAY):
                assert re.sub(r"\D", "", channel.value) in digits_in_facts, f"{service.id}: {channel.value}"


def test_sources_are_the_pages_the_facts_name(facts: str) -> None:
    for service in NATIONAL:
        host = urlparse(service.source_url).netloc.removeprefix("www.")
        if "Not confirmed" not in service.caveat:
            assert host in facts, f"{service.id}: {host} is not named in the reference facts"


def test_closed_lines_and_local_only_services_are_not_shipped() -> None:
    numbers = {re.sub(r"\D", "", c.value) for s in NATIONAL for c in s.channels}
    assert not numbers & {"08088021155", "08088010661"}  # closed or superseded lines
    assert not numbers & {"08001381625", "07717989025"}  # Stop Hate UK is commissioned area by area
    assert not any("stop hate" in s.name.lower() for s in NATIONAL)


def test_galop_hours_are_as_the_facts_give_them() -> None:
    galop = NATIONAL_BY_ID["galop"].hours
    assert galop.to_text() == "mon-thu 10:00-20:30; fri 10:00-16:30"
    assert "2023" in galop.note
    assert BY_ID["tell-mama"].hours.unknown  # the facts give none we can confirm


# --- seeding --------------------------------------------------------------------------------------------


def _audit_count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(AuditEntry)).one()


def test_first_seed_adds_everything_and_a_second_changes_nothing(session: Session) -> None:
    report = seed(session=session)
    assert sorted(report.created) == sorted(BY_ID)
    assert report.commissioners_changed == len(SHIPPED.commissioners)
    stored = {r.id: r for r in repo.list_services(session=session)}
    assert {k: replace(v, updated_at=None) for k, v in stored.items()} == BY_ID
    assert {c.code for c in repo.list_commissioners(session=session)} >= {"national", "welsh-government"}
    audits = _audit_count(session)
    again = seed(session=session)
    assert (again.created, again.updated, again.retired, again.kept_user_changes) == ((), (), (), ())
    assert sorted(again.unchanged) == sorted(BY_ID)
    assert _audit_count(session) == audits


def test_reseed_updates_untouched_entries_and_keeps_user_edits(session: Session) -> None:
    seed(session=session)
    galop = repo.get_service(session=session, service_id="galop")
    assert galop is not None
    repo.update_service(
        session=session,
        record=with_changes(galop, description="Edited by a PCC team"),
        actor="pcc",
        expected_version=galop.version,
    )
    repo.delete_service(session=session, service_id="samaritans", actor="admin")
    repo.create_service(session=session, record=make_service("users-own-service"), actor="pcc")
    newer = NationalDirectory(
        SHIPPED.commissioners,
        tuple(
            replace(s, description=s.description + " (updated)") if s.id in ("galop", "cst", "samaritans") else s
            for s in SHIPPED.services
        ),
    )
    report = seed(session=session, directory=newer)
    assert report.updated == ("cst",)
    assert set(report.kept_user_changes) == {"galop", "samaritans"}
    assert repo.get_service(session=session, service_id="galop").description == "Edited by a PCC team"  # type: ignore[union-attr]
    assert repo.get_service(session=session, service_id="cst").description.endswith("(updated)")  # type: ignore[union-attr]
    assert repo.get_service(session=session, service_id="samaritans") is None  # a deletion is respected
    assert repo.get_service(session=session, service_id="users-own-service") is not None
    assert repo.history(session=session, service_id="cst")[-1].action == "seed"


def test_entries_no_longer_shipped_are_closed_unless_users_changed_them(session: Session) -> None:
    seed(session=session)
    cst = repo.get_service(session=session, service_id="cst")
    assert cst is not None
    repo.update_service(session=session, record=with_changes(cst, name="CST"), actor="pcc", expected_version=1)
    smaller = NationalDirectory(
        SHIPPED.commissioners, tuple(s for s in SHIPPED.services if s.id not in ("cst", "samaritans"))
    )
    report = seed(session=session, directory=smaller)
    assert report.retired == ("samaritans",) and report.kept_user_changes == ("cst",)
    assert repo.get_service(session=session, service_id="samaritans").status is ServiceStatus.CLOSED  # type: ignore[union-attr]
    assert repo.get_service(session=session, service_id="cst").status is ServiceStatus.ACTIVE  # type: ignore[union-attr]
    assert seed(session=session, directory=smaller).retired == ()  # closing is done once


def test_a_user_service_with_a_shipped_id_is_not_overwritten(session: Session) -> None:
    own = repo.create_service(session=session, record=make_service("galop", name="Our Galop entry"), actor="pcc")
    report = seed(session=session)
    assert "galop" in report.kept_user_changes
    assert repo.get_service(session=session, service_id="galop") == own


def test_seed_if_new_only_seeds_a_directory_never_used(session: Session) -> None:
    assert seed_if_new(session=session) is not None
    assert seed_if_new(session=session) is None
    for record in repo.list_services(session=session):
        repo.delete_service(session=session, service_id=record.id, actor="admin")
    assert seed_if_new(session=session) is None  # emptied on purpose: history says it was used
    assert repo.list_services(session=session) == []


def test_a_new_data_directory_is_seeded_on_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from signpost import wiring
    from signpost.config import Settings

    monkeypatch.setenv("SIGNPOST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    engine = wiring.database(Settings())
    with Session(engine) as session:
        assert {r.id for r in repo.list_services(session=session)} == set(BY_ID)
    engine.dispose()
    empty = wiring.database(Settings(), seed_new=False)  # same file: already seeded, nothing added twice
    with Session(empty) as session:
        assert session.exec(select(func.count()).select_from(AuditEntry)).one() == len(BY_ID)
    empty.dispose()


def test_two_processes_seeding_a_new_directory_at_once_do_not_fail(engine: Engine) -> None:
    """A second worker that finds the directory new but loses the race to seed it gets ``None``, not an error."""
    fired: list[bool] = []

    def other_worker_seeds_first(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not fired and statement.lstrip().upper().startswith("INSERT INTO SERVICE "):
            fired.append(True)
            with Session(engine) as other:
                assert seed_if_new(session=other) is not None

    event.listen(engine, "before_cursor_execute", other_worker_seeds_first)
    try:
        with Session(engine) as mine:
            assert seed_if_new(session=mine) is None
    finally:
        event.remove(engine, "before_cursor_execute", other_worker_seeds_first)
    assert fired
    with Session(engine) as session:
        assert len(repo.list_services(session=session)) == len(BY_ID)
        assert session.exec(select(func.count()).select_from(AuditEntry)).one() == len(BY_ID)


def test_an_install_seeded_with_the_old_examples_retires_them(session: Session) -> None:
    """Earlier versions shipped three made-up local centres: the next start closes them (they were never edited)."""
    demo = load_national_directory(DEMO)
    old = NationalDirectory(NATIONAL_COMMISSIONERS, (*NATIONAL, *demo.services))
    seed(session=session, directory=old)
    report = seed_if_shipped_changed(session=session)
    assert report is not None and sorted(report.retired) == sorted(s.id for s in demo.services)
    for example in demo.services:
        stored = repo.get_service(session=session, service_id=example.id)
        assert stored is not None and stored.status is ServiceStatus.CLOSED
    assert seed_if_shipped_changed(session=session) is None


def test_a_seeded_directory_gets_the_shipped_corrections_on_start(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        assert seed_if_shipped_changed(session=session) is None  # never seeded: left alone
        older = load_national_directory()
        without = tuple(replace(s, translations={}) for s in older.services)
        seed(session=session, directory=NationalDirectory(older.commissioners, without))
        report = seed_if_shipped_changed(session=session)
        assert report is not None and len(report.updated) == len(older.services)
        galop = repo.get_service(session=session, service_id="galop")
        assert galop is not None and galop.translations["cy"]["eligibility"] == "Pobl LHDT+"
        assert seed_if_shipped_changed(session=session) is None  # nothing more to do
