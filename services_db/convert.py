"""Conversions between directory rows (``Service``) and the domain's ``ServiceRecord``.

One JSON shape per record (:func:`record_to_dict` / :func:`record_from_dict`) is used for the audit trail
(before and after states), for seed hashing and by anyone who needs a lossless plain form of a service.
Geometry helpers turn a coverage spec into the stored columns: WKB of the resolved WGS84 geometry, its
bounding box, and the area codes the service is matched by when boundaries are not loaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from mapping.types import (
    AreaCoverage,
    Channel,
    Confirmation,
    Coverage,
    Nation,
    NationalCoverage,
    OpeningHours,
    ServiceKind,
    ServiceRecord,
    ServiceStatus,
    Strand,
    coverage_from_dict,
    coverage_to_dict,
    normalise_translations,
)

if TYPE_CHECKING:  # geometry (shapely, numpy, pyproj) loads only when a coverage is resolved; the ORM models
    # only where rows are written (services_db.reading turns plain rows into records without them)
    from shapely.geometry.base import BaseGeometry
    from sqlalchemy import Row

    from mapping.coverage import AreaGeometryLookup
    from services_db.models import Service

__all__ = [
    "LATER_FIELD_DEFAULTS",
    "NATION_AREA_CODES",
    "REVISION_FIELDS",
    "GeometryColumns",
    "content_hash",
    "coverage_area_codes",
    "geometry_columns",
    "geometry_columns_many",
    "record_from_dict",
    "record_to_dict",
    "row_to_record",
    "row_values",
    "write_record_to_row",
]

# ONS country codes stored in service_area for national coverage, so that a code lookup with a place's
# country (E92000001 for an English LAD, W92000004 for a Welsh one) finds national services as well.
NATION_AREA_CODES: Mapping[Nation, tuple[str, ...]] = {
    Nation.ENGLAND_AND_WALES: ("E92000001", "W92000004"),
    Nation.ENGLAND: ("E92000001",),
    Nation.WALES: ("W92000004",),
}

# Fields that say which revision a record is, not what the service is: left out of content comparisons.
REVISION_FIELDS = frozenset({"version", "updated_at"})

# Fields added to the record after the first release, with their defaults (see content_hash).
LATER_FIELD_DEFAULTS: Mapping[str, Any] = {
    "confirmation": Confirmation.CONFIRMED.value,
    "page_date": None,
    "communities": [],
    "min_age": None,
    "max_age": None,
    "residents_only": False,
    "translations": {},
}


def record_to_dict(record: ServiceRecord) -> dict[str, Any]:
    """The full record as plain JSON values (dates as ISO text, strands sorted), losslessly reversible."""
    return {
        "id": record.id,
        "name": record.name,
        "organisation": record.organisation,
        "kind": record.kind.value,
        "description": record.description,
        "strands": sorted(s.value for s in record.strands),
        "local_strands": list(record.local_strands),
        "commissioner_code": record.commissioner_code,
        "channels": [c.to_dict() for c in record.channels],
        "languages": list(record.languages),
        "hours": record.hours.to_dict(),
        "eligibility": record.eligibility,
        "coverage": coverage_to_dict(record.coverage),
        "status": record.status.value,
        "source_url": record.source_url,
        "verified_on": record.verified_on.isoformat() if record.verified_on else None,
        "caveat": record.caveat,
        "translations": normalise_translations(record.translations),
        "confirmation": record.confirmation.value,
        "page_date": record.page_date.isoformat() if record.page_date else None,
        "communities": list(record.communities),
        "min_age": record.min_age,
        "max_age": record.max_age,
        "residents_only": record.residents_only,
        "updated_at": record.updated_at.isoformat() if record.updated_at else None,
        "version": record.version,
    }


def record_from_dict(data: Mapping[str, Any]) -> ServiceRecord:
    """Inverse of :func:`record_to_dict`; raises ``ValueError``/``KeyError`` on a malformed dict."""
    updated_at = data.get("updated_at")
    commissioner = data.get("commissioner_code")
    return ServiceRecord(
        id=str(data["id"]),
        name=str(data["name"]),
        kind=ServiceKind(data["kind"]),
        coverage=coverage_from_dict(data["coverage"]),
        source_url=str(data["source_url"]),
        verified_on=_date(data.get("verified_on")),
        organisation=str(data.get("organisation") or ""),
        description=str(data.get("description") or ""),
        strands=frozenset(Strand(s) for s in data.get("strands") or ()),
        local_strands=tuple(str(s) for s in data.get("local_strands") or ()),
        commissioner_code=str(commissioner) if commissioner else None,
        channels=tuple(Channel.from_dict(c) for c in data.get("channels") or ()),
        languages=tuple(str(x) for x in data.get("languages") or ()),
        hours=OpeningHours.from_dict(data.get("hours")),
        eligibility=str(data.get("eligibility") or ""),
        status=ServiceStatus(data.get("status") or ServiceStatus.ACTIVE.value),
        caveat=str(data.get("caveat") or ""),
        confirmation=Confirmation(data.get("confirmation") or Confirmation.CONFIRMED.value),
        page_date=_date(data.get("page_date")),
        communities=tuple(str(c) for c in data.get("communities") or ()),
        min_age=_age(data.get("min_age")),
        max_age=_age(data.get("max_age")),
        residents_only=bool(data.get("residents_only", False)),
        updated_at=_aware(datetime.fromisoformat(updated_at)) if updated_at else None,
        version=int(data.get("version") or 1),
        translations=normalise_translations(data.get("translations")),
    )


def content_hash(record: ServiceRecord) -> str:
    """SHA-256 of what the service is (every field but ``version`` and ``updated_at``): equal content, equal hash.

    Fields added after hashes were first stored count only when they differ from their default, so that a
    seeded row's stored ``seed_hash`` still says "nobody changed this" after an upgrade.
    """
    content = {
        k: v
        for k, v in record_to_dict(record).items()
        if k not in REVISION_FIELDS and not (k in LATER_FIELD_DEFAULTS and v == LATER_FIELD_DEFAULTS[k])
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def row_to_record(row: Service | Row[Any]) -> ServiceRecord:
    """A stored row as the domain sees it: an ORM ``Service`` or a plain row with the same column names."""
    return ServiceRecord(
        id=row.id,
        name=row.name,
        kind=ServiceKind(row.kind),
        coverage=coverage_from_dict(row.coverage),
        source_url=row.source_url,
        verified_on=row.verified_on,
        organisation=row.organisation,
        description=row.description,
        strands=frozenset(Strand(s) for s in row.strands),
        local_strands=tuple(row.local_strands),
        commissioner_code=row.commissioner_code,
        channels=tuple(Channel.from_dict(c) for c in row.channels),
        languages=tuple(row.languages),
        hours=OpeningHours.from_dict(row.hours),
        eligibility=row.eligibility,
        status=ServiceStatus(row.status),
        caveat=row.caveat,
        confirmation=Confirmation(row.confirmation),
        page_date=row.page_date,
        communities=tuple(row.communities),
        min_age=row.min_age,
        max_age=row.max_age,
        residents_only=row.residents_only,
        updated_at=_utc(row.updated_at),
        version=row.version,
        translations=normalise_translations(row.translations),
    )


@dataclass(frozen=True, slots=True)
class GeometryColumns:
    """The stored form of a resolved coverage: WKB (WGS84) and its bounding box, all ``None`` when unresolved."""

    geometry_wkb: bytes | None
    min_lon: float | None
    min_lat: float | None
    max_lon: float | None
    max_lat: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "geometry_wkb": self.geometry_wkb,
            "min_lon": self.min_lon,
            "min_lat": self.min_lat,
            "max_lon": self.max_lon,
            "max_lat": self.max_lat,
        }


def geometry_columns(coverage: Coverage, areas: AreaGeometryLookup | None) -> GeometryColumns:
    """Resolve ``coverage`` (with boundaries when ``areas`` is given) into the columns stored with a service."""
    from mapping.coverage import resolve_coverage

    return _columns(resolve_coverage(coverage, areas))


def geometry_columns_many(coverages: Sequence[Coverage], areas: AreaGeometryLookup | None) -> list[GeometryColumns]:
    """:func:`geometry_columns` for each of ``coverages``, resolved together (radius circles in one batch)."""
    from mapping.coverage import resolve_coverages

    return [_columns(geometry) for geometry in resolve_coverages(coverages, areas)]


def _columns(geometry: BaseGeometry | None) -> GeometryColumns:
    import shapely

    if geometry is None or geometry.is_empty:
        return GeometryColumns(None, None, None, None, None)
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in geometry.bounds)
    return GeometryColumns(shapely.to_wkb(geometry), min_lon, min_lat, max_lon, max_lat)


def coverage_area_codes(coverage: Coverage) -> tuple[str, ...]:
    """Codes a service is matched by without boundaries: its ONS area codes, or its nation's country codes."""
    if isinstance(coverage, AreaCoverage):
        return tuple(dict.fromkeys(coverage.area_codes))
    if isinstance(coverage, NationalCoverage):
        return NATION_AREA_CODES[coverage.nation]
    return ()


def write_record_to_row(
    row: Service,
    record: ServiceRecord,
    *,
    geometry: GeometryColumns,
    updated_at: datetime,
    updated_by: str,
    version: int,
) -> Service:
    """Copy every field of ``record`` onto ``row`` (a new or loaded ``Service``) with the given revision."""
    for name, value in row_values(record, geometry=geometry).items():
        setattr(row, name, value)
    row.updated_at = updated_at
    row.updated_by = updated_by
    row.version = version
    return row


def row_values(
    record: ServiceRecord, *, geometry: GeometryColumns, data: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Column values for ``record`` (without id and revision columns), for ORM rows and UPDATE statements;
    ``data`` is ``record_to_dict(record)`` when the caller has it already."""
    data = data if data is not None else record_to_dict(record)
    return {
        "name": record.name,
        "organisation": record.organisation,
        "kind": record.kind.value,
        "description": record.description,
        "strands": data["strands"],
        "local_strands": data["local_strands"],
        "commissioner_code": record.commissioner_code,
        "channels": data["channels"],
        "languages": data["languages"],
        "hours": data["hours"],
        "eligibility": record.eligibility,
        "coverage": data["coverage"],
        "coverage_type": record.coverage.type.value,
        "status": record.status.value,
        "source_url": record.source_url,
        "verified_on": record.verified_on,
        "caveat": record.caveat,
        "translations": data["translations"],
        "confirmation": record.confirmation.value,
        "page_date": record.page_date,
        "communities": data["communities"],
        "min_age": record.min_age,
        "max_age": record.max_age,
        "residents_only": record.residents_only,
        **geometry.as_dict(),
    }


def _date(value: Any) -> date | None:
    return date.fromisoformat(str(value)) if value else None


def _age(value: Any) -> int | None:
    return int(value) if value is not None and value != "" else None


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes for what was stored as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _utc(value: datetime) -> datetime:
    """A stored time in UTC, however the column handed it back: naive from SQLite (stored as UTC), aware in the
    session's time zone from PostgreSQL through a plain Core column (the ORM's column converts it already)."""
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
