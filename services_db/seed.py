"""Seeding a database with the shipped directory (the files and reading them: :mod:`services_db.shipped`).

The local file's entries name PCCs, so seeding also adds the commissioners of every force area
(``mapping/data/commissioners.csv``).

Seeded rows are marked ``origin="seed"`` with ``seed_hash``, the content hash of what was shipped. Re-seeding
compares each row's current content with that hash: a row nobody changed is brought up to the shipped data;
a row a user changed (or deleted, or a user's own service with the same id) is left alone and reported.
Shipped services that the data no longer lists are closed, unless a user changed them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from mapping.types import ServiceRecord, ServiceStatus
from services_db.convert import content_hash, row_to_record
from services_db.models import AuditEntry, Service
from services_db.reading import directory_in_use, seeded_rows
from services_db.repository import (
    ChangedMeanwhile,
    _at,
    _check_commissioners,
    _load_many,
    _transaction,
    _Writes,
    upsert_commissioners,
)
from services_db.shipped import (
    LOCAL_DIRECTORY,
    NATIONAL_DIRECTORY,
    SEED_ORIGIN,
    NationalDirectory,
    load_national_directory,
    load_shipped_directory,
    shipped_changed,
    shipped_hashes,
)

if TYPE_CHECKING:  # geometry loads only when a coverage is resolved (services_db.convert)
    from mapping.coverage import AreaGeometryLookup

__all__ = [
    "LOCAL_DIRECTORY",
    "NATIONAL_DIRECTORY",
    "NationalDirectory",
    "SeedReport",
    "load_national_directory",
    "load_shipped_directory",
    "seed",
    "seed_if_new",
    "seed_if_shipped_changed",
]


@dataclass(frozen=True, slots=True)
class SeedReport:
    """What :func:`seed` did, by service id."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    kept_user_changes: tuple[str, ...] = ()  # changed, deleted or owned by a user: not touched
    retired: tuple[str, ...] = ()  # no longer shipped: closed
    commissioners_changed: int = 0

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.updated) + len(self.retired)


def seed(
    *,
    session: Session,
    actor: str = "seed",
    areas: AreaGeometryLookup | None = None,
    now: datetime | None = None,
    directory: NationalDirectory | None = None,
) -> SeedReport:
    """Apply the shipped national directory in one transaction, leaving services users added or changed alone.

    Parameters
    ----------
    session
        An open session; commissioners are upserted first, then the services in one transaction.
    actor
        Recorded in the audit trail for every seeded change.
    areas
        Boundary lookup when boundaries are loaded, else ``None``.
    now
        The time to record (UTC); the current time by default.
    directory
        The data to apply; what ships (:func:`load_shipped_directory`) by default.

    Returns
    -------
    SeedReport
        Ids added, updated, unchanged, left as users changed them, and retired (closed).
    """
    directory = directory or load_shipped_directory()
    at = _at(now)
    commissioners_changed = upsert_commissioners(session=session, commissioners=directory.commissioners)
    shipped = {record.id: record for record in directory.services}
    tally = _Tally()
    with _transaction(session):
        _check_commissioners(session, directory.services)
        rows = _load_many(session, list(shipped))
        deleted = _deleted_ids(session, [i for i in shipped if i not in rows])
        seeded_elsewhere = session.exec(
            select(Service).where(Service.origin == SEED_ORIGIN, col(Service.id).not_in(list(shipped)))
        ).all()
        writes = _Writes()
        for service_id, record in shipped.items():
            _apply_shipped(
                session, writes, tally, record, rows.get(service_id), service_id in deleted, actor, at, areas
            )
        for row in seeded_elsewhere:
            _retire_unshipped(session, writes, tally, row, actor, at)
        writes.flush(session)
    return SeedReport(
        tuple(tally.created),
        tuple(tally.updated),
        tuple(tally.unchanged),
        tuple(tally.kept),
        tuple(tally.retired),
        commissioners_changed,
    )


@dataclass
class _Tally:
    """What a seed did to each service, by id, in the order met."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


def _apply_shipped(
    session: Session,
    writes: _Writes,
    tally: _Tally,
    record: ServiceRecord,
    row: Service | None,
    deleted: bool,
    actor: str,
    at: datetime,
    areas: AreaGeometryLookup | None,
) -> None:
    """One shipped entry: added when new, brought up to date when nobody changed it, else left as users made it
    (a service a user deleted stays deleted)."""
    wanted_hash = content_hash(record)
    if row is None:
        if deleted:
            tally.kept.append(record.id)
            return
        writes.insert(record, actor=actor, at=at, areas=areas, action="seed", origin=SEED_ORIGIN, seed_hash=wanted_hash)
        tally.created.append(record.id)
    elif not _untouched_seed(row):
        tally.kept.append(record.id)
    elif row.seed_hash == wanted_hash:
        tally.unchanged.append(record.id)
    else:
        writes.update(
            session,
            row,
            record,
            actor=actor,
            at=at,
            areas=areas,
            action="seed",
            detail="shipped data changed",
            force=True,
            origin=SEED_ORIGIN,
            seed_hash=wanted_hash,
        )
        tally.updated.append(record.id)


def _retire_unshipped(session: Session, writes: _Writes, tally: _Tally, row: Service, actor: str, at: datetime) -> None:
    """A seeded entry no longer shipped: closed (never deleted) unless a user changed it."""
    if not _untouched_seed(row):
        tally.kept.append(row.id)
    elif row.status != ServiceStatus.CLOSED.value:
        closing = replace(row_to_record(row), status=ServiceStatus.CLOSED)
        writes.update(
            session,
            row,
            closing,
            actor=actor,
            at=at,
            action="close",
            detail="no longer in the shipped data",
            origin=SEED_ORIGIN,
            seed_hash=content_hash(closing),
        )
        tally.retired.append(row.id)


def seed_if_new(*, session: Session, areas: AreaGeometryLookup | None = None) -> SeedReport | None:
    """Seed a brand-new directory (no services and no history); ``None`` when the directory was used before."""
    if directory_in_use(connection=session.connection()):
        return None
    try:
        return seed(session=session, areas=areas)
    except (IntegrityError, ChangedMeanwhile):
        # Another process (a second bot worker starting at the same moment) seeded it first: that is fine.
        session.rollback()
        return None


def seed_if_shipped_changed(*, session: Session, areas: AreaGeometryLookup | None = None) -> SeedReport | None:
    """Bring a seeded directory up to the shipped data (new entries, corrections, translations), leaving
    what users changed alone; ``None`` when nothing shipped changed since the last seed."""
    shipped = load_shipped_directory()
    if not shipped_changed(seeded_rows(connection=session.connection()), shipped_hashes(shipped)):
        return None  # nothing shipped changed, or never seeded (a directory kept without the shipped entries)
    try:
        return seed(session=session, areas=areas, directory=shipped)
    except (IntegrityError, ChangedMeanwhile):
        session.rollback()  # another worker applied it at the same moment
        return None


def _untouched_seed(row: Service) -> bool:
    """A shipped row whose content is still exactly what was shipped (no user edit since)."""
    return row.origin == SEED_ORIGIN and row.seed_hash == content_hash(row_to_record(row))


def _deleted_ids(session: Session, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    query = select(AuditEntry.service_id).where(AuditEntry.action == "delete", col(AuditEntry.service_id).in_(ids))
    return {service_id for service_id in session.exec(query) if service_id is not None}
