"""Coverage per area and strand on small hand-made geographies whose answers are known exactly."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box, mapping
from shapely.geometry.base import BaseGeometry

from mapping.crs import bng_to_wgs84, geometry_to_wgs84
from mapping.gaps import (
    ANY,
    AreaUnit,
    CoverageInputError,
    Geography,
    GeographyBasis,
    compute_coverage,
)
from mapping.population import PopulationBasis, PopulationPoints, PostcodePoints
from mapping.types import (
    AreaCoverage,
    Nation,
    NationalCoverage,
    PolygonCoverage,
    RadiusCoverage,
    ServiceKind,
    ServiceStatus,
    Strand,
)
from tests.services_db.factories import make_service

X0, Y0 = 400_000.0, 300_000.0  # somewhere in the English Midlands, BNG metres
KM = 1000.0
L1, L2, L3 = "E06000001", "E06000002", "W06000001"
P1, P2 = "E23000001", "W15000001"
TPR = ServiceKind.THIRD_PARTY_REPORTING


def _box(x1: float, y1: float, x2: float, y2: float) -> BaseGeometry:
    return box(X0 + x1 * KM, Y0 + y1 * KM, X0 + x2 * KM, Y0 + y2 * KM)


def toy_geography() -> Geography:
    """Two force areas: P1 (England: LADs L1 and L2, 10 x 10 km each) and P2 (Wales: L3, 10 x 10 km)."""
    lads = (
        AreaUnit(L1, "One", "lad", _box(0, 0, 10, 10), P1),
        AreaUnit(L2, "Two", "lad", _box(10, 0, 20, 10), P1),
        AreaUnit(L3, "Three", "lad", _box(20, 0, 30, 10), P2),
    )
    pfas = (
        AreaUnit(P1, "Force One", "pfa", _box(0, 0, 20, 10)),
        AreaUnit(P2, "Force Two", "pfa", _box(20, 0, 30, 10)),
    )
    return Geography(pfas, lads, GeographyBasis.BOUNDARIES, "toy")


def toy_population() -> PopulationPoints:
    # (x km, y km, people): two in L1, one on the L2 side of the edge a polygon stops at, one in L3, and a
    # "coastal" point just outside every area (west of L1), which must join its nearest area, L1.
    pts = [(2, 5, 100), (8, 5, 300), (15, 5, 200), (25, 5, 50), (-0.1, 9.5, 7)]
    return PopulationPoints(
        codes=np.array([f"E0100000{i}" for i in range(len(pts))]),
        easting=np.array([X0 + p[0] * KM for p in pts]),
        northing=np.array([Y0 + p[1] * KM for p in pts]),
        population=np.array([float(p[2]) for p in pts]),
        basis=PopulationBasis("toy residents", "residents", "toy", False),
    )


def wgs84(x_km: float, y_km: float) -> tuple[float, float]:
    lon, lat = bng_to_wgs84(X0 + x_km * KM, Y0 + y_km * KM)
    return float(lat), float(lon)


def polygon_cov(geometry: BaseGeometry) -> PolygonCoverage:
    return PolygonCoverage(mapping(geometry_to_wgs84(geometry)))


def radius_cov(x_km: float, y_km: float, radius_km: float) -> RadiusCoverage:
    lat, lon = wgs84(x_km, y_km)
    return RadiusCoverage(lat, lon, radius_km * KM)


def toy_services() -> list:
    return [
        # A: 3 km around (2, 5) for race: covers the 100 only; 1 km of it spills west out of L1.
        make_service("a", kind=TPR, strands={Strand.RACE}, coverage=radius_cov(2, 5, 3)),
        # B: the square from x=5 to x=15, every strand: the 300, and the 200 exactly on its east edge.
        make_service("b", kind=TPR, coverage=polygon_cov(_box(5, 0, 15, 10))),
        # C: the Welsh district, by code, for disability.
        make_service("c", kind=TPR, strands={Strand.DISABILITY}, coverage=AreaCoverage((L3,))),
        # Not counted by default: another kind, and a closed service.
        make_service("d", kind=ServiceKind.ONLINE_REPORTING, coverage=NationalCoverage(Nation.ENGLAND)),
        make_service("e", kind=TPR, status=ServiceStatus.CLOSED, coverage=radius_cov(15, 5, 50)),
    ]


def row(result, level: str, code: str, strand: str):
    (found,) = [r for r in result.rows if r.level == level and r.code == code and r.strand == strand]
    return found


def segment_area(r: float, d: float) -> float:
    """Area of the part of a circle of radius r beyond a chord at distance d from the centre."""
    return r * r * math.acos(d / r) - d * math.sqrt(r * r - d * d)


def test_population_covered_per_lad_and_strand() -> None:
    result = compute_coverage(toy_services(), toy_population(), toy_geography())
    one_race = row(result, "lad", L1, "race")
    assert one_race.population == 407  # the coastal 7 joined L1
    assert one_race.population_covered == 400
    assert row(result, "lad", L1, "religion").population_covered == 300
    assert row(result, "lad", L1, ANY).population_covered == 400
    assert row(result, "lad", L2, "religion").population_covered == 200  # covers: on the edge is inside
    assert row(result, "lad", L3, "disability").population_covered == 50  # by code
    assert row(result, "lad", L3, "race").population_covered == 0


def test_area_covered_is_exact_in_bng() -> None:
    result = compute_coverage(toy_services(), toy_population(), toy_geography())
    circle_in_l1 = math.pi * 3**2 - segment_area(3, 2)  # km2; the polygon circle is within 0.5% of it
    race = row(result, "lad", L1, "race")
    assert race.area_km2 == pytest.approx(100)
    assert race.area_covered_km2 == pytest.approx(50 + circle_in_l1, rel=5e-3)
    assert row(result, "lad", L1, "religion").area_covered_km2 == pytest.approx(50, rel=1e-6)
    assert row(result, "lad", L2, ANY).area_covered_km2 == pytest.approx(50, rel=1e-6)
    assert row(result, "lad", L3, "disability").area_covered_km2 == pytest.approx(100)
    assert row(result, "pfa", P1, "religion").area_covered_km2 == pytest.approx(100, rel=1e-6)
    assert row(result, "pfa", P2, "disability").pct_area == pytest.approx(100)


def test_force_area_totals_are_sums_of_their_districts() -> None:
    result = compute_coverage(toy_services(), toy_population(), toy_geography())
    for strand in result.strands:
        p1 = row(result, "pfa", P1, strand)
        lads = [row(result, "lad", code, strand) for code in (L1, L2)]
        assert p1.population == sum(r.population for r in lads) == 607
        assert p1.population_covered == sum(r.population_covered for r in lads)
    assert result.totals() == (657, 650)
    assert result.totals("race") == (657, 600)


def test_service_counts_and_areas_with_no_coverage() -> None:
    result = compute_coverage(toy_services(), toy_population(), toy_geography())
    assert row(result, "lad", L1, ANY).services == 2
    assert row(result, "lad", L1, "religion").services == 1
    assert row(result, "lad", L2, "race").services == 1  # A's circle stops 5 km short of L2
    assert row(result, "pfa", P2, "disability").services == 1
    assert result.uncovered_areas("lad", "race") == ("Three",)
    assert result.uncovered_areas("pfa", "race") == ("Force Two",)
    assert result.uncovered_areas("lad", ANY) == ()
    assert row(result, "lad", L3, "race").no_coverage


def test_gaps_are_area_minus_coverage_with_population_inside() -> None:
    result = compute_coverage(toy_services(), toy_population(), toy_geography())
    (gap,) = [g for g in result.gaps if g.level == "lad" and g.code == L1 and g.strand == "religion"]
    assert gap.area_km2 == pytest.approx(50, rel=1e-6)
    assert gap.population == 107
    # WGS84 out: the gap is the western half of L1.
    west = geometry_to_wgs84(_box(0, 0, 5, 10))
    assert shapely.equals_exact(shapely.normalize(gap.geometry), shapely.normalize(west), tolerance=1e-6)
    assert not [g for g in result.gaps if g.code == L3 and g.strand == "disability"]


def test_a_gap_in_two_pieces_gives_each_its_own_people() -> None:
    strip = make_service("strip", kind=TPR, coverage=polygon_cov(_box(3, 0, 7, 10)))
    result = compute_coverage([strip], toy_population(), toy_geography())
    pieces = [g for g in result.gaps if g.level == "lad" and g.code == L1 and g.strand == ANY]
    # East (x 7-10) holds the 300; west (x 0-3) the 100 and the coastal 7, which joins its nearest piece.
    assert [(g.part, g.parts, g.population) for g in pieces] == [(1, 2, 300), (2, 2, 107)]
    assert [g.area_km2 for g in pieces] == pytest.approx([30, 30], rel=1e-6)
    assert sum(g.population for g in pieces) == row(result, "lad", L1, ANY).population


def test_kind_filter_and_national_services() -> None:
    services = [*toy_services(), make_service("n", kind=TPR, strands={Strand.SEXUAL_ORIENTATION})]
    with_national = compute_coverage(services, toy_population(), toy_geography())
    assert row(with_national, "lad", L3, "sexual_orientation").population_covered == 50
    assert row(with_national, "lad", L3, "sexual_orientation").area_covered_km2 == pytest.approx(100)
    assert [s.id for s in with_national.national_services] == ["n"]
    local_only = compute_coverage(services, toy_population(), toy_geography(), include_national=False)
    assert row(local_only, "lad", L3, "sexual_orientation").population_covered == 0
    every_kind = compute_coverage(toy_services(), toy_population(), toy_geography(), kinds=())
    # The England-only online service now counts: every English point is covered, Wales is not.
    assert row(every_kind, "pfa", P1, "religion").population_covered == 607
    assert row(every_kind, "pfa", P2, "religion").population_covered == 0


def test_shipped_example_entries_are_not_coverage() -> None:
    example = make_service("example-everywhere", kind=TPR, coverage=radius_cov(15, 5, 50))
    with_example = compute_coverage([*toy_services(), example], toy_population(), toy_geography())
    without = compute_coverage(toy_services(), toy_population(), toy_geography())
    assert with_example.rows == without.rows
    assert "example-everywhere" not in {s.id for s in with_example.services}


def test_strand_selection_limits_any() -> None:
    result = compute_coverage(toy_services(), toy_population(), toy_geography(), strands=[Strand.DISABILITY])
    assert result.strands == ("disability", ANY)
    assert row(result, "lad", L1, ANY).population_covered == 300  # A is race-only: not counted here
    assert row(result, "lad", L1, ANY).services == 1


def test_area_codes_of_districts_cover_part_of_their_force_area() -> None:
    services = [make_service("l2", kind=TPR, coverage=AreaCoverage((L2,)))]
    result = compute_coverage(services, toy_population(), toy_geography())
    assert row(result, "pfa", P1, ANY).population_covered == 200
    assert row(result, "pfa", P1, ANY).area_covered_km2 == pytest.approx(100)
    assert row(result, "pfa", P1, ANY).services == 1
    by_force = compute_coverage(
        [make_service("p1", kind=TPR, coverage=AreaCoverage((P1,)))], toy_population(), toy_geography()
    )
    assert row(by_force, "lad", L1, ANY).population_covered == 407
    assert row(by_force, "lad", L1, ANY).services == 1
    assert row(by_force, "lad", L3, ANY).services == 0


LINE = [[-1.5, 52.0], [-1.4, 52.1]]
SWAPPED = [[[52.0, -1.5], [52.1, -1.5], [52.1, -1.4], [52.0, -1.5]]]


@pytest.mark.parametrize(
    ("coverage", "field", "words"),
    [
        (PolygonCoverage({"type": "LineString", "coordinates": LINE}), "geojson", "not an area"),
        (PolygonCoverage({"type": "Polygon", "coordinates": SWAPPED}), "geojson", "longitude first"),
        (PolygonCoverage({"type": "Polygon", "coordinates": "nonsense"}), "geojson", "readable"),
        (RadiusCoverage(-1.5, 52.0, 5000), "lat/lon", "swapped"),
        (RadiusCoverage(52.0, -1.5, -5), "radius_m", "positive"),
        (AreaCoverage(("E99999999",)), "area_codes", "E99999999"),
    ],
)
def test_unusable_coverage_is_reported_by_service_and_field(coverage, field: str, words: str) -> None:
    services = [*toy_services(), make_service("bad", name="Bad Centre", kind=TPR, coverage=coverage)]
    with pytest.raises(CoverageInputError) as caught:
        compute_coverage(services, toy_population(), toy_geography())
    (problem,) = caught.value.problems
    assert problem.service_id == "bad"
    assert field in problem.field
    assert words in problem.message
    assert "Bad Centre" in str(caught.value)


@dataclass
class _Boundary:
    code: str
    name: str
    geometry: BaseGeometry


def test_geography_from_wgs84_boundaries_finds_each_districts_force() -> None:
    toy = toy_geography()
    geography = Geography.from_boundaries(
        pfas=[_Boundary(u.code, u.name, geometry_to_wgs84(u.geometry)) for u in toy.pfas],
        lads=[
            *[_Boundary(u.code, u.name, geometry_to_wgs84(u.geometry)) for u in toy.lads],
            _Boundary("S12000033", "Scottish", geometry_to_wgs84(_box(0, 100, 10, 110))),
        ],
    )
    assert [(u.code, u.parent_code) for u in geography.lads] == [(L1, P1), (L2, P1), (L3, P2)]
    assert geography.lads[0].geometry.area == pytest.approx(100 * KM * KM, rel=1e-6)
    result = compute_coverage(toy_services(), toy_population(), geography)
    assert row(result, "lad", L1, "race").population_covered == 400


def test_grid_geography_from_postcodes() -> None:
    # Postcodes: 3 in one 5 km square of L1, 1 of L2 in that same square (minority), 2 in a square of L2.
    e = np.array([X0 + 1000, X0 + 1200, X0 + 1300, X0 + 1400, X0 + 6000, X0 + 7000])
    n = np.full(6, Y0 + 1000)
    postcodes = PostcodePoints(
        postcodes=np.array(["A", "B", "C", "D", "E", "F"]),
        lad_codes=np.array([L1, L1, L1, L2, L2, L2]),
        easting=e,
        northing=n,
        vintage="toy",
    )
    pfa_of = {L1: P1, L2: P1}
    geography = Geography.grid(postcodes, pfa_for_lad=pfa_of.get, names={L1: "One", P1: "Force One"})
    assert geography.basis is GeographyBasis.GRID
    lads = {u.code: u for u in geography.lads}
    assert lads[L1].geometry.area == pytest.approx(25 * KM * KM)
    assert lads[L1].geometry.bounds == (X0, Y0, X0 + 5 * KM, Y0 + 5 * KM)
    assert lads[L2].name == L2  # no name known: the code stands in
    assert geography.pfas[0].geometry.area == pytest.approx(50 * KM * KM)
    assert "5 km" in geography.note
    people = PopulationPoints(
        codes=np.array(["p", "q"]),
        easting=np.array([X0 + 1400, X0 + 100]),
        northing=np.array([Y0 + 1000, Y0 + 100]),
        population=np.array([10.0, 5.0]),
        basis=PopulationBasis("toy", "residents", "toy", False),
        lad_codes=np.array([L2, L1]),  # in grid mode the source's LAD wins over the blocky shapes
    )
    result = compute_coverage([make_service("x", kind=TPR, coverage=AreaCoverage((L2,)))], people, geography)
    assert row(result, "lad", L2, ANY).population_covered == 10
    assert row(result, "lad", L1, ANY).population_covered == 0


@settings(max_examples=40, deadline=None)
@given(
    centres=st.lists(
        st.tuples(st.floats(-2, 32), st.floats(-2, 12), st.floats(0.5, 8), st.sampled_from(list(Strand))),
        min_size=1,
        max_size=6,
    ),
    people=st.lists(st.tuples(st.floats(0, 29.99), st.floats(0, 9.99), st.integers(0, 1000)), min_size=1, max_size=40),
)
def test_population_covered_matches_a_brute_force_count(centres, people) -> None:
    population = PopulationPoints(
        codes=np.array([str(i) for i in range(len(people))]),
        easting=np.array([X0 + p[0] * KM for p in people]),
        northing=np.array([Y0 + p[1] * KM for p in people]),
        population=np.array([float(p[2]) for p in people]),
        basis=PopulationBasis("toy", "residents", "toy", False),
    )
    services = [
        make_service(f"s{i}", kind=TPR, strands={strand}, coverage=radius_cov(x, y, r))
        for i, (x, y, r, strand) in enumerate(centres)
    ]
    result = compute_coverage(services, population, toy_geography(), gaps=False)
    ex, ny = population.easting, population.northing
    for strand in Strand:
        covered = np.zeros(len(people), dtype=bool)
        for x, y, r, s in centres:
            if s is strand:
                # The service centre went through WGS84 and back: allow a millimetre at the edge.
                covered |= np.hypot(ex - (X0 + x * KM), ny - (Y0 + y * KM)) <= r * KM - 1e-3
        assert result.totals(strand.value)[1] >= population.population[covered].sum()
        loose = np.zeros(len(people), dtype=bool)
        for x, y, r, s in centres:
            if s is strand:
                loose |= np.hypot(ex - (X0 + x * KM), ny - (Y0 + y * KM)) <= r * KM + 1e-3
        assert result.totals(strand.value)[1] <= population.population[loose].sum()


def test_many_unusable_services_are_summarised_not_listed_whole() -> None:
    lost = [
        make_service(f"lost{i}", name=f"Lost {i}", kind=TPR, coverage=AreaCoverage((f"E0699{i:04d}",)))
        for i in range(40)
    ]
    swapped = [
        make_service(f"swap{i}", name=f"Swapped {i}", kind=TPR, coverage=RadiusCoverage(-1.5, 52.0, 5000))
        for i in range(8)
    ]
    with pytest.raises(CoverageInputError) as caught:
        compute_coverage([*toy_services(), *lost, *swapped], toy_population(), toy_geography())
    message = str(caught.value)
    assert len(caught.value.problems) == 48 and len(message) < 1500
    assert "40 services name 40 area code(s) the boundaries in use do not have" in message
    assert "E06990000, E06990001, E06990002, E06990003, E06990004 and 35 more" in message
    assert "full current ONS PFA and LAD files" in message and "Lost 7" not in message
    assert "Swapped 4" in message and "Swapped 5" not in message and "and 3 more services like these" in message
