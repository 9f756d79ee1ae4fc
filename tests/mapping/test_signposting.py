"""The signposting index: who covers a point, why, in what order, and the nearest ones outside."""

from __future__ import annotations

import csv
import dataclasses
import json
import random
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import shapely
from geopy.distance import geodesic
from shapely.geometry import Point, box, mapping, shape
from shapely.geometry.base import BaseGeometry

from mapping.coverage import CoverageCache, circle_wgs84
from mapping.crs import bng_to_wgs84, geometry_to_bng, wgs84_to_bng
from mapping.signposting import SignpostIndex, directory_snapshot_key
from mapping.types import (
    AreaCoverage,
    Channel,
    ChannelKind,
    Coverage,
    Location,
    LocationSource,
    MatchReason,
    Nation,
    NationalCoverage,
    PolygonCoverage,
    RadiusCoverage,
    ServiceKind,
    ServiceRecord,
    ServiceStatus,
    Strand,
)

LEEDS = (53.8008, -1.5491)
LEEDS_LAD, WEST_YORKSHIRE = "E08000035", "E23000010"
CARDIFF = (51.4816, -3.1791)
CARDIFF_LAD, SOUTH_WALES = "W06000015", "W15000003"
EDINBURGH = (55.9533, -3.1883)


def service(
    id: str,
    coverage: Coverage,
    *,
    kind: ServiceKind = ServiceKind.THIRD_PARTY_REPORTING,
    strands: frozenset[Strand] = frozenset(),
    in_person: tuple[tuple[float, float], ...] = (),
    status: ServiceStatus = ServiceStatus.ACTIVE,
    name: str | None = None,
    version: int = 1,
) -> ServiceRecord:
    channels = tuple(
        Channel(ChannelKind.IN_PERSON, f"office {i}", lat=lat, lon=lon) for i, (lat, lon) in enumerate(in_person)
    )
    return ServiceRecord(
        id=id,
        name=name or id,
        kind=kind,
        coverage=coverage,
        source_url="https://example.org/test-fixture",
        verified_on=date(2026, 1, 1),
        strands=strands,
        channels=channels,
        status=status,
        version=version,
    )


def at(lat: float, lon: float, lad: str | None = LEEDS_LAD, pfa: str | None = WEST_YORKSHIRE) -> Location:
    return Location(lat=lat, lon=lon, source=LocationSource.GPS, precision_m=10, lad_code=lad, pfa_code=pfa)


def offset(origin: tuple[float, float], km: float, bearing: float) -> tuple[float, float]:
    p = geodesic(kilometers=km).destination(origin, bearing)
    return (p.latitude, p.longitude)


def ids(matches: list[Any]) -> list[str]:
    return [m.service.id for m in matches]


def square_around(lat: float, lon: float, half: float) -> PolygonCoverage:
    return PolygonCoverage(mapping(box(lon - half, lat - half, lon + half, lat + half)))


def test_radius_and_polygon_cover_the_point() -> None:
    index = SignpostIndex.build(
        [
            service("near", RadiusCoverage(*LEEDS, 5_000)),
            service("far", RadiusCoverage(*offset(LEEDS, 30, 90), 5_000)),
            service("square", square_around(*LEEDS, 0.05)),
        ]
    )
    matches = index.find(at(*offset(LEEDS, 4.5, 200)), kinds=[ServiceKind.THIRD_PARTY_REPORTING])
    assert sorted(m.service.id for m in matches if m.reason is MatchReason.COVERS) == ["near", "square"]
    assert all(m.reason is MatchReason.COVERS for m in matches)  # a local one covers: no nearest-outside


def test_point_on_the_boundary_is_covered() -> None:
    edge = PolygonCoverage(mapping(box(-1.6, 53.7, -1.5, 53.8)))
    index = SignpostIndex.build([service("edge", edge)])
    on_edge = at(53.75, -1.5)  # exactly on the eastern edge: covers, not contains
    assert ids(index.find(on_edge, nearest_outside=0)) == ["edge"]
    assert index.find(at(53.75, -1.4999), nearest_outside=0) == []


def test_strand_and_kind_filters() -> None:
    everywhere = RadiusCoverage(*LEEDS, 20_000)
    index = SignpostIndex.build(
        [
            service("generic", everywhere),
            service("race-only", everywhere, strands=frozenset({Strand.RACE})),
            service("faith", everywhere, strands=frozenset({Strand.RELIGION, Strand.RACE})),
            service("support", everywhere, kind=ServiceKind.VICTIM_SUPPORT),
        ]
    )
    here = at(*LEEDS)
    assert sorted(ids(index.find(here))) == ["faith", "generic", "race-only", "support"]
    assert sorted(ids(index.find(here, strands=[Strand.RELIGION]))) == ["faith", "generic", "support"]
    assert sorted(ids(index.find(here, kinds=[ServiceKind.VICTIM_SUPPORT]))) == ["support"]
    assert ids(index.find(here, strands=[Strand.DISABILITY], kinds=[ServiceKind.THIRD_PARTY_REPORTING])) == ["generic"]


def test_only_active_services() -> None:
    everywhere = RadiusCoverage(*LEEDS, 20_000)
    index = SignpostIndex.build(
        [
            service("open", everywhere),
            service("paused", everywhere, status=ServiceStatus.SUSPENDED),
            service("gone", everywhere, status=ServiceStatus.CLOSED),
        ]
    )
    assert ids(index.find(at(*LEEDS))) == ["open"]
    assert len(index) == 1


def test_area_codes_match_by_codes_without_boundaries() -> None:
    index = SignpostIndex.build(
        [
            service("leeds-council", AreaCoverage((LEEDS_LAD,))),
            service("west-yorkshire", AreaCoverage((WEST_YORKSHIRE,))),
            service("cardiff", AreaCoverage((CARDIFF_LAD, SOUTH_WALES))),
        ]
    )
    assert not index.boundaries_loaded
    assert sorted(ids(index.find(at(*LEEDS)))) == ["leeds-council", "west-yorkshire"]
    wakefield = at(53.683, -1.4977, lad="E08000036", pfa=WEST_YORKSHIRE)
    matches = index.find(wakefield)
    assert [(m.service.id, m.reason) for m in matches] == [("west-yorkshire", MatchReason.COVERS)]


def test_area_codes_match_geometrically_with_boundaries() -> None:
    polygons: dict[str | Nation, BaseGeometry] = {"E00000001": box(-1.7, 53.7, -1.4, 53.9)}
    index = SignpostIndex.build([service("area", AreaCoverage(("E00000001",)))], areas=polygons.get)
    assert index.boundaries_loaded
    # The point is in the polygon though its codes differ (e.g. a GPS point whose codes came from elsewhere).
    assert ids(index.find(at(*LEEDS, lad="E08000036"))) == ["area"]
    assert index.find(at(*CARDIFF, lad=CARDIFF_LAD, pfa=SOUTH_WALES), nearest_outside=0) == []


def test_national_services_by_nation() -> None:
    index = SignpostIndex.build(
        [
            service("ew", NationalCoverage(), kind=ServiceKind.POLICE),
            service("england", NationalCoverage(Nation.ENGLAND), kind=ServiceKind.HELPLINE),
            service("wales", NationalCoverage(Nation.WALES), kind=ServiceKind.VICTIM_SUPPORT),
        ]
    )
    leeds, cardiff = at(*LEEDS), at(*CARDIFF, lad=CARDIFF_LAD, pfa=SOUTH_WALES)
    assert sorted(ids(index.find(leeds))) == ["england", "ew"]
    assert sorted(ids(index.find(cardiff))) == ["ew", "wales"]
    assert {m.reason for m in index.find(leeds)} == {MatchReason.NATIONAL}


def test_outside_england_and_wales_gets_only_emergency_routes() -> None:
    index = SignpostIndex.build(
        [
            service("999", NationalCoverage(), kind=ServiceKind.EMERGENCY),
            service("101", NationalCoverage(), kind=ServiceKind.POLICE),
            service("support", NationalCoverage(), kind=ServiceKind.VICTIM_SUPPORT),
            service("border", RadiusCoverage(55.7, -2.3, 60_000)),  # spills over the border into Scotland
        ]
    )
    edinburgh = at(*EDINBURGH, lad=None, pfa=None)
    assert [(m.service.id, m.reason) for m in index.find(edinburgh)] == [("999", MatchReason.NATIONAL)]
    assert index.find(edinburgh, kinds=[ServiceKind.THIRD_PARTY_REPORTING]) == []
    scottish_borders = at(55.6, -2.4, lad="S12000026", pfa=None)  # a Scottish code is not E&W either
    assert ids(index.find(scottish_borders)) == ["999"]


def test_nearest_outside_when_no_local_reporting_covers() -> None:
    centres = {"a-10km": offset(LEEDS, 15, 0), "b-20km": offset(LEEDS, 25, 90), "c-40km": offset(LEEDS, 45, 180)}
    services = [service(name, RadiusCoverage(*centre, 5_000)) for name, centre in centres.items()]
    services += [
        service("d-50km", RadiusCoverage(*offset(LEEDS, 55, 270), 5_000)),
        service("helpline", NationalCoverage(), kind=ServiceKind.HELPLINE),
        service("no-geometry", AreaCoverage(("E06000001",))),  # no boundaries, no address: no distance
        service("address-only", AreaCoverage(("E06000002",)), in_person=(offset(LEEDS, 30, 45),)),
    ]
    index = SignpostIndex.build(services)
    matches = index.find(at(*LEEDS), nearest_outside=3)
    assert [(m.service.id, m.reason) for m in matches] == [
        ("helpline", MatchReason.NATIONAL),
        ("a-10km", MatchReason.NEAREST_OUTSIDE),
        ("b-20km", MatchReason.NEAREST_OUTSIDE),
        ("address-only", MatchReason.NEAREST_OUTSIDE),
    ]
    distances = [m.distance_m for m in matches[1:]]
    assert distances[0] == pytest.approx(10_000, abs=15)  # to the edge of the circle, not its centre
    assert distances[1] == pytest.approx(20_000, abs=25)
    assert distances[2] == pytest.approx(30_000, abs=1)  # to the in-person point
    assert len(index.find(at(*LEEDS), nearest_outside=10)) == 1 + 5
    assert ids(index.find(at(*LEEDS), kinds=[ServiceKind.HELPLINE])) == ["helpline"]


def test_nearest_outside_is_exact_against_brute_force() -> None:
    rng = random.Random(7)
    services = []
    for i in range(150):
        centre = offset(LEEDS, rng.uniform(5, 200), rng.uniform(0, 360))
        if i % 3:
            services.append(service(f"r{i:03}", RadiusCoverage(*centre, rng.uniform(1_000, 20_000))))
        else:
            half = rng.uniform(0.01, 0.2)
            services.append(service(f"p{i:03}", square_around(*centre, half)))
    index = SignpostIndex.build(services)
    checked = 0
    for _ in range(20):
        here = offset(LEEDS, rng.uniform(0, 100), rng.uniform(0, 360))
        matches = index.find(at(*here), nearest_outside=5)
        if any(m.reason is MatchReason.COVERS for m in matches):
            continue
        # Brute force over every service, without the bounding-box pruning: nearest boundary point in BNG.
        e, n = wgs84_to_bng(here[1], here[0])
        expected = []
        for s in services:
            line = shapely.shortest_line(Point(float(e), float(n)), geometry_to_bng(_geometry(s.coverage)))
            lon, lat = bng_to_wgs84(*line.coords[1])
            expected.append((geodesic(here, (float(lat), float(lon))).meters, s.id))
        expected.sort()
        assert [(m.service.id, m.reason) for m in matches] == [
            (i, MatchReason.NEAREST_OUTSIDE) for _, i in expected[:5]
        ]
        for match, (want, _) in zip(matches, expected[:5], strict=True):
            assert match.distance_m == pytest.approx(want, rel=1e-9)
        checked += 1
    assert checked >= 10


def _geometry(coverage: Coverage) -> BaseGeometry:
    if isinstance(coverage, RadiusCoverage):
        return circle_wgs84(coverage.lat, coverage.lon, coverage.radius_m)
    assert isinstance(coverage, PolygonCoverage)
    return shape(coverage.geojson)


def test_no_nearest_outside_when_a_local_reporting_service_covers_or_for_other_strands() -> None:
    index = SignpostIndex.build(
        [
            service("local-race", RadiusCoverage(*LEEDS, 5_000), strands=frozenset({Strand.RACE})),
            service("next-town", RadiusCoverage(*offset(LEEDS, 30, 0), 5_000)),
        ]
    )
    here = at(*LEEDS)
    assert ids(index.find(here, strands=[Strand.RACE])) == ["local-race"]
    # For religion the local one does not help, so the nearest outside is offered.
    assert [(m.service.id, m.reason) for m in index.find(here, strands=[Strand.RELIGION])] == [
        ("next-town", MatchReason.NEAREST_OUTSIDE)
    ]


def test_ranking_specialist_then_local_then_in_person_distance_then_name() -> None:
    everywhere = RadiusCoverage(*LEEDS, 30_000)
    race = frozenset({Strand.RACE})
    index = SignpostIndex.build(
        [
            service("national-generic", NationalCoverage(), kind=ServiceKind.HELPLINE),
            service("national-race", NationalCoverage(), kind=ServiceKind.SPECIALIST_SUPPORT, strands=race),
            service("local-far", everywhere, in_person=(offset(LEEDS, 8, 0),)),
            service("local-near", everywhere, in_person=(offset(LEEDS, 2, 0), offset(LEEDS, 12, 90))),
            service("local-race", everywhere, strands=race, in_person=(offset(LEEDS, 20, 0),)),
            service("zz", everywhere, name="Same name"),
            service("aa", everywhere, name="Same name"),
        ]
    )
    matches = index.find(at(*LEEDS), strands=[Strand.RACE])
    assert ids(matches) == ["local-race", "national-race", "local-near", "local-far", "aa", "zz", "national-generic"]
    assert [m.specialist for m in matches] == [True, True, False, False, False, False, False]
    assert matches[2].distance_m == pytest.approx(2_000, abs=1)
    assert matches[4].distance_m is None
    assert ids(index.find(at(*LEEDS), strands=[Strand.RACE], limit=2)) == ["local-race", "national-race"]
    # The same answers whatever order the directory came in.
    shuffled = list(index.find(at(*LEEDS), strands=[Strand.RACE]))
    rebuilt = SignpostIndex.build(
        sorted((m.service for m in shuffled), key=lambda s: s.name, reverse=True),
    )
    assert ids(rebuilt.find(at(*LEEDS), strands=[Strand.RACE])) == ids(matches)


def test_with_no_strand_chosen_general_confirmed_reporting_routes_come_first() -> None:
    race = frozenset({Strand.RACE})
    index = SignpostIndex.build(
        [
            service("a-specialist", NationalCoverage(), kind=ServiceKind.SPECIALIST_SUPPORT, strands=race),
            dataclasses.replace(
                service("b-caveated", NationalCoverage(), kind=ServiceKind.VICTIM_SUPPORT), caveat="check the number"
            ),
            service("c-helpline", NationalCoverage(), kind=ServiceKind.HELPLINE),
            service("d-support", NationalCoverage(), kind=ServiceKind.VICTIM_SUPPORT),
            service("e-reporting", NationalCoverage(), kind=ServiceKind.THIRD_PARTY_REPORTING),
        ]
    )
    assert ids(index.find(at(*LEEDS))) == ["e-reporting", "d-support", "c-helpline", "b-caveated", "a-specialist"]
    # a chosen strand still puts its specialist first
    assert ids(index.find(at(*LEEDS), strands=[Strand.RACE]))[0] == "a-specialist"


def test_version_changes_with_the_directory() -> None:
    services = [service("a", RadiusCoverage(*LEEDS, 5_000)), service("b", NationalCoverage())]
    first = SignpostIndex.build(services)
    assert first.version == SignpostIndex.build(list(reversed(services))).version
    edited = [dataclasses.replace(services[0], version=2, updated_at=datetime(2026, 2, 1)), services[1]]
    assert SignpostIndex.build(edited).version != first.version
    assert directory_snapshot_key(services, areas_key="lad-2025") != first.version
    assert SignpostIndex.build(services[:1]).version != first.version


def test_shared_coverage_is_resolved_once_and_cache_reused() -> None:
    calls: list[str | Nation] = []

    def areas(key: str | Nation) -> BaseGeometry | None:
        calls.append(key)
        return box(-1.7, 53.7, -1.4, 53.9) if key == "E00000001" else None

    cache = CoverageCache(areas)
    services = [service(f"s{i}", AreaCoverage(("E00000001",))) for i in range(50)]
    index = SignpostIndex.build(services, areas=areas, cache=cache)
    assert calls == ["E00000001"]
    assert len(ids(index.find(at(*LEEDS, lad="E99999999")))) == 50
    SignpostIndex.build(services, areas=areas, cache=cache)
    assert calls == ["E00000001"]


# --- real geography -------------------------------------------------------------------------------------


def _real_polygons(geography_dir: Path) -> dict[str, BaseGeometry]:
    out: dict[str, BaseGeometry] = {}
    for name, field in (("lad_may2025_buc.geojson", "LAD25CD"), ("pfa_dec2023_buc.geojson", "PFA23CD")):
        for feature in json.loads((geography_dir / name).read_text())["features"]:
            code = feature["properties"][field]
            if code[0] in "EW":
                out[code] = shapely.make_valid(shape(feature["geometry"]))
    return out


def test_index_agrees_with_brute_force_on_real_geography(geography_dir: Path) -> None:
    polygons = _real_polygons(geography_dir)
    lads = sorted(c for c in polygons if c[:3] in ("E06", "E07", "E08", "E09", "W06"))
    pfas = sorted(c for c in polygons if c[:3] in ("E23", "W15"))
    with (geography_dir / "lsoa21_population_weighted_centroids.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rng = random.Random(3)
    services = []
    for i in range(300):
        r = rng.random()
        if r < 0.3:
            codes = tuple(rng.sample(lads, rng.randint(1, 3)))
            services.append(service(f"lad{i}", AreaCoverage(codes)))
        elif r < 0.45:
            services.append(service(f"pfa{i}", AreaCoverage((rng.choice(pfas),))))
        elif r < 0.85:
            row = rng.choice(rows)
            services.append(
                service(f"rad{i}", RadiusCoverage(float(row["LAT"]), float(row["LONG"]), rng.uniform(5e3, 25e3)))
            )
        else:
            services.append(service(f"poly{i}", PolygonCoverage(mapping(polygons[rng.choice(lads)]))))
    index = SignpostIndex.build(services, areas=polygons.get)
    geometries = {s.id: CoverageCache(polygons.get).resolve(s.coverage) for s in services}
    for row in rng.sample(rows, 400):
        lat, lon = float(row["LAT"]), float(row["LONG"])
        # Codes that match no service code, so that only geometry decides.
        got = {s.id for s in index.covering(at(lat, lon, lad="E99999999", pfa="E99999998"))}
        point = Point(lon, lat)
        want = {sid for sid, g in geometries.items() if g is not None and g.covers(point)}
        assert got == want


def test_with_loaded_boundaries_and_the_locator(geography_dir: Path) -> None:
    from mapping.areas import AreaRegistry
    from mapping.boundaries import BoundaryIndex, load_boundaries
    from mapping.locate import Located, Locator
    from mapping.places import Gazetteer
    from mapping.postcodes import PostcodeDirectory

    boundaries = BoundaryIndex(
        [
            load_boundaries(geography_dir / "pfa_dec2023_buc.geojson", level="pfa"),
            load_boundaries(geography_dir / "lad_may2025_buc.geojson", level="lad"),
        ]
    )
    index = SignpostIndex.build(
        [
            service("leeds", AreaCoverage((LEEDS_LAD,))),
            service("west-yorkshire", AreaCoverage((WEST_YORKSHIRE,)), kind=ServiceKind.VICTIM_SUPPORT),
            service("wales", NationalCoverage(Nation.WALES), kind=ServiceKind.VICTIM_SUPPORT),
        ],
        areas=boundaries.geometry,
    )
    locator = Locator(
        postcodes=PostcodeDirectory(), registry=AreaRegistry.default(), gazetteer=Gazetteer(), boundaries=boundaries
    )
    leeds = locator.locate("LS6 1AA")
    assert isinstance(leeds, Located)
    assert sorted(ids(index.find(leeds.location))) == ["leeds", "west-yorkshire"]
    # The same point with codes that name nothing: the polygons alone still place it.
    anonymous = dataclasses.replace(leeds.location, lad_code="E99999999", pfa_code=None)
    assert sorted(ids(index.find(anonymous, nearest_outside=0))) == ["leeds", "west-yorkshire"]
    wakefield = locator.locate("WF1 1HQ")
    assert isinstance(wakefield, Located)
    assert ids(index.find(wakefield.location, kinds=[ServiceKind.VICTIM_SUPPORT])) == ["west-yorkshire"]
    # Leeds is the nearest third-party reporting outside Wakefield, measured to the edge of its polygon.
    nearest = [m for m in index.find(wakefield.location) if m.reason is MatchReason.NEAREST_OUTSIDE]
    assert ids(nearest) == ["leeds"] and nearest[0].distance_m is not None and 0 < nearest[0].distance_m < 15_000
    cardiff = locator.locate("CF10 1EP")
    assert isinstance(cardiff, Located)
    assert ids(index.find(cardiff.location, kinds=[ServiceKind.VICTIM_SUPPORT])) == ["wales"]


def test_outside_england_and_wales_needs_no_point() -> None:
    index = SignpostIndex.build(
        [
            service("999", NationalCoverage(), kind=ServiceKind.EMERGENCY),
            service("101", NationalCoverage(), kind=ServiceKind.POLICE),
        ]
    )
    assert [(m.service.id, m.reason) for m in index.outside_england_wales()] == [("999", MatchReason.NATIONAL)]
    assert index.outside_england_wales(kinds=[ServiceKind.POLICE]) == []
