"""Coverage geometry: circles in metres, validated polygons, unions of areas, and the per-spec cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely
from geopy.distance import geodesic
from shapely.geometry import Point, box, shape
from shapely.geometry.base import BaseGeometry

from mapping.coverage import CoverageCache, circle_wgs84, circles_wgs84, resolve_coverage, resolve_coverages
from mapping.types import AreaCoverage, Nation, NationalCoverage, PolygonCoverage, RadiusCoverage

LEEDS = (53.8008, -1.5491)


class CountingAreas:
    """An area lookup over fixed polygons that counts how often it is asked (to prove the cache works)."""

    def __init__(self, polygons: dict[str | Nation, BaseGeometry]) -> None:
        self.polygons = polygons
        self.calls = 0

    def __call__(self, key: str | Nation) -> BaseGeometry | None:
        self.calls += 1
        return self.polygons.get(key)


@pytest.mark.parametrize("radius_m", [500.0, 5_000.0, 25_000.0])
@pytest.mark.parametrize("centre", [LEEDS, (50.1, -5.5), (51.48, -3.18), (55.6, -2.0)])
def test_circle_is_built_in_metres_not_degrees(centre: tuple[float, float], radius_m: float) -> None:
    circle = circle_wgs84(centre[0], centre[1], radius_m)
    distances = [geodesic(centre, (lat, lon)).meters for lon, lat in circle.exterior.coords]
    # BNG's scale factor is within 0.04% of 1 in England and Wales, and the chords are short.
    assert min(distances) == pytest.approx(radius_m, rel=1.5e-3)
    assert max(distances) == pytest.approx(radius_m, rel=1.5e-3)
    assert circle.covers(Point(centre[1], centre[0]))


def test_radius_coverage_resolves_without_boundaries() -> None:
    geometry = resolve_coverage(RadiusCoverage(LEEDS[0], LEEDS[1], 10_000))
    assert geometry is not None
    north = geodesic(kilometers=9.9).destination(LEEDS, 0)
    outside = geodesic(kilometers=10.1).destination(LEEDS, 0)
    assert geometry.covers(Point(north.longitude, north.latitude))
    assert not geometry.covers(Point(outside.longitude, outside.latitude))


def test_self_intersecting_polygon_is_made_valid() -> None:
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[-1.6, 53.7], [-1.4, 53.9], [-1.4, 53.7], [-1.6, 53.9], [-1.6, 53.7]]],
    }
    assert not shape(bowtie).is_valid
    geometry = resolve_coverage(PolygonCoverage(bowtie))
    assert geometry is not None and geometry.is_valid
    assert geometry.area == pytest.approx(0.02, rel=1e-6)  # two triangles of 0.01 square degrees


def test_area_and_national_coverage_need_boundaries() -> None:
    assert resolve_coverage(AreaCoverage(("E08000035",))) is None
    assert resolve_coverage(NationalCoverage()) is None


def test_area_codes_resolve_to_the_union_of_their_areas() -> None:
    areas = CountingAreas({"A1": box(0, 0, 1, 1), "A2": box(1, 0, 2, 1), Nation.WALES: box(-5, 51, -3, 53)})
    union = resolve_coverage(AreaCoverage(("A1", "A2")), areas)
    assert union is not None and union.equals(box(0, 0, 2, 1))
    wales = resolve_coverage(NationalCoverage(Nation.WALES), areas)
    assert wales is not None and wales.equals(box(-5, 51, -3, 53))
    # One unknown code: the union would silently shrink the coverage, so it stays unresolved (matched by codes).
    assert resolve_coverage(AreaCoverage(("A1", "UNKNOWN")), areas) is None


def test_cache_resolves_each_spec_once() -> None:
    areas = CountingAreas({"A1": box(0, 0, 1, 1), "A2": box(1, 0, 2, 1)})
    cache = CoverageCache(areas)
    first = cache.resolve(AreaCoverage(("A1", "A2")))
    again = cache.resolve(AreaCoverage(("A1", "A2")))
    assert first is again
    assert areas.calls == 2  # once per code, for the first resolution only
    polygon = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    assert cache.resolve(PolygonCoverage(polygon)) is cache.resolve(PolygonCoverage(json.loads(json.dumps(polygon))))
    assert len(cache) == 2
    assert cache.areas is areas


def test_real_lad_union_covers_its_parts(geography_dir: Path) -> None:
    features = json.loads((geography_dir / "lad_may2025_buc.geojson").read_text())["features"]
    polygons = {f["properties"]["LAD25CD"]: shapely.make_valid(shape(f["geometry"])) for f in features}
    codes = ("E08000035", "E08000036", "E08000032")  # Leeds, Wakefield, Bradford
    union = resolve_coverage(AreaCoverage(codes), polygons.get)
    assert union is not None and union.is_valid
    for code in codes:
        assert union.covers(polygons[code].representative_point())
    assert union.area == pytest.approx(sum(polygons[c].area for c in codes), rel=1e-3)


def test_cache_gives_the_geometry_in_metres_once() -> None:
    cache = CoverageCache()
    circle = RadiusCoverage(LEEDS[0], LEEDS[1], 10_000)
    projected = cache.resolve_bng(circle)
    assert projected is not None and projected is cache.resolve_bng(circle)
    assert projected.area == pytest.approx(3.14159265 * 10_000**2, rel=1e-3)
    assert cache.resolve_bng(AreaCoverage(("E08000035",))) is None  # no boundaries: nothing to measure


def test_circles_in_one_batch_are_the_circles_built_one_by_one() -> None:
    centres = [(LEEDS[0], LEEDS[1], 10_000.0), (50.1, -5.5, 500.0), (51.48, -3.18, 25_000.0), (55.6, -2.0, 1.5)]
    batch = circles_wgs84(*zip(*centres, strict=True))
    assert len(batch) == len(centres)
    for (lat, lon, radius), circle in zip(centres, batch, strict=True):
        # Bit for bit: the same template vertices and the same transform, so stored geometry cannot drift.
        assert shapely.equals_exact(circle, circle_wgs84(lat, lon, radius), tolerance=0)
    assert circles_wgs84([], [], []) == []


def test_resolving_many_gives_what_resolving_each_gives() -> None:
    areas = CountingAreas({"A1": box(0, 0, 1, 1), "A2": box(1, 0, 2, 1)})
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[-1.6, 53.7], [-1.4, 53.9], [-1.4, 53.7], [-1.6, 53.9], [-1.6, 53.7]]],
    }
    specs = [
        RadiusCoverage(LEEDS[0], LEEDS[1], 10_000),
        AreaCoverage(("A1", "A2")),
        NationalCoverage(),
        PolygonCoverage(bowtie),
        RadiusCoverage(51.48, -3.18, 2_000),
        RadiusCoverage(LEEDS[0], LEEDS[1], 10_000),
    ]
    many = resolve_coverages(specs, areas)
    for spec, geometry in zip(specs, many, strict=True):
        one = resolve_coverage(spec, areas)
        assert (geometry is None) == (one is None)
        assert geometry is None or shapely.equals_exact(geometry, one, tolerance=0)
    assert many[0] is many[5]  # one spec, one geometry

    cache = CoverageCache(areas)
    cached = cache.resolve_many(specs)
    assert all(cache.resolve(spec) is geometry for spec, geometry in zip(specs, cached, strict=True))
    assert cached[0] is cache.resolve(specs[5])
    assert len(cache) == 5
