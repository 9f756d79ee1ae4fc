"""The authored LAD -> PFA, commissioner and local strand tables; checked against the official ONS polygons."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely

from mapping.areas import LAD, PFA, AreaRegistry, area_level, nation_of
from mapping.boundaries import load_boundaries
from mapping.crs import geometry_to_bng
from mapping.postcodes import PostcodeDirectory
from mapping.types import CommissionerKind, Nation

GENERALISATION_TOLERANCE_M = 1_000.0  # the BUC files simplify boundaries by a few hundred metres


@pytest.fixture(scope="module")
def registry() -> AreaRegistry:
    return AreaRegistry.default()


def test_every_current_lad_and_force(registry: AreaRegistry) -> None:
    lads, pfas = registry.lads(), registry.pfas()
    assert len(lads) == 318 and len(pfas) == 43
    assert {p.code for p in pfas} == {f"E23{n:06d}" for n in range(1, 40)} | {f"W15{n:06d}" for n in range(1, 5)}
    assert all(re.fullmatch(r"(E0[6-9]|W06)\d{6}", lad.code) for lad in lads)
    for pfa in pfas:
        assert registry.lads_in(pfa.code), f"{pfa.code} {pfa.name} has no LAD"
    assert sum(len(registry.lads_in(p.code)) for p in pfas) == 318
    # Welsh districts are policed by Welsh forces, English by English
    assert all(nation_of(lad.code) == nation_of(lad.pfa_code or "") for lad in lads)


def test_table_lads_are_the_lads_in_the_postcode_directory(registry: AreaRegistry) -> None:
    codes = PostcodeDirectory().lad_codes()
    assert {c for c in codes if c[0] in "EW"} == {lad.code for lad in registry.lads()}


def test_lookups(registry: AreaRegistry) -> None:
    leeds = registry.area("e08000035 ")
    assert leeds is not None and leeds.name == "Leeds" and leeds.level == LAD
    assert registry.pfa_for_lad("E08000035") == "E23000010"
    assert registry.pfa_for_lad("E09000001") == "E23000034"  # the City of London has its own force
    assert registry.pfa_for_lad("E09000033") == "E23000001"
    assert registry.pfa_for_lad("W06000022") == "W15000002"  # Newport: Gwent
    assert registry.pfa_for_lad("S12000036") is None
    assert registry.pfa_for_lad("E23000010") is None  # a PFA is not a LAD
    west_yorkshire = registry.area("E23000010")
    assert west_yorkshire is not None and west_yorkshire.level == PFA and west_yorkshire.pfa_code == "E23000010"
    assert registry.is_known("W15000004") and not registry.is_known("E23000040")
    assert area_level("E07000240") == LAD and area_level("W15000001") == PFA and area_level("S12000036") is None
    assert nation_of("W06000015") is Nation.WALES and nation_of("S12000036") is None


def test_commissioners_follow_police_governance(registry: AreaRegistry) -> None:
    commissioners = registry.commissioners()
    assert len(commissioners) == 43 and len({c.code for c in commissioners}) == 43
    kinds = Counter(c.kind for c in commissioners)
    assert kinds == {
        CommissionerKind.PCC: 37,
        CommissionerKind.MAYOR: 4,
        CommissionerKind.MOPAC: 1,
        CommissionerKind.COMMON_COUNCIL: 1,
    }
    mayors = {c.pfa_code for c in commissioners if c.kind is CommissionerKind.MAYOR}
    assert {registry.area(code).name for code in mayors if registry.area(code)} == {
        "Greater Manchester",
        "West Yorkshire",
        "South Yorkshire",
        "North Yorkshire",
    }
    assert registry.commissioner_for("E23000001").kind is CommissionerKind.MOPAC
    assert registry.commissioner_for("E23000034").kind is CommissionerKind.COMMON_COUNCIL
    assert registry.commissioner_for("E23000014").kind is CommissionerKind.PCC  # West Midlands still has a PCC
    assert registry.commissioner_for("W15000001").name == "Police and Crime Commissioner for North Wales"
    for c in commissioners:
        assert registry.commissioner_source(c.code).startswith("https://")
        assert registry.commissioner_for(c.pfa_code or "") == c
    with pytest.raises(KeyError, match="not a Police Force Area"):
        registry.commissioner_for("E08000035")


def test_local_strands_are_data(registry: AreaRegistry) -> None:
    (strand,) = registry.local_strands("E23000005")
    assert strand.key == "alternative_subculture" and strand.since == "2013-04"
    assert strand.source_url.startswith("https://")
    assert registry.local_strands("E23000010") == ()


def test_registry_from_other_tables() -> None:
    registry = AreaRegistry(
        lad_pfa=[{"lad_code": "E06000001", "lad_name": "Hartlepool", "pfa_code": "E23000013", "pfa_name": "Cleveland"}],
        commissioners=[],
        local_strands=[],
    )
    assert [a.code for a in registry.pfas()] == ["E23000013"]
    assert registry.commissioners() == ()


# --- against the official polygons (skipped where ../shared/data/geography is absent) ----------------------


@pytest.fixture(scope="module")
def pfa_polygons_bng(geography_dir: Path) -> dict[str, shapely.Geometry]:
    pfas = load_boundaries(geography_dir / "pfa_dec2023_buc.geojson")
    return {b.code: geometry_to_bng(b.geometry) for b in pfas.boundaries}


def test_every_lad_lies_mostly_in_its_tables_pfa(
    registry: AreaRegistry, geography_dir: Path, pfa_polygons_bng: dict[str, shapely.Geometry]
) -> None:
    lads = load_boundaries(geography_dir / "lad_may2025_buc.geojson")
    assert set(lads.codes()) == {lad.code for lad in registry.lads()}
    codes = list(pfa_polygons_bng)
    tree = shapely.STRtree(list(pfa_polygons_bng.values()))
    wrong = []
    for lad in lads.boundaries:
        shape = geometry_to_bng(lad.geometry)
        candidates = tree.query(shape)
        best = max(candidates, key=lambda i: shape.intersection(tree.geometries[i]).area)
        if codes[best] != registry.pfa_for_lad(lad.code):
            wrong.append(f"{lad.code} {lad.name}: polygons say {codes[best]}, table {registry.pfa_for_lad(lad.code)}")
    assert not wrong, "\n".join(wrong)


def test_postcodes_lie_in_their_tables_pfa(
    registry: AreaRegistry, pfa_polygons_bng: dict[str, shapely.Geometry]
) -> None:
    directory = PostcodeDirectory()
    eastings, northings, expected = [], [], []
    for _code, easting, northing, lad in directory.sample(10):  # about 240,000 in England and Wales
        if lad and lad[0] in "EW":
            eastings.append(easting)
            northings.append(northing)
            expected.append(registry.pfa_for_lad(lad))
    assert len(expected) > 200_000
    points = shapely.points(eastings, northings)
    codes = np.array(list(pfa_polygons_bng), dtype=object)
    tree = shapely.STRtree(list(pfa_polygons_bng.values()))
    inside, hit = tree.query(points, predicate="covered_by")
    found = np.full(len(points), None, dtype=object)
    found[inside] = codes[hit]
    disagree = np.flatnonzero(found != np.array(expected, dtype=object))
    # Where the generalised polygon disagrees, the point must be within the generalisation of its table PFA.
    too_far = [
        (expected[i], found[i], eastings[i], northings[i])
        for i in disagree
        if pfa_polygons_bng[expected[i]].distance(points[i]) > GENERALISATION_TOLERANCE_M
    ]
    assert not too_far, too_far[:20]
    assert len(disagree) < 0.01 * len(points)


def test_table_names_match_the_official_files(registry: AreaRegistry, geography_dir: Path) -> None:
    for name in ("pfa_dec2023_buc.geojson", "lad_may2025_buc.geojson"):
        for boundary in load_boundaries(geography_dir / name).boundaries:
            info = registry.area(boundary.code)
            assert info is not None and info.name == boundary.name, (boundary.code, boundary.name)
