"""The signposting index: from where a person is to the services that really cover them, ranked.

One :class:`SignpostIndex` is built per snapshot of the directory (see :func:`directory_snapshot_key`): each
coverage spec is resolved once, the resolved geometries go into one shapely ``STRtree``, and coverage that
cannot be resolved (area codes or a nation with no boundaries loaded) is matched by codes. A query is then a
bounding-box lookup in the tree, a ``covers`` test on prepared geometries, and a few dictionary lookups.

How a service matches a :class:`~mapping.types.Location` (the same rules as ``services_db.spatial``):

- national coverage: by the nation of the location's LAD code (England, Wales, or either for England and
  Wales), whether or not boundaries are loaded: a national service covers all of its nation by definition,
  and a generalised national outline can miss coastal points;
- area codes: the location's LAD or PFA code is one of the service's codes, or the union of the areas'
  polygons (when boundaries are loaded) covers the point;
- radius and polygon: the geometry covers the point (``covers``: a point on the boundary is inside).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from geopy.distance import geodesic
from pyproj import Geod
from shapely import STRtree
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from mapping.coverage import AreaGeometryLookup, CoverageCache
from mapping.crs import bng_to_wgs84, geometry_to_bng, wgs84_to_bng
from mapping.types import (
    AreaCoverage,
    Channel,
    Location,
    Match,
    MatchReason,
    Nation,
    NationalCoverage,
    ServiceKind,
    ServiceRecord,
    ServiceStatus,
    Strand,
)

__all__ = ["OUTSIDE_ENGLAND_WALES_KINDS", "SignpostIndex", "directory_snapshot_key"]

# Outside England and Wales nothing in the directory applies except the emergency routes: 999/112 reach the
# police wherever the caller is in the UK. Police non-emergency routes, True Vision and the support services
# are those of England and Wales; a person in Scotland or Northern Ireland is told (by the bot) to contact
# Police Scotland or the PSNI, whose own routes the directory does not hold.
OUTSIDE_ENGLAND_WALES_KINDS: frozenset[ServiceKind] = frozenset({ServiceKind.EMERGENCY})

NEAREST_OUTSIDE_COUNT = 3  # enough to offer a choice without burying the person's own options

_WGS84 = Geod(ellps="WGS84")


def directory_snapshot_key(services: Iterable[ServiceRecord], *, areas_key: str = "") -> str:
    """A key that changes whenever the directory (or the loaded boundaries, via ``areas_key``) changes.

    Built from each service's id, version, status and ``updated_at``; compare it with
    :attr:`SignpostIndex.version` to know when to rebuild.
    """
    digest = hashlib.sha256(areas_key.encode())
    for service in sorted(services, key=lambda s: s.id):
        stamp = service.updated_at.isoformat() if service.updated_at else ""
        digest.update(f"\x1f{service.id}\x1e{service.version}\x1e{service.status.value}\x1e{stamp}".encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A local service that may be offered as the nearest outside the person's area."""

    position: int  # into SignpostIndex._services
    geometry_bng: BaseGeometry | None  # the resolved coverage, in BNG metres
    points_bng: np.ndarray  # in-person channel points, shape (n, 2), BNG metres
    bounds: tuple[float, float, float, float]  # of the geometry and the points together


class SignpostIndex:
    """Active services of one directory snapshot, ready to answer "who can help at this point?".

    Build it with :meth:`build`; it is immutable and safe to share between threads.
    """

    def __init__(
        self,
        *,
        services: tuple[ServiceRecord, ...],
        tree: STRtree,
        tree_services: tuple[tuple[int, ...], ...],
        tree_geometries: np.ndarray,
        by_code: dict[str, tuple[int, ...]],
        by_nation: dict[Nation, tuple[int, ...]],
        in_person: tuple[tuple[np.ndarray, np.ndarray] | None, ...],
        outside_candidates: tuple[_Candidate, ...],
        version: str,
        boundaries_loaded: bool,
    ) -> None:
        self._services = services
        self._tree = tree
        self._tree_services = tree_services
        self._tree_geometries = tree_geometries
        self._by_code = by_code
        self._by_nation = by_nation
        self._in_person = in_person
        self._outside = outside_candidates
        self._version = version
        self._boundaries_loaded = boundaries_loaded

    @classmethod
    def build(
        cls,
        services: Sequence[ServiceRecord],
        *,
        areas: AreaGeometryLookup | None = None,
        cache: CoverageCache | None = None,
        areas_key: str = "",
    ) -> SignpostIndex:
        """Index the active services of ``services``.

        Parameters
        ----------
        services
            The directory (services that are not active are left out).
        areas
            Area polygons (``BoundaryIndex.geometry``) when boundaries are loaded; without them, area-coded
            and national coverage is matched by the location's codes only.
        cache
            Resolved geometries to reuse from an earlier build with the same ``areas``; a fresh one otherwise.
        areas_key
            Identifies the loaded boundaries (e.g. their vintage) in :attr:`version`.
        """
        if cache is None:
            cache = CoverageCache(areas)
        active = tuple(sorted((s for s in services if s.status is ServiceStatus.ACTIVE), key=lambda s: s.id))

        geometry_slot: dict[int, int] = {}  # id() of a resolved geometry -> its slot in the tree
        tree_geometries: list[BaseGeometry] = []
        tree_services: list[list[int]] = []
        by_code: dict[str, list[int]] = {}
        by_nation: dict[Nation, list[int]] = {}
        in_person: list[tuple[np.ndarray, np.ndarray] | None] = []
        outside: list[_Candidate] = []
        bng_cache: dict[int, BaseGeometry] = {}

        for position, service in enumerate(active):
            coverage = service.coverage
            points = service.in_person
            in_person.append((np.array([c.lat for c in points]), np.array([c.lon for c in points])) if points else None)
            if isinstance(coverage, NationalCoverage):
                by_nation.setdefault(coverage.nation, []).append(position)
                continue
            if isinstance(coverage, AreaCoverage):
                for code in coverage.area_codes:
                    by_code.setdefault(code.strip().upper(), []).append(position)
            geometry = cache.resolve(coverage)
            if geometry is not None and not geometry.is_empty:
                # Services sharing a coverage spec share one resolved object: one slot in the tree for them all.
                slot = geometry_slot.setdefault(id(geometry), len(tree_geometries))
                if slot == len(tree_geometries):
                    tree_geometries.append(geometry)
                    tree_services.append([])
                tree_services[slot].append(position)
            if service.kind is ServiceKind.THIRD_PARTY_REPORTING:
                candidate = _outside_candidate(position, geometry, points, bng_cache)
                if candidate is not None:
                    outside.append(candidate)

        geometries = np.array(tree_geometries, dtype=object)
        shapely.prepare(geometries)
        return cls(
            services=active,
            tree=STRtree(geometries),
            tree_services=tuple(tuple(p) for p in tree_services),
            tree_geometries=geometries,
            by_code={code: tuple(p) for code, p in by_code.items()},
            by_nation={nation: tuple(p) for nation, p in by_nation.items()},
            in_person=tuple(in_person),
            outside_candidates=tuple(outside),
            version=directory_snapshot_key(services, areas_key=areas_key),
            boundaries_loaded=areas is not None,
        )

    @property
    def version(self) -> str:
        """The :func:`directory_snapshot_key` of the services this index was built from."""
        return self._version

    @property
    def boundaries_loaded(self) -> bool:
        """Whether area-coded coverage was resolved to polygons (otherwise it is matched by codes only)."""
        return self._boundaries_loaded

    def __len__(self) -> int:
        return len(self._services)

    def covering(
        self,
        location: Location,
        *,
        strands: Collection[Strand] = (),
        kinds: Collection[ServiceKind] = (),
    ) -> list[ServiceRecord]:
        """Every active service whose coverage includes ``location`` (local and national), in id order.

        The unranked set that ``services_db.spatial.services_covering`` computes in the database.
        """
        wanted_strands, wanted_kinds = frozenset(strands), frozenset(kinds)
        local, national = self._covering(location, wanted_strands, wanted_kinds)
        return [self._services[p] for p in sorted(local | national)]

    def find(
        self,
        location: Location,
        *,
        strands: Collection[Strand] = (),
        kinds: Collection[ServiceKind] = (),
        limit: int | None = None,
        nearest_outside: int = NEAREST_OUTSIDE_COUNT,
    ) -> list[Match]:
        """Ranked services for a person at ``location``, each saying why it matched.

        Parameters
        ----------
        location
            Where the person is. Outside England and Wales (``lad_code`` not E/W) only the national services
            of the kinds in :data:`OUTSIDE_ENGLAND_WALES_KINDS` apply (the emergency routes, 999/112, which
            work anywhere in the UK); everything else in the directory is an England and Wales service.
        strands
            The strands the person chose; a service specialising in one of them is a specialist match and
            ranks first. Services specialising only in other strands are left out. Empty: no filter.
        kinds
            Kinds of service wanted; empty: all kinds.
        limit
            At most this many matches (after ranking).
        nearest_outside
            When no local third-party reporting service covers the point (and third-party reporting is
            wanted), up to this many of the nearest ones outside are added, labelled
            ``MatchReason.NEAREST_OUTSIDE`` with the geodesic distance to their coverage (or to their
            in-person point when their coverage has no geometry).

        Returns
        -------
        list[Match]
            Those covering the point, then those outside it. Within each: specialist matches first, then
            local before national, then nearest in-person point first (``distance_m``), then name and id.
        """
        wanted_strands, wanted_kinds = frozenset(strands), frozenset(kinds)
        local, national = self._covering(location, wanted_strands, wanted_kinds)

        ranked: list[tuple[tuple[object, ...], Match]] = []
        for positions, reason, locality in ((local, MatchReason.COVERS, 0), (national, MatchReason.NATIONAL, 1)):
            for position in positions:
                service = self._services[position]
                distance = self._in_person_distance(position, location)
                specialist = bool(wanted_strands & service.strands)
                key = (
                    0,
                    not specialist,
                    locality,
                    math.inf if distance is None else distance,
                    service.name,
                    service.id,
                )
                ranked.append((key, Match(service, reason, distance, specialist)))

        wants_reporting = not wanted_kinds or ServiceKind.THIRD_PARTY_REPORTING in wanted_kinds
        has_local_reporting = any(self._services[p].kind is ServiceKind.THIRD_PARTY_REPORTING for p in local)
        if nearest_outside > 0 and wants_reporting and not has_local_reporting and location.in_england_or_wales:
            for position, distance in self._nearest_outside(location, wanted_strands, local, nearest_outside):
                service = self._services[position]
                specialist = bool(wanted_strands & service.strands)
                key = (1, not specialist, 0, distance, service.name, service.id)
                ranked.append((key, Match(service, MatchReason.NEAREST_OUTSIDE, distance, specialist)))

        ranked.sort(key=lambda item: item[0])
        matches = [match for _, match in ranked]
        return matches if limit is None else matches[: max(limit, 0)]

    # --- internals -------------------------------------------------------------------------------------

    def _wanted(self, position: int, strands: frozenset[Strand], kinds: frozenset[ServiceKind]) -> bool:
        service = self._services[position]
        return (not kinds or service.kind in kinds) and service.serves(strands)

    def _covering(
        self, location: Location, strands: frozenset[Strand], kinds: frozenset[ServiceKind]
    ) -> tuple[set[int], set[int]]:
        nation = location.nation
        if nation is None:
            outside_kinds = OUTSIDE_ENGLAND_WALES_KINDS & kinds if kinds else OUTSIDE_ENGLAND_WALES_KINDS
            if not outside_kinds:
                return set(), set()
            national = {
                p
                for positions in self._by_nation.values()
                for p in positions
                if self._wanted(p, strands, outside_kinds)
            }
            return set(), national

        local: set[int] = set()
        if len(self._tree_geometries):
            point = Point(location.lon, location.lat)
            slots = self._tree.query(point)
            if len(slots):
                slots = slots[shapely.covers(self._tree_geometries[slots], point)]
            for slot in slots:
                local.update(self._tree_services[slot])
        for code in (location.lad_code, location.pfa_code):
            if code:
                local.update(self._by_code.get(code, ()))
        local = {p for p in local if self._wanted(p, strands, kinds)}

        national: set[int] = set()
        for applies in (nation, Nation.ENGLAND_AND_WALES):
            national.update(p for p in self._by_nation.get(applies, ()) if self._wanted(p, strands, kinds))
        return local, national

    def _in_person_distance(self, position: int, location: Location) -> float | None:
        points = self._in_person[position]
        if points is None:
            return None
        lats, lons = points
        _, _, distances = _WGS84.inv(np.full(len(lats), location.lon), np.full(len(lats), location.lat), lons, lats)
        return float(np.min(distances))

    def _nearest_outside(
        self, location: Location, strands: frozenset[Strand], matched: set[int], count: int
    ) -> list[tuple[int, float]]:
        """The ``count`` nearest third-party reporting services not covering the point, with geodesic metres.

        Candidates are ordered by the distance from the point to their bounding box (a lower bound), and exact
        distances are computed only until no remaining box can be nearer than the ``count``-th best.
        """
        candidates = [
            c for c in self._outside if c.position not in matched and self._services[c.position].serves(strands)
        ]
        if not candidates:
            return []
        e, n = (float(v) for v in wgs84_to_bng(location.lon, location.lat))
        bounds = np.array([c.bounds for c in candidates])
        dx = np.maximum(np.maximum(bounds[:, 0] - e, e - bounds[:, 2]), 0.0)
        dy = np.maximum(np.maximum(bounds[:, 1] - n, n - bounds[:, 3]), 0.0)
        lower = np.hypot(dx, dy)
        point = Point(e, n)
        best: list[tuple[float, int, BaseGeometry]] = []  # (BNG metres, position, nearest point in BNG)
        for i in np.argsort(lower, kind="stable"):
            if len(best) >= count and lower[i] > best[count - 1][0]:
                break
            candidate = candidates[i]
            distance, nearest = _nearest_bng(point, candidate)
            best.append((distance, candidate.position, nearest))
            best.sort(key=lambda item: item[0])
        out: list[tuple[int, float]] = []
        for _, position, nearest in best[:count]:
            lon, lat = (float(v) for v in bng_to_wgs84(nearest.x, nearest.y))
            out.append((position, float(geodesic((location.lat, location.lon), (lat, lon)).meters)))
        return out


def _outside_candidate(
    position: int,
    geometry: BaseGeometry | None,
    points: Sequence[Channel],
    bng_cache: dict[int, BaseGeometry],
) -> _Candidate | None:
    geometry_bng: BaseGeometry | None = None
    if geometry is not None and not geometry.is_empty:
        geometry_bng = bng_cache.get(id(geometry))
        if geometry_bng is None:
            geometry_bng = bng_cache[id(geometry)] = geometry_to_bng(geometry)
    lons = np.array([c.lon for c in points], dtype=float)
    lats = np.array([c.lat for c in points], dtype=float)
    points_bng = np.column_stack(wgs84_to_bng(lons, lats)) if len(lons) else np.empty((0, 2))
    if geometry_bng is None and not len(points_bng):
        return None  # nowhere to measure a distance to (area codes without boundaries, no address)
    boxes = [geometry_bng.bounds] if geometry_bng is not None else []
    if len(points_bng):
        boxes.append((*points_bng.min(axis=0), *points_bng.max(axis=0)))
    box = np.array(boxes, dtype=float)
    bounds = (float(box[:, 0].min()), float(box[:, 1].min()), float(box[:, 2].max()), float(box[:, 3].max()))
    return _Candidate(position, geometry_bng, points_bng, bounds)


def _nearest_bng(point: Point, candidate: _Candidate) -> tuple[float, Point]:
    """Distance (BNG metres) from ``point`` to the candidate's coverage or in-person points, and where."""
    best_distance, best_point = math.inf, point
    if candidate.geometry_bng is not None:
        line = shapely.shortest_line(point, candidate.geometry_bng)
        best_distance, best_point = float(line.length), Point(line.coords[1])
    if len(candidate.points_bng):
        offsets = np.hypot(candidate.points_bng[:, 0] - point.x, candidate.points_bng[:, 1] - point.y)
        i = int(np.argmin(offsets))
        if offsets[i] < best_distance:
            best_distance, best_point = float(offsets[i]), Point(candidate.points_bng[i])
    return best_distance, best_point
