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
from shapely.geometry import GeometryCollection, Point
from shapely.geometry.base import BaseGeometry, BaseMultipartGeometry

from mapping.coverage import AreaGeometryLookup, CoverageCache
from mapping.crs import bng_to_wgs84, wgs84_to_bng
from mapping.types import (
    AgeBand,
    AreaCoverage,
    Channel,
    Location,
    LocationSource,
    Match,
    MatchReason,
    Nation,
    NationalCoverage,
    ServiceKind,
    ServiceRecord,
    ServiceStatus,
    Strand,
)

__all__ = ["OUTSIDE_ENGLAND_WALES_KINDS", "AgeBand", "SignpostIndex", "directory_snapshot_key"]

# Outside England and Wales nothing in the directory applies except the emergency routes: 999/112 reach the
# police wherever the caller is in the UK. Police non-emergency routes, True Vision and the support services
# are those of England and Wales; a person in Scotland or Northern Ireland is told (by the bot) to contact
# Police Scotland or the PSNI, whose own routes the directory does not hold.
OUTSIDE_ENGLAND_WALES_KINDS: frozenset[ServiceKind] = frozenset({ServiceKind.EMERGENCY})

NEAREST_OUTSIDE_COUNT = 3  # enough to offer a choice without burying the person's own options
_PIECE_VERTICES = 16  # outline pieces for nearest-outside distances: short enough to measure cheaply
_FIRST_RADIUS_M = 2_000.0  # the first search circle for the nearest outside; widened as needed

_WGS84 = Geod(ellps="WGS84")
# One geopy measure reused: a fresh ``geodesic(a, b)`` builds its ellipsoid's series coefficients every call (a
# third of its cost). ``measure`` returns kilometres, the same number ``geodesic(a, b).km`` holds.
_GEODESIC = geodesic()


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
    target: BaseGeometry  # its coverage and in-person points together, in BNG metres: what distance is measured to


_KINDS: tuple[ServiceKind, ...] = tuple(ServiceKind)
# Among otherwise equal matches, what a person who has just been targeted most likely needs first: somewhere to
# report without the police, then support, then the police's own routes, then general lines.
_KIND_PRIORITY: tuple[ServiceKind, ...] = (
    ServiceKind.THIRD_PARTY_REPORTING,
    ServiceKind.VICTIM_SUPPORT,
    ServiceKind.ONLINE_REPORTING,
    ServiceKind.POLICE,
    ServiceKind.SPECIALIST_SUPPORT,
    ServiceKind.HELPLINE,
    ServiceKind.EMOTIONAL_SUPPORT,
    ServiceKind.EMERGENCY,
)
_STRAND_BITS: dict[Strand, int] = {strand: 1 << i for i, strand in enumerate(Strand)}
_EMPTY = np.empty(0, dtype=np.int64)


def _strand_mask(strands: Iterable[Strand]) -> int:
    mask = 0
    for strand in strands:
        mask |= _STRAND_BITS[Strand(strand)]
    return mask


def _positions(values: Iterable[int]) -> np.ndarray:
    return np.fromiter(values, dtype=np.int64)


class SignpostIndex:
    """Active services of one directory snapshot, ready to answer "who can help at this point?".

    Build it with :meth:`build`; it is immutable and safe to share between threads. Services are kept in id
    order and referred to by position, so that the per-query work (filters, distances, ranking) runs on
    numpy arrays rather than on Python objects.
    """

    def __init__(
        self,
        *,
        services: tuple[ServiceRecord, ...],
        tree_geometries: list[BaseGeometry],
        tree_services: list[list[int]],
        by_code: dict[str, list[int]],
        by_nation: dict[Nation, list[int]],
        outside_candidates: tuple[_Candidate, ...],
        version: str,
        boundaries_loaded: bool,
    ) -> None:
        self._services = services
        self._tree_geometries = np.array(tree_geometries, dtype=object)
        shapely.prepare(self._tree_geometries)  # point-in-polygon on an indexed copy of each outline
        self._tree = STRtree(self._tree_geometries)
        self._tree_services = tuple(_positions(p) for p in tree_services)
        self._by_code = {code: _positions(p) for code, p in by_code.items()}
        self._by_nation = {nation: _positions(p) for nation, p in by_nation.items()}
        self._all_national = np.unique(np.concatenate([_EMPTY, *self._by_nation.values()]))
        self._kind_codes = _positions(_KINDS.index(s.kind) for s in services)
        self._strand_masks = _positions(_strand_mask(s.strands) for s in services)
        self._kind_rank = _positions(_KIND_PRIORITY.index(s.kind) for s in services)
        self._caveated = _positions(int(bool(s.caveat)) for s in services)
        self._unconfirmed = np.array([not s.confirmed for s in services], dtype=bool)
        # Rank by (name, id), so that ties are broken stably whatever order the directory came in.
        order = sorted(range(len(services)), key=lambda p: (services[p].name, services[p].id))
        self._name_rank = np.empty(len(services), dtype=np.int64)
        self._name_rank[order] = np.arange(len(services))
        owners = [p for p, s in enumerate(services) for _ in s.in_person]
        self._person_owner = _positions(owners)
        self._person_lat = np.array([c.lat for s in services for c in s.in_person], dtype=float)
        self._person_lon = np.array([c.lon for s in services for c in s.in_person], dtype=float)
        self._has_person = np.zeros(len(services), dtype=bool)
        self._has_person[self._person_owner] = True
        self._outside_positions = _positions(c.position for c in outside_candidates)
        # Distances to large polygons cost their whole outline, so each outline is cut into short pieces: a query
        # measures only the pieces whose boxes are near, as a segment index would.
        pieces = [(row, piece) for row, c in enumerate(outside_candidates) for piece in _pieces(c.target)]
        self._piece_owner = _positions(row for row, _ in pieces)
        self._pieces = np.array([piece for _, piece in pieces], dtype=object)
        self._piece_tree = STRtree(self._pieces)
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
        # A demonstration entry (the template's example row, an old install's shipped examples) is never an answer.
        active = tuple(
            sorted((s for s in services if s.status is ServiceStatus.ACTIVE and not s.is_example), key=lambda s: s.id)
        )
        local = [s for s in active if not isinstance(s.coverage, NationalCoverage)]
        resolved = dict(zip((id(s) for s in local), cache.resolve_many([s.coverage for s in local]), strict=True))

        geometry_slot: dict[int, int] = {}  # id() of a resolved geometry -> its slot in the tree
        tree_geometries: list[BaseGeometry] = []
        tree_services: list[list[int]] = []
        by_code: dict[str, list[int]] = {}
        by_nation: dict[Nation, list[int]] = {}
        outside: list[_Candidate] = []

        for position, service in enumerate(active):
            coverage = service.coverage
            if isinstance(coverage, NationalCoverage):
                by_nation.setdefault(coverage.nation, []).append(position)
                continue
            if isinstance(coverage, AreaCoverage):
                for code in coverage.area_codes:
                    by_code.setdefault(code.strip().upper(), []).append(position)
            geometry = resolved[id(service)]
            if geometry is not None and not geometry.is_empty:
                # Services sharing a coverage spec share one resolved object: one slot in the tree for them all.
                slot = geometry_slot.setdefault(id(geometry), len(tree_geometries))
                if slot == len(tree_geometries):
                    tree_geometries.append(geometry)
                    tree_services.append([])
                tree_services[slot].append(position)
            # Only for residents: no help to someone outside its area, so never "nearest outside".
            if service.kind is ServiceKind.THIRD_PARTY_REPORTING and not service.residents_only:
                candidate = _outside_candidate(position, cache.resolve_bng(coverage), service.in_person)
                if candidate is not None:
                    outside.append(candidate)

        return cls(
            services=active,
            tree_geometries=tree_geometries,
            tree_services=tree_services,
            by_code=by_code,
            by_nation=by_nation,
            outside_candidates=tuple(outside),
            version=directory_snapshot_key(services, areas_key=areas_key),
            boundaries_loaded=areas is not None,
        )

    @property
    def version(self) -> str:
        """The :func:`directory_snapshot_key` of the services this index was built from."""
        return self._version

    @property
    def services(self) -> tuple[ServiceRecord, ...]:
        """The active services indexed, in id order."""
        return self._services

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
        local, national = self._covering(location, _strand_mask(strands), frozenset(kinds))
        return [self._services[p] for p in np.union1d(local, national)]

    def outside_england_wales(
        self,
        *,
        strands: Collection[Strand] = (),
        kinds: Collection[ServiceKind] = (),
        limit: int | None = None,
    ) -> list[Match]:
        """What applies to someone outside England and Wales (Scotland, Northern Ireland, the islands, at sea).

        Only the national services of the kinds in :data:`OUTSIDE_ENGLAND_WALES_KINDS` (999/112 reach the
        police anywhere in the UK); the caller tells the person to contact their own police service for the
        rest. The same answer as :meth:`find` gives for a location whose LAD code is not an E/W code; no
        coordinates are needed.
        """
        nowhere = Location(math.nan, math.nan, LocationSource.GPS, math.inf)
        return self.find(nowhere, strands=strands, kinds=kinds, limit=limit)

    def find(
        self,
        location: Location,
        *,
        strands: Collection[Strand] = (),
        kinds: Collection[ServiceKind] = (),
        limit: int | None = None,
        nearest_outside: int = NEAREST_OUTSIDE_COUNT,
        communities: Collection[str] = (),
        age: AgeBand | None = None,
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
        communities
            The communities (keys of ``mapping.types.COMMUNITIES``) the person said they belong to, if any.
        age
            The person's age band, ``(youngest, oldest)`` inclusive (``oldest`` None: no upper end), if they gave
            one: a service with age limits is for them when the whole band is inside its limits.
        nearest_outside
            When no local third-party reporting service covers the point (and third-party reporting is
            wanted), up to this many of the nearest ones outside are added, labelled
            ``MatchReason.NEAREST_OUTSIDE`` with the geodesic distance to their coverage (or to their
            in-person point when their coverage has no geometry).

        Returns
        -------
        list[Match]
            Those covering the point, then those outside it. Within each: a service limited to communities
            the person did not say they belong to (e.g. Gypsy, Roma and Traveller people only), or to ages
            outside the band they gave (or when they gave none), after all others; then specialist matches
            first (a service for a community or ages the person said are theirs is one), then local before
            national, then entries the commissioner confirmed before unconfirmed ones (from a public page),
            then nearest in-person point first
            (``distance_m``), then (with no strand chosen) services for everyone before single-strand ones,
            confirmed details before caveated ones, then by kind (third-party reporting, victim support,
            online reporting, police, ...), then name and id.
        """
        wanted_mask, wanted_kinds = _strand_mask(strands), frozenset(kinds)
        local, national = self._covering(location, wanted_mask, wanted_kinds)
        positions = np.concatenate([local, national])
        locality = np.concatenate([np.zeros(len(local), dtype=np.int64), np.ones(len(national), dtype=np.int64)])
        distances = self._in_person_distances(positions, location)
        # Someone who said they are who a service is for is its specialist match; anyone else is offered it after
        # the services for everyone (it would not take them).
        for_them, elsewhere = self._eligibility(positions, frozenset(communities), age)
        specialist = ((self._strand_masks[positions] & wanted_mask) != 0) | for_them
        # With no strand chosen, services for everyone come before services for one community.
        narrow = (self._strand_masks[positions] != 0) & (wanted_mask == 0)
        order = np.lexsort(
            (
                self._name_rank[positions],
                self._kind_rank[positions],
                self._caveated[positions],  # details a person has confirmed before those still to check
                narrow,
                distances,
                self._unconfirmed[positions],
                locality,
                ~specialist,
                elsewhere,
            )
        )
        reasons = (MatchReason.COVERS, MatchReason.NATIONAL)
        order = order[:limit]
        services = self._services
        matches = [
            Match(services[position], reasons[local_or_national], None if math.isinf(metres) else metres, special)
            for position, local_or_national, metres, special in zip(
                positions[order].tolist(),
                locality[order].tolist(),
                distances[order].tolist(),
                specialist[order].tolist(),
                strict=True,
            )
        ]

        wants_reporting = not wanted_kinds or ServiceKind.THIRD_PARTY_REPORTING in wanted_kinds
        reporting = _KINDS.index(ServiceKind.THIRD_PARTY_REPORTING)
        has_local_reporting = bool(np.any(self._kind_codes[local] == reporting))
        room = len(matches) < limit if limit is not None else True
        if nearest_outside > 0 and wants_reporting and not has_local_reporting and room and location.nation:
            matches.extend(self._outside_matches(location, wanted_mask, local, nearest_outside))
        return matches if limit is None else matches[: max(limit, 0)]

    # --- internals -------------------------------------------------------------------------------------

    def _outside_matches(self, location: Location, wanted_mask: int, local: np.ndarray, count: int) -> list[Match]:
        """The nearest reporting services outside the point, labelled so: specialists first, then nearest."""
        outside = []
        for position, distance in self._nearest_outside(location, wanted_mask, local, count):
            service = self._services[position]
            is_specialist = bool(self._strand_masks[position] & wanted_mask)
            key = (not is_specialist, distance, int(self._name_rank[position]))
            outside.append((key, Match(service, MatchReason.NEAREST_OUTSIDE, distance, is_specialist)))
        outside.sort(key=lambda item: item[0])
        return [match for _, match in outside]

    def _eligibility(
        self, positions: np.ndarray, communities: frozenset[str], age: AgeBand | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per service: limited to people the person said they are (a community of theirs, limits their age band
        is inside), and limited to people they did not say they are."""
        fits = [self._services[position].eligible(communities, age) for position in positions.tolist()]
        return np.array([f is True for f in fits], dtype=bool), np.array([f is False for f in fits], dtype=bool)

    def _wanted(self, positions: np.ndarray, strand_mask: int, kinds: frozenset[ServiceKind]) -> np.ndarray:
        """``positions`` restricted to the wanted kinds and to services that serve the wanted strands."""
        if kinds and len(positions):
            allowed = np.array([kind in kinds for kind in _KINDS])
            positions = positions[allowed[self._kind_codes[positions]]]
        if strand_mask and len(positions):
            masks = self._strand_masks[positions]
            positions = positions[(masks == 0) | ((masks & strand_mask) != 0)]
        return positions

    def _covering(
        self, location: Location, strand_mask: int, kinds: frozenset[ServiceKind]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the local and of the national services covering ``location``, each in id order."""
        nation = location.nation
        if nation is None:
            outside_kinds = OUTSIDE_ENGLAND_WALES_KINDS & kinds if kinds else OUTSIDE_ENGLAND_WALES_KINDS
            if not outside_kinds:
                return _EMPTY, _EMPTY
            return _EMPTY, self._wanted(self._all_national, strand_mask, outside_kinds)

        parts = [_EMPTY]
        if len(self._tree_geometries):
            point = Point(location.lon, location.lat)
            slots = self._tree.query(point)
            if len(slots):
                slots = slots[shapely.covers(self._tree_geometries[slots], point)]
            parts.extend(self._tree_services[slot] for slot in slots)
        for code in (location.lad_code, location.pfa_code):
            if code and code in self._by_code:
                parts.append(self._by_code[code])
        local = self._wanted(np.unique(np.concatenate(parts)), strand_mask, kinds)
        national = np.unique(
            np.concatenate([_EMPTY, *(self._by_nation.get(n, _EMPTY) for n in (nation, Nation.ENGLAND_AND_WALES))])
        )
        return local, self._wanted(national, strand_mask, kinds)

    def _in_person_distances(self, positions: np.ndarray, location: Location) -> np.ndarray:
        """Geodesic metres from ``location`` to each service's nearest in-person point (inf when it has none)."""
        out = np.full(len(positions), np.inf)
        with_person = self._has_person[positions]
        if not with_person.any():
            return out
        slot_of = np.full(len(self._services), -1, dtype=np.int64)
        slot_of[positions] = np.arange(len(positions))
        rows = np.flatnonzero(slot_of[self._person_owner] >= 0)
        lats, lons = self._person_lat[rows], self._person_lon[rows]
        _, _, metres = _WGS84.inv(np.full(len(rows), location.lon), np.full(len(rows), location.lat), lons, lats)
        np.minimum.at(out, slot_of[self._person_owner[rows]], np.asarray(metres, dtype=float))
        return out

    def _nearest_outside(
        self, location: Location, strand_mask: int, matched: np.ndarray, count: int
    ) -> list[tuple[int, float]]:
        """The ``count`` nearest third-party reporting services not covering the point, with geodesic metres.

        Each candidate's outline (and in-person points) is cut into short pieces in one STRtree; pieces within
        a search radius (``dwithin``, in BNG metres) are measured, widening the radius until it holds ``count``
        services. The geodesic distance is computed only for the ones returned.
        """
        positions = self._outside_positions
        matched_mask = np.zeros(len(self._services), dtype=bool)
        matched_mask[matched] = True
        keep = ~matched_mask[positions]  # a mask lookup: np.isin loops in Python when few services matched
        if strand_mask:
            masks = self._strand_masks[positions]
            keep &= (masks == 0) | ((masks & strand_mask) != 0)
        wanted = min(count, int(keep.sum()))
        if not wanted:
            return []
        e, n = (float(v) for v in wgs84_to_bng(location.lon, location.lat))
        point = Point(e, n)
        # Widen a search circle from the nearest piece of any outline until it holds ``count`` services: every
        # service nearer than the circle's radius then has a piece inside it, so none can be missed.
        _, closest = self._piece_tree.query_nearest(point, return_distance=True, all_matches=False)
        radius = max(float(closest[0]) * 2, _FIRST_RADIUS_M)
        kept_pieces = int(np.count_nonzero(keep[self._piece_owner]))
        best = np.full(len(positions), np.inf)  # per candidate: metres to its nearest piece
        best_piece = np.full(len(positions), -1, dtype=np.int64)
        while True:
            hits = self._piece_tree.query(point, predicate="dwithin", distance=radius)
            hits = hits[keep[self._piece_owner[hits]]]
            metres = shapely.distance(self._pieces[hits], point)
            owners = self._piece_owner[hits]
            np.minimum.at(best, owners, metres)
            nearest_piece = metres == best[owners]
            best_piece[owners[nearest_piece]] = hits[nearest_piece]
            if np.count_nonzero(best <= radius) >= wanted or len(hits) == kept_pieces:
                break
            radius *= 4
        found = np.flatnonzero(np.isfinite(best))
        chosen = found[np.lexsort((self._name_rank[positions[found]], best[found]))][:count]
        # The nearest point of each chosen outline, back in WGS84 in one transform; geopy gives the distance told.
        ends = shapely.get_coordinates(shapely.shortest_line(point, self._pieces[best_piece[chosen]]))[1::2]
        lons, lats = bng_to_wgs84(ends[:, 0], ends[:, 1])
        here = (location.lat, location.lon)
        return [
            (int(positions[row]), _GEODESIC.measure(here, (lat, lon)) * 1000.0)
            for row, lon, lat in zip(chosen.tolist(), lons.tolist(), lats.tolist(), strict=True)
        ]


def _outside_candidate(
    position: int, geometry_bng: BaseGeometry | None, points: Sequence[Channel]
) -> _Candidate | None:
    parts: list[BaseGeometry] = [geometry_bng] if geometry_bng is not None else []
    if points:
        eastings, northings = wgs84_to_bng(np.array([c.lon for c in points]), np.array([c.lat for c in points]))
        parts.extend(shapely.points(np.column_stack([eastings, northings])))
    if not parts:
        return None  # nowhere to measure a distance to (area codes without boundaries, no address)
    return _Candidate(position, parts[0] if len(parts) == 1 else shapely.GeometryCollection(parts))


def _pieces(target: BaseGeometry) -> list[BaseGeometry]:
    """The outline of ``target`` (rings, lines and points) cut into pieces of at most ``_PIECE_VERTICES``."""
    out: list[BaseGeometry] = []
    for part in shapely.get_parts(target):
        if isinstance(part, BaseMultipartGeometry | GeometryCollection):
            out.extend(_pieces(part))
            continue
        if part.is_empty:
            continue
        if isinstance(part, Point):
            out.append(part)
            continue
        lines = shapely.get_rings(part) if part.geom_type == "Polygon" else [part]
        for line in lines:
            out.extend(_cut(shapely.get_coordinates(line)))
    return out


def _cut(coords: np.ndarray) -> list[BaseGeometry]:
    """A line's vertices as consecutive pieces of ``_PIECE_VERTICES`` sharing their end points (one C call)."""
    if len(coords) < 2:
        return list(shapely.points(coords))
    starts = np.arange(0, len(coords) - 1, _PIECE_VERTICES - 1)
    lengths = np.minimum(starts + _PIECE_VERTICES, len(coords)) - starts
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    vertices = np.repeat(starts, lengths) + offsets
    return list(shapely.linestrings(coords[vertices], indices=np.repeat(np.arange(len(starts)), lengths)))
