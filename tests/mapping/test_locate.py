"""The Locator: text and points to Locations with LAD and PFA codes, and clear answers for bad input."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapping.areas import AreaRegistry
from mapping.boundaries import BoundaryIndex, load_boundaries
from mapping.geocoder import NominatimGeocoder
from mapping.locate import Ambiguous, Located, Locator, NotFound, Problem
from mapping.places import Gazetteer
from mapping.postcodes import PostcodeDirectory
from mapping.types import LocationSource


@pytest.fixture(scope="module")
def postcodes() -> PostcodeDirectory:
    return PostcodeDirectory()


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer()


@pytest.fixture(scope="module")
def locator(postcodes: PostcodeDirectory, gazetteer: Gazetteer) -> Locator:
    return Locator(postcodes=postcodes, registry=AreaRegistry.default(), gazetteer=gazetteer)


def located(result: object) -> Located:
    assert isinstance(result, Located), result
    return result


def not_found(result: object, problem: str) -> NotFound:
    assert isinstance(result, NotFound), result
    assert result.problem == problem, result
    assert result.message
    return result


@pytest.mark.parametrize(
    ("text", "source", "lad", "pfa"),
    [
        ("LS6 1AA", LocationSource.POSTCODE, "E08000035", "E23000010"),
        ("ls61aa", LocationSource.POSTCODE, "E08000035", "E23000010"),
        ("LS6", LocationSource.OUTCODE, "E08000035", "E23000010"),
        ("ls6 1", LocationSource.SECTOR, "E08000035", "E23000010"),
        ("EC2V 7HH", LocationSource.POSTCODE, "E09000001", "E23000034"),  # the City of London
        ("CF10 1EP", LocationSource.POSTCODE, "W06000015", "W15000003"),  # Cardiff
        ("M1 1AE", LocationSource.POSTCODE, "E08000003", "E23000005"),
        ("Leeds", LocationSource.PLACE, "E08000035", "E23000010"),
        ("Caerdydd", LocationSource.PLACE, "W06000015", "W15000003"),
        ("53.8, -1.55", LocationSource.COORDINATES, "E08000035", "E23000010"),
        ("(51.4816 -3.1791)", LocationSource.COORDINATES, "W06000015", "W15000003"),
    ],
)
def test_locates_text(locator: Locator, text: str, source: LocationSource, lad: str, pfa: str) -> None:
    location = located(locator.locate(text)).location
    assert (location.source, location.lad_code, location.pfa_code) == (source, lad, pfa)
    assert location.precision_m > 0 and location.label
    assert location.in_england_or_wales


@pytest.mark.parametrize("text", ["I am at ls6 1aa near the park", "Flat 2, 10 High Street, Leeds LS6 1AA"])
def test_a_postcode_inside_other_words_is_found(locator: Locator, text: str) -> None:
    location = located(locator.locate(text)).location
    assert (location.label, location.lad_code) == ("LS6 1AA", "E08000035")


def test_precision_widens_from_postcode_to_outcode_to_town(locator: Locator) -> None:
    unit = located(locator.locate("LS6 1AA")).location.precision_m
    sector = located(locator.locate("LS6 1")).location.precision_m
    outcode = located(locator.locate("LS6")).location.precision_m
    town = located(locator.locate("Leeds")).location.precision_m
    assert unit < sector <= outcode < town


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", Problem.EMPTY),
        ("   ", Problem.EMPTY),
        ("LS6 1A", Problem.MALFORMED_POSTCODE),
        ("12345", Problem.MALFORMED_POSTCODE),
        ("ZZ9 9ZZ", Problem.UNKNOWN_POSTCODE),
        ("ZZ9", Problem.UNKNOWN_POSTCODE),
        ("Xyzzyville", Problem.UNKNOWN_PLACE),
        ("EH1 1RW", Problem.OUTSIDE_ENGLAND_WALES),  # Edinburgh
        ("BT1 1AA", Problem.OUTSIDE_ENGLAND_WALES),  # Belfast
        ("GY1 1AA", Problem.OUTSIDE_ENGLAND_WALES),  # Guernsey: no grid reference
        ("Edinburgh", Problem.OUTSIDE_ENGLAND_WALES),
        ("55.9533, -3.1883", Problem.OUTSIDE_ENGLAND_WALES),
        ("48.8566, 2.3522", Problem.OUTSIDE_ENGLAND_WALES),  # Paris
        ("53.8, -4.5", Problem.AT_SEA),  # the Irish Sea
        ("-1.55, 53.8", Problem.SWAPPED_COORDINATES),
        ("-3.1791,51.4816", Problem.SWAPPED_COORDINATES),
        ("200, 10", Problem.INVALID_COORDINATES),
    ],
)
def test_bad_input_gets_a_clear_answer(locator: Locator, text: str, problem: str) -> None:
    result = not_found(locator.locate(text), problem)
    assert result.query == " ".join(text.split())


def test_messages_say_what_to_do(locator: Locator) -> None:
    swapped = not_found(locator.locate("-1.55, 53.8"), Problem.SWAPPED_COORDINATES)
    assert "53.8, -1.55" in swapped.message
    unknown = not_found(locator.locate("ZZ9 9ZZ"), Problem.UNKNOWN_POSTCODE)
    assert "ZZ9 9ZZ" in unknown.message and "ZZ9" in unknown.message
    scotland = not_found(locator.locate("EH1 1RW"), Problem.OUTSIDE_ENGLAND_WALES)
    assert "Scotland" in scotland.message


def test_ambiguous_place_offers_choices_with_districts(locator: Locator) -> None:
    result = locator.locate("Newport")
    assert isinstance(result, Ambiguous)
    labels = [p.label for p in result.choices]
    assert "Newport (Wales)" in labels[0]
    assert any("Isle of Wight" in label for label in labels)
    wight = next(p for p in result.choices if p.district == "Isle of Wight")
    location = located(locator.locate_place(wight)).location
    assert (location.lad_code, location.pfa_code) == ("E06000046", "E23000030")


def test_a_district_after_a_comma_picks_the_place(locator: Locator) -> None:
    location = located(locator.locate("Newport, Isle of Wight")).location
    assert location.lad_code == "E06000046"
    location = located(locator.locate("Newport, Pembrokeshire")).location
    assert (location.lad_code, location.pfa_code) == ("W06000009", "W15000004")
    welsh = locator.locate("Newport, Wales")  # two Welsh Newports: still a question, but only Welsh choices
    assert isinstance(welsh, Ambiguous) and len(welsh.choices) >= 2
    assert all(p.region == "Wales" for p in welsh.choices)


def test_gps_point_used_as_is(locator: Locator) -> None:
    location = located(locator.locate_point(51.50101, -0.14159, accuracy_m=35.0)).location
    assert (location.lat, location.lon, location.precision_m) == (51.50101, -0.14159, 35.0)
    assert location.source is LocationSource.GPS
    assert (location.lad_code, location.pfa_code) == ("E09000033", "E23000001")


def test_gps_on_remote_land_is_not_at_sea(locator: Locator) -> None:
    # Cross Fell, North Pennines: a long way from any postcode, but land
    location = located(locator.locate_point(54.7028, -2.4866)).location
    assert location.lad_code == "E06000064" or location.pfa_code in {"E23000002", "E23000008", "E23000007"}


# --- with the real boundaries (skipped when ../shared/data/geography is absent) ---------------------------


@pytest.fixture(scope="module")
def bounded(postcodes: PostcodeDirectory, gazetteer: Gazetteer, geography_dir: Path) -> Locator:
    index = BoundaryIndex(
        [
            load_boundaries(geography_dir / "pfa_dec2023_buc.geojson"),
            load_boundaries(geography_dir / "lad_may2025_buc.geojson"),
        ]
    )
    return Locator(postcodes=postcodes, registry=AreaRegistry.default(), gazetteer=gazetteer, boundaries=index)


def test_with_boundaries_points_come_from_polygons(bounded: Locator) -> None:
    location = located(bounded.locate_point(53.8178, -1.5745)).location
    assert (location.lad_code, location.pfa_code) == ("E08000035", "E23000010")
    not_found(bounded.locate_point(53.8, -4.5), Problem.AT_SEA)
    not_found(bounded.locate_point(55.9533, -3.1883), Problem.OUTSIDE_ENGLAND_WALES)


def test_a_point_just_over_the_border_is_not_snapped_into_england(bounded: Locator) -> None:
    # Gretna: about 1 km outside the generalised Cumberland polygon, 12 m from a Scottish postcode
    not_found(bounded.locate_point(54.9945, -3.0650), Problem.OUTSIDE_ENGLAND_WALES)
    # Berwick-upon-Tweed, inside Northumberland
    location = located(bounded.locate_point(55.771, -2.005)).location
    assert (location.lad_code, location.pfa_code) == ("E06000057", "E23000007")


def test_boundaries_and_nearest_postcode_agree_for_postcode_points(
    locator: Locator, bounded: Locator, postcodes: PostcodeDirectory
) -> None:
    """For real postcodes away from borders, both ways of placing a point give the same force."""
    disagree, total = 0, 0
    for code, *_ in postcodes.sample(3001):
        hit = postcodes.lookup(code)
        if hit is None or not (hit.lad_code or "").startswith(("E", "W")):
            continue
        a, b = locator.locate_point(hit.lat, hit.lon), bounded.locate_point(hit.lat, hit.lon)
        assert isinstance(a, Located) and isinstance(b, Located), (code, a, b)
        total += 1
        disagree += a.location.pfa_code != b.location.pfa_code
    assert total > 700
    assert disagree <= 0.01 * total


# --- the optional online geocoder, against a local Nominatim-shaped server --------------------------------


class _Nominatim(BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, list[dict[str, object]]]] = {
        "little snoring": [
            {
                "lat": "52.8622",
                "lon": "0.9025",
                "display_name": "Little Snoring, North Norfolk, Norfolk, England",
                "boundingbox": ["52.85", "52.87", "0.89", "0.91"],
            }
        ]
    }
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query)
        self.requests.append(self.path)
        body = json.dumps(self.answers.get(query.get("q", [""])[0].casefold(), [])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def nominatim_server() -> Iterator[str]:
    _Nominatim.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Nominatim)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_online_geocoder_is_rate_limited_and_cached(
    nominatim_server: str, postcodes: PostcodeDirectory, gazetteer: Gazetteer
) -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    geocoder = NominatimGeocoder(
        user_agent="signpost-tests", domain=nominatim_server, scheme="http", clock=lambda: now[0], sleep=sleep
    )
    locator = Locator(postcodes=postcodes, registry=AreaRegistry.default(), gazetteer=gazetteer, geocoder=geocoder)
    location = located(locator.locate("Little Snoring")).location
    assert location.source is LocationSource.GEOCODER
    assert (location.lad_code, location.pfa_code) == ("E07000147", "E23000024")
    assert "Little Snoring" in location.label
    located(locator.locate("little  snoring"))  # cached: no second request
    assert len(_Nominatim.requests) == 1 and "countrycodes=gb" in _Nominatim.requests[0]
    not_found(locator.locate("Nowhere At All"), Problem.UNKNOWN_PLACE)
    assert waits and waits[0] == pytest.approx(1.0)  # the second request waited out Nominatim's one a second
    assert geocoder.requests == 2


def test_strict_locate_takes_whole_town_names_only_and_never_asks_the_geocoder(
    nominatim_server: str, postcodes: PostcodeDirectory, gazetteer: Gazetteer
) -> None:
    geocoder = NominatimGeocoder(user_agent="signpost-tests", domain=nominatim_server, scheme="http")
    locator = Locator(postcodes=postcodes, registry=AreaRegistry.default(), gazetteer=gazetteer, geocoder=geocoder)
    assert "Leeds" in located(locator.locate("leeds", strict=True)).location.label
    assert "Cardiff" in located(locator.locate("Caerdydd", strict=True)).location.label  # another name, in full
    assert isinstance(locator.locate("Newport", strict=True), Ambiguous)
    assert located(locator.locate("my postcode is LS6 1AA", strict=True)).location.lad_code == "E08000035"
    not_found(locator.locate("Little Snoring", strict=True), Problem.UNKNOWN_PLACE)
    assert geocoder.requests == 0  # typed text that may not be a place is never sent out
    assert "Park Street" in located(locator.locate("Park")).location.label  # not strict: a name's first word
    not_found(locator.locate("Park", strict=True), Problem.UNKNOWN_PLACE)


@pytest.mark.parametrize("text", ["Wales", "cymru", "England", "UK", "Great Britain", "Cymru a Lloegr"])
def test_a_whole_nation_is_not_taken_for_a_village_of_the_same_name(locator: Locator, text: str) -> None:
    not_found(locator.locate(text), Problem.WHOLE_NATION)


def test_the_village_called_wales_is_still_found_with_its_district(locator: Locator) -> None:
    assert located(locator.locate("Wales, Rotherham")).location.lad_code == "E08000018"


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=40),
        st.from_regex(r"[A-Za-z0-9 ]{1,10}", fullmatch=True),
        st.from_regex(r"-?[0-9]{1,3}(\.[0-9]{1,6})?, ?-?[0-9]{1,3}(\.[0-9]{1,6})?", fullmatch=True),
    )
)
def test_any_text_gets_an_answer_never_an_exception(locator: Locator, text: str) -> None:
    result = locator.locate(text)
    assert isinstance(result, Located | Ambiguous | NotFound)
    if isinstance(result, NotFound):
        assert result.message and result.problem in vars(Problem).values()
    if isinstance(result, Located):
        assert result.location.in_england_or_wales and result.location.pfa_code is not None


@settings(max_examples=200, deadline=None)
@given(lat=st.floats(allow_nan=True, allow_infinity=True), lon=st.floats(allow_nan=True, allow_infinity=True))
def test_any_point_gets_an_answer(locator: Locator, lat: float, lon: float) -> None:
    result = locator.locate_point(lat, lon)
    assert isinstance(result, Located | NotFound)


# --- the Irish Sea coasts and Northern Ireland (BT grid references are Irish Grid, EPSG:29903) ----------------

IRISH_SEA_COASTS = [
    (53.3516, -3.06815, "E08000015"),  # Thingwall, Wirral (where BT36 4SZ used to land)
    (53.3930, -3.1780, "E08000015"),  # Hoylake, Wirral
    (53.3090, -4.6330, "W06000001"),  # Holyhead, Anglesey
    (53.2630, -4.0930, "W06000001"),  # Beaumaris, Anglesey
    (53.3190, -3.4910, "W06000004"),  # Rhyl, Denbighshire
    (54.5480, -3.5870, "E06000063"),  # Whitehaven, Cumberland
    (54.1110, -3.2270, "E06000064"),  # Barrow-in-Furness, Westmorland and Furness
    (53.8170, -3.0500, "E06000009"),  # Blackpool
    (53.9250, -3.0100, "E07000128"),  # Fleetwood, Wyre
    (54.0700, -2.8700, "E07000121"),  # Morecambe, Lancaster
]


@pytest.mark.parametrize(("lat", "lon", "lad"), IRISH_SEA_COASTS)
def test_points_on_the_irish_sea_coasts_are_in_england_or_wales(
    locator: Locator, lat: float, lon: float, lad: str
) -> None:
    location = located(locator.locate_point(lat, lon)).location
    assert location.lad_code == lad


@pytest.mark.parametrize(("lat", "lon", "lad"), IRISH_SEA_COASTS)
def test_irish_sea_coasts_with_boundaries(bounded: Locator, lat: float, lon: float, lad: str) -> None:
    location = located(bounded.locate_point(lat, lon)).location
    assert location.lad_code == lad


def test_typed_wirral_coordinates_are_not_northern_ireland(locator: Locator) -> None:
    location = located(locator.locate("53.3516,-3.06815")).location
    assert (location.lad_code, location.pfa_code) == ("E08000015", "E23000004")  # Wirral, Merseyside


@pytest.mark.parametrize("postcode", ["BT36 4SZ", "BT1 1AA", "BT48 6DQ", "BT74 7BA"])
def test_northern_irish_postcodes_and_their_points_are_answered_as_northern_ireland(
    locator: Locator, postcode: str
) -> None:
    answer = not_found(locator.locate(postcode), Problem.OUTSIDE_ENGLAND_WALES)
    assert "Northern Ireland" in answer.message
    hit = locator.postcodes.lookup(postcode)
    assert hit is not None
    point = not_found(locator.locate_point(hit.lat, hit.lon), Problem.OUTSIDE_ENGLAND_WALES)
    assert "Northern Ireland" in point.message


def test_belfast_gps_is_northern_ireland_with_boundaries_too(bounded: Locator) -> None:
    answer = not_found(bounded.locate_point(54.5973, -5.9301), Problem.OUTSIDE_ENGLAND_WALES)
    assert "Northern Ireland" in answer.message
