"""The coverage computation on the real ONS files (skips when ../shared/data/geography is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from mapping.areas import AreaRegistry
from mapping.boundaries import load_boundaries
from mapping.gaps import ANY, Geography, compute_coverage
from mapping.population import PopulationPoints, load_lsoa_population
from mapping.types import Nation, NationalCoverage, ServiceKind
from tests.services_db.factories import area_service, make_service, radius_service

CENSUS_TOTAL = 59_597_576


@pytest.fixture(scope="module")
def geography(geography_dir: Path) -> Geography:
    registry = AreaRegistry.default()
    return Geography.from_boundaries(
        pfas=load_boundaries(geography_dir / "pfa_dec2023_buc.geojson").boundaries,
        lads=load_boundaries(geography_dir / "lad_may2025_buc.geojson").boundaries,
        pfa_for_lad=registry.pfa_for_lad,
        vintage="PFA Dec 2023, LAD May 2025",
    )


@pytest.fixture(scope="module")
def population(geography_dir: Path) -> PopulationPoints:
    return load_lsoa_population(geography_dir / "lsoa21_population_weighted_centroids.csv")


def test_population_sums_to_the_census_total(population: PopulationPoints) -> None:
    assert len(population) == 35_672
    assert population.total == CENSUS_TOTAL


def test_every_lsoa_is_in_exactly_one_lad_and_one_pfa(geography: Geography, population: PopulationPoints) -> None:
    assert len(geography.pfas) == 43 and len(geography.lads) == 318
    assert all(u.parent_code for u in geography.lads)
    result = compute_coverage([], population, geography)
    assert result.point_lad.shape == result.point_pfa.shape == (35_672,)
    assert (result.point_lad >= 0).all() and (result.point_pfa >= 0).all()
    for level, count in (("pfa", 43), ("lad", 318)):
        rows = result.rows_for(level, ANY)
        assert len(rows) == count
        assert sum(r.population for r in rows) == CENSUS_TOTAL
    # Force areas are the sums of their districts.
    by_pfa: dict[str, float] = {}
    for r in result.rows_for("lad", ANY):
        by_pfa[r.pfa_code or ""] = by_pfa.get(r.pfa_code or "", 0.0) + r.population
    assert by_pfa == {r.code: r.population for r in result.rows_for("pfa", ANY)}


def test_coastal_centroids_join_their_nearest_area(geography: Geography, population: PopulationPoints) -> None:
    points = shapely.points(population.easting, population.northing)
    pfa_tree = shapely.STRtree([u.geometry for u in geography.pfas])
    inside, which = pfa_tree.query(points, predicate="covered_by")
    outside = np.setdiff1d(np.arange(len(points)), inside)
    assert len(outside) == 36  # the generalised (BUC) coastline misses these population-weighted centroids
    result = compute_coverage([], population, geography)
    nearest = pfa_tree.query_nearest(points[outside], all_matches=False)[1]
    assert (result.point_pfa[outside] == nearest).all()
    # Where a centroid is inside a force area polygon, its district's force area agrees (generalised edges aside).
    first = np.unique(inside, return_index=True)[1]
    agree = result.point_pfa[inside[first]] == which[first]
    assert agree.mean() > 0.999


def test_national_and_welsh_services(geography: Geography, population: PopulationPoints) -> None:
    tpr = ServiceKind.THIRD_PARTY_REPORTING
    everywhere = compute_coverage(
        [make_service("n", kind=tpr, coverage=NationalCoverage(Nation.ENGLAND_AND_WALES))], population, geography
    )
    assert everywhere.totals() == (CENSUS_TOTAL, CENSUS_TOTAL)
    assert all(r.pct_area == pytest.approx(100) for r in everywhere.rows_for("pfa", ANY))
    assert not everywhere.gaps
    wales = compute_coverage(
        [make_service("w", kind=tpr, coverage=NationalCoverage(Nation.WALES))], population, geography, gaps=False
    )
    for r in wales.rows_for("pfa", ANY):
        assert r.pct_population == (100.0 if r.code.startswith("W") else 0.0)
    welsh_people = sum(r.population for r in wales.rows_for("pfa", ANY) if r.code.startswith("W"))
    assert wales.totals()[1] == welsh_people


def test_leeds_district_and_a_circle(geography: Geography, population: PopulationPoints) -> None:
    services = [area_service("E08000035", name="Leeds"), radius_service(53.4794, -2.2453, 5_000, name="Manchester")]
    result = compute_coverage(services, population, geography)
    leeds = next(r for r in result.rows_for("lad", ANY) if r.code == "E08000035")
    assert leeds.pct_population == 100.0 and leeds.pct_area == pytest.approx(100)
    west_yorkshire = next(r for r in result.rows_for("pfa", ANY) if r.code == "E23000010")
    assert west_yorkshire.population_covered == leeds.population
    assert west_yorkshire.area_covered_km2 == pytest.approx(leeds.area_km2, rel=0.02)  # two generalised layers
    manchester = next(r for r in result.rows_for("lad", ANY) if r.code == "E08000003")
    assert 0 < manchester.population_covered < manchester.population
    covered_area = sum(r.area_covered_km2 for r in result.rows_for("lad", ANY) if r.code != "E08000035")
    assert covered_area == pytest.approx(np.pi * 25, rel=0.01)  # the whole circle lies on land


def test_an_incomplete_force_area_file_is_named_as_the_problem(
    geography_dir: Path, population: PopulationPoints
) -> None:
    registry = AreaRegistry.default()
    partial = Geography.from_boundaries(
        pfas=load_boundaries(geography_dir / "pfa_dec2023_buc.geojson").boundaries[:3],
        lads=load_boundaries(geography_dir / "lad_may2025_buc.geojson").boundaries,
        pfa_for_lad=registry.pfa_for_lad,
        vintage="PFA Dec 2023 (3 of 43), LAD May 2025",
    )
    with pytest.raises(ValueError) as raised:
        compute_coverage([], population, partial)
    message = str(raised.value)
    assert "lack 40 force area(s)" in message and "complete ONS Police Force Areas file" in message
    assert "and 32 more" in message and len(message) < 400
