"""The services directory: keyword-only functions that read and change services and return domain objects.

Every change is one transaction (the function commits on success and rolls back on any error) and writes one
audit entry per changed service with the full record before and after, so that any earlier version can be
restored. Concurrent edits are detected, never lost: every write is an ``UPDATE ... WHERE version = :seen``
and a caller that read an older version gets :class:`VersionConflict`.

Geometry: a service's coverage is resolved to WGS84 on write (``areas`` is the boundary lookup when boundaries
are loaded, else ``None``: area-coded and national coverage then store no geometry and are matched by the
codes in ``service_area``). A write that leaves the coverage unchanged keeps the stored geometry.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, delete, func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from mapping.types import (
    Commissioner,
    CommissionerKind,
    Confirmation,
    Coverage,
    ServiceKind,
    ServiceRecord,
    ServiceStatus,
    coverage_from_dict,
    coverage_to_dict,
)
from services_db import reading
from services_db.convert import (
    REVISION_FIELDS,
    GeometryColumns,
    coverage_area_codes,
    geometry_columns,
    geometry_columns_many,
    record_from_dict,
    record_to_dict,
    row_to_record,
    row_values,
)
from services_db.errors import (
    ChangedMeanwhile,
    DirectoryError,
    ServiceAlreadyExists,
    ServiceNotFound,
    UnknownCommissioner,
    VersionConflict,
    VersionNotFound,
)
from services_db.models import AuditEntry, Service, ServiceArea
from services_db.models import Commissioner as CommissionerRow

if TYPE_CHECKING:  # geometry loads only when a coverage is resolved (services_db.convert)
    from mapping.coverage import AreaGeometryLookup

__all__ = [
    "ApplyResult",
    "AuditRecord",
    "ChangedMeanwhile",
    "DirectoryError",
    "ServiceAlreadyExists",
    "ServiceNotFound",
    "UnknownCommissioner",
    "VersionConflict",
    "VersionNotFound",
    "apply_changes",
    "close_service",
    "create_service",
    "delete_service",
    "get_service",
    "history",
    "list_commissioners",
    "list_services",
    "refresh_geometries",
    "restore",
    "set_verified",
    "snapshot_key",
    "update_service",
    "upsert_commissioners",
]

_CHUNK = 500  # ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits


# --- results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit entry: who did what to which service, when, with the full record before and after."""

    id: int
    at: datetime
    actor: str
    action: str
    service_id: str | None
    version: int | None
    before: ServiceRecord | None
    after: ServiceRecord | None
    detail: str = ""

    @property
    def changed_fields(self) -> tuple[str, ...]:
        """Names of the fields that differ between ``before`` and ``after`` (revision fields left out)."""
        if self.before is None or self.after is None:
            return ()
        old, new = record_to_dict(self.before), record_to_dict(self.after)
        return tuple(k for k in old if k not in REVISION_FIELDS and old[k] != new[k])


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What :func:`apply_changes` did, by service id."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    closed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.updated) + len(self.closed)


# --- reading ----------------------------------------------------------------------------------------------


def list_services(
    *,
    session: Session,
    status: ServiceStatus | None = None,
    kinds: Collection[ServiceKind] | None = None,
    commissioner_code: str | None = None,
) -> list[ServiceRecord]:
    """Services in the directory, ordered by id.

    Parameters
    ----------
    session
        An open session (read only).
    status
        Only services with this status (``None``: any status, closed ones included).
    kinds
        Only services of these kinds (``None`` or empty: every kind).
    commissioner_code
        Only the services this commissioner commissions.

    Returns
    -------
    list[ServiceRecord]
    """
    # Plain columns, not ORM objects (a third of the time for a large directory), and not the stored geometry,
    # which no ServiceRecord carries.
    return reading.list_services(
        connection=session.connection(), status=status, kinds=kinds, commissioner_code=commissioner_code
    )


def get_service(*, session: Session, service_id: str) -> ServiceRecord | None:
    """The service with ``service_id``, or ``None``."""
    row = _load(session, service_id)
    return row_to_record(row) if row is not None else None


def list_commissioners(*, session: Session) -> list[Commissioner]:
    """Every commissioner the directory knows, ordered by code."""
    rows = session.exec(select(CommissionerRow).order_by(col(CommissionerRow.code)))
    return [Commissioner(r.code, r.name, CommissionerKind(r.kind), r.pfa_code) for r in rows]


def history(*, session: Session, service_id: str) -> list[AuditRecord]:
    """Every audit entry of one service, oldest first (an empty list for an id never seen)."""
    query = select(AuditEntry).where(AuditEntry.service_id == service_id).order_by(col(AuditEntry.id))
    return [_audit_record(entry) for entry in session.exec(query)]


def snapshot_key(*, session: Session) -> str:
    """A short key that changes whenever the directory changes (rebuild indexes when it differs)."""
    count, versions, latest = session.exec(
        select(func.count(), func.coalesce(func.sum(Service.version), 0), func.max(Service.updated_at))
    ).one()
    last_audit = session.exec(select(func.max(AuditEntry.id))).one()
    text = f"{count}:{versions}:{latest}:{last_audit}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- changing ---------------------------------------------------------------------------------------------


def create_service(
    *,
    session: Session,
    record: ServiceRecord,
    actor: str,
    areas: AreaGeometryLookup | None = None,
    now: datetime | None = None,
) -> ServiceRecord:
    """Add a new service as version 1, audited as ``create``.

    Parameters
    ----------
    session
        An open session; the call commits (or rolls back on error).
    record
        The service; its ``version`` and ``updated_at`` are ignored (the directory sets them).
    actor
        Who is making the change, for the audit trail.
    areas
        Boundary lookup when boundaries are loaded, else ``None``.
    now
        The time to record (UTC, timezone-aware); the current time by default.

    Returns
    -------
    ServiceRecord
        The stored record, with its version and ``updated_at``.

    Raises
    ------
    ServiceAlreadyExists, UnknownCommissioner
    """
    with _transaction(session):
        _check_commissioners(session, [record])
        if _load(session, record.id) is not None:
            raise ServiceAlreadyExists(record.id)
        writes = _Writes()
        created = writes.insert(record, actor=actor, at=_at(now), areas=areas, action="create")
        writes.flush(session)
    return created


def update_service(
    *,
    session: Session,
    record: ServiceRecord,
    actor: str,
    expected_version: int,
    areas: AreaGeometryLookup | None = None,
    now: datetime | None = None,
) -> ServiceRecord:
    """Replace a service's content with ``record`` as the next version, audited as ``update``.

    Parameters
    ----------
    session
        An open session; the call commits (or rolls back on error).
    record
        The edited service (matched by ``record.id``).
    actor
        Who is making the change.
    expected_version
        The version the editor read: if the stored service has moved on, nothing is written.
    areas
        Boundary lookup when boundaries are loaded, else ``None`` (an unchanged coverage keeps its geometry).
    now
        The time to record (UTC); the current time by default.

    Returns
    -------
    ServiceRecord
        The new version; the stored record unchanged when ``record`` has the same content.

    Raises
    ------
    VersionConflict
        Someone else changed (or deleted) the service since ``expected_version`` was read.
    ServiceNotFound, UnknownCommissioner
    """
    with _transaction(session):
        _check_commissioners(session, [record])
        row = _require(session, record.id)
        writes = _Writes()
        updated = writes.update(
            session, row, record, actor=actor, at=_at(now), areas=areas, expected_version=expected_version
        )
        writes.flush(session)
    # the same content as stored is not a new version: the caller gets the stored record back
    return updated if updated is not None else row_to_record(row)


def close_service(
    *,
    session: Session,
    service_id: str,
    actor: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> ServiceRecord:
    """Mark a service closed (kept, with its history, and restorable); a new version, audited."""
    return _change_one(session, service_id, actor, expected_version, now, "close", status=ServiceStatus.CLOSED)


def set_verified(
    *,
    session: Session,
    service_id: str,
    on: date,
    actor: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> ServiceRecord:
    """Record that a person checked the service's details on ``on`` (which confirms an unconfirmed entry); a
    new version, audited.

    The same person verifying a confirmed service again on the same date changes nothing: no new version is
    written and the current record is returned (its version unchanged), as :func:`restore` does.
    """
    row = _load(session, service_id)
    if row is not None and (expected_version is None or expected_version == row.version):
        current = row_to_record(row)
        if current.verified_on == on and current.confirmation is Confirmation.CONFIRMED:
            last = session.exec(
                select(AuditEntry.actor)
                .where(AuditEntry.service_id == service_id)
                .order_by(col(AuditEntry.id).desc())
                .limit(1)
            ).first()
            if last == actor:
                return current
    return _change_one(
        session, service_id, actor, expected_version, now, "verify", verified_on=on, confirmation=Confirmation.CONFIRMED
    )


def delete_service(
    *,
    session: Session,
    service_id: str,
    actor: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> ServiceRecord:
    """Remove a service row; its audit trail stays, so :func:`restore` can bring it back. Returns what was deleted."""
    with _transaction(session):
        row = _require(session, service_id)
        before = row_to_record(row)
        if expected_version is not None and before.version != expected_version:
            raise VersionConflict(service_id, expected_version, before.version)
        session.execute(delete(ServiceArea).where(col(ServiceArea.service_id) == service_id))
        result = session.execute(
            delete(Service).where(col(Service.id) == service_id, col(Service.version) == before.version)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise VersionConflict(service_id, before.version, _current_version(session, service_id))
        writes = _Writes()
        writes.audit(
            at=_at(now),
            actor=actor,
            action="delete",
            service_id=service_id,
            version=before.version + 1,
            before=before,
            after=None,
        )
        writes.flush(session)
    return before


def restore(
    *,
    session: Session,
    service_id: str,
    version: int,
    actor: str,
    areas: AreaGeometryLookup | None = None,
    now: datetime | None = None,
) -> ServiceRecord:
    """Bring back the content a service had at ``version``, as a new version (also after it was deleted).

    When the service already has that content (an old Restore button pressed twice), nothing is written and
    the current record is returned: its version is unchanged.
    """
    with _transaction(session):
        entries = history(session=session, service_id=service_id)
        states = {e.version: e.after for e in entries if e.after is not None and e.version is not None}
        if version not in states:
            raise VersionNotFound(service_id, version, sorted(states))
        wanted = states[version]
        assert wanted is not None
        _check_commissioners(session, [wanted])
        row = _load(session, service_id)
        writes = _Writes()
        at, detail = _at(now), f"restored version {version}"
        if row is None:
            last = max((e.version for e in entries if e.version is not None), default=0)
            restored = writes.insert(
                wanted, actor=actor, at=at, areas=areas, action="restore", version=last + 1, detail=detail
            )
        else:
            rewritten = writes.update(
                session, row, wanted, actor=actor, at=at, areas=areas, action="restore", detail=detail
            )
            if rewritten is None:
                return row_to_record(row)  # already that content: no new version
            restored = rewritten
        writes.flush(session)
    return restored


def apply_changes(
    *,
    session: Session,
    upserts: Sequence[ServiceRecord],
    removals: Sequence[str],
    actor: str,
    expected_versions: Mapping[str, int] | None = None,
    areas: AreaGeometryLookup | None = None,
    now: datetime | None = None,
) -> ApplyResult:
    """Create or update ``upserts`` and close ``removals`` in ONE transaction: all of it, or nothing.

    A service whose content is already as given is left alone (no new version, no audit entry).
    ``expected_versions`` (service id -> the version the change was planned against) makes the call fail
    with :class:`VersionConflict` if any of those services changed meanwhile. Removal closes a service
    (status ``closed``); it never deletes it or its history.

    Parameters
    ----------
    session
        An open session; pending changes in it (e.g. new commissioners) commit or roll back with the batch.
    upserts
        Services to create or update (matched by id; ``version``/``updated_at`` are ignored).
    removals
        Ids of services to close.
    actor
        Who is making the change (e.g. ``"import:leeds.csv"``); one audit entry per changed service.
    expected_versions
        Service id -> version the change was planned against; 0 for a service planned as new (it must not
        exist yet).
    areas
        Boundary lookup when boundaries are loaded, else ``None``.
    now
        The time to record (UTC); the current time by default.

    Returns
    -------
    ApplyResult
        Ids created, updated, closed and left unchanged.

    Raises
    ------
    VersionConflict, ChangedMeanwhile, ServiceNotFound, UnknownCommissioner, DirectoryError
        Nothing is written when any is raised.
    """
    expected_versions = expected_versions or {}
    at = _at(now)
    with _transaction(session):
        _check_batch([r.id for r in upserts], removals)
        _check_commissioners(session, upserts)
        rows = _load_many(session, [*(r.id for r in upserts), *removals])
        writes = _Writes(geometries=_resolve_upserts(upserts, rows, areas))
        created, updated, unchanged = _write_upserts(
            session, writes, upserts, rows, expected_versions, actor=actor, at=at, areas=areas
        )
        closed, left = _write_removals(session, writes, removals, rows, expected_versions, actor=actor, at=at)
        writes.flush(session)
    return ApplyResult(tuple(created), tuple(updated), tuple(closed), tuple(unchanged + left))


def _check_batch(ids: Sequence[str], removals: Sequence[str]) -> None:
    """Each service at most once in a batch, and never both changed and removed."""
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise DirectoryError(f"the same service id is given more than once: {', '.join(duplicates)}")
    both = sorted(set(ids) & set(removals))
    if both:
        raise DirectoryError(f"services both changed and removed in one batch: {', '.join(both)}")


def _write_upserts(
    session: Session,
    writes: _Writes,
    upserts: Sequence[ServiceRecord],
    rows: Mapping[str, Service],
    expected_versions: Mapping[str, int],
    *,
    actor: str,
    at: datetime,
    areas: AreaGeometryLookup | None,
) -> tuple[list[str], list[str], list[str]]:
    """Create or update each service; the ids created, updated and left unchanged."""
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    for record in upserts:
        row = rows.get(record.id)
        expected = expected_versions.get(record.id)
        if row is None:
            if expected:
                raise VersionConflict(record.id, expected, None)
            writes.insert(record, actor=actor, at=at, areas=areas, action="create")
            created.append(record.id)
        elif expected == 0:  # planned as new, but someone created it since
            raise ChangedMeanwhile()
        elif writes.update(session, row, record, actor=actor, at=at, areas=areas, expected_version=expected):
            updated.append(record.id)
        else:
            unchanged.append(record.id)
    return created, updated, unchanged


def _write_removals(
    session: Session,
    writes: _Writes,
    removals: Sequence[str],
    rows: Mapping[str, Service],
    expected_versions: Mapping[str, int],
    *,
    actor: str,
    at: datetime,
) -> tuple[list[str], list[str]]:
    """Close each service; the ids closed and those already closed (left unchanged)."""
    closed: list[str] = []
    unchanged: list[str] = []
    for service_id in removals:
        row = rows.get(service_id)
        if row is None:
            raise ServiceNotFound(service_id)
        closing = replace(row_to_record(row), status=ServiceStatus.CLOSED)
        expected = expected_versions.get(service_id)
        if writes.update(session, row, closing, actor=actor, at=at, expected_version=expected, action="close"):
            closed.append(service_id)
        else:
            unchanged.append(service_id)
    return closed, unchanged


def upsert_commissioners(*, session: Session, commissioners: Iterable[Commissioner]) -> int:
    """Add or update commissioners (PCCs, mayors, MOPAC, ... as data); returns how many were added or changed."""
    changed = 0
    with _transaction(session):
        for commissioner in commissioners:
            values: dict[str, Any] = {
                "name": commissioner.name,
                "kind": CommissionerKind(commissioner.kind).value,
                "pfa_code": commissioner.pfa_code,
            }
            row = session.get(CommissionerRow, commissioner.code)
            if row is None:
                session.add(CommissionerRow(code=commissioner.code, **values))
                changed += 1
            elif any(getattr(row, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(row, k, v)
                changed += 1
    return changed


def refresh_geometries(
    *, session: Session, areas: AreaGeometryLookup | None, actor: str = "geography", now: datetime | None = None
) -> int:
    """Re-resolve every service's geometry (after boundaries were loaded or changed); returns how many changed.

    Geometry is derived from the coverage spec, so this is not a new version of any service; one audit entry
    records that it happened (and moves :func:`snapshot_key`).
    """
    changed = 0
    with _transaction(session):
        rows = list(session.exec(select(Service).execution_options(populate_existing=True)))
        # Each distinct spec resolved once, all of them together (radius circles in one transform).
        specs = {repr(sorted(row.coverage.items())): row for row in rows}
        resolved = geometry_columns_many([coverage_from_dict(row.coverage) for row in specs.values()], areas)
        cache = dict(zip(specs, resolved, strict=True))
        for row in rows:
            columns = cache[repr(sorted(row.coverage.items()))]
            if _stored_geometry(row) == columns:
                continue
            session.execute(update(Service).where(col(Service.id) == row.id).values(**columns.as_dict()))
            changed += 1
        if changed:
            writes = _Writes()
            writes.audit(
                at=_at(now),
                actor=actor,
                action="refresh_geometries",
                service_id=None,
                version=None,
                before=None,
                after=None,
                detail=f"{changed} service geometries re-resolved",
            )
            writes.flush(session)
    return changed


# --- internals --------------------------------------------------------------------------------------------


def _resolve_upserts(
    upserts: Sequence[ServiceRecord], rows: Mapping[str, Service], areas: AreaGeometryLookup | None
) -> dict[Coverage, GeometryColumns]:
    """Geometry columns of the coverage specs a batch will write, resolved together (circles in one transform).

    Only specs that :meth:`_Writes.insert` or :meth:`_Writes.update` will resolve: new services, and changed
    coverage (or any coverage when boundaries are given); an update that keeps its coverage keeps its columns.
    """
    wanted = [
        record.coverage
        for record in upserts
        if (row := rows.get(record.id)) is None
        or areas is not None
        or row.coverage != coverage_to_dict(record.coverage)
    ]
    unique = list(dict.fromkeys(wanted))
    return dict(zip(unique, geometry_columns_many(unique, areas), strict=True))


@dataclass
class _Writes:
    """Inserts collected during one transaction and sent as a few multi-row statements at the end.

    ``geometries`` holds columns resolved ahead for the batch (see :func:`_resolve_upserts`), keyed by spec.
    """

    services: list[dict[str, Any]] = field(default_factory=list)
    area_deletes: list[str] = field(default_factory=list)
    areas: list[dict[str, str]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    geometries: Mapping[Coverage, GeometryColumns] = field(default_factory=dict)

    def geometry(self, coverage: Coverage, areas: AreaGeometryLookup | None) -> GeometryColumns:
        found = self.geometries.get(coverage)
        return found if found is not None else geometry_columns(coverage, areas)

    def insert(
        self,
        record: ServiceRecord,
        *,
        actor: str,
        at: datetime,
        areas: AreaGeometryLookup | None,
        action: str,
        version: int = 1,
        detail: str = "",
        origin: str = "user",
        seed_hash: str | None = None,
    ) -> ServiceRecord:
        stored = replace(record, version=version, updated_at=at)
        data = record_to_dict(stored)
        values = row_values(stored, geometry=self.geometry(record.coverage, areas), data=data)
        self.services.append(
            {
                "id": record.id,
                **values,
                "origin": origin,
                "seed_hash": seed_hash,
                "updated_at": at,
                "updated_by": actor,
                "version": version,
            }
        )
        self.areas.extend({"service_id": record.id, "area_code": c} for c in coverage_area_codes(record.coverage))
        self.audit(
            at=at,
            actor=actor,
            action=action,
            service_id=record.id,
            version=version,
            before=None,
            after=data,
            detail=detail,
        )
        return stored

    def update(
        self,
        session: Session,
        row: Service,
        record: ServiceRecord,
        *,
        actor: str,
        at: datetime,
        areas: AreaGeometryLookup | None = None,
        expected_version: int | None = None,
        action: str = "update",
        detail: str = "",
        force: bool = False,
        origin: str | None = None,
        seed_hash: str | None = None,
    ) -> ServiceRecord | None:
        """Write ``record`` over ``row`` as the next version; ``None`` when nothing changed (unless ``force``)."""
        before = row_to_record(row)
        if expected_version is not None and before.version != expected_version:
            raise VersionConflict(row.id, expected_version, before.version)
        if not force and _same_content(before, record):
            return None
        version = before.version + 1
        stored = replace(record, id=row.id, version=version, updated_at=at)
        if areas is None and stored.coverage == before.coverage:
            geometry = _stored_geometry(row)  # unchanged coverage keeps what boundaries resolved earlier
        else:
            geometry = self.geometry(stored.coverage, areas)
        values: dict[str, Any] = {
            **row_values(stored, geometry=geometry),
            "updated_at": at,
            "updated_by": actor,
            "version": version,
        }
        if origin is not None:
            values["origin"], values["seed_hash"] = origin, seed_hash
        result = session.execute(
            update(Service).where(col(Service.id) == row.id, col(Service.version) == before.version).values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise VersionConflict(row.id, expected_version or before.version, _current_version(session, row.id))
        if coverage_area_codes(stored.coverage) != coverage_area_codes(before.coverage):
            self.area_deletes.append(row.id)
            self.areas.extend({"service_id": row.id, "area_code": c} for c in coverage_area_codes(stored.coverage))
        self.audit(
            at=at,
            actor=actor,
            action=action,
            service_id=row.id,
            version=version,
            before=before,
            after=stored,
            detail=detail,
        )
        return stored

    def audit(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        service_id: str | None,
        version: int | None,
        before: ServiceRecord | dict[str, Any] | None,
        after: ServiceRecord | dict[str, Any] | None,
        detail: str = "",
    ) -> None:
        self.audits.append(
            {
                "at": at,
                "actor": actor,
                "action": action,
                "service_id": service_id,
                "version": version,
                "before": record_to_dict(before) if isinstance(before, ServiceRecord) else before,
                "after": record_to_dict(after) if isinstance(after, ServiceRecord) else after,
                "detail": detail,
            }
        )

    def flush(self, session: Session) -> None:
        """Send the collected rows in dependency order: services, their area codes, then the audit trail."""
        # Core inserts on the tables: many rows in few statements, without the ORM's per-object bookkeeping.
        if self.services:
            session.execute(insert(_table(Service)), self.services)
        for chunk in _chunks(self.area_deletes):
            session.execute(delete(ServiceArea).where(col(ServiceArea.service_id).in_(chunk)))
        if self.areas:
            session.execute(insert(_table(ServiceArea)), self.areas)
        if self.audits:
            session.execute(insert(_table(AuditEntry)), self.audits)
        self.services, self.area_deletes, self.areas, self.audits = [], [], [], []


@contextmanager
def _transaction(session: Session) -> Iterator[None]:
    """One transaction; a unique-key clash with a concurrent writer becomes :class:`ChangedMeanwhile`."""
    try:
        yield
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise ChangedMeanwhile() from exc
    except BaseException:
        session.rollback()
        raise


def _change_one(
    session: Session,
    service_id: str,
    actor: str,
    expected_version: int | None,
    now: datetime | None,
    action: str,
    **changes: Any,
) -> ServiceRecord:
    with _transaction(session):
        row = _require(session, service_id)
        record = replace(row_to_record(row), **changes)
        writes = _Writes()
        changed = writes.update(
            session,
            row,
            record,
            actor=actor,
            at=_at(now),
            expected_version=expected_version,
            action=action,
            force=action == "verify",
        )
        writes.flush(session)
    return changed if changed is not None else row_to_record(row)


def _load(session: Session, service_id: str) -> Service | None:
    query = select(Service).where(Service.id == service_id).execution_options(populate_existing=True)
    return session.exec(query).first()


def _require(session: Session, service_id: str) -> Service:
    row = _load(session, service_id)
    if row is None:
        raise ServiceNotFound(service_id)
    return row


def _load_many(session: Session, ids: Sequence[str]) -> dict[str, Service]:
    rows: dict[str, Service] = {}
    for chunk in _chunks(list(dict.fromkeys(ids))):
        query = select(Service).where(col(Service.id).in_(chunk)).execution_options(populate_existing=True)
        rows.update((row.id, row) for row in session.exec(query))
    return rows


def _current_version(session: Session, service_id: str) -> int | None:
    return session.exec(select(Service.version).where(Service.id == service_id)).first()


def _check_commissioners(session: Session, records: Iterable[ServiceRecord]) -> None:
    wanted = {r.commissioner_code for r in records if r.commissioner_code}
    if not wanted:
        return
    known: set[str] = set()
    for chunk in _chunks(sorted(wanted)):
        known.update(session.exec(select(CommissionerRow.code).where(col(CommissionerRow.code).in_(chunk))))
    if wanted - known:
        raise UnknownCommissioner(wanted - known)


def _same_content(a: ServiceRecord, b: ServiceRecord) -> bool:
    left, right = record_to_dict(a), record_to_dict(b)
    return all(left[k] == right[k] for k in left if k not in REVISION_FIELDS)


def _stored_geometry(row: Service) -> GeometryColumns:
    wkb = bytes(row.geometry_wkb) if row.geometry_wkb is not None else None
    return GeometryColumns(wkb, row.min_lon, row.min_lat, row.max_lon, row.max_lat)


def _audit_record(entry: AuditEntry) -> AuditRecord:
    assert entry.id is not None
    at = entry.at if entry.at.tzinfo is not None else entry.at.replace(tzinfo=UTC)
    return AuditRecord(
        id=entry.id,
        at=at,
        actor=entry.actor,
        action=entry.action,
        service_id=entry.service_id,
        version=entry.version,
        before=record_from_dict(entry.before) if entry.before else None,
        after=record_from_dict(entry.after) if entry.after else None,
        detail=entry.detail,
    )


def _at(now: datetime | None) -> datetime:
    at = now or datetime.now(UTC)
    if at.tzinfo is None:
        raise ValueError("the clock must give timezone-aware datetimes (UTC)")
    return at


def _table(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def _chunks(items: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield list(items[start : start + _CHUNK])
