"""Whether a pcc_editor's coverage lies inside their police force area (:class:`ForceAreaCheck`).

Used by ``services_db.access`` when it decides on a change; kept apart so that code which only reads the
directory does not load the geometry stack (shapely, numpy, pyproj).

Every part of a coverage is checked, and every ring of every part (holes too): a check of the whole outline
would let a thin "comb" inside the area hide a far square listed last.

- Area-coded coverage: every code must be the force's PFA code or a LAD whose PFA (from the authored LAD -> PFA
  table) is the force's. This is exact and needs no boundaries.
- Radius and polygon coverage, boundaries loaded: exact. The area of the coverage outside the PFA polygon grown by
  the tolerance (in British National Grid metres) must be zero; the refusal names the parts and the km².
- Radius and polygon coverage, no boundaries: each part is tested at points placed so that nothing sizeable can
  hide: along every ring at most every :data:`SAMPLE_SPACING_M` and at each vertex, on a grid inside every
  :data:`GRID_SPACING_M` (so any square kilometre of a part holds at least four), and one inside the part (so
  the tiniest part is tested too); and every postcode (every address) that lies inside the part is tested as
  well. A point passes when its nearest postcode is in the force area (it lies in the force's postcode Voronoi
  region), or one of :data:`RING_POINTS` points at the tolerance distance around it is (within the tolerance,
  to 0.5%). Outside England and Wales belongs to no force of ours and is refused.
- National coverage: admins only.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Protocol

import numpy as np
import shapely
from shapely.geometry import GeometryCollection, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from mapping.areas import AreaRegistry
from mapping.coverage import AreaGeometryLookup, resolve_coverage
from mapping.crs import bng_to_wgs84, geometry_to_bng
from mapping.postcodes import PostcodeDirectory
from mapping.types import AreaCoverage, Coverage, NationalCoverage

__all__ = [
    "FORCE_AREA_TOLERANCE_M",
    "AreaCodes",
    "ForceAreaCheck",
    "ForceAreaOverlap",
    "PostcodesNearby",
    "default_force_area_check",
]

FORCE_AREA_TOLERANCE_M = 2_000.0
SAMPLE_SPACING_M = 250.0
GRID_SPACING_M = 500.0
MAX_VERTEX_SAMPLES = 100_000
RING_POINTS = 32
RING_BATCH = 256
OVERLAP_SAMPLES = 1_000  # about 1.5 points in the hundred of error on the share outside
OVERLAP_FIRST_SAMPLES = 100


class AreaCodes(Protocol):
    """The LAD -> PFA table (``mapping.areas.AreaRegistry``)."""

    def pfa_for_lad(self, lad_code: str) -> str | None: ...


class PostcodesNearby(Protocol):
    """Bulk postcode lookups on British National Grid (``mapping.postcodes.PostcodeDirectory``)."""

    def nearest_lads_bng(self, easting: np.ndarray, northing: np.ndarray) -> list[str | None]: ...

    def within_bng(
        self, min_e: float, min_n: float, max_e: float, max_n: float
    ) -> tuple[np.ndarray, np.ndarray, list[str | None]]: ...


@dataclass(frozen=True, slots=True)
class ForceAreaOverlap:
    """What of a coverage lies outside a force area: the area codes of other forces' areas, and the share of a
    radius's or polygon's area outside (exact with boundaries; with postcodes only, the share of
    :data:`OVERLAP_SAMPLES` evenly spread points whose nearest postcode is in another force (100 when those
    show it clearly inside, under 2 %, or outside, over 90 %), ``exact`` false),
    with the other forces reached (the most reached first)."""

    codes: tuple[str, ...]
    share: float
    forces: tuple[str, ...]
    exact: bool


@dataclass(frozen=True)
class ForceAreaCheck:
    """Whether a coverage lies inside a police force area plus ``tolerance_m`` (see the module docstring).

    Parameters
    ----------
    registry
        LAD -> PFA lookup.
    postcodes
        Bulk postcode lookups, used for radius and polygon coverage when no boundaries are loaded.
    boundaries
        PFA polygons (a loaded ``BoundaryIndex.geometry``) or ``None``.
    tolerance_m
        How far outside the force area a coverage may reach (generalised boundaries, a centre on the border).
    """

    registry: AreaCodes
    postcodes: PostcodesNearby | None = None
    boundaries: AreaGeometryLookup | None = None
    tolerance_m: float = FORCE_AREA_TOLERANCE_M
    _pfa_of_lad: dict[str | None, str] = field(default_factory=dict, compare=False, repr=False)
    _checked: dict[tuple[Coverage, str], tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)
    _overlaps: dict[tuple[Coverage, str], ForceAreaOverlap] = field(default_factory=dict, compare=False, repr=False)

    def problems(self, coverage: Coverage, pfa_code: str) -> tuple[str, ...]:
        """Every reason ``coverage`` is not inside the force area ``pfa_code`` (empty when it is)."""
        key = (coverage, pfa_code)
        if key not in self._checked:  # an import repeats the same coverage for many services
            self._checked[key] = self._problems(coverage, pfa_code)
        return self._checked[key]

    def _problems(self, coverage: Coverage, pfa_code: str) -> tuple[str, ...]:
        if isinstance(coverage, NationalCoverage):
            return ("national coverage is managed by admins: give the force's PFA code or its LAD codes instead",)
        if isinstance(coverage, AreaCoverage):
            outside = [c for c in coverage.area_codes if c != pfa_code and self.registry.pfa_for_lad(c) != pfa_code]
            if not outside:
                return ()
            return (
                f"area code(s) {', '.join(outside)} are not in your force area {pfa_code}: use {pfa_code} or its LADs",
            )
        geometry = resolve_coverage(coverage)
        assert geometry is not None  # radius and polygon coverage resolve without boundaries
        parts = _parts(geometry_to_bng(geometry))
        if not parts:
            return ("the coverage has no area: draw a polygon or give a radius",)
        force = self.boundaries(pfa_code) if self.boundaries is not None else None
        if force is not None:
            return self._polygon_problems(parts, force, pfa_code)
        if self.postcodes is None:
            return ("cannot check this coverage against your force area (no boundaries or postcodes): ask an admin",)
        return self._postcode_problems(parts, pfa_code)

    def _polygon_problems(self, parts: list[Polygon], force: BaseGeometry, pfa_code: str) -> tuple[str, ...]:
        """Exact: the area of every part beyond the tolerance-grown force polygon must be zero."""
        allowed = shapely.make_valid(geometry_to_bng(force)).buffer(self.tolerance_m)
        outside = [(i, part.difference(allowed).area) for i, part in enumerate(parts, start=1)]
        outside = [(i, area) for i, area in outside if area > 0]
        if not outside:
            return ()
        total_km2 = sum(area for _, area in outside) / 1e6
        which = _part_names([i for i, _ in outside], len(parts))
        return (
            f"the coverage reaches {total_km2:.3g} km² beyond {self.tolerance_m / 1000:g} km outside your force "
            f"area {pfa_code} ({which}): draw it inside your area",
        )

    def _postcode_problems(self, parts: list[Polygon], pfa_code: str) -> tuple[str, ...]:
        """Sample every part densely and test every postcode inside it (see the module docstring)."""
        for number, part in enumerate(parts, start=1):
            found = self._first_outside(*_part_samples(part), pfa_code)
            if found is None:  # the samples all pass: test every postcode (every address) inside the part too
                pe, pn, _ = self._postcodes().within_bng(*part.bounds)
                inside = shapely.intersects_xy(part, pe, pn) if len(pe) else np.zeros(0, dtype=bool)
                found = self._first_outside(pe[inside], pn[inside], pfa_code)
            if found is not None:
                lon, lat = (float(v) for v in bng_to_wgs84(*found))
                where = f" (part {number} of {len(parts)})" if len(parts) > 1 else ""
                return (
                    f"the coverage reaches {lat:.4f},{lon:.4f}{where}, more than {self.tolerance_m / 1000:g} km "
                    f"outside your force area {pfa_code}: draw it inside your area",
                )
        return ()

    def _postcodes(self) -> PostcodesNearby:
        assert self.postcodes is not None
        return self.postcodes

    def _pfas(self, e: np.ndarray, n: np.ndarray) -> np.ndarray:
        """The PFA of the nearest postcode to each BNG point (``""``: outside England and Wales)."""
        out = []
        for lad in self._postcodes().nearest_lads_bng(e, n):
            if lad not in self._pfa_of_lad:
                self._pfa_of_lad[lad] = (self.registry.pfa_for_lad(lad) if lad else None) or ""
            out.append(self._pfa_of_lad[lad])
        return np.asarray(out, dtype=object)

    def _pfa_near(self, x: float, y: float) -> str:
        """The PFA of the nearest postcode to one BNG point."""
        return str(self._pfas(np.array([x]), np.array([y]))[0])

    def _first_outside(self, e: np.ndarray, n: np.ndarray, pfa_code: str) -> tuple[float, float] | None:
        """The first point that lies in another force's postcode region and more than the tolerance from ours."""
        if len(e) == 0:
            return None
        foreign = np.flatnonzero(self._pfas(e, n) != pfa_code)
        # In batches, so that a coverage deep in another force is refused after its first few points.
        for start in range(0, len(foreign), RING_BATCH):
            fe, fn = e[foreign[start : start + RING_BATCH]], n[foreign[start : start + RING_BATCH]]
            near_ours = np.zeros(len(fe), dtype=bool)
            if self.tolerance_m > 0:
                for dx, dy in _ring(self.tolerance_m):
                    todo = np.flatnonzero(~near_ours)
                    if len(todo) == 0:
                        break
                    near_ours[todo] = self._pfas(fe[todo] + dx, fn[todo] + dy) == pfa_code
            far = np.flatnonzero(~near_ours)
            if len(far):
                return float(fe[far[0]]), float(fn[far[0]])
        return None

    def allows(self, coverage: Coverage, pfa_code: str) -> bool:
        return not self.problems(coverage, pfa_code)

    def outside(self, coverage: Coverage, pfa_code: str) -> ForceAreaOverlap:
        """How much of ``coverage`` lies outside the force area ``pfa_code`` (for imports; see ForceAreaOverlap)."""
        key = (coverage, pfa_code)
        if key not in self._overlaps:
            self._overlaps[key] = self._outside(coverage, pfa_code)
        return self._overlaps[key]

    def _outside(self, coverage: Coverage, pfa_code: str) -> ForceAreaOverlap:
        if isinstance(coverage, NationalCoverage):
            return ForceAreaOverlap((), 1.0, (), exact=True)
        if isinstance(coverage, AreaCoverage):
            codes = tuple(c for c in coverage.area_codes if c != pfa_code and self.registry.pfa_for_lad(c) != pfa_code)
            forces = tuple(dict.fromkeys(self.registry.pfa_for_lad(c) or c for c in codes))
            return ForceAreaOverlap(codes, 0.0, forces, exact=True)
        geometry = resolve_coverage(coverage)
        assert geometry is not None  # radius and polygon coverage resolve without boundaries
        shape = shapely.make_valid(geometry_to_bng(geometry))
        if shape.area <= 0:
            return ForceAreaOverlap((), 0.0, (), exact=True)
        force = self.boundaries(pfa_code) if self.boundaries is not None else None
        if force is not None:
            outside = shape.difference(shapely.make_valid(geometry_to_bng(force))).area
            return ForceAreaOverlap((), outside / shape.area, (), exact=True)
        if self.postcodes is None:
            return ForceAreaOverlap((), 0.0, (), exact=False)
        # 100 points first: a coverage clearly inside (or clearly outside) needs no more; near a threshold, 1,000.
        xs, ys = _area_samples(shape, OVERLAP_FIRST_SAMPLES)
        pfas = self._pfas(xs, ys)
        foreign = pfas != pfa_code
        if 0.02 <= float(np.mean(foreign)) <= 0.9:
            xs, ys = _area_samples(shape, OVERLAP_SAMPLES)
            pfas = self._pfas(xs, ys)
            foreign = pfas != pfa_code
        others = tuple(str(code) or "outside England and Wales" for code, _ in Counter(pfas[foreign]).most_common(3))
        return ForceAreaOverlap((), float(np.mean(foreign)), others, exact=False)


def default_force_area_check(*, boundaries: AreaGeometryLookup | None = None) -> ForceAreaCheck:
    """The check over the shipped LAD -> PFA table and postcodes, with PFA polygons when boundaries are loaded."""
    return ForceAreaCheck(registry=AreaRegistry.default(), postcodes=_shared_postcodes(), boundaries=boundaries)


@cache
def _shared_postcodes() -> PostcodeDirectory:
    """One postcode directory per process: its reverse index takes seconds to build."""
    return PostcodeDirectory()


def _parts(geometry: BaseGeometry) -> list[Polygon]:
    """Every polygon of a (made valid) geometry, in the order given; lines and points have no area and drop out."""
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    out: list[Polygon] = []
    for part in shapely.get_parts(geometry):
        if isinstance(part, Polygon):
            out.append(part)
        elif isinstance(part, MultiPolygon | GeometryCollection):
            out.extend(_parts(part))
    return [p for p in out if p.area > 0]


def _part_names(numbers: list[int], total: int) -> str:
    if total == 1:
        return "its only part"
    shown = ", ".join(str(i) for i in numbers[:5]) + (", ..." if len(numbers) > 5 else "")
    return f"part{'s' if len(numbers) > 1 else ''} {shown} of {total}"


def _part_samples(part: Polygon) -> tuple[np.ndarray, np.ndarray]:
    """Points of one part: every ring (outer and holes) every SAMPLE_SPACING_M and at each vertex, a grid inside
    every GRID_SPACING_M, and a representative point (so the tiniest part is seen too)."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for ring in [part.exterior, *part.interiors]:
        count = max(4, math.ceil(ring.length / SAMPLE_SPACING_M))
        along = shapely.line_interpolate_point(ring, np.linspace(0, ring.length, count, endpoint=False))
        coords = np.concatenate([shapely.get_coordinates(along), np.asarray(ring.coords)[:MAX_VERTEX_SAMPLES]])
        xs.append(coords[:, 0])
        ys.append(coords[:, 1])
    min_x, min_y, max_x, max_y = part.bounds
    gx = np.arange(min_x + GRID_SPACING_M / 2, max_x, GRID_SPACING_M)
    gy = np.arange(min_y + GRID_SPACING_M / 2, max_y, GRID_SPACING_M)
    if len(gx) and len(gy):
        grid_x, grid_y = (a.ravel() for a in np.meshgrid(gx, gy))
        inside = shapely.contains_xy(part, grid_x, grid_y)
        xs.append(grid_x[inside])
        ys.append(grid_y[inside])
    point = part.representative_point()
    xs.append(np.array([point.x]))
    ys.append(np.array([point.y]))
    return np.concatenate(xs), np.concatenate(ys)


def _area_samples(shape: BaseGeometry, count: int) -> tuple[np.ndarray, np.ndarray]:
    """About ``count`` points on an even grid inside ``shape`` (BNG), at least one."""
    min_x, min_y, max_x, max_y = shape.bounds
    step = math.sqrt(shape.area / count)
    grid_x, grid_y = (
        a.ravel()
        for a in np.meshgrid(np.arange(min_x + step / 2, max_x, step), np.arange(min_y + step / 2, max_y, step))
    )
    inside = shapely.contains_xy(shape, grid_x, grid_y)
    if not inside.any():
        point = shape.representative_point()
        return np.array([point.x]), np.array([point.y])
    return grid_x[inside], grid_y[inside]


def _ring(radius: float) -> list[tuple[float, float]]:
    return [
        (radius * math.cos(2 * math.pi * k / RING_POINTS), radius * math.sin(2 * math.pi * k / RING_POINTS))
        for k in range(RING_POINTS)
    ]
