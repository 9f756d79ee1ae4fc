"""Resolve a service's coverage spec to one WGS84 geometry.

national -> the nation's outline (union of its areas) when boundaries are known, otherwise ``None`` and the
service is matched by codes; areas -> union of those areas' polygons when known, otherwise ``None``; radius ->
a circle built in British National Grid metres (not degrees); polygon -> validated GeoJSON.
"""

from __future__ import annotations

from collections.abc import Callable

import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from mapping.crs import geometry_to_bng, geometry_to_wgs84, wgs84_to_bng
from mapping.types import (
    AreaCoverage,
    Coverage,
    Nation,
    NationalCoverage,
    PolygonCoverage,
    RadiusCoverage,
)

__all__ = ["AreaGeometryLookup", "CoverageCache", "circle_wgs84", "resolve_coverage"]

# Given an ONS area code (or a Nation), the area's WGS84 geometry, or None when no boundary is loaded.
AreaGeometryLookup = Callable[[str | Nation], BaseGeometry | None]

CIRCLE_SEGMENTS = 32  # per quarter circle: the chord error at 10 km is under 1.3 m


def circle_wgs84(lat: float, lon: float, radius_m: float) -> BaseGeometry:
    """A circle of ``radius_m`` metres around a point, built in BNG and returned in WGS84."""
    e, n = wgs84_to_bng(lon, lat)
    circle = Point(float(e), float(n)).buffer(radius_m, quad_segs=CIRCLE_SEGMENTS)
    return geometry_to_wgs84(circle)


def resolve_coverage(coverage: Coverage, areas: AreaGeometryLookup | None = None) -> BaseGeometry | None:
    """One geometry for ``coverage``; ``None`` when it depends on boundaries that are not loaded."""
    if isinstance(coverage, RadiusCoverage):
        return circle_wgs84(coverage.lat, coverage.lon, coverage.radius_m)
    if isinstance(coverage, PolygonCoverage):
        geometry = shape(coverage.geojson)
        return geometry if geometry.is_valid else shapely.make_valid(geometry)
    if areas is None:
        return None
    if isinstance(coverage, NationalCoverage):
        return areas(coverage.nation)
    assert isinstance(coverage, AreaCoverage)
    parts = [areas(code) for code in coverage.area_codes]
    if not parts or any(p is None for p in parts):
        return None
    return shapely.union_all(parts)


class CoverageCache:
    """Resolved geometries by coverage spec, for one area lookup.

    Many services share a coverage (every service commissioned for one PFA, every national service), and
    unions of area polygons are the expensive part of building an index, so each spec is resolved once. Keep
    one cache for as long as the loaded boundaries do not change, and hand it to every rebuild of the index.

    Parameters
    ----------
    areas
        The area lookup (a loaded ``BoundaryIndex.geometry``), or ``None`` when no boundaries are loaded.
    """

    def __init__(self, areas: AreaGeometryLookup | None = None) -> None:
        self._areas = areas
        self._resolved: dict[Coverage, BaseGeometry | None] = {}
        self._resolved_bng: dict[Coverage, BaseGeometry | None] = {}

    @property
    def areas(self) -> AreaGeometryLookup | None:
        return self._areas

    def resolve(self, coverage: Coverage) -> BaseGeometry | None:
        """The geometry of ``coverage`` (see :func:`resolve_coverage`), computed at most once per spec."""
        try:
            return self._resolved[coverage]
        except KeyError:
            geometry = resolve_coverage(coverage, self._areas)
            self._resolved[coverage] = geometry
            return geometry

    def resolve_bng(self, coverage: Coverage) -> BaseGeometry | None:
        """The same geometry in British National Grid metres (for distances), computed at most once per spec."""
        try:
            return self._resolved_bng[coverage]
        except KeyError:
            geometry = self.resolve(coverage)
            projected = geometry_to_bng(geometry) if geometry is not None and not geometry.is_empty else None
            self._resolved_bng[coverage] = projected
            return projected

    def __len__(self) -> int:
        return len(self._resolved)
