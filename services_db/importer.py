"""Import and export of the services directory, transport-free: the command line and the PCC chat upload call
the same two functions, :func:`plan_import` (read, validate, diff: writes nothing) and :func:`apply_import`
(one transaction: all of it or nothing).

A plan remembers the version of every service it would change or close; if someone else changes one of them
before the plan is applied, nothing is written and the report says which service to look at again. A file
exported from Signpost carries each service's ``version`` too, so an edit made on an old export is refused
rather than silently overwriting a newer one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

from sqlmodel import Session

from mapping.areas import AreaRegistry
from mapping.coverage import AreaGeometryLookup, resolve_coverage
from mapping.locate import Locator, NotFound
from mapping.postcodes import PostcodeDirectory
from mapping.types import AreaCoverage, Commissioner, NationalCoverage, ServiceRecord
from services_db import repository
from services_db.diff import ChangeSet, RemovalScope, diff_directory
from services_db.force_area import ForceAreaCheck
from services_db.formats import FileFormat, read_services, write_services
from services_db.formats.common import read_file_bounded
from services_db.geometry_limits import geometry_size_problems
from services_db.models import Commissioner as CommissionerRow
from services_db.validation import PlaceCheck, Problem, ValidationContext, ValidationResult, validate_services

__all__ = [
    "ImportPlan",
    "ImportReport",
    "apply_import",
    "default_context",
    "export_directory",
    "locator_place_check",
    "plan_import",
]

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class ImportPlan:
    """What importing a file would do. ``ok`` is false when there are problems; then ``changes`` is ``None``.

    ``expected_versions`` are the stored versions the changes were planned against; ``commissioners`` are
    commissioners from the shipped area tables that the file uses and the database does not have yet.
    """

    file: str
    format: FileFormat
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...] = ()
    changes: ChangeSet | None = None
    expected_versions: Mapping[str, int] = field(default_factory=dict)
    commissioners: tuple[Commissioner, ...] = ()
    rows: Mapping[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems and self.changes is not None


@dataclass(frozen=True)
class ImportReport:
    """What :func:`apply_import` did (``applied`` false: nothing was written, see ``problems``)."""

    file: str
    applied: bool
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    closed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.updated) + len(self.closed)


@cache
def _force_area_check() -> ForceAreaCheck:
    """Against the locator's postcodes (one copy per process), for a force area's commissioner's coverage."""
    return ForceAreaCheck(registry=AreaRegistry.default(), postcodes=PostcodeDirectory.default())


@cache
def _locator() -> Locator:
    return Locator.offline_default()


def locator_place_check(locator: Locator | None = None) -> PlaceCheck:
    """A place check through the locator (postcodes, land grid; polygons when it has boundaries)."""

    def check(lat: float, lon: float) -> str | None:
        result = (locator or _locator()).locate_point(lat, lon)
        if not isinstance(result, NotFound):
            return None
        if result.problem == "at_sea":
            return f"({lat:g}, {lon:g}) is not on land in England or Wales (the sea?): check the coordinates"
        return f"({lat:g}, {lon:g}) is not in England or Wales ({result.message.split(':')[0]}): check the coordinates"

    return check


def default_context(
    *,
    session: Session,
    today: date | None = None,
    registry: AreaRegistry | None = None,
    place_check: PlaceCheck | None = None,
) -> ValidationContext:
    """Validation context from the shipped area tables, the database's commissioners and the postcode data."""
    registry = registry or AreaRegistry.default()
    codes = {c.code for c in repository.list_commissioners(session=session)}
    codes |= {c.code for c in registry.commissioners()}
    local = {s.key for pfa in registry.pfas() for s in registry.local_strands(pfa.code)}
    return ValidationContext(
        is_known_area=registry.is_known,
        commissioner_codes=frozenset(codes),
        local_strand_keys=frozenset(local),
        place_check=place_check or locator_place_check(),
        today=today or date.today(),
        force_area=_force_area_check().outside,
    )


def _read(path: Path | None, data: bytes | None, name: str | None) -> tuple[str, bytes | None, Problem | None]:
    if data is not None:
        return name or "upload", data, None
    if path is None:
        raise TypeError("plan_import needs path= or data=")
    raw, problem = read_file_bounded(path)
    return path.name, raw, problem


def plan_import(
    *,
    session: Session,
    path: Path | str | None = None,
    data: bytes | None = None,
    name: str | None = None,
    fmt: FileFormat | str = "auto",
    replace_all: bool = False,
    context: ValidationContext | None = None,
    progress: Progress | None = None,
    close_missing: bool = True,
) -> ImportPlan:
    """Read, validate and diff a services file against the directory; writes nothing.

    Parameters
    ----------
    session
        An open session on the directory.
    path, data, name
        The file: a path, or its bytes (``data``) with the name it was sent under (chat uploads).
    fmt
        ``"auto"`` (from the name and content), ``"csv"``, ``"geojson"`` or ``"oruk"``.
    replace_all
        Remove (close) every stored service the file does not list, not only those of the commissioners
        the file names (see :mod:`services_db.diff`).
    context
        Validation context; :func:`default_context` when omitted.
    close_missing
        ``False``: an edit of the listed services only; nothing the file leaves out is closed.
    progress
        Called with (stage, done, total) while validating, for progress bars and chat messages.

    Returns
    -------
    ImportPlan
        Problems (every one, located) or the change set to apply.
    """
    file, raw, problem = _read(Path(path) if path is not None else None, data, name)
    fallback = FileFormat.CSV if fmt == "auto" else FileFormat(fmt)
    if raw is None:
        return ImportPlan(file, fallback, (problem,) if problem else ())
    parsed = read_services(raw, name=str(path) if path is not None else file, fmt=fmt)
    if parsed.problems:
        return ImportPlan(parsed.file, parsed.format, parsed.problems, parsed.warnings)
    oversized = geometry_size_problems(parsed.services, file=parsed.file)
    if oversized:
        return ImportPlan(parsed.file, parsed.format, oversized, parsed.warnings)
    context = context or default_context(session=session)
    stage: Callable[[int, int], None] | None = None
    if progress is not None:
        report = progress

        def stage(done: int, total: int) -> None:
            report("validating", done, total)

    result = validate_services(parsed.services, file=parsed.file, context=context, progress=stage)
    warnings = parsed.warnings + result.warnings
    if result.problems:
        return ImportPlan(parsed.file, parsed.format, result.problems, warnings, rows=result.rows)
    current = repository.list_services(session=session)
    unit = "row" if parsed.format is FileFormat.CSV else "record"
    conflicts = _version_conflicts(parsed.file, result, {r.id: r.version for r in current}, unit)
    if conflicts:
        return ImportPlan(parsed.file, parsed.format, conflicts, warnings, rows=result.rows)
    scope = RemovalScope.of_file(result.records, replace_all=replace_all) if close_missing else RemovalScope()
    changes = diff_directory(current, result.records, scope=scope)
    expected = {c.service_id: c.before.version for c in changes.changed}
    expected.update({r.id: r.version for r in changes.removed})
    expected.update({r.id: 0 for r in changes.added})  # version 0: planned as new, so it must not exist yet
    shipped = _new_commissioners(session, result.records)
    return ImportPlan(
        parsed.file,
        parsed.format,
        (),
        warnings,
        changes=changes,
        expected_versions=expected,
        commissioners=shipped,
        rows=result.rows,
    )


def _version_conflicts(
    file: str, result: ValidationResult, stored: Mapping[str, int], unit: str
) -> tuple[Problem, ...]:
    """The services the file was exported at another version of than the stored one (someone changed them)."""
    return tuple(
        Problem(
            file,
            result.rows.get(service_id),
            "version",
            f"service {service_id!r} was changed by someone else after this file was exported (it is now version"
            f" {stored[service_id]}, the file has {version}): export again and redo your edit there",
            unit,
            service_id if unit == "record" else None,
        )
        for service_id, version in sorted(result.expected_versions.items())
        if service_id in stored and stored[service_id] != version
    )


def _new_commissioners(session: Session, records: Sequence[ServiceRecord]) -> tuple[Commissioner, ...]:
    """The shipped commissioners the file names that the directory does not hold yet (added with the import)."""
    known = {c.code for c in repository.list_commissioners(session=session)}
    used = {r.commissioner_code for r in records if r.commissioner_code and r.commissioner_code not in known}
    return tuple(c for c in AreaRegistry.default().commissioners() if c.code in used)


def apply_import(
    *, session: Session, plan: ImportPlan, actor: str, areas: AreaGeometryLookup | None = None
) -> ImportReport:
    """Apply a plan in one transaction; nothing is written when the plan has problems or anything conflicts.

    Parameters
    ----------
    session
        An open session on the directory (the same database the plan was made against).
    plan
        From :func:`plan_import`.
    actor
        Who is importing (recorded in every audit entry).
    areas
        Boundary lookup when boundaries are loaded, so area-coded coverage gets its geometry.
    """
    if not plan.ok or plan.changes is None:
        return ImportReport(plan.file, applied=False, problems=plan.problems)
    changes = plan.changes
    if changes.is_empty:
        return ImportReport(plan.file, applied=True, unchanged=changes.unchanged)
    for commissioner in plan.commissioners:
        # Added in the same transaction as the services: apply_changes commits or rolls back both.
        if session.get(CommissionerRow, commissioner.code) is None:
            session.add(
                CommissionerRow(
                    code=commissioner.code,
                    name=commissioner.name,
                    kind=commissioner.kind.value,
                    pfa_code=commissioner.pfa_code,
                )
            )
    try:
        result = repository.apply_changes(
            session=session,
            upserts=[*changes.added, *(c.after for c in changes.changed)],
            removals=[r.id for r in changes.removed],
            actor=actor,
            expected_versions=plan.expected_versions,
            areas=areas,
        )
    except repository.VersionConflict as exc:
        session.rollback()
        message = (
            f"service {exc.service_id!r} was changed by someone else while this import waited (version"
            f" {exc.expected} expected, now {exc.actual}): nothing was written; run the import again to see the"
            " new differences"
        )
        return ImportReport(
            plan.file, applied=False, problems=(Problem(plan.file, plan.rows.get(exc.service_id), "version", message),)
        )
    except repository.DirectoryError as exc:
        session.rollback()
        return ImportReport(plan.file, applied=False, problems=(Problem(plan.file, None, None, str(exc)),))
    return ImportReport(
        plan.file,
        applied=True,
        created=result.created,
        updated=result.updated,
        closed=result.closed,
        unchanged=(*changes.unchanged, *result.unchanged),
    )


def export_directory(*, session: Session, fmt: FileFormat | str, areas: AreaGeometryLookup | None = None) -> str:
    """Every service (any status) as CSV, GeoJSON or Open Referral UK text; with ``areas``, GeoJSON and ORUK
    exports include the resolved outline of national and area-coded services."""
    records = repository.list_services(session=session)
    geometries = {}
    if areas is not None and FileFormat(fmt) is not FileFormat.CSV:
        for record in records:
            if isinstance(record.coverage, NationalCoverage | AreaCoverage):
                resolved = resolve_coverage(record.coverage, areas)
                if resolved is not None:
                    geometries[record.id] = resolved
    return write_services(records, fmt, geometries=geometries)
