"""The directory repository on SQLite and PostgreSQL: CRUD, filters, geometry on write, version checks,
concurrent edits from two sessions, and all-or-nothing batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import shapely
from shapely.geometry import Point, box
from sqlalchemy import Engine, event, func
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from mapping.types import CommissionerKind, Nation, ServiceKind, ServiceStatus, Strand
from services_db import repository as repo
from services_db.models import AuditEntry, Service, ServiceArea
from tests.services_db.factories import (
    PLACES,
    area_service,
    make_commissioner,
    make_service,
    national_service,
    polygon_service,
    radius_service,
    with_changes,
)

T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def tick(self, minutes: int = 1) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def directory(session: Session) -> Session:
    """A session whose directory knows two commissioners."""
    repo.upsert_commissioners(
        session=session,
        commissioners=[
            make_commissioner("wy-pcc", "West Yorkshire Mayor", kind=CommissionerKind.MAYOR, pfa_code="E23000010"),
            make_commissioner("national", "National", kind=CommissionerKind.NATIONAL),
        ],
    )
    return session


def _audit_count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(AuditEntry)).one()


def _area_codes(session: Session, service_id: str) -> set[str]:
    query = select(ServiceArea.area_code).where(ServiceArea.service_id == service_id)
    return set(session.exec(query))


def test_create_get_and_list(directory: Session, clock: Clock) -> None:
    record = radius_service(*PLACES["leeds"][:2], 3_000, strands={Strand.RACE}, commissioner_code="wy-pcc")
    created = repo.create_service(session=directory, record=record, actor="alice", now=clock.tick())
    assert created == replace(record, version=1, updated_at=clock.now)
    assert repo.get_service(session=directory, service_id=record.id) == created
    assert repo.get_service(session=directory, service_id="no-such-service") is None
    assert repo.list_services(session=directory) == [created]


def test_list_filters_by_status_kind_and_commissioner(directory: Session) -> None:
    records = [
        national_service(service_id="a-helpline", kind=ServiceKind.HELPLINE, commissioner_code="national"),
        area_service(service_id="b-centre", commissioner_code="wy-pcc"),
        radius_service(53.8, -1.5, service_id="c-centre", status=ServiceStatus.SUSPENDED, commissioner_code="wy-pcc"),
        make_service("d-emergency", kind=ServiceKind.EMERGENCY),
    ]
    for record in records:
        repo.create_service(session=directory, record=record, actor="t")

    def ids(**filters: Any) -> list[str]:
        return [r.id for r in repo.list_services(session=directory, **filters)]

    assert ids() == ["a-helpline", "b-centre", "c-centre", "d-emergency"]
    assert ids(status=ServiceStatus.ACTIVE) == ["a-helpline", "b-centre", "d-emergency"]
    assert ids(kinds=[ServiceKind.THIRD_PARTY_REPORTING]) == ["b-centre", "c-centre"]
    assert ids(kinds=[ServiceKind.EMERGENCY, ServiceKind.HELPLINE]) == ["a-helpline", "d-emergency"]
    assert ids(commissioner_code="wy-pcc", status=ServiceStatus.ACTIVE) == ["b-centre"]


def test_duplicate_id_and_unknown_commissioner_are_refused_and_write_nothing(directory: Session) -> None:
    repo.create_service(session=directory, record=make_service("taken"), actor="t")
    before = _audit_count(directory)
    with pytest.raises(repo.ServiceAlreadyExists, match="taken"):
        repo.create_service(session=directory, record=make_service("taken", name="Again"), actor="t")
    with pytest.raises(repo.UnknownCommissioner, match="nobody-pcc") as info:
        repo.create_service(session=directory, record=make_service("new", commissioner_code="nobody-pcc"), actor="t")
    assert info.value.codes == ("nobody-pcc",)
    assert repo.get_service(session=directory, service_id="new") is None
    assert repo.get_service(session=directory, service_id="taken").name != "Again"  # type: ignore[union-attr]
    assert _audit_count(directory) == before


def test_geometry_bbox_and_area_codes_are_stored_on_write(directory: Session) -> None:
    lat, lon = PLACES["manchester"][:2]
    repo.create_service(session=directory, record=radius_service(lat, lon, 5_000, service_id="circle"), actor="t")
    repo.create_service(session=directory, record=polygon_service(service_id="square"), actor="t")
    repo.create_service(session=directory, record=area_service("E08000035", service_id="leeds"), actor="t")
    repo.create_service(session=directory, record=national_service(Nation.WALES, service_id="wales"), actor="t")
    rows = {row.id: row for row in directory.exec(select(Service))}
    circle = shapely.from_wkb(rows["circle"].geometry_wkb)
    assert circle.covers(Point(lon, lat)) and rows["circle"].min_lat is not None
    assert rows["circle"].min_lat < lat < rows["circle"].max_lat  # type: ignore[operator]
    assert rows["square"].geometry_wkb is not None
    assert rows["leeds"].geometry_wkb is None and rows["wales"].geometry_wkb is None
    assert _area_codes(directory, "leeds") == {"E08000035"}
    assert _area_codes(directory, "wales") == {"W92000004"}
    assert _area_codes(directory, "circle") == set()


def test_update_bumps_version_and_keeps_what_boundaries_resolved(directory: Session, clock: Clock) -> None:
    leeds = box(-1.8, 53.7, -1.3, 53.95)
    created = repo.create_service(
        session=directory, record=area_service("E08000035"), actor="t", areas={"E08000035": leeds}.get
    )
    updated = repo.update_service(
        session=directory,
        record=with_changes(created, name="Renamed"),
        actor="bob",
        expected_version=1,
        now=clock.tick(),
    )
    assert (updated.version, updated.name, updated.updated_at) == (2, "Renamed", clock.now)
    row = directory.exec(select(Service).where(Service.id == created.id)).one()
    assert row.updated_by == "bob"
    # the coverage did not change and no boundaries were passed: the resolved outline is kept
    assert row.geometry_wkb is not None and shapely.from_wkb(row.geometry_wkb).equals(leeds)
    moved = repo.update_service(
        session=directory,
        record=with_changes(updated, coverage=area_service("E08000036").coverage),
        actor="bob",
        expected_version=2,
    )
    assert moved.version == 3
    assert _area_codes(directory, created.id) == {"E08000036"}
    row = directory.exec(select(Service).where(Service.id == created.id).execution_options(populate_existing=True))
    assert row.one().geometry_wkb is None  # new areas, no boundaries: matched by codes until geography is loaded


def test_update_with_a_stale_version_is_a_conflict(directory: Session) -> None:
    created = repo.create_service(session=directory, record=make_service("svc"), actor="t")
    repo.update_service(session=directory, record=with_changes(created, name="First"), actor="a", expected_version=1)
    with pytest.raises(repo.VersionConflict) as info:
        repo.update_service(
            session=directory, record=with_changes(created, name="Second"), actor="b", expected_version=1
        )
    assert (info.value.service_id, info.value.expected, info.value.actual) == ("svc", 1, 2)
    assert "version 1" in info.value.message and "version 2" in info.value.message
    assert repo.get_service(session=directory, service_id="svc").name == "First"  # type: ignore[union-attr]


def test_update_with_the_same_content_is_not_a_new_version(directory: Session) -> None:
    created = repo.create_service(session=directory, record=make_service("same"), actor="t")
    again = repo.update_service(session=directory, record=created, actor="t", expected_version=1)
    assert again == created
    assert len(repo.history(session=directory, service_id="same")) == 1
    with pytest.raises(repo.VersionConflict):  # a stale editor is told even when they changed nothing
        repo.update_service(session=directory, record=created, actor="t", expected_version=0)


def test_update_of_unknown_service_is_refused(directory: Session) -> None:
    with pytest.raises(repo.ServiceNotFound, match="ghost"):
        repo.update_service(session=directory, record=make_service("ghost"), actor="t", expected_version=1)


def test_two_editors_in_two_sessions_cannot_overwrite_each_other(engine: Engine, directory: Session) -> None:
    repo.create_service(session=directory, record=make_service("shared", name="Original"), actor="t")
    with Session(engine, expire_on_commit=False) as alice, Session(engine, expire_on_commit=False) as bob:
        seen_by_alice = repo.get_service(session=alice, service_id="shared")
        seen_by_bob = repo.get_service(session=bob, service_id="shared")
        assert seen_by_alice is not None and seen_by_bob is not None
        repo.update_service(
            session=alice,
            record=with_changes(seen_by_alice, name="Alice's"),
            actor="alice",
            expected_version=seen_by_alice.version,
        )
        with pytest.raises(repo.VersionConflict):
            repo.update_service(
                session=bob,
                record=with_changes(seen_by_bob, name="Bob's"),
                actor="bob",
                expected_version=seen_by_bob.version,
            )
        # Bob reloads and re-applies: now it goes through, on top of Alice's version
        fresh = repo.get_service(session=bob, service_id="shared")
        assert fresh is not None and fresh.name == "Alice's"
        final = repo.update_service(
            session=bob,
            record=with_changes(fresh, description="Bob's note"),
            actor="bob",
            expected_version=fresh.version,
        )
    assert (final.version, final.name, final.description) == (3, "Alice's", "Bob's note")
    actions = [(e.actor, e.version) for e in repo.history(session=directory, service_id="shared")]
    assert actions == [("t", 1), ("alice", 2), ("bob", 3)]


@pytest.fixture
def interleave(engine: Engine) -> Iterator[list[Any]]:
    """Run a queued callable on another connection just before the next ``UPDATE service`` is executed:
    the other editor commits between this session's read and its write (the race a version check must catch)."""
    queued: list[Any] = []

    def before_update(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if queued and statement.lstrip().upper().startswith("UPDATE SERVICE "):
            queued.pop()()

    event.listen(engine, "before_cursor_execute", before_update)
    yield queued
    event.remove(engine, "before_cursor_execute", before_update)


def test_an_edit_committed_between_read_and_write_is_detected(
    engine: Engine, directory: Session, interleave: list[Any]
) -> None:
    created = repo.create_service(session=directory, record=make_service("raced", name="Original"), actor="t")

    def other_editor() -> None:
        with Session(engine, expire_on_commit=False) as other:
            repo.update_service(
                session=other, record=with_changes(created, name="Theirs"), actor="other", expected_version=1
            )

    interleave.append(other_editor)
    with Session(engine, expire_on_commit=False) as mine, pytest.raises(repo.VersionConflict) as info:
        # no expected version given: the write is still conditional on the version this call read
        repo.apply_changes(session=mine, upserts=[with_changes(created, name="Mine")], removals=[], actor="me")
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert repo.get_service(session=directory, service_id="raced").name == "Theirs"  # type: ignore[union-attr]
    assert [e.actor for e in repo.history(session=directory, service_id="raced")] == ["t", "other"]


def test_close_verify_and_delete(directory: Session, clock: Clock) -> None:
    repo.create_service(session=directory, record=make_service("svc"), actor="t")
    closed = repo.close_service(session=directory, service_id="svc", actor="a", now=clock.tick())
    assert (closed.status, closed.version) == (ServiceStatus.CLOSED, 2)
    verified = repo.set_verified(session=directory, service_id="svc", on=date(2025, 4, 30), actor="a")
    assert (verified.verified_on, verified.version) == (date(2025, 4, 30), 3)
    with pytest.raises(repo.VersionConflict):
        repo.delete_service(session=directory, service_id="svc", actor="a", expected_version=2)
    deleted = repo.delete_service(session=directory, service_id="svc", actor="a", expected_version=3)
    assert deleted == verified
    assert repo.get_service(session=directory, service_id="svc") is None
    assert _area_codes(directory, "svc") == set()
    with pytest.raises(repo.ServiceNotFound):
        repo.close_service(session=directory, service_id="svc", actor="a")


def test_apply_changes_creates_updates_closes_and_skips_unchanged(directory: Session, clock: Clock) -> None:
    keep = repo.create_service(session=directory, record=make_service("keep"), actor="t")
    edit = repo.create_service(session=directory, record=make_service("edit"), actor="t")
    repo.create_service(session=directory, record=make_service("gone"), actor="t")
    before = _audit_count(directory)
    result = repo.apply_changes(
        session=directory,
        upserts=[keep, with_changes(edit, strands=["race"]), make_service("fresh", commissioner_code="wy-pcc")],
        removals=["gone"],
        actor="importer",
        expected_versions={"edit": 1, "gone": 1},
        now=clock.tick(),
    )
    assert result == repo.ApplyResult(created=("fresh",), updated=("edit",), closed=("gone",), unchanged=("keep",))
    assert result.changed == 3
    assert _audit_count(directory) == before + 3  # one entry per changed service, none for the unchanged one
    assert repo.get_service(session=directory, service_id="gone").status is ServiceStatus.CLOSED  # type: ignore[union-attr]
    assert repo.get_service(session=directory, service_id="edit").strands == {Strand.RACE}  # type: ignore[union-attr]
    assert repo.get_service(session=directory, service_id="keep").version == 1  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "problem",
    ["unknown_commissioner", "stale_version", "missing_removal", "duplicate_id", "expected_but_absent"],
)
def test_apply_changes_is_all_or_nothing(directory: Session, problem: str) -> None:
    existing = repo.create_service(session=directory, record=make_service("existing"), actor="t")
    upserts = [make_service("new-one"), with_changes(existing, name="Changed")]
    removals: list[str] = []
    expected: dict[str, int] = {}
    if problem == "unknown_commissioner":
        upserts.append(make_service("bad", commissioner_code="nobody"))
    elif problem == "stale_version":
        expected["existing"] = 7
    elif problem == "missing_removal":
        removals.append("never-existed")
    elif problem == "duplicate_id":
        upserts.append(make_service("new-one", name="Twice"))
    else:
        upserts.append(make_service("claimed"))
        expected["claimed"] = 3
    before = (_audit_count(directory), repo.snapshot_key(session=directory))
    with pytest.raises(repo.DirectoryError):
        repo.apply_changes(session=directory, upserts=upserts, removals=removals, actor="i", expected_versions=expected)
    assert repo.get_service(session=directory, service_id="new-one") is None
    assert repo.get_service(session=directory, service_id="existing") == existing
    assert (_audit_count(directory), repo.snapshot_key(session=directory)) == before


def test_apply_changes_rolls_back_a_database_error_after_earlier_writes(directory: Session) -> None:
    existing = repo.create_service(session=directory, record=make_service("existing"), actor="t")
    too_long = make_service("x" * 81)  # the id column holds 80 characters; PostgreSQL refuses, SQLite does not
    upserts = [with_changes(existing, name="Changed"), make_service("new-one"), too_long]
    try:
        repo.apply_changes(session=directory, upserts=upserts, removals=[], actor="i")
    except DBAPIError:
        assert repo.get_service(session=directory, service_id="existing") == existing
        assert repo.get_service(session=directory, service_id="new-one") is None
    else:
        assert directory.get_bind().dialect.name == "sqlite"


def test_refresh_geometries_after_boundaries_are_loaded(directory: Session, clock: Clock) -> None:
    repo.create_service(session=directory, record=area_service("E08000035", service_id="leeds"), actor="t")
    repo.create_service(session=directory, record=national_service(Nation.WALES, service_id="wales"), actor="t")
    repo.create_service(session=directory, record=radius_service(53.8, -1.5, service_id="circle"), actor="t")
    outlines = {"E08000035": box(-1.8, 53.7, -1.3, 53.95), Nation.WALES: box(-5.3, 51.3, -2.6, 53.5)}
    key = repo.snapshot_key(session=directory)
    versions = {r.id: r.version for r in repo.list_services(session=directory)}
    assert repo.refresh_geometries(session=directory, areas=outlines.get, now=clock.tick()) == 2
    assert repo.snapshot_key(session=directory) != key
    assert {r.id: r.version for r in repo.list_services(session=directory)} == versions  # not a new version
    rows = {row.id: row for row in directory.exec(select(Service).execution_options(populate_existing=True))}
    assert shapely.from_wkb(rows["leeds"].geometry_wkb).equals(outlines["E08000035"])
    assert rows["wales"].min_lon == pytest.approx(-5.3)
    assert repo.refresh_geometries(session=directory, areas=outlines.get) == 0  # nothing left to change
    assert repo.refresh_geometries(session=directory, areas=None) == 2  # boundaries gone: back to codes


def test_snapshot_key_moves_with_every_change_only(directory: Session) -> None:
    key = repo.snapshot_key(session=directory)
    assert repo.snapshot_key(session=directory) == key
    created = repo.create_service(session=directory, record=make_service("svc"), actor="t")
    keys = [key, repo.snapshot_key(session=directory)]
    repo.update_service(session=directory, record=with_changes(created, name="N"), actor="t", expected_version=1)
    keys.append(repo.snapshot_key(session=directory))
    repo.delete_service(session=directory, service_id="svc", actor="t")
    keys.append(repo.snapshot_key(session=directory))
    assert len(set(keys)) == 4


def test_commissioners_are_upserted_as_data(directory: Session) -> None:
    assert [c.code for c in repo.list_commissioners(session=directory)] == ["national", "wy-pcc"]
    changed = repo.upsert_commissioners(
        session=directory,
        commissioners=[
            make_commissioner("wy-pcc", "West Yorkshire Mayor", kind=CommissionerKind.MAYOR, pfa_code="E23000010"),
            make_commissioner("mopac", "MOPAC", kind=CommissionerKind.MOPAC, pfa_code="E23000001"),
        ],
    )
    assert changed == 1  # wy-pcc was already exactly so
    renamed = make_commissioner("mopac", "Mayor's Office for Policing and Crime", kind=CommissionerKind.MOPAC)
    assert repo.upsert_commissioners(session=directory, commissioners=[renamed]) == 1
    by_code = {c.code: c for c in repo.list_commissioners(session=directory)}
    assert by_code["mopac"] == renamed


def test_many_services_in_one_batch(directory: Session) -> None:
    from tests.services_db.factories import mixed_directory

    records = mixed_directory(1_200, commissioner_codes=("wy-pcc", None))
    result = repo.apply_changes(session=directory, upserts=records, removals=[], actor="bulk")
    assert len(result.created) == 1_200
    stored = repo.list_services(session=directory)
    assert [replace(r, updated_at=None) for r in stored] == sorted(records, key=lambda r: r.id)
    areas = directory.exec(select(func.count()).select_from(ServiceArea)).one()
    assert areas >= sum(1 for r in records if r.coverage.type.value == "areas")
    assert directory.exec(select(func.count()).where(col(AuditEntry.action) == "create")).one() == 1_200


def test_a_batch_stores_the_geometry_each_service_would_get_alone(directory: Session) -> None:
    from services_db.convert import geometry_columns
    from tests.services_db.factories import mixed_directory

    leeds = box(-1.8, 53.7, -1.3, 53.95)
    areas = {"E08000035": leeds}.get
    records = mixed_directory(300, seed=5, commissioner_codes=("wy-pcc", None))
    repo.apply_changes(session=directory, upserts=records, removals=[], actor="bulk", areas=areas)
    # Then some move (new circles, new areas) and some only change their name (their columns must stay).
    lat, lon = PLACES["leeds"][:2]
    moved = [
        with_changes(r, coverage=radius_service(lat + i / 100, lon, 1_000 + i).coverage) if i % 3 else r
        for i, r in enumerate(records[:60])
    ]
    renamed = [with_changes(r, name=f"{r.name} (renamed)") for r in records[60:90]]
    repo.apply_changes(session=directory, upserts=[*moved, *renamed], removals=[], actor="bulk")
    rows = {row.id: row for row in directory.exec(select(Service).execution_options(populate_existing=True))}
    for record in [*moved, *renamed, *records[90:]]:
        resolved_with = None if record in moved and record not in records else areas
        expected = geometry_columns(record.coverage, resolved_with)
        row = rows[record.id]
        assert (row.geometry_wkb, row.min_lon, row.min_lat, row.max_lon, row.max_lat) == (
            expected.geometry_wkb,
            expected.min_lon,
            expected.min_lat,
            expected.max_lon,
            expected.max_lat,
        ), record.id
