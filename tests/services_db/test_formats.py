"""The three file formats: cells, hours, detection, geometry rules, Open Referral UK mapping; no database."""

from __future__ import annotations

import json
from datetime import date, time

import pytest
from shapely.geometry import box

from mapping.areas import AreaRegistry
from mapping.types import (
    AreaCoverage,
    Channel,
    ChannelKind,
    Nation,
    NationalCoverage,
    OpeningHours,
    OpeningInterval,
    ServiceKind,
    Strand,
)
from services_db.formats import FileFormat, detect_format, read_services, write_services
from services_db.formats.csv_format import record_to_row
from services_db.importer import locator_place_check
from services_db.validation import (
    ValidationContext,
    format_channel_cell,
    parse_channel_cell,
    validate_services,
)
from tests.services_db.factories import area_service, hours, make_service, mixed_directory, national_service


@pytest.fixture(scope="module")
def context() -> ValidationContext:
    registry = AreaRegistry.default()
    return ValidationContext(
        is_known_area=registry.is_known,
        commissioner_codes=frozenset({c.code for c in registry.commissioners()} | {"national"}),
        local_strand_keys=frozenset({"alternative_subculture"}),
        place_check=locator_place_check(),
        today=date(2026, 1, 1),
    )


def _round_trip(records, fmt, context, geometries=None):  # type: ignore[no-untyped-def]
    text = write_services(records, fmt, geometries=geometries)
    parsed = read_services(text.encode(), name=f"file.{'json' if fmt == 'oruk' else fmt}")
    assert not parsed.problems, [str(p) for p in parsed.problems]
    result = validate_services(parsed.services, file=parsed.file, context=context)
    assert result.ok, [str(p) for p in result.problems]
    return result.records


def test_channel_cells_keep_notes_with_semicolons() -> None:
    items = [("0800 123 4567", "free; 24/7"), ("0113 496 0000", ""), ("61016", "text only")]
    assert parse_channel_cell(format_channel_cell(items)) == items
    assert parse_channel_cell(" 0113 496 0000 ;; ") == [("0113 496 0000", "")]


@pytest.mark.parametrize(
    "text",
    ["24/7", "mon-fri 09:00-17:00", "mon-thu 10:00-20:30; fri 10:00-16:30", "sat 18:00-00:00", "sun 09:00-12:00"],
)
def test_hours_text_reads_back_exactly(text: str) -> None:
    parsed = hours(text)
    assert hours(parsed.to_text()) == parsed


def test_hours_group_consecutive_days() -> None:
    week = OpeningHours(intervals=tuple(OpeningInterval(d, time(9), time(17)) for d in range(5)))
    assert week.to_text() == "mon-fri 09:00-17:00"


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("a.csv", b"id,name", FileFormat.CSV),
        ("a.geojson", b"{}", FileFormat.GEOJSON),
        ("upload", b'{"type": "FeatureCollection", "features": []}', FileFormat.GEOJSON),
        ("a.json", b'{"content": []}', FileFormat.ORUK),
        ("upload", b'[{"id": "x"}]', FileFormat.ORUK),
        ("upload", b"\xef\xbb\xbfid,name", FileFormat.CSV),
    ],
)
def test_format_detection(name: str, head: bytes, expected: FileFormat) -> None:
    assert detect_format(name, head) is expected


@pytest.mark.parametrize("fmt", list(FileFormat))
def test_every_format_round_trips_a_mixed_directory(fmt: FileFormat, context: ValidationContext) -> None:
    records = mixed_directory(120, seed=3, commissioner_codes=("pcc-E23000010", None))
    records.append(
        make_service(
            "test-rich",
            kind=ServiceKind.EMERGENCY,
            strands={Strand.RACE, Strand.TRANSGENDER},
            local_strands=("alternative_subculture",),
            channels=(
                Channel(ChannelKind.PHONE, "999", "danger now"),
                Channel(ChannelKind.TEXT, "999", "register first; then text"),
                Channel(ChannelKind.RELAY, "18000"),
                Channel(ChannelKind.BSL, "999bsl.co.uk", "free, no registration"),
                Channel(ChannelKind.WEB_CHAT, "https://example.org/chat"),
                Channel(ChannelKind.IN_PERSON, "1 Example Street, Leeds", lat=53.7997, lon=-1.5492),
                Channel(ChannelKind.IN_PERSON, "2 Example Road, Leeds", "by appointment", 53.8, -1.55),
            ),
            languages=("cy", "pl"),
            hours=hours("mon-fri 09:00-17:00; sat 18:00-00:00", bank_holidays="closed", note="ring first"),
            eligibility="People in Leeds",
            caveat="Test data: check the hours",
        )
    )
    back = {r.id: r for r in _round_trip(records, fmt, context)}
    assert set(back) == {r.id for r in records}
    for record in records:
        got = back[record.id]
        for field in ("name", "kind", "coverage", "strands", "local_strands", "commissioner_code", "languages"):
            assert getattr(got, field) == getattr(record, field), (record.id, field)
        assert sorted(got.channels, key=repr) == sorted(record.channels, key=repr)
        assert got.hours.to_text() == record.hours.to_text()
        assert (got.status, got.source_url, got.verified_on, got.caveat) == (
            record.status,
            record.source_url,
            record.verified_on,
            record.caveat,
        )


def test_csv_row_layout() -> None:
    record = area_service("E08000035", "E23000010", strands={Strand.DISABILITY}, commissioner_code="pcc-E23000010")
    row = record_to_row(record)
    assert row["coverage_type"] == "areas" and row["area_codes"] == "E08000035; E23000010"
    assert row["strands"] == "disability" and row["nation"] == "" and row["geometry"] == ""
    assert record_to_row(national_service(Nation.WALES))["strands"] == "all"


def test_geojson_puts_coverage_in_the_geometry(context: ValidationContext) -> None:
    national = national_service(Nation.WALES, service_id="test-wales")
    coded = area_service("E08000035", service_id="test-leeds")
    outline = box(-1.8, 53.7, -1.3, 53.95)
    text = write_services([national, coded], "geojson", geometries={"test-leeds": outline})
    features = {f["id"]: f for f in json.loads(text)["features"]}
    assert features["test-wales"]["geometry"] is None
    assert features["test-wales"]["properties"]["nation"] == "wales"
    assert features["test-leeds"]["geometry"]["type"] == "Polygon"  # the resolved outline, for maps
    back = {r.id: r for r in _round_trip([national, coded], "geojson", context, {"test-leeds": outline})}
    assert back["test-leeds"].coverage == AreaCoverage(("E08000035",))  # the codes stay the coverage
    assert back["test-wales"].coverage == NationalCoverage(Nation.WALES)


def test_geojson_from_a_gis_tool_with_plain_properties(context: ValidationContext) -> None:
    square = [[[-1.6, 53.75], [-1.5, 53.75], [-1.5, 53.85], [-1.6, 53.85], [-1.6, 53.75]]]
    collection = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": square},
                "properties": {
                    "id": "test-gis",
                    "name": "Test GIS centre",
                    "kind": "third_party_reporting",
                    "strands": "race; religion",
                    "phone": "0113 496 0000",
                    "hours": "mon-fri 09:00-17:00",
                    "source_url": "https://example.org/gis",
                    "verified_on": "06/01/2025",
                },
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [-1.5492, 53.7997]},
                "properties": {
                    "id": "test-point",
                    "name": "Test point centre",
                    "kind": "victim_support",
                    "radius_m": 3000,
                    "source_url": "https://example.org/point",
                    "verified_on": "2025-01-06",
                },
            },
        ],
    }
    parsed = read_services(json.dumps(collection).encode(), name="gis.geojson")
    result = validate_services(parsed.services, file=parsed.file, context=context)
    assert result.ok, [str(p) for p in result.problems]
    polygon, point = result.records
    assert polygon.coverage.type.value == "polygon" and polygon.strands == {Strand.RACE, Strand.RELIGION}
    assert polygon.verified_on == date(2025, 1, 6)
    assert point.coverage.type.value == "radius" and point.coverage.radius_m == 3000  # type: ignore[union-attr]


def test_oruk_feed_without_the_extension_maps_standard_fields(context: ValidationContext) -> None:
    feed = [
        {
            "id": "Test ORUK Centre",
            "name": "Test ORUK centre",
            "description": "Test data",
            "url": "https://example.org/oruk",
            "email": "oruk@example.org",
            "status": "temporarily closed",
            "assured_date": "2025-02-03",
            "organization": {"id": "o", "name": "Example Organisation", "description": ""},
            "contacts": [{"id": "c", "name": "Helpline", "phones": [{"id": "p", "number": "020 7946 0000"}]}],
            "service_at_locations": [
                {"id": "s", "location": {"id": "l", "name": "1 Example Street", "latitude": 53.8, "longitude": -1.55}}
            ],
            "regular_schedules": [{"id": "r", "byday": "MO,TU", "opens_at": "09:00", "closes_at": "17:00"}],
            "service_areas": [
                {
                    "id": "a",
                    "service_area": "Leeds",
                    "uri": "http://statistics.data.gov.uk/id/statistical-geography/E08000035",
                }
            ],
            "languages": [{"id": "x", "language": "pl"}],
            "service_taxonomys": [
                {
                    "id": "t",
                    "taxonomy": {"id": "k", "name": "third_party_reporting", "vocabulary": "signpost-service-kind"},
                },
                {"id": "u", "taxonomy": {"id": "s", "name": "disability", "vocabulary": "signpost-hate-crime-strand"}},
            ],
        }
    ]
    parsed = read_services(json.dumps(feed).encode(), name="feed.json")
    result = validate_services(parsed.services, file=parsed.file, context=context)
    assert result.ok, [str(p) for p in result.problems]
    [record] = result.records
    assert record.id == "test-oruk-centre" and record.kind is ServiceKind.THIRD_PARTY_REPORTING
    assert record.status.value == "suspended" and record.strands == {Strand.DISABILITY}
    assert record.coverage == AreaCoverage(("E08000035",))
    assert [c.kind for c in record.channels] == [
        ChannelKind.PHONE,
        ChannelKind.EMAIL,
        ChannelKind.WEB,
        ChannelKind.IN_PERSON,
    ]
    assert record.hours.to_text() == "mon-tue 09:00-17:00" and record.languages == ("pl",)


def test_oruk_export_follows_the_schema_shape() -> None:
    record = area_service("E08000035", channels=(Channel(ChannelKind.PHONE, "020 7946 0000", "Helpline"),))
    page = json.loads(write_services([record], "oruk"))
    [service] = page["content"]
    assert page["totalElements"] == 1
    assert service["organization"]["name"] == record.organisation
    assert service["contacts"][0]["phones"][0]["number"] == "020 7946 0000"
    assert service["service_areas"][0]["uri"].endswith("/E08000035")
    assert {t["taxonomy"]["vocabulary"] for t in service["service_taxonomys"]} == {"signpost-service-kind"}
    assert service["regular_schedules"][0]["byday"] == "MO" and service["assured_date"] == "2025-03-01"
