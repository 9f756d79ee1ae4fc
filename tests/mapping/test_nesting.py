"""LSOAs in their districts by the ONS nesting (names + the succession table, or a lookup), and the extent check."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import shapely

from mapping.areas import AreaRegistry
from mapping.boundaries import load_boundaries
from mapping.crs import geometry_to_bng
from mapping.gaps import ANY, Geography, compute_coverage
from mapping.nesting import DistrictNames, check_extent, load_nested_population, nest_in_districts, predecessors
from mapping.population import PopulationError, PopulationPoints, load_lsoa_population

CENSUS_TOTAL = 59_597_576


@pytest.fixture(scope="module")
def districts() -> DistrictNames:
    return DistrictNames.of({a.code: a.name for a in AreaRegistry.default().lads()})


@pytest.fixture(scope="module")
def nested(geography_dir: Path, districts: DistrictNames) -> PopulationPoints:
    return load_nested_population(geography_dir / "lsoa21_population_weighted_centroids.csv", districts=districts)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the real Census file ------------------------------------------------------------------------------------


def test_every_lsoa_is_placed_and_every_district_of_england_and_wales_is_reached(
    nested: PopulationPoints, districts: DistrictNames
) -> None:
    assert nested.lad_codes is not None and len(nested) == 35_672
    assert set(nested.lad_codes.tolist()) == set(districts.codes)
    assert len(districts.codes) == 318
    assert nested.total == CENSUS_TOTAL and not nested.basis.partial


@pytest.mark.parametrize(
    ("code", "name", "population"),
    [
        ("E07000089", "Hart", 99_388),  # by nearest postcode it was 96,832
        ("E07000092", "Rushmoor", 99_741),  # and 102,297
        ("E09000001", "City of London", 8_588),
        ("E06000063", "Cumberland", 273_279),  # Allerdale 96,191 + Carlisle 110,030 + Copeland 67,058
    ],
)
def test_district_populations_are_the_census_figures(
    nested: PopulationPoints, code: str, name: str, population: int
) -> None:
    assert nested.lad_codes is not None
    assert nested.population[nested.lad_codes == code].sum() == population


def test_the_succession_table_agrees_with_the_lad_polygons(geography_dir: Path, nested: PopulationPoints) -> None:
    """Every LSOA named after a former district lies in the polygon of the current district the table gives,
    and the nesting as a whole agrees with the (generalised) polygons wherever they are not ambiguous."""
    lads = {
        b.code: shapely.make_valid(geometry_to_bng(b.geometry))
        for b in load_boundaries(geography_dir / "lad_may2025_buc.geojson").boundaries
    }
    assert nested.lad_codes is not None and nested.names is not None
    points = shapely.points(nested.easting, nested.northing)
    inside = np.array(
        [lads[c].distance(p) < 200 for c, p in zip(nested.lad_codes.tolist(), points, strict=True)], dtype=bool
    )
    assert inside.mean() > 0.999  # generalised (BUC) edges miss a few centroids by more than 200 m
    named = np.array([re.sub(r" \d{3}[A-Z]$", "", n) for n in nested.names.tolist()])
    for p in predecessors():
        mine = named == p.name
        assert mine.sum() > 20, p.name
        assert (nested.lad_codes[mine] == p.lad_code).all(), p.name
        assert inside[mine].all(), p.name


def test_the_coverage_computation_uses_the_nesting(geography_dir: Path, nested: PopulationPoints) -> None:
    registry = AreaRegistry.default()
    geography = Geography.from_boundaries(
        pfas=load_boundaries(geography_dir / "pfa_dec2023_buc.geojson").boundaries,
        lads=load_boundaries(geography_dir / "lad_may2025_buc.geojson").boundaries,
        pfa_for_lad=registry.pfa_for_lad,
    )
    result = compute_coverage([], nested, geography, gaps=False)
    rows = {r.code: r.population for r in result.rows_for("lad", ANY)}
    assert (rows["E07000089"], rows["E07000092"]) == (99_388, 99_741)
    assert sum(r.population for r in result.rows_for("pfa", ANY)) == CENSUS_TOTAL
    hampshire = next(r for r in result.rows_for("pfa", ANY) if r.code == "E23000030")
    lads_in = [u.code for u in geography.lads if u.parent_code == "E23000030"]
    assert hampshire.population == sum(rows[c] for c in lads_in)


# --- files the nesting cannot place --------------------------------------------------------------------------


def test_an_lsoa_named_after_no_known_district_is_named_in_the_error(tmp_path: Path, districts: DistrictNames) -> None:
    path = write(
        tmp_path,
        "p.csv",
        "LSOA21CD,LSOA21NM,BNG_E,BNG_N,population\n"
        "E01000001,City of London 001A,532181.8,181792.3,1474\n"
        "E01099999,Atlantis 001A,450000,200000,1200\n",
    )
    with pytest.raises(PopulationError) as caught:
        nest_in_districts(load_lsoa_population(path), districts)
    message = caught.value.message
    assert "row 3" in message and "E01099999" in message and "Atlantis" in message and "--lsoa-lookup" in message


def test_a_file_without_names_asks_for_them_or_a_lookup(tmp_path: Path, districts: DistrictNames) -> None:
    path = write(tmp_path, "p.csv", "LSOA21CD,x,y,population\nE01000001,532181.8,181792.3,1474\n")
    with pytest.raises(PopulationError, match=r"LSOA21NM.*--lsoa-lookup"):
        nest_in_districts(load_lsoa_population(path), districts)


def test_a_census_table_gives_the_names_when_the_centroids_lack_them(tmp_path: Path, districts: DistrictNames) -> None:
    centroids = write(tmp_path, "c.csv", "LSOA21CD,x,y\nE01000001,532181.8,181792.3\nE01019400,330000,520000\n")
    counts = write(
        tmp_path,
        "ts.csv",
        "date,geography,geography code,Residence type: Total; measures: Value\n"
        "2021,City of London 001A,E01000001,1474\n2021,Allerdale 001A,E01019400,1500\n",
    )
    points = nest_in_districts(load_lsoa_population(centroids, counts), districts)
    assert points.lad_codes is not None and points.lad_codes.tolist() == ["E09000001", "E06000063"]


def test_a_lookup_file_places_lsoas_and_maps_former_district_codes(tmp_path: Path, districts: DistrictNames) -> None:
    points = load_lsoa_population(
        write(tmp_path, "p.csv", "LSOA21CD,x,y,population\nE01000001,532181.8,181792.3,10\nE01019400,330000,520000,5\n")
    )
    lookup = write(
        tmp_path,
        "lookup.csv",
        "OA21CD,LSOA21CD,LSOA21NM,LAD22CD,LAD22NM\n"
        "E00000001,E01000001,City of London 001A,E09000001,City of London\n"
        "E00000002,E01000001,City of London 001A,E09000001,City of London\n"
        "E00096000,E01019400,Allerdale 001A,E07000026,Allerdale\n",
    )
    placed = nest_in_districts(points, districts, lookup=lookup)
    assert placed.lad_codes is not None and placed.lad_codes.tolist() == ["E09000001", "E06000063"]
    conflicting = write(
        tmp_path,
        "bad.csv",
        "LSOA21CD,LAD22CD\nE01000001,E09000001\nE01000001,E09000002\nE01019400,E07000026\n",
    )
    with pytest.raises(PopulationError, match=r"row 3.*E01000001"):
        nest_in_districts(points, districts, lookup=conflicting)
    scottish = write(tmp_path, "sc.csv", "LSOA21CD,LAD22CD\nE01000001,S12000036\nE01019400,E07000026\n")
    with pytest.raises(PopulationError, match=r"row 2.*S12000036"):
        nest_in_districts(points, districts, lookup=scottish)
    short = write(tmp_path, "short.csv", "LSOA21CD,LAD22CD\nE01000001,E09000001\n")
    with pytest.raises(PopulationError, match=r"1 LSOAs.*E01019400"):
        nest_in_districts(points, districts, lookup=short)


def test_a_file_that_does_not_cover_england_and_wales_is_refused_unless_partial(
    tmp_path: Path, districts: DistrictNames
) -> None:
    path = write(
        tmp_path,
        "four.csv",
        "LSOA21CD,LSOA21NM,BNG_E,BNG_N,population\n"
        "E01000001,City of London 001A,532181.8,181792.3,1474\n"
        "E01000002,City of London 001B,532300,181500,1400\n"
        "E01033583,Hart 001A,480000,158000,1600\n"
        "W01001500,Cardiff 001A,318000,178000,1500\n",
    )
    with pytest.raises(PopulationError, match=r"covers 3 of 318 local authorities.*--partial"):
        load_nested_population(path, districts=districts)
    partial = load_nested_population(path, districts=districts, partial=True)
    assert partial.basis.partial and "PARTIAL: 3 of 318" in partial.basis.label
    assert check_extent(partial, {"E09000001"}, partial=False) is partial  # complete for a one-district list
