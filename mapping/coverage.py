"""Resolve a service's coverage spec to one WGS84 geometry.

national -> the nation's outline (union of its areas) when boundaries are known, otherwise ``None`` and the
service is matched by codes; areas -> union of those areas' polygons when known, otherwise ``None``; radius ->
a circle built in British National Grid metres (not degrees); polygon -> validated GeoJSON.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from mapping.crs import bng_to_wgs84, geometry_to_bng, geometry_to_wgs84, wgs84_to_bng
from mapping.types import (
    AreaCoverage,
    Coverage,
    Nation,
    NationalCoverage,
    PolygonCoverage,
    RadiusCoverage,
)

__all__ = [
    "AreaGeometryLookup",
    "CoverageCache",
    "circle_wgs84",
    "circles_wgs84",
    "resolve_coverage",
    "resolve_coverages",
]

# Given an ONS area code (or a Nation), the area's WGS84 geometry, or None when no boundary is loaded.
AreaGeometryLookup = Callable[[str | Nation], BaseGeometry | None]

CIRCLE_SEGMENTS = 32  # per quarter circle: the chord error at 10 km is under 1.3 m


def circle_wgs84(lat: float, lon: float, radius_m: float) -> BaseGeometry:
    """A circle of ``radius_m`` metres around a point, built in BNG and returned in WGS84."""
    e, n = wgs84_to_bng(lon, lat)
    circle = Point(float(e), float(n)).buffer(radius_m, quad_segs=CIRCLE_SEGMENTS)
    return geometry_to_wgs84(circle)


@cache
def _unit_circle() -> np.ndarray:
    """The vertices GEOS gives a buffer of radius 1 around the origin (closed ring), to scale and move."""
    unit = shapely.get_coordinates(Point(0.0, 0.0).buffer(1.0, quad_segs=CIRCLE_SEGMENTS).exterior)
    unit.flags.writeable = False
    return unit


def circles_wgs84(lats: Sequence[float], lons: Sequence[float], radii_m: Sequence[float]) -> list[BaseGeometry]:
    """Many circles at once: the same polygons as :func:`circle_wgs84` for each (lat, lon, radius) in turn.

    The BNG vertices come from one unit-circle template (scaled and moved with numpy) and all of them go
    through pyproj in one call, which is where the time goes when circles are built one by one.

    Parameters
    ----------
    lats, lons
        Centres in WGS84 degrees.
    radii_m
        Radii in metres.

    Returns
    -------
    list[BaseGeometry]
        One polygon per centre, in the order given.
    """
    if not len(radii_m):
        return []
    eastings, northings = wgs84_to_bng(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
    unit = _unit_circle()
    radii = np.asarray(radii_m, dtype=float)[:, None]
    # centre + radius * unit, in the order GEOS computes its buffer vertices, so the numbers are the same.
    x = (eastings.reshape(-1, 1) + radii * unit[:, 0]).ravel()
    y = (northings.reshape(-1, 1) + radii * unit[:, 1]).ravel()
    lon, lat = bng_to_wgs84(x, y)
    rings = np.stack([lon, lat], axis=1).reshape(len(radii), len(unit), 2)
    return list(shapely.polygons(rings))


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


def resolve_coverages(
    coverages: Sequence[Coverage], areas: AreaGeometryLookup | None = None
) -> list[BaseGeometry | None]:
    """:func:`resolve_coverage` for each of ``coverages``, with every radius circle built in one batch.

    A spec given more than once is resolved once (the same object is returned for each).
    """
    # Each spec is hashed once: a polygon spec hashes its whole GeoJSON.
    slots: dict[Coverage, int] = {}
    slot_of = [slots.setdefault(coverage, len(slots)) for coverage in coverages]
    unique = list(slots)
    resolved: list[BaseGeometry | None] = [None] * len(unique)
    circles = [i for i, coverage in enumerate(unique) if isinstance(coverage, RadiusCoverage)]
    centres = [c for c in unique if isinstance(c, RadiusCoverage)]
    built = circles_wgs84([c.lat for c in centres], [c.lon for c in centres], [c.radius_m for c in centres])
    for i, circle in zip(circles, built, strict=True):
        resolved[i] = circle
    for i, coverage in enumerate(unique):
        if not isinstance(coverage, RadiusCoverage):
            resolved[i] = resolve_coverage(coverage, areas)
    return [resolved[slot] for slot in slot_of]


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

    def resolve_many(self, coverages: Sequence[Coverage]) -> list[BaseGeometry | None]:
        """:meth:`resolve` for each of ``coverages``; the ones not cached yet are resolved together
        (see :func:`resolve_coverages`), which is much faster for many radius circles."""
        unset = object()
        found: list[Any] = [self._resolved.get(c, unset) for c in coverages]
        missing = [i for i, geometry in enumerate(found) if geometry is unset]
        if missing:
            fresh = resolve_coverages([coverages[i] for i in missing], self._areas)
            for i, geometry in zip(missing, fresh, strict=True):
                found[i] = self._resolved.setdefault(coverages[i], geometry)
        return found

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
