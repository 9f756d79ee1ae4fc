"""The shipped directory and seeding a database with it.

Two files ship: ``national_directory.json`` (national and specialist services, confirmed) and
``local_directory.json`` (the researched starter directory of local services, gathered from public pages and
``unconfirmed`` until the commissioner for the force area confirms, corrects or closes each entry). Both have
the same shape (``about``, optional ``commissioners``, ``services``); entries may carry ``translations``.
The local file's entries name PCCs, so seeding also adds the commissioners of every force area
(``mapping/data/commissioners.csv``).

Seeded rows are marked ``origin="seed"`` with ``seed_hash``, the content hash of what was shipped. Re-seeding
compares each row's current content with that hash: a row nobody changed is brought up to the shipped data;
a row a user changed (or deleted, or a user's own service with the same id) is left alone and reported.
Shipped services that the data no longer lists are closed, unless a user changed them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from mapping.areas import AreaRegistry
from mapping.types import Commissioner, CommissionerKind, ServiceRecord, ServiceStatus
from services_db.convert import content_hash, record_from_dict, row_to_record
from services_db.models import AuditEntry, Service
from services_db.repository import (
    ChangedMeanwhile,
    _at,
    _check_commissioners,
    _load_many,
    _transaction,
    _Writes,
    upsert_commissioners,
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

NATIONAL_DIRECTORY = Path(__file__).parent / "data" / "national_directory.json"
LOCAL_DIRECTORY = Path(__file__).parent / "data" / "local_directory.json"
SEED_ORIGIN = "seed"


@dataclass(frozen=True, slots=True)
class NationalDirectory:
    """The shipped data: commissioners of national services and the services themselves."""

    commissioners: tuple[Commissioner, ...]
    services: tuple[ServiceRecord, ...]


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


def load_national_directory(path: Path | None = None) -> NationalDirectory:
    """Read the shipped directory (or another file of the same shape); raises ``ValueError`` naming the entry."""
    source = path or NATIONAL_DIRECTORY
    data: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    commissioners = tuple(
        Commissioner(c["code"], c["name"], CommissionerKind(c["kind"]), c.get("pfa_code"))
        for c in data.get("commissioners", [])
    )
    services: list[ServiceRecord] = []
    for index, entry in enumerate(data.get("services", [])):
        try:
            services.append(record_from_dict(entry))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{source}: service {index} ({entry.get('id', '?')}): {exc}") from exc
    return NationalDirectory(commissioners, tuple(services))


def load_shipped_directory(*paths: Path) -> NationalDirectory:
    """Everything that ships: the national file, then the local file when present (or the files given), with
    the force areas' commissioners. Raises ``ValueError`` naming a file and entry, or an id used twice."""
    files = paths or tuple(p for p in (NATIONAL_DIRECTORY, LOCAL_DIRECTORY) if p.exists())
    commissioners: dict[str, Commissioner] = {c.code: c for c in AreaRegistry.default().commissioners()}
    services: dict[str, ServiceRecord] = {}
    for path in files:
        part = load_national_directory(path)
        commissioners.update((c.code, c) for c in part.commissioners)
        for record in part.services:
            if record.id in services:
                raise ValueError(f"{path}: service id {record.id!r} is also used in another shipped file")
            services[record.id] = record
    return NationalDirectory(tuple(commissioners.values()), tuple(services.values()))


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
    has_services = session.exec(select(func.count()).select_from(Service)).one() > 0
    has_history = session.exec(select(func.count()).select_from(AuditEntry)).one() > 0
    if has_services or has_history:
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
    wanted = {record.id: content_hash(record) for record in shipped.services}
    rows = session.exec(select(Service.id, Service.seed_hash, Service.status).where(Service.origin == SEED_ORIGIN))
    stored: dict[str, str | None] = {}
    still_open: set[str] = set()  # seeded rows not closed: one no longer shipped is to be retired
    for service_id, seed_hash, status in rows:
        stored[service_id] = seed_hash
        if status != ServiceStatus.CLOSED.value:
            still_open.add(service_id)
    if not stored:
        return None  # never seeded (a directory kept without the national entries): leave it so
    if all(stored.get(service_id) == digest for service_id, digest in wanted.items()) and still_open <= set(wanted):
        return None
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
