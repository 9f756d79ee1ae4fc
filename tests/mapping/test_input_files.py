"""Hostile inputs to the readers other than the services import: refused by type, size, depth and point count."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from mapping import boundaries, population
from mapping.boundaries import BoundaryError, load_boundaries
from mapping.crime import CrimeError, load_recorded_crime
from mapping.geometry_limits import count_points
from mapping.input_files import InputFileError, json_depth, load_json, read_input_file, read_stream
from mapping.population import PopulationError, load_lsoa_population

WHAT = "the test file"


def test_a_folder_a_fifo_and_a_device_are_refused_by_type_before_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)  # nobody writes to it: reading it would hang
    for path, kind in ((tmp_path, "is a folder"), (fifo, r"is a pipe \(FIFO\)"), (Path("/dev/zero"), "is a device")):
        with pytest.raises(InputFileError, match=kind) as caught:
            read_input_file(path, limit=10, what=WHAT)
        assert str(path) in str(caught.value) and WHAT in str(caught.value)
    with pytest.raises(InputFileError, match="no such file"):
        read_input_file(tmp_path / "missing.csv", limit=10, what=WHAT)


def test_the_size_is_counted_while_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * 2000)
    assert read_input_file(path, limit=2000, what=WHAT) == b"x" * 2000
    with pytest.raises(InputFileError, match="over 1,999 bytes, the limit for the test file"):
        read_input_file(path, limit=1999, what=WHAT)
    with pytest.raises(InputFileError, match="over 100 bytes"):
        read_stream(io.BytesIO(b"y" * 10_000), name="<stdin>", limit=100, what=WHAT)


def test_each_refusal_says_its_reason_so_a_caller_can_word_it(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 5000)
    cases = [(tmp_path, "folder"), (fifo, "not_regular"), (tmp_path / "missing.csv", "missing"), (big, "too_big")]
    for path, reason in cases:
        with pytest.raises(InputFileError) as caught:
            read_input_file(path, limit=4096, what=WHAT)
        assert caught.value.reason == reason
    assert caught.value.size == 4097  # counted while reading: one byte past the limit, no more
    with pytest.raises(InputFileError) as caught:
        read_input_file(big / "x", limit=4096, what=WHAT)
    assert caught.value.reason == "unreadable" and caught.value.detail == "Not a directory"


def test_json_depth_reads_text_as_it_reads_bytes() -> None:
    for text in ['{"a": "\ud800 [[", "b": [[1]]}', '"\\\\"[', '{"é": "\\"[[", "b": {}}', "]]]", ""]:
        assert json_depth(text) == json_depth(text.encode("utf-8", "surrogatepass"))
    assert json_depth('{"a": "\ud800", "b": [[1]]}') == 3


def test_json_nested_deeper_than_the_limit_is_refused_before_parsing() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert json_depth(deep) == 100_000 and json_depth(b'{"a": "[[[[", "b": [1]}') == 2
    with pytest.raises(InputFileError, match="nested 100,000 levels deep; the limit is 32"):
        load_json(deep, name="deep.geojson", what=WHAT)
    with pytest.raises(InputFileError, match="not valid JSON at line 1"):
        load_json(b"{", name="cut.geojson", what=WHAT)


def test_points_are_counted_in_geojson_and_text_and_the_count_stops_past_the_limit() -> None:
    ring = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
    multi = {"type": "MultiPolygon", "coordinates": [[ring], [ring, ring]]}
    assert count_points(multi) == 12
    collection = {"type": "GeometryCollection", "geometries": [multi, {"type": "Point", "coordinates": [1, 2]}]}
    assert count_points(collection) == 13
    assert count_points("POLYGON((0 0, 1 0, 1 1, 0 0))") == 4
    assert count_points(multi, stop_after=5) == 6


def _boundary_file(path: Path, points: int) -> Path:
    ring = [[-1.0 + i * 1e-6, 53.0] for i in range(points - 2)] + [[-1.0, 53.1], [-1.0, 53.0]]
    feature = {
        "type": "Feature",
        "properties": {"PFA23CD": "E23000001", "PFA23NM": "Test"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    return path


def test_boundary_files_are_refused_by_type_depth_and_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BoundaryError, match="is a device"):
        load_boundaries("/dev/zero")
    with pytest.raises(BoundaryError, match="is a folder"):
        load_boundaries(tmp_path)
    deep = tmp_path / "deep.geojson"
    deep.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(BoundaryError, match=r"deep\.geojson: the JSON is nested 100,000 levels deep"):
        load_boundaries(deep)
    path = _boundary_file(tmp_path / "dense.geojson", 50)
    assert len(load_boundaries(path)) == 1
    monkeypatch.setattr(boundaries, "BOUNDARY_POINTS", 49)
    with pytest.raises(BoundaryError, match=r"feature 0 \(E23000001\): the geometry has more than 49 points.*simplify"):
        load_boundaries(path)
    monkeypatch.setattr(boundaries, "BOUNDARY_POINTS", 50)
    monkeypatch.setattr(boundaries, "BOUNDARY_FILE_POINTS", 49)
    with pytest.raises(BoundaryError, match="together has more than 49 points, the limit for one boundary file"):
        load_boundaries(path)


def test_real_ons_boundaries_are_far_below_the_point_limits(geography_dir: Path) -> None:
    for name in ("pfa_dec2023_buc.geojson", "lad_may2025_buc.geojson"):
        data = json.loads((geography_dir / name).read_bytes())
        counts = [count_points(f["geometry"]) for f in data["features"]]
        assert max(counts) * 100 < boundaries.BOUNDARY_POINTS and sum(counts) * 100 < boundaries.BOUNDARY_FILE_POINTS
        assert len(load_boundaries(geography_dir / name)) > 40


def test_a_recorded_crime_file_that_is_not_csv_or_not_a_file_gets_a_message(tmp_path: Path) -> None:
    binary = tmp_path / "crime.csv"
    binary.write_bytes(b'"a\x00b\n' + bytes(range(256)) * 4)
    with pytest.raises(CrimeError, match=r"crime\.csv: line .*not readable as CSV"):
        load_recorded_crime(binary, force_names={})
    with pytest.raises(CrimeError, match="is a device"):
        load_recorded_crime("/dev/zero", force_names={})


def test_population_files_are_bounded_and_a_zip_bomb_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(PopulationError, match="is a device"):
        load_lsoa_population("/dev/zero")
    bomb = tmp_path / "census.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("lsoa.csv", "LSOA21CD,population\n" + "E01000001,1\n" * 20_000)
    monkeypatch.setattr(population, "CSV_FILE_BYTES", 10_000)
    assert bomb.stat().st_size < 10_000
    with pytest.raises(PopulationError, match=r"census.zip!lsoa.csv: over 10,000 bytes"):
        load_lsoa_population(bomb)
