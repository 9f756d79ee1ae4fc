"""The signposting query pushed down to the database: which services cover a point.

The same rules as :class:`mapping.signposting.SignpostIndex` (``covering``), answered by the database:

- PostgreSQL + PostGIS: ``ST_Covers`` on the generated ``service.geom`` column (GiST-indexed, migration 0001);
- SQLite: the bounding-box columns (``min_lon`` ... ``max_lat``) as an indexed prefilter, then shapely's
  ``covers`` on ``geometry_wkb``;
- on both: area-coded services by the location's LAD or PFA code through ``service_area``, and national
  services by the nation of the location's LAD code (never by geometry: a national service covers all of its
  nation, and a generalised national outline can miss coastal points).

Outside England and Wales only national services of the kinds in
:data:`mapping.signposting.OUTSIDE_ENGLAND_WALES_KINDS` apply, as in the index.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import shapely
from shapely.geometry import Point
from sqlalchemy import text
from sqlmodel import Session

from mapping.signposting import OUTSIDE_ENGLAND_WALES_KINDS
from mapping.types import Nation, ServiceKind, ServiceStatus, Strand, coverage_from_dict

__all__ = ["services_covering"]

_LOCAL_TYPES = ("areas", "radius", "polygon")


def services_covering(
    *,
    session: Session,
    lat: float,
    lon: float,
    strands: Collection[Strand] = (),
    kinds: Collection[ServiceKind] = (),
    lad_code: str | None = None,
    pfa_code: str | None = None,
) -> list[str]:
    """Ids of the active services whose coverage includes the point, in id order.

    Parameters
    ----------
    session
        A session on SQLite or PostgreSQL (with PostGIS).
    lat, lon
        The point (WGS84 degrees).
    strands
        Keep services that are not strand-specific or specialise in one of these; empty: no filter.
    kinds
        Keep services of these kinds; empty: all kinds.
    lad_code, pfa_code
        The location's area codes (from its postcode or from the boundaries). A ``lad_code`` that is not an
        England or Wales code (``None``, Scottish ``S``..., Northern Irish ``N``...) means the point is outside
        England and Wales.
    """
    wanted_strands = frozenset(Strand(s) for s in strands)
    wanted_kinds = frozenset(ServiceKind(k) for k in kinds)
    nation = _nation(lad_code)
    if nation is None:
        wanted_kinds = OUTSIDE_ENGLAND_WALES_KINDS & wanted_kinds if wanted_kinds else OUTSIDE_ENGLAND_WALES_KINDS
        if not wanted_kinds:
            return []
    params: dict[str, Any] = {"active": ServiceStatus.ACTIVE.value}
    kind_filter = ""
    if wanted_kinds:
        kind_filter = f" AND s.kind IN ({_bind(params, 'kind', sorted(k.value for k in wanted_kinds))})"

    found = _national_services(session, params, kind_filter, nation)  # id -> strands
    if nation is None:
        return _filtered(found, wanted_strands)
    found.update(_area_coded_services(session, dict(params), kind_filter, [c for c in (lad_code, pfa_code) if c]))
    found.update(_services_around(session, dict(params), kind_filter, lat, lon))
    return _filtered(found, wanted_strands)


def _national_services(
    session: Session, params: dict[str, Any], kind_filter: str, nation: Nation | None
) -> dict[str, list[str]]:
    """Services covering the point's nation (all of England and Wales, or its own); outside England and Wales,
    every national service of the kinds that still help there."""
    found: dict[str, list[str]] = {}
    rows = session.execute(
        text(
            "SELECT s.id, s.strands, s.coverage FROM service s "
            f"WHERE s.status = :active AND s.coverage_type = 'national'{kind_filter}"
        ),
        params,
    )
    for service_id, strands_json, coverage_json in rows:
        coverage_nation = coverage_from_dict(_json(coverage_json)).nation  # type: ignore[union-attr]
        if nation is None or coverage_nation in (nation, Nation.ENGLAND_AND_WALES):
            found[service_id] = _json(strands_json)
    return found


def _area_coded_services(
    session: Session, params: dict[str, Any], kind_filter: str, codes: list[str]
) -> dict[str, list[str]]:
    """Services listing the point's LAD or PFA code."""
    if not codes:
        return {}
    in_codes = _bind(params, "code", codes)
    rows = session.execute(
        text(
            f"SELECT s.id, s.strands FROM service s WHERE s.status = :active AND s.coverage_type = 'areas'"
            f"{kind_filter} AND EXISTS (SELECT 1 FROM service_area a "
            f"WHERE a.service_id = s.id AND a.area_code IN ({in_codes}))"
        ),
        params,
    )
    return {service_id: _json(strands_json) for service_id, strands_json in rows}


def _services_around(
    session: Session, params: dict[str, Any], kind_filter: str, lat: float, lon: float
) -> dict[str, list[str]]:
    """Services whose radius or polygon covers the point: ST_Covers on PostGIS; on SQLite, the bounding boxes
    in SQL and then shapely's ``covers``."""
    types = _bind(params, "type", list(_LOCAL_TYPES))
    params.update(lat=float(lat), lon=float(lon))
    where = f"s.status = :active AND s.coverage_type IN ({types}){kind_filter}"
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text(
                f"SELECT s.id, s.strands FROM service s WHERE {where} "
                "AND ST_Covers(s.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
            ),
            params,
        )
        return {service_id: _json(strands_json) for service_id, strands_json in rows}
    rows = session.execute(
        text(
            f"SELECT s.id, s.strands, s.geometry_wkb FROM service s WHERE {where} AND s.geometry_wkb IS NOT NULL "
            "AND s.min_lon <= :lon AND s.max_lon >= :lon AND s.min_lat <= :lat AND s.max_lat >= :lat"
        ),
        params,
    )
    candidates = list(rows)
    if not candidates:
        return {}
    geometries = shapely.from_wkb([bytes(wkb) for _, _, wkb in candidates])
    covers = shapely.covers(geometries, Point(float(lon), float(lat)))
    return {sid: _json(sj) for (sid, sj, _), hit in zip(candidates, covers, strict=True) if hit}


def _nation(lad_code: str | None) -> Nation | None:
    if not lad_code or lad_code[:1] not in ("E", "W"):
        return None
    return Nation.WALES if lad_code.startswith("W") else Nation.ENGLAND


def _bind(params: dict[str, Any], prefix: str, values: Sequence[str]) -> str:
    """Named parameters for an ``IN (...)`` list (plain text SQL, the same on both dialects)."""
    names = [f"{prefix}{i}" for i in range(len(values))]
    params.update(zip(names, values, strict=True))
    return ", ".join(f":{n}" for n in names)


def _json(value: Any) -> Any:
    """JSON columns come back decoded from PostgreSQL but as text from a raw SQLite query."""
    if isinstance(value, str | bytes):
        return json.loads(value)
    return value


def _filtered(found: Mapping[str, Iterable[str]], strands: frozenset[Strand]) -> list[str]:
    # The same rule as ServiceRecord.serves: not strand-specific, or specialising in a wanted strand.
    keep = []
    for service_id, served in found.items():
        served_set = {Strand(s) for s in served}
        if not strands or not served_set or served_set & strands:
            keep.append(service_id)
    return sorted(keep)
