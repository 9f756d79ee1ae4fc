"""Boundary loading (any vintage, GeoJSON by path or URL), validation messages, and the point index."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely

from mapping.boundaries import BoundaryError, BoundaryIndex, load_boundaries, parse_boundaries
from mapping.coverage import resolve_coverage
from mapping.crs import bng_to_wgs84
from mapping.types import AreaCoverage, Nation, NationalCoverage


def square(lon: float, lat: float, size: float = 1.0) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [[[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]],
    }


def collection(features: list[tuple[dict[str, Any], dict[str, Any] | None]], **extra: Any) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        **extra,
        "features": [{"type": "Feature", "properties": p, "geometry": g} for p, g in features],
    }


def two_forces(code_col: str = "PFA19CD", name_col: str = "PFA19NM") -> dict[str, Any]:
    return collection(
        [
            ({code_col: "E23000001", name_col: "West", "OTHER": 1}, square(-2.0, 52.0)),
            ({code_col: "E23000002", name_col: "East"}, square(-1.0, 52.0)),
            ({code_col: "W15000001", name_col: "Wales"}, square(-4.0, 52.0)),
        ]
    )


def test_detects_level_and_vintage_from_columns() -> None:
    pfas = parse_boundaries(two_forces())
    assert (pfas.level, pfas.vintage, len(pfas)) == ("pfa", "2019", 3)
    lads = parse_boundaries(
        collection([({"LAD25CD": "E06000001", "LAD25NM": "Hartlepool", "LAD25NMW": " "}, square(-1.3, 54.6, 0.1))])
    )
    assert (lads.level, lads.vintage, lads.codes()) == ("lad", "2025", ("E06000001",))
    assert parse_boundaries(two_forces("pfa23cd", "pfa23nm"), vintage="Dec 2023").vintage == "Dec 2023"


def test_keeps_only_england_and_wales_lads() -> None:
    data = collection(
        [
            ({"LAD25CD": "E06000001", "LAD25NM": "Hartlepool"}, square(-1.3, 54.6, 0.1)),
            ({"LAD25CD": "S12000036", "LAD25NM": "City of Edinburgh"}, square(-3.3, 55.9, 0.1)),
            ({"LAD25CD": "N09000003", "LAD25NM": "Belfast"}, square(-6.0, 54.6, 0.1)),
        ]
    )
    assert parse_boundaries(data).codes() == ("E06000001",)


def test_repairs_invalid_geometry() -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 52], [1, 53], [1, 52], [0, 53], [0, 52]]]}
    assert not shapely.geometry.shape(bowtie).is_valid
    (boundary,) = parse_boundaries(collection([({"LAD25CD": "E06000001", "LAD25NM": "Bow"}, bowtie)])).boundaries
    assert boundary.geometry.is_valid and boundary.geometry.area > 0.4
    assert boundary.geometry.geom_type in ("Polygon", "MultiPolygon")


def test_british_national_grid_files_are_transformed() -> None:
    ring = [[400000, 300000], [410000, 300000], [410000, 310000], [400000, 310000], [400000, 300000]]
    data = collection(
        [({"LAD21CD": "E07000001", "LAD21NM": "Somewhere"}, {"type": "Polygon", "coordinates": [ring]})],
        crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},
    )
    (boundary,) = parse_boundaries(data).boundaries
    lon, lat = bng_to_wgs84(405000, 305000)
    assert boundary.geometry.covers(shapely.Point(float(lon), float(lat)))
    minx, miny, maxx, maxy = boundary.geometry.bounds
    assert -3 < minx < maxx < 0 and 52 < miny < maxy < 54


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"type": "Feature"}, ["not a GeoJSON FeatureCollection"]),
        (collection([]), ["no features"]),
        (collection([({"CODE": "E23000001"}, square(0, 52))]), ["feature 0", "PFAyyCD or LADyyCD", "CODE"]),
        (collection([({"PFA23CD": "E23000001"}, square(0, 52))]), ["PFA23NM"]),
        (
            collection([({"PFA23CD": "E23000001", "PFA23NM": "A"}, square(0, 52)), ({"PFA23NM": "B"}, square(1, 52))]),
            ["feature 1", "PFA23CD", "empty"],
        ),
        (
            collection([({"PFA23CD": "E23000001", "PFA23NM": "A"}, square(0, 52)), ({"PFA23CD": "E23000002"}, None)]),
            ["feature 1", "E23000002", "PFA23NM"],
        ),
        (
            collection([({"PFA23CD": "E23000001", "PFA23NM": "A"}, {"type": "Polygon", "coordinates": "x"})]),
            ["feature 0", "E23000001", "geometry"],
        ),
        (
            collection([({"PFA23CD": "E23000001", "PFA23NM": "A"}, square(0, 52))] * 2),
            ["feature 1", "E23000001", "twice"],
        ),
    ],
)
def test_bad_files_say_where_and_what(data: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(BoundaryError) as caught:
        parse_boundaries(data, source="forces.geojson")
    message = str(caught.value)
    assert all(word in message for word in words), message


def test_wrong_level_requested() -> None:
    with pytest.raises(BoundaryError, match="no LADyyCD column"):
        parse_boundaries(two_forces(), level="lad")
    with pytest.raises(BoundaryError, match="'pfa' or 'lad'"):
        parse_boundaries(two_forces(), level="lsoa")


def test_load_from_path(tmp_path: Path) -> None:
    path = tmp_path / "forces.geojson"
    path.write_text(json.dumps(two_forces()), encoding="utf-8")
    assert load_boundaries(path).codes() == ("E23000001", "E23000002", "W15000001")
    with pytest.raises(BoundaryError, match="no such file"):
        load_boundaries(tmp_path / "missing.geojson")
    broken = tmp_path / "broken.geojson"
    broken.write_text("{ not json", encoding="utf-8")
    with pytest.raises(BoundaryError, match=r"broken\.geojson: not valid JSON at line 1"):
        load_boundaries(broken)


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on localhost serving files from a temporary folder."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    server.shutdown()
    server.server_close()


def test_load_from_url(http_folder: tuple[str, Path]) -> None:
    base, folder = http_folder
    (folder / "forces.geojson").write_text(json.dumps(two_forces()), encoding="utf-8")
    loaded = load_boundaries(f"{base}/forces.geojson")
    assert loaded.level == "pfa" and len(loaded) == 3 and loaded.source.endswith("forces.geojson")
    with pytest.raises(BoundaryError, match="download failed"):
        load_boundaries(f"{base}/missing.geojson")


def test_a_download_is_bounded_while_it_is_read(http_folder: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from mapping import boundaries

    base, folder = http_folder
    (folder / "forces.geojson").write_text(json.dumps(two_forces()), encoding="utf-8")
    monkeypatch.setattr(boundaries, "BOUNDARY_FILE_BYTES", 100)
    with pytest.raises(BoundaryError, match=r"forces\.geojson: over 100 bytes, the limit for an ONS boundary file"):
        load_boundaries(f"{base}/forces.geojson")


def test_index_covers_snaps_and_unions() -> None:
    index = BoundaryIndex([parse_boundaries(two_forces())], snap_m=2_000)
    assert index.levels == ("pfa",)
    assert index.area_at(52.5, -1.5, "pfa") == "E23000001"
    assert index.area_at(52.5, -0.5, "pfa") == "E23000002"
    # on the shared edge: covered by both; the lowest code wins, every time
    assert index.area_at(52.5, -1.0, "pfa") == "E23000001"
    # just off the outer edge (about 1.1 km east of 0.0): snapped; 11 km off: nothing
    assert index.area_with_distance(52.5, 0.0165, "pfa") is not None
    code, distance = index.area_with_distance(52.5, 0.0165, "pfa") or ("", 0.0)
    assert code == "E23000002" and 1_000 < distance < 1_300
    assert index.area_at(52.5, 0.165, "pfa") is None
    assert index.area_at(52.5, -1.5, "lad") is None  # no LADs loaded
    assert index.geometry("E23000002") is not None and index.geometry("E99999999") is None
    england = index.geometry(Nation.ENGLAND)
    wales = index.geometry(Nation.WALES)
    both = index.geometry(Nation.ENGLAND_AND_WALES)
    assert england is not None and wales is not None and both is not None
    assert england.area == pytest.approx(2.0) and wales.area == pytest.approx(1.0) and both.area == pytest.approx(3.0)
    # the index is an AreaGeometryLookup for coverage resolution
    resolved = resolve_coverage(AreaCoverage(("E23000001", "E23000002")), index.geometry)
    assert resolved is not None and resolved.area == pytest.approx(2.0)
    national = resolve_coverage(NationalCoverage(Nation.WALES), index.geometry)
    assert national is not None and national.covers(shapely.Point(-3.5, 52.5))


# --- the real ONS files (skipped when ../shared/data/geography is absent) ---------------------------------


@pytest.fixture(scope="module")
def real_index(geography_dir: Path) -> BoundaryIndex:
    return BoundaryIndex(
        [
            load_boundaries(geography_dir / "pfa_dec2023_buc.geojson"),
            load_boundaries(geography_dir / "lad_may2025_buc.geojson"),
        ]
    )


def test_real_files_load(real_index: BoundaryIndex) -> None:
    pfas, lads = real_index.boundary_set("pfa"), real_index.boundary_set("lad")
    assert pfas is not None and lads is not None
    assert (len(pfas), pfas.vintage, len(lads), lads.vintage) == (43, "2023", 318, "2025")
    assert all(b.geometry.is_valid for b in lads.boundaries)
    assert real_index.area_at(53.8178, -1.5745, "lad") == "E08000035"  # Leeds
    assert real_index.area_at(53.8178, -1.5745, "pfa") == "E23000010"  # West Yorkshire
    assert real_index.area_at(51.4816, -3.1791, "pfa") == "W15000003"  # Cardiff: South Wales
    assert real_index.area_at(55.9533, -3.1883, "pfa") is None  # Edinburgh
    assert real_index.area_at(53.8, -4.5, "pfa") is None  # Irish Sea
    wales = real_index.geometry(Nation.WALES)
    assert wales is not None and wales.covers(shapely.Point(-3.1791, 51.4816))
    assert not wales.covers(shapely.Point(-0.1276, 51.5072))


def test_every_lsoa_centroid_gets_a_force(real_index: BoundaryIndex, geography_dir: Path) -> None:
    """Population-weighted centroids just off the generalised coastline snap to the nearest force."""
    with (geography_dir / "lsoa21_population_weighted_centroids.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 35_000
    missing = [r["LSOA21CD"] for r in rows if real_index.area_at(float(r["LAT"]), float(r["LONG"]), "pfa") is None]
    assert not missing, missing[:20]


def test_shapefile_in_british_national_grid(tmp_path: Path) -> None:
    """ONS also publishes shapefiles (in BNG); they load when the optional pyogrio package is installed."""
    pytest.importorskip("pyogrio", reason="shapefiles need pyogrio (pip install -e '.[shapefile]')")
    from pyogrio.raw import write

    polygons = shapely.to_wkb(
        [shapely.box(400000, 300000, 410000, 310000), shapely.box(410000, 300000, 420000, 310000)]
    )
    codes, names = ["E23000016", "E23000015"], ["West Mercia", "Staffordshire"]
    path = tmp_path / "pfa.shp"
    write(
        str(path),
        polygons,
        [np.array(codes, dtype=object), np.array(names, dtype=object)],
        fields=["PFA23CD", "PFA23NM"],
        crs="EPSG:27700",
        driver="ESRI Shapefile",
        geometry_type="Polygon",
    )
    loaded = load_boundaries(path)
    assert (loaded.level, loaded.vintage, loaded.codes()) == ("pfa", "2023", ("E23000015", "E23000016"))
    lon, lat = bng_to_wgs84(405000, 305000)
    assert BoundaryIndex([loaded]).area_at(float(lat), float(lon), "pfa") == "E23000016"
