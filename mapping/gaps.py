"""Coverage gaps: how much of each area's population and land the directory's services cover, per strand.

The core works on plain arrays and shapely geometries in British National Grid metres (EPSG:27700):

- people are points with counts (:class:`mapping.population.PopulationPoints`);
- areas are Police Force Areas and Local Authority Districts (:class:`Geography`), either the official
  boundaries or, on a fresh machine, 5 km BNG squares built from postcode locations (:meth:`Geography.grid`);
- services are :class:`mapping.types.ServiceRecord` values.

Method (repeated in every report):

- A point is covered for a strand when a service serving that strand covers it: radius and polygon coverage
  geometrically (shapely ``covered_by``: a point on the edge is inside); area-coded coverage by codes (the point's
  LAD, or the PFA that LAD belongs to, is listed); national coverage by nation. Using codes for area-coded
  services keeps population counts exact where generalised boundary layers disagree at the coast or between the
  PFA and LAD files.
- Each point belongs to exactly one LAD: the LAD its source names (an LSOA's district by the ONS nesting, see
  :mod:`mapping.nesting`: exact where generalised boundaries are not), else the LAD polygon that covers it, else
  the nearest LAD polygon (coastal points just outside the generalised boundaries). Its PFA is its LAD's PFA,
  so force-area totals are the sums of their districts.
- Area covered is the area (km2, in BNG) of the area minus the union of the coverage of the services serving the
  strand; the remainder is the gap, with the population inside it.
- "any" means covered for at least one of the selected strands.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Protocol

import numpy as np
import shapely
from shapely.geometry import Point, box, shape
from shapely.geometry.base import BaseGeometry

from mapping.crs import geometry_to_bng, geometry_to_wgs84, wgs84_to_bng
from mapping.defaults import ANY
from mapping.population import PopulationPoints, PostcodePoints
from mapping.types import (
    AreaCoverage,
    Nation,
    NationalCoverage,
    PolygonCoverage,
    RadiusCoverage,
    ServiceKind,
    ServiceRecord,
    ServiceStatus,
    Strand,
)

__all__ = [
    "ANY",
    "AreaUnit",
    "CoverageInputError",
    "CoverageResult",
    "CoverageRow",
    "Gap",
    "Geography",
    "GeographyBasis",
    "ServiceProblem",
    "compute_coverage",
]

STRAND_ORDER: tuple[Strand, ...] = tuple(Strand)
STRAND_BIT: dict[Strand, int] = {s: 1 << i for i, s in enumerate(STRAND_ORDER)}
ALL_BITS = (1 << len(STRAND_ORDER)) - 1
GRID_CELL_M = 5000.0
RADIUS_QUAD_SEGS = 16  # per quarter circle: chord error under 0.5% of the radius
# England and Wales, with a margin, in BNG metres: a service outside this box has swapped or wrong coordinates.
EW_BOX = box(0.0, 0.0, 700_000.0, 700_000.0)

Progress = Callable[[str, int, int], None]


class GeographyBasis(StrEnum):
    BOUNDARIES = "boundaries"
    GRID = "grid_5km"


@dataclass(frozen=True)
class AreaUnit:
    """One area of a level (``"pfa"`` or ``"lad"``): its polygon in BNG metres and, for a LAD, its PFA."""

    code: str
    name: str
    level: str
    geometry: BaseGeometry
    parent_code: str | None = None

    @property
    def nation(self) -> Nation:
        return Nation.WALES if self.code.startswith("W") else Nation.ENGLAND


class BoundaryLike(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def geometry(self) -> BaseGeometry: ...  # WGS84


@dataclass(frozen=True)
class Geography:
    """The PFAs and LADs the report is about, in BNG, with what their shapes are based on."""

    pfas: tuple[AreaUnit, ...]
    lads: tuple[AreaUnit, ...]
    basis: GeographyBasis
    vintage: str
    note: str = ""

    def level(self, level: str) -> tuple[AreaUnit, ...]:
        if level == "pfa":
            return self.pfas
        if level == "lad":
            return self.lads
        raise ValueError(f"unknown level {level!r}: use pfa or lad")

    @classmethod
    def from_boundaries(
        cls,
        *,
        pfas: Iterable[BoundaryLike],
        lads: Iterable[BoundaryLike],
        pfa_for_lad: Callable[[str], str | None] | None = None,
        vintage: str = "",
    ) -> Geography:
        """Official boundaries (WGS84 geometries) -> BNG areas; only England and Wales codes are kept.

        ``pfa_for_lad`` gives each LAD's force area (the authored LAD -> PFA table); where it has no answer, the
        force-area polygon covering most of the LAD is used.
        """
        pfa_units = tuple(
            AreaUnit(b.code, b.name, "pfa", _valid(geometry_to_bng(b.geometry)))
            for b in sorted(pfas, key=lambda b: b.code)
            if b.code[:1] in ("E", "W")
        )
        pfa_tree = shapely.STRtree([u.geometry for u in pfa_units])
        lad_units: list[AreaUnit] = []
        for b in sorted(lads, key=lambda b: b.code):
            if b.code[:1] not in ("E", "W"):
                continue
            geometry = _valid(geometry_to_bng(b.geometry))
            parent = pfa_for_lad(b.code) if pfa_for_lad else None
            if parent is None and pfa_units:
                candidates = pfa_tree.query(geometry, predicate="intersects")
                if len(candidates):
                    overlap = shapely.area(shapely.intersection(pfa_tree.geometries[candidates], geometry))
                    parent = pfa_units[int(candidates[int(np.argmax(overlap))])].code
            lad_units.append(AreaUnit(b.code, b.name, "lad", geometry, parent))
        note = f"official ONS boundaries ({vintage})" if vintage else "official ONS boundaries"
        return cls(pfa_units, tuple(lad_units), GeographyBasis.BOUNDARIES, vintage, note)

    @classmethod
    def grid(
        cls,
        postcodes: PostcodePoints,
        *,
        pfa_for_lad: Callable[[str], str | None],
        names: Mapping[str, str],
        cell_m: float = GRID_CELL_M,
    ) -> Geography:
        """Without boundary files: each LAD is the union of the ``cell_m`` BNG squares where most of the
        postcodes belong to it, and each PFA the union of its LADs. Blocky, approximate, labelled as such.
        """
        cx = np.floor(postcodes.easting / cell_m).astype(np.int64)
        cy = np.floor(postcodes.northing / cell_m).astype(np.int64)
        lad_ids, lad_index = np.unique(postcodes.lad_codes, return_inverse=True)
        cell = cx * 1_000_000 + cy
        pair = cell * len(lad_ids) + lad_index
        pairs, counts = np.unique(pair, return_counts=True)
        pair_cell, pair_lad = pairs // len(lad_ids), pairs % len(lad_ids)
        # Sort by cell then count descending: the first row of each cell is its majority LAD.
        order = np.lexsort((-counts, pair_cell))
        pair_cell, pair_lad = pair_cell[order], pair_lad[order]
        first = np.ones(len(pair_cell), dtype=bool)
        first[1:] = pair_cell[1:] != pair_cell[:-1]
        cells, owners = pair_cell[first], pair_lad[first]
        x0 = (cells // 1_000_000).astype(float) * cell_m
        y0 = (cells % 1_000_000).astype(float) * cell_m
        squares = shapely.box(x0, y0, x0 + cell_m, y0 + cell_m)
        lad_units: list[AreaUnit] = []
        by_pfa: dict[str, list[BaseGeometry]] = {}
        for i, code in enumerate(lad_ids):
            mine = squares[owners == i]
            geometry = shapely.coverage_union_all(mine) if len(mine) else shapely.Polygon()
            parent = pfa_for_lad(str(code))
            lad_units.append(AreaUnit(str(code), names.get(str(code), str(code)), "lad", geometry, parent))
            if parent:
                by_pfa.setdefault(parent, []).append(geometry)
        pfa_units = tuple(
            AreaUnit(code, names.get(code, code), "pfa", shapely.union_all(parts))
            for code, parts in sorted(by_pfa.items())
        )
        note = (
            f"no boundary files loaded: areas are {cell_m / 1000:g} km British National Grid squares assigned to the "
            "local authority holding most of their postcodes (approximate shapes and areas)"
        )
        return cls(pfa_units, tuple(lad_units), GeographyBasis.GRID, postcodes.vintage, note)


def _valid(geometry: BaseGeometry) -> BaseGeometry:
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    # make_valid can return a collection with stray lines: keep the polygonal part only.
    if geometry.geom_type == "GeometryCollection":
        polys = [g for g in shapely.get_parts(geometry) if g.geom_type in ("Polygon", "MultiPolygon")]
        geometry = shapely.union_all(polys) if polys else shapely.Polygon()
    return geometry


# --- results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """One area and one strand (or ``"any"``)."""

    level: str
    code: str
    name: str
    pfa_code: str | None
    strand: str
    population: float
    population_covered: float
    area_km2: float
    area_covered_km2: float
    services: int
    service_ids: tuple[str, ...] = ()  # the services counted that cover any part of the area for the strand
    population_covered_confirmed: float | None = None  # covered by confirmed services alone

    @property
    def pct_population_confirmed(self) -> float | None:
        if self.population <= 0 or self.population_covered_confirmed is None:
            return None
        return 100.0 * self.population_covered_confirmed / self.population

    @property
    def pct_population(self) -> float | None:
        return 100.0 * self.population_covered / self.population if self.population > 0 else None

    @property
    def pct_area(self) -> float | None:
        return 100.0 * self.area_covered_km2 / self.area_km2 if self.area_km2 > 0 else None

    @property
    def no_coverage(self) -> bool:
        return self.services == 0 and self.population_covered == 0 and self.area_covered_km2 == 0


@dataclass(frozen=True, slots=True)
class Gap:
    """One uncovered part of an area for a strand: WGS84 polygon, its area and the population inside it."""

    level: str
    code: str
    name: str
    strand: str
    geometry: BaseGeometry
    area_km2: float
    population: float
    part: int = 1  # parts of one area's gap are numbered by the people inside them, most first
    parts: int = 1
    geometry_bng: BaseGeometry | None = field(default=None, repr=False, compare=False)

    def bng(self) -> BaseGeometry:
        """The gap in British National Grid metres (kept from the computation, so maps need no reprojection)."""
        return self.geometry_bng if self.geometry_bng is not None else geometry_to_bng(self.geometry)


@dataclass(frozen=True, slots=True)
class ServiceProblem:
    service_id: str
    name: str
    field: str
    message: str
    unknown_codes: tuple[str, ...] = ()  # area codes the geography in use does not have

    def __str__(self) -> str:
        return f"service {self.service_id} ({self.name}), field {self.field}: {self.message}"


_SHOWN = 5  # problems (or codes) listed in a message; the rest are counted


class CoverageInputError(ValueError):
    """Services whose coverage cannot be used; every problem names the service, the field and what to fix.

    The message is a summary (a few problems, the count of the rest): boundaries covering part of England and
    Wales make hundreds of services name codes they lack, which would otherwise be one line of many thousand
    characters blaming the services.
    """

    def __init__(self, problems: Sequence[ServiceProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(_summary(self.problems))


def _summary(problems: Sequence[ServiceProblem]) -> str:
    unknown = [p for p in problems if p.unknown_codes]
    others = [p for p in problems if not p.unknown_codes]
    parts: list[str] = []
    if len(unknown) > 2:
        codes = sorted({c for p in unknown for c in p.unknown_codes})
        more = f" and {len(codes) - _SHOWN} more" if len(codes) > _SHOWN else ""
        parts.append(
            f"{len(unknown)} services name {len(codes)} area code(s) the boundaries in use do not have"
            f" ({', '.join(codes[:_SHOWN])}{more}): if the boundary files cover only part of England and Wales,"
            " or are of another vintage, give the full current ONS PFA and LAD files; otherwise correct the"
            " services' area codes"
        )
    else:
        others = list(problems)
    parts += [str(p) for p in others[:_SHOWN]]
    if len(others) > _SHOWN:
        parts.append(f"... and {len(others) - _SHOWN} more services like these")
    return "; ".join(parts)


@dataclass(frozen=True)
class CoverageResult:
    """Everything a report needs: rows per level, gaps, and the arrays behind them (for siting and demand)."""

    rows: tuple[CoverageRow, ...]
    gaps: tuple[Gap, ...]
    strands: tuple[str, ...]  # the selected strands then "any"
    levels: tuple[str, ...]
    kinds: tuple[ServiceKind, ...]
    services: tuple[ServiceRecord, ...]  # the services counted
    national_services: tuple[ServiceRecord, ...]  # counted services with national coverage
    geography: Geography
    population: PopulationPoints
    point_lad: np.ndarray  # index into geography.lads, one per population point
    point_pfa: np.ndarray  # index into geography.pfas
    point_mask: np.ndarray  # uint8 strand bits covered, one per point
    confirmed_mask: np.ndarray | None = None  # the same, by confirmed services alone
    service_geometries: tuple[BaseGeometry | None, ...] = field(repr=False, default=())
    # National services of the counted kinds and strands left out because include_national was off: they are
    # available everywhere, and reported beside the local figures rather than merged into them.
    national_set_aside: tuple[ServiceRecord, ...] = ()
    include_national: bool = True

    @property
    def local_services(self) -> tuple[ServiceRecord, ...]:
        """The counted services with a local (area, radius or polygon) coverage."""
        return tuple(s for s in self.services if not isinstance(s.coverage, NationalCoverage))

    def rows_for(self, level: str, strand: str = ANY) -> tuple[CoverageRow, ...]:
        return tuple(r for r in self.rows if r.level == level and r.strand == strand)

    def rows_for_level(self, level: str) -> tuple[CoverageRow, ...]:
        return tuple(r for r in self.rows if r.level == level)

    def uncovered_areas(self, level: str, strand: str = ANY) -> tuple[str, ...]:
        """Names of the areas with no coverage at all for ``strand``."""
        return tuple(r.name for r in self.rows_for(level, strand) if r.no_coverage)

    def totals(self, strand: str = ANY) -> tuple[float, float]:
        """(population, population covered) over England and Wales for ``strand``."""
        covered = self.covered_points(strand)
        return self.population.total, float(self.population.population[covered].sum())

    def totals_confirmed(self, strand: str = ANY) -> tuple[float, float]:
        """(population, population covered by confirmed services alone) over England and Wales."""
        covered = self.covered_points(strand, confirmed_only=True)
        return self.population.total, float(self.population.population[covered].sum())

    @property
    def has_unconfirmed(self) -> bool:
        return any(not s.confirmed for s in self.services)

    def covered_points(self, strand: str = ANY, *, confirmed_only: bool = False) -> np.ndarray:
        """Which population points are covered for ``strand`` (by confirmed services alone if asked)."""
        mask = self.confirmed_mask if confirmed_only and self.confirmed_mask is not None else self.point_mask
        bits = _strand_bits(self.strands) if strand == ANY else STRAND_BIT[Strand(strand)]
        return (mask & bits) != 0


def _strand_bits(strands: Iterable[str]) -> int:
    bits = 0
    for s in strands:
        if s != ANY:
            bits |= STRAND_BIT[Strand(s)]
    return bits


# --- resolving services -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Resolved:
    record: ServiceRecord
    mask: int
    geometry: BaseGeometry | None = None  # BNG; radius and polygon coverage
    codes: frozenset[str] = frozenset()  # area-coded coverage
    nation: Nation | None = None  # national coverage
    centre: tuple[float, float] | None = None  # BNG; radius coverage
    radius_m: float = 0.0


def _resolve(
    record: ServiceRecord, mask: int, known: Collection[str], circle: _Circle | None = None
) -> _Resolved | ServiceProblem:
    """``circle``: a radius coverage's centre and circle already in BNG (see :func:`_bng_circles`)."""
    coverage = record.coverage
    if isinstance(coverage, NationalCoverage):
        return _Resolved(record, mask, nation=coverage.nation)
    if isinstance(coverage, AreaCoverage):
        codes = frozenset(c.strip().upper() for c in coverage.area_codes)
        unknown = sorted(codes - set(known))
        if not codes:
            return ServiceProblem(record.id, record.name, "coverage.area_codes", "no area codes: list PFA or LAD codes")
        if unknown:
            return ServiceProblem(
                record.id,
                record.name,
                "coverage.area_codes",
                f"unknown area code(s) {', '.join(unknown)}: use current PFA (E23/W15) or LAD codes",
                tuple(unknown),
            )
        return _Resolved(record, mask, codes=codes)
    if isinstance(coverage, RadiusCoverage):
        if not (np.isfinite(coverage.radius_m) and coverage.radius_m > 0):
            return ServiceProblem(record.id, record.name, "coverage.radius_m", "the radius must be a positive number")
        if circle is not None:
            e, n, geometry = circle  # a circle is never empty, so never false
        else:
            e, n = (float(v) for v in wgs84_to_bng(coverage.lon, coverage.lat))
            geometry = None
        x0, y0, x1, y1 = EW_BOX.bounds
        if not (np.isfinite(e) and x0 <= e <= x1 and y0 <= n <= y1):  # EW_BOX covers the centre
            return ServiceProblem(
                record.id,
                record.name,
                "coverage.lat/lon",
                f"centre {coverage.lat}, {coverage.lon} is not in England or Wales: "
                "are latitude and longitude swapped?",
            )
        return _Resolved(
            record,
            mask,
            geometry=geometry or Point(e, n).buffer(coverage.radius_m, quad_segs=RADIUS_QUAD_SEGS),
            centre=(e, n),
            radius_m=coverage.radius_m,
        )
    assert isinstance(coverage, PolygonCoverage)
    try:
        geometry = shape(coverage.geojson)
    except Exception as exc:  # shapely raises several types for malformed GeoJSON
        return ServiceProblem(record.id, record.name, "coverage.geojson", f"not a readable GeoJSON geometry ({exc})")
    if geometry.geom_type not in ("Polygon", "MultiPolygon") or geometry.is_empty:
        return ServiceProblem(
            record.id, record.name, "coverage.geojson", f"a {geometry.geom_type} is not an area: give a Polygon"
        )
    minx, miny, maxx, maxy = geometry.bounds
    if not (minx >= -7.0 and maxx <= 2.5 and miny >= 49.5 and maxy <= 56.0):
        return ServiceProblem(
            record.id,
            record.name,
            "coverage.geojson",
            "the polygon is not in England or Wales: GeoJSON wants longitude first, then latitude",
        )
    bng = _valid(geometry_to_bng(geometry))
    if bng.is_empty or bng.area <= 0:
        return ServiceProblem(record.id, record.name, "coverage.geojson", "the polygon has no area once repaired")
    return _Resolved(record, mask, geometry=bng)


_Circle = tuple[float, float, BaseGeometry | None]  # a radius coverage's BNG centre and circle (None: no radius)


def _bng_circles(records: Sequence[ServiceRecord]) -> list[_Circle | None]:
    """Each radius coverage's BNG centre and circle (``None`` for other coverages), converted in one call and
    buffered in one call, not one of each per service."""
    at = [i for i, r in enumerate(records) if isinstance(r.coverage, RadiusCoverage)]
    out: list[_Circle | None] = [None] * len(records)
    if at:
        lon = np.array([records[i].coverage.lon for i in at], dtype=np.float64)  # type: ignore[union-attr]
        lat = np.array([records[i].coverage.lat for i in at], dtype=np.float64)  # type: ignore[union-attr]
        radius = np.array([records[i].coverage.radius_m for i in at], dtype=np.float64)  # type: ignore[union-attr]
        e, n = wgs84_to_bng(lon, lat)
        usable = np.isfinite(e) & np.isfinite(n) & np.isfinite(radius) & (radius > 0)
        circles = np.full(len(at), None, dtype=object)
        if usable.any():
            centres = shapely.points(e[usable], n[usable])
            circles[usable] = shapely.buffer(centres, radius[usable], quad_segs=RADIUS_QUAD_SEGS)
        for i, x, y, circle in zip(at, e.tolist(), n.tolist(), circles.tolist(), strict=True):
            out[i] = (x, y, circle)
    return out


def _service_mask(record: ServiceRecord, selected: int) -> int:
    if not record.strands:
        return selected
    bits = 0
    for s in record.strands:
        bits |= STRAND_BIT[s]
    return bits & selected


# --- the computation --------------------------------------------------------------------------------------


def _some(codes: Sequence[str], shown: int = 8) -> str:
    """A few codes, then how many more: a message stays readable when hundreds are affected."""
    more = f" and {len(codes) - shown} more" if len(codes) > shown else ""
    return ", ".join(codes[:shown]) + more


def _assign_lads(population: PopulationPoints, geography: Geography) -> np.ndarray:
    """Index of each point's LAD (see the module docstring for the rule)."""
    n = len(population)
    lad_codes = [u.code for u in geography.lads]
    by_code = {c: i for i, c in enumerate(lad_codes)}
    out = np.full(n, -1, dtype=np.int64)
    if population.lad_codes is not None:
        # The source's LAD (an LSOA's district by the ONS nesting) is the truth: grid squares are approximate, and
        # generalised (BUC) boundaries put hundreds of thousands of people in the neighbouring district.
        out = np.array([by_code.get(str(c), -1) for c in population.lad_codes], dtype=np.int64)
    missing = np.flatnonzero(out < 0)
    if len(missing) and geography.basis is not GeographyBasis.GRID:
        points = shapely.points(population.easting[missing], population.northing[missing])
        geoms = [u.geometry for u in geography.lads]
        tree = shapely.STRtree(geoms)
        pt, lad = tree.query(points, predicate="covered_by")
        # A point on a shared edge is covered by both: keep the lowest LAD index, deterministically.
        order = np.lexsort((lad, pt))
        pt, lad = pt[order], lad[order]
        first = np.ones(len(pt), dtype=bool)
        first[1:] = pt[1:] != pt[:-1]
        out[missing[pt[first]]] = lad[first]
        missing = np.flatnonzero(out < 0)
        if len(missing):
            points = shapely.points(population.easting[missing], population.northing[missing])
            _, nearest = tree.query_nearest(points, return_distance=False, all_matches=False)
            out[missing] = nearest
    return out


def compute_coverage(
    services: Sequence[ServiceRecord],
    population: PopulationPoints,
    geography: Geography,
    *,
    kinds: Collection[ServiceKind] = (ServiceKind.THIRD_PARTY_REPORTING,),
    strands: Collection[Strand] = (),
    levels: Sequence[str] = ("pfa", "lad"),
    include_national: bool = True,
    gaps: bool = True,
    progress: Progress | None = None,
) -> CoverageResult:
    """Population and area covered per area and strand, and the gaps.

    Parameters
    ----------
    services
        The directory; only active services of ``kinds`` serving a selected strand count (never the shipped
        ``example-`` entries).
    population
        People (or the proxy) at points, in BNG.
    geography
        The areas (official boundaries or the 5 km grid).
    kinds
        Service kinds that count as coverage (default: third-party reporting). Empty means every kind.
    strands
        Strands to report (default: all five); ``"any"`` is always added.
    levels
        ``"pfa"`` and/or ``"lad"``.
    include_national
        Whether services with national coverage of a counted kind count. They cover every area of their nation,
        so they hide local gaps: turn them off to see where local services are missing.
    gaps
        Whether to build gap geometries (the slow part; not needed for tables alone).
    progress
        Called with (step, done, total) as the work goes.

    Raises
    ------
    CoverageInputError
        When a counted service's coverage cannot be used (unreadable or misplaced geometry, unknown area codes).
    """
    tell = progress or (lambda step, done, total: None)
    chosen = tuple(s for s in STRAND_ORDER if not strands or s in set(strands))
    selected = _strand_bits(chosen)
    strand_keys: tuple[str, ...] = (*[s.value for s in chosen], ANY)
    kind_set = set(kinds)

    counted, set_aside = _counted_services(services, kind_set, selected, include_national=include_national)
    known = {u.code for u in geography.pfas} | {u.code for u in geography.lads}
    resolved = _resolve_all(counted, selected, known)
    tell("services", 1, 1)

    bits_for = {key: (selected if key == ANY else STRAND_BIT[Strand(key)]) for key in strand_keys}
    work = _place_and_mask(resolved, population, geography, bits_for=bits_for, gaps=gaps, tell=tell)
    rows: list[CoverageRow] = []
    gap_list: list[Gap] = []
    for level in levels:
        level_rows, level_gaps = _level_rows(work, level, tell)
        rows += level_rows
        gap_list += level_gaps
    return CoverageResult(
        rows=tuple(rows),
        gaps=tuple(gap_list),
        strands=strand_keys,
        levels=tuple(levels),
        kinds=tuple(sorted(kind_set)),
        services=tuple(r.record for r in resolved),
        national_services=tuple(r.record for r in resolved if r.nation is not None),
        geography=geography,
        population=population,
        point_lad=work.point_lad,
        point_pfa=work.point_pfa,
        point_mask=work.point_mask,
        confirmed_mask=work.confirmed_mask,
        service_geometries=tuple(r.geometry for r in resolved),
        national_set_aside=set_aside,
        include_national=include_national,
    )


def _counted_services(
    services: Sequence[ServiceRecord], kind_set: set[ServiceKind], selected: int, *, include_national: bool
) -> tuple[list[ServiceRecord], tuple[ServiceRecord, ...]]:
    """The services that count, and the national ones set aside (when national services are left out)."""
    eligible = [
        s
        for s in services
        if s.status is ServiceStatus.ACTIVE
        and not s.is_example  # shipped demonstration entries are not real coverage
        and (not kind_set or s.kind in kind_set)
        and _service_mask(s, selected)
    ]
    counted = [s for s in eligible if include_national or not isinstance(s.coverage, NationalCoverage)]
    set_aside = tuple(s for s in eligible if not include_national and isinstance(s.coverage, NationalCoverage))
    return counted, set_aside


@dataclass(frozen=True)
class _Work:
    """What every level's rows share: the services resolved and indexed, the points placed and masked."""

    resolved: list[_Resolved]
    geography: Geography
    population: PopulationPoints
    bits_for: dict[str, int]  # each strand key, in report order, with its strand bits
    gaps: bool
    lad_index: dict[str, int]
    pfa_index: dict[str, int]
    point_lad: np.ndarray
    point_pfa: np.ndarray
    point_mask: np.ndarray
    confirmed_mask: np.ndarray  # as point_mask, counting confirmed services alone
    lad_full_mask: np.ndarray  # strand bits each LAD is wholly covered for by code
    pfa_full_mask: np.ndarray
    geometric: list[_Resolved]  # the services with a geometry, in the order of geoms and geo_masks
    geoms: np.ndarray
    geo_masks: np.ndarray
    tree: shapely.STRtree | None
    partial_parts: dict[str, list[_Part]]


def _place_and_mask(
    resolved: list[_Resolved],
    population: PopulationPoints,
    geography: Geography,
    *,
    bits_for: dict[str, int],
    gaps: bool,
    tell: Progress,
) -> _Work:
    """Each point's LAD and PFA and the strands covering it; the geometric services in a tree."""
    lads, pfas = geography.lads, geography.pfas
    lad_index = {u.code: i for i, u in enumerate(lads)}
    pfa_index = {u.code: i for i, u in enumerate(pfas)}
    lad_parent = np.array([pfa_index.get(u.parent_code or "", -1) for u in lads], dtype=np.int64)

    point_lad = _assign_lads(population, geography)
    _check_every_point_has_areas(point_lad, lad_parent, lads, population)
    point_pfa = lad_parent[point_lad]
    tell("points", 1, 1)

    lad_full_mask, pfa_full_mask = _code_masks(resolved, lads, pfas, lad_index, pfa_index, lad_parent)
    point_mask = _point_mask(resolved, lad_full_mask, point_lad, population)
    # Confirmed services alone (issue 12): the people whose coverage rests only on unconfirmed entries.
    if all(r.record.confirmed for r in resolved):
        confirmed_mask = point_mask
    else:
        confirmed = [r for r in resolved if r.record.confirmed]
        confirmed_codes = _code_masks(confirmed, lads, pfas, lad_index, pfa_index, lad_parent)
        confirmed_mask = _point_mask(confirmed, confirmed_codes[0], point_lad, population)
    geometric = [r for r in resolved if r.geometry is not None]
    geoms = np.array([r.geometry for r in geometric], dtype=object)
    work = _Work(
        resolved=resolved,
        geography=geography,
        population=population,
        bits_for=bits_for,
        gaps=gaps,
        lad_index=lad_index,
        pfa_index=pfa_index,
        point_lad=point_lad,
        point_pfa=point_pfa,
        point_mask=point_mask,
        confirmed_mask=confirmed_mask,
        lad_full_mask=lad_full_mask,
        pfa_full_mask=pfa_full_mask,
        geometric=geometric,
        geoms=geoms,
        geo_masks=np.array([r.mask for r in geometric], dtype=np.int64),
        tree=shapely.STRtree(geoms) if len(geoms) else None,
        partial_parts=_partial_code_geometries(resolved, lads),
    )
    tell("population", 1, 1)
    return work


@dataclass(frozen=True)
class _LevelSums:
    """Per area of one level: its population, and per strand key the population covered (all services, confirmed
    services alone)."""

    total: np.ndarray
    covered: dict[str, np.ndarray]
    confirmed: dict[str, np.ndarray]


def _level_sums(work: _Work, index: np.ndarray, areas: int) -> _LevelSums:
    weights = work.population.population

    def covered_by(mask: np.ndarray) -> dict[str, np.ndarray]:
        return {
            key: np.bincount(index, weights=weights * ((mask & bits) != 0), minlength=areas)
            for key, bits in work.bits_for.items()
        }

    total = np.bincount(index, weights=weights, minlength=areas)
    return _LevelSums(total, covered_by(work.point_mask), covered_by(work.confirmed_mask))


def _level_rows(work: _Work, level: str, tell: Progress) -> tuple[list[CoverageRow], list[Gap]]:
    """One level's rows (area by strand, in that order) and gaps."""
    units = work.geography.level(level)
    index = work.point_lad if level == "lad" else work.point_pfa
    sums = _level_sums(work, index, len(units))
    full = work.lad_full_mask if level == "lad" else work.pfa_full_mask
    order = np.argsort(index, kind="stable")  # the points of area i are order[starts[i]:starts[i + 1]]
    starts = np.searchsorted(index[order], np.arange(len(units) + 1))
    hits: dict[int, list[int]] = {}
    if work.tree is not None:
        a_idx, s_idx = work.tree.query([u.geometry for u in units], predicate="intersects")
        for a, s in zip(a_idx.tolist(), s_idx.tolist(), strict=True):
            hits.setdefault(a, []).append(s)
    code_services = _code_services(work.resolved, units, level, work.lad_index, work.pfa_index, work.geography.lads)

    rows: list[CoverageRow] = []
    gap_list: list[Gap] = []
    # GEOS releases the GIL: the areas' unions run on every core, in order, while this loop uses them.
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        area_cover = partial(_area_cover, units=units, level=level, hits=hits, geoms=work.geoms, masks=work.geo_masks)
        covered_by_area = pool.map(partial(area_cover, partial_parts=work.partial_parts), range(len(units)))
        for i, (unit, covered) in enumerate(zip(units, covered_by_area, strict=True)):
            tell(f"areas ({level})", i + 1, len(units))
            area = _AreaInputs(
                level, i, unit, covered, int(full[i]), code_services[i], sums, order[starts[i] : starts[i + 1]]
            )
            area_rows, area_gaps = _area_rows(work, area)
            rows += area_rows
            gap_list += area_gaps
    return rows, gap_list


@dataclass(frozen=True)
class _AreaInputs:
    """One area's share of its level's work."""

    level: str
    i: int  # its index in the level
    unit: AreaUnit
    covered: _Covered  # its geometric services and covered part per mask (see _area_cover)
    full_bits: int  # strands it is wholly covered for by code
    code_services: list[_Resolved]
    sums: _LevelSums
    members: np.ndarray  # its population points


def _area_rows(work: _Work, area: _AreaInputs) -> tuple[list[CoverageRow], list[Gap]]:
    """One area's row per strand key, and its gaps."""
    unit, i = area.unit, area.i
    cand, pieces = area.covered
    geom = unit.geometry
    area_m2 = float(geom.area)
    # Strands served by the same services share their covered geometry and gap: computed once per area.
    shared: dict[tuple[int, ...], tuple[BaseGeometry, float]] = {}
    gap_shapes: dict[tuple[int, ...], BaseGeometry] = {}
    rows: list[CoverageRow] = []
    gap_list: list[Gap] = []
    for key, bits in work.bits_for.items():
        serving = tuple(m for m in pieces if m & bits)
        if area.full_bits & bits:
            covered_geom: BaseGeometry = geom
            covered_area = area_m2
        elif serving in shared:
            covered_geom, covered_area = shared[serving]
        else:
            parts = [pieces[m] for m in serving]
            covered_geom = shapely.union_all(parts) if parts else shapely.Polygon()
            covered_area = float(covered_geom.area)
            shared[serving] = (covered_geom, covered_area)
        ids = [work.geometric[s].record.id for s in cand.tolist() if work.geo_masks[s] & bits]
        ids += [r.record.id for r in area.code_services if r.mask & bits]
        rows.append(
            CoverageRow(
                level=area.level,
                code=unit.code,
                name=unit.name,
                pfa_code=unit.parent_code if area.level == "lad" else unit.code,
                strand=key,
                population=float(area.sums.total[i]),
                population_covered=float(area.sums.covered[key][i]),
                population_covered_confirmed=float(area.sums.confirmed[key][i]),
                area_km2=area_m2 / 1e6,
                area_covered_km2=min(covered_area, area_m2) / 1e6,
                services=len(ids),
                service_ids=tuple(ids),
            )
        )
        if work.gaps and area_m2 - covered_area > 1.0:
            # A 1 m precision grid drops the hairline slivers left where edges differ by millimetres.
            if serving not in gap_shapes:
                gap_shapes[serving] = (
                    geom if covered_geom.is_empty else shapely.difference(geom, covered_geom, grid_size=1.0)
                )
            uncovered = area.members[(work.point_mask[area.members] & bits) == 0]
            gap_list.extend(_gap_parts(unit, key, gap_shapes[serving], uncovered, work.population))
    return rows, gap_list


def _resolve_all(counted: Sequence[ServiceRecord], selected: int, known: set[str]) -> list[_Resolved]:
    """Every counted service's coverage resolved; refuses them all at once, naming each one that cannot be used."""
    resolved: list[_Resolved] = []
    problems: list[ServiceProblem] = []
    for record, circle in zip(counted, _bng_circles(counted), strict=True):
        item = _resolve(record, _service_mask(record, selected), known, circle)
        (problems if isinstance(item, ServiceProblem) else resolved).append(item)  # type: ignore[arg-type]
    if problems:
        raise CoverageInputError(problems)
    return resolved


def _check_every_point_has_areas(
    point_lad: np.ndarray, lad_parent: np.ndarray, lads: Sequence[AreaUnit], population: PopulationPoints
) -> None:
    """Every population point lies in a local authority, and every such authority in a known force area."""
    if (point_lad < 0).any():
        i = int(np.flatnonzero(point_lad < 0)[0])
        raise ValueError(f"population point {population.codes[i]} has no local authority in the geography")
    orphan_lads = [lads[i] for i in np.unique(point_lad) if lad_parent[i] < 0]
    if orphan_lads:
        absent = sorted({u.parent_code for u in orphan_lads if u.parent_code})
        unmapped = sorted(u.code for u in orphan_lads if not u.parent_code)
        if absent:
            raise ValueError(
                f"the force area boundaries lack {len(absent)} force area(s) that local authorities belong to "
                f"({_some(absent)}): give the complete ONS Police Force Areas file (all 43)"
            )
        raise ValueError(f"no force area known for local authority {_some(unmapped)}: update the LAD -> PFA table")


def _code_masks(
    resolved: Sequence[_Resolved],
    lads: Sequence[AreaUnit],
    pfas: Sequence[AreaUnit],
    lad_index: Mapping[str, int],
    pfa_index: Mapping[str, int],
    lad_parent: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Code-based coverage as strand bits per LAD and per PFA (listed, or its PFA listed, or its nation)."""
    lad_code_mask = np.zeros(len(lads), dtype=np.int64)
    pfa_code_mask = np.zeros(len(pfas), dtype=np.int64)
    nation_mask = {Nation.ENGLAND: 0, Nation.WALES: 0}
    for r in resolved:
        if r.nation is not None:
            for nation in nation_mask:
                if r.nation is Nation.ENGLAND_AND_WALES or r.nation is nation:
                    nation_mask[nation] |= r.mask
        for code in r.codes:
            if code in lad_index:
                lad_code_mask[lad_index[code]] |= r.mask
            elif code in pfa_index:
                pfa_code_mask[pfa_index[code]] |= r.mask
    lad_nation_mask = np.array([nation_mask[u.nation] for u in lads], dtype=np.int64)
    pfa_nation_mask = np.array([nation_mask[u.nation] for u in pfas], dtype=np.int64)
    parent_mask = np.where(lad_parent >= 0, pfa_code_mask[np.maximum(lad_parent, 0)], 0)
    return lad_code_mask | parent_mask | lad_nation_mask, pfa_code_mask | pfa_nation_mask


def _point_mask(
    resolved: Sequence[_Resolved], lad_full_mask: np.ndarray, point_lad: np.ndarray, population: PopulationPoints
) -> np.ndarray:
    """Strand bits covered at each population point: by code through its LAD, and geometrically."""
    point_mask = lad_full_mask[point_lad].copy()
    geometric = [r for r in resolved if r.geometry is not None]
    if not geometric:
        return point_mask.astype(np.uint8)
    points_tree = shapely.STRtree(shapely.points(population.easting, population.northing))
    circles = [r for r in geometric if r.centre is not None]
    if circles:
        # Radius coverage is a true circle: the points in each circle's bounding square, then those whose distance
        # is at most the radius (so the edge is inside); numpy, not a KD-tree, so the report needs no scipy.
        centres = np.array([r.centre for r in circles], dtype=np.float64)
        e, n = centres[:, 0], centres[:, 1]
        radius = np.array([r.radius_m for r in circles], dtype=np.float64)
        svc, pt = points_tree.query(shapely.box(e - radius, n - radius, e + radius, n + radius))
        inside = (population.easting[pt] - e[svc]) ** 2 + (population.northing[pt] - n[svc]) ** 2 <= radius[svc] ** 2
        np.bitwise_or.at(point_mask, pt[inside], np.array([r.mask for r in circles], dtype=np.int64)[svc[inside]])
    polygons = [r for r in geometric if r.centre is None]
    if polygons:
        # Query the points' tree with each service polygon: the polygon is prepared once for all its points.
        svc, pt = points_tree.query(np.array([r.geometry for r in polygons], dtype=object), predicate="covers")
        np.bitwise_or.at(point_mask, pt, np.array([r.mask for r in polygons], dtype=np.int64)[svc])
    return point_mask.astype(np.uint8)


MIN_GAP_PART_M2 = 10_000.0  # a hectare: smaller leftovers are edge effects, not places


def _gap_parts(
    unit: AreaUnit, strand: str, gap: BaseGeometry, uncovered: np.ndarray, population: PopulationPoints
) -> list[Gap]:
    """One :class:`Gap` per separate uncovered part of ``unit``, each with the uncovered people inside it.

    Uncovered points outside every part (a coastal centroid, a point in a dropped sliver) join the nearest part,
    so the parts' populations add up to the area's uncovered population.
    """
    parts = [p for p in shapely.get_parts(gap) if p.geom_type == "Polygon" and p.area >= MIN_GAP_PART_M2]
    if not parts:
        return []
    people: np.ndarray = np.zeros(len(parts))
    if len(uncovered):
        points = shapely.points(population.easting[uncovered], population.northing[uncovered])
        owner = np.full(len(uncovered), -1, dtype=np.int64)
        if len(parts) == 1:
            owner[:] = 0
        else:
            tree = shapely.STRtree(parts)
            pt, part = tree.query(points, predicate="covered_by")
            ranked = np.lexsort((part, pt))
            pt, part = pt[ranked], part[ranked]
            first = np.ones(len(pt), dtype=bool)
            first[1:] = pt[1:] != pt[:-1]
            owner[pt[first]] = part[first]  # a point on a shared edge goes to the lowest part
            missing = np.flatnonzero(owner < 0)
            if len(missing):
                owner[missing] = tree.query_nearest(points[missing], all_matches=False)[1]
        people = np.bincount(owner, weights=population.population[uncovered], minlength=len(parts))
    order = sorted(range(len(parts)), key=lambda k: (-people[k], -parts[k].area))
    return [
        Gap(
            level=unit.level,
            code=unit.code,
            name=unit.name,
            strand=strand,
            geometry=geometry_to_wgs84(parts[k]),
            area_km2=float(parts[k].area) / 1e6,
            population=float(people[k]),
            part=n + 1,
            parts=len(parts),
            geometry_bng=parts[k],
        )
        for n, k in enumerate(order)
    ]


def _code_services(
    resolved: Sequence[_Resolved],
    units: Sequence[AreaUnit],
    level: str,
    lad_index: Mapping[str, int],
    pfa_index: Mapping[str, int],
    lads: Sequence[AreaUnit],
) -> list[list[_Resolved]]:
    """Per area, the area-coded and national services covering any part of it."""
    out: list[list[_Resolved]] = [[] for _ in units]
    position = {u.code: i for i, u in enumerate(units)}
    for r in resolved:
        if r.nation is not None:
            for i, u in enumerate(units):
                if r.nation is Nation.ENGLAND_AND_WALES or r.nation is u.nation:
                    out[i].append(r)
            continue
        touched: set[int] = set()
        for code in r.codes:
            if code in position:
                touched.add(position[code])
            elif level == "pfa" and code in lad_index:
                parent = lads[lad_index[code]].parent_code
                if parent in position:
                    touched.add(position[parent])
            elif level == "lad" and code in pfa_index:
                touched.update(i for i, u in enumerate(units) if u.parent_code == code)
        for i in touched:
            out[i].append(r)
    return out


def _partial_code_geometries(resolved: Sequence[_Resolved], lads: Sequence[AreaUnit]) -> dict[str, list[_Part]]:
    """Per PFA, the districts inside it that LAD-coded services list (they cover part of the force area), each
    service's districts unioned, in the order of ``resolved``."""
    by_code = {u.code: u for u in lads}
    out: dict[str, list[_Part]] = {}
    for r in resolved:
        parts: dict[str, list[BaseGeometry]] = {}
        for c in r.codes:
            unit = by_code.get(c)
            if unit is not None and unit.parent_code:
                parts.setdefault(unit.parent_code, []).append(unit.geometry)
        for pfa, geometries in parts.items():
            out.setdefault(pfa, []).append((r.mask, shapely.union_all(geometries)))
    return out


_Part = tuple[int, BaseGeometry]  # a strand mask and the geometry it covers
_Covered = tuple[np.ndarray, dict[int, BaseGeometry]]  # an area's counted candidate services, covered part per mask
_WORKERS = max(1, min(4, os.cpu_count() or 1))


def _area_cover(
    i: int,
    *,
    units: Sequence[AreaUnit],
    level: str,
    hits: Mapping[int, list[int]],
    geoms: np.ndarray,
    masks: np.ndarray,
    partial_parts: Mapping[str, list[_Part]],
) -> _Covered:
    """Area ``i``'s geometric services (overlapping it, not only touching it) and its covered part per mask."""
    unit = units[i]
    cand = np.array(hits.get(i, []), dtype=np.int64)
    if len(cand):
        cand = cand[~shapely.touches(geoms[cand], unit.geometry)]
    parts = partial_parts.get(unit.code, []) if level == "pfa" else []
    return cand, _covered_by_mask(unit.geometry, geoms[cand], masks[cand], parts)


def _covered_by_mask(
    area: BaseGeometry, geoms: np.ndarray, masks: np.ndarray, partial: Sequence[tuple[int, BaseGeometry]]
) -> dict[int, BaseGeometry]:
    """The covered part of ``area`` per distinct strand mask (few masks: unions are shared across strands)."""
    groups: dict[int, list[BaseGeometry]] = {}
    for g, m in zip(geoms.tolist(), masks.tolist(), strict=True):
        groups.setdefault(int(m), []).append(g)
    for m, g in partial:
        groups.setdefault(int(m), []).append(g)
    return {m: shapely.intersection(shapely.union_all(parts), area) for m, parts in groups.items()}
