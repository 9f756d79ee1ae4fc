"""Validation rules one by one: what is accepted, what is refused, and that every problem comes at once."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from shapely.geometry import shape

from mapping.areas import AreaRegistry
from mapping.crs import geometry_to_bng
from mapping.postcodes import PostcodeDirectory
from mapping.types import ChannelKind, Nation, NationalCoverage, ServiceKind, Strand
from services_db.force_area import ForceAreaCheck
from services_db.importer import locator_place_check
from services_db.validation import Problem, RawService, ValidationContext, ValidationResult, validate_services
from tests.services_db.bad_files import GOOD_ROW

REGISTRY = AreaRegistry.default()


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


def _validate(context: ValidationContext, *rows: dict[str, Any], geometry: Any = None) -> ValidationResult:
    raw = [RawService(row=n + 2, fields={**GOOD_ROW, **row}, geometry=geometry) for n, row in enumerate(rows)]
    return validate_services(raw, file="test.csv", context=context)


def _messages(result: ValidationResult, field: str) -> list[str]:
    return [p.message for p in result.problems if p.field == field]


def test_the_good_row_is_valid(context: ValidationContext) -> None:
    result = _validate(context, {})
    assert result.ok and result.records[0].strands == {Strand.RACE, Strand.RELIGION}


def test_every_problem_of_a_row_is_reported_at_once(context: ValidationContext) -> None:
    result = _validate(
        context, {"kind": "charity", "strands": "racee", "email": "x", "verified_on": "2999-01-01", "status": "open"}
    )
    assert {p.field for p in result.problems} == {"kind", "strands", "email", "verified_on", "status"}
    assert all(p.row == 2 and p.file == "test.csv" for p in result.problems)
    assert not result.records


def test_problems_across_rows_are_all_reported(context: ValidationContext) -> None:
    result = _validate(context, {"id": "a", "kind": "x"}, {"id": "b", "phone": "12"}, {"id": "c"})
    assert sorted({p.row for p in result.problems}) == [2, 3]
    assert [r.id for r in result.records] == ["c"]


def test_problem_text_names_file_row_and_field() -> None:
    assert str(Problem("f.csv", 7, "phone", "bad")) == "f.csv, row 7, field 'phone': bad"
    assert str(Problem("f.csv", None, None, "empty")) == "f.csv: empty"


@pytest.mark.parametrize(
    ("kind", "column", "number"),
    [
        ("emergency", "phone", "999"),
        ("emergency", "text", "999"),
        ("emergency", "relay", "18000"),
        ("police", "phone", "101"),
        ("police", "relay", "18001 101"),
        ("police", "text", "61016"),
        ("emotional_support", "phone", "116 123"),
        ("helpline", "relay", "18001 0113 496 0000"),
        ("helpline", "phone", "+44 20 7946 0000"),
        ("helpline", "phone", "0808 168 9111"),
    ],
)
def test_short_numbers_are_accepted_where_they_belong(
    context: ValidationContext, kind: str, column: str, number: str
) -> None:
    result = _validate(context, {"kind": kind, column: number})
    assert result.ok, [str(p) for p in result.problems]


@pytest.mark.parametrize(
    ("kind", "number"), [("helpline", "999"), ("third_party_reporting", "101"), ("police", "116 123")]
)
def test_short_numbers_are_refused_elsewhere(context: ValidationContext, kind: str, number: str) -> None:
    assert "belongs only to" in _messages(_validate(context, {"kind": kind, "phone": number}), "phone")[0]


def test_strands_all_and_aliases(context: ValidationContext) -> None:
    assert _validate(context, {"strands": "all"}).records[0].strands == frozenset()
    assert _validate(context, {"strands": ""}).records[0].strands == frozenset()
    aliases = _validate(context, {"strands": "Religion or belief, transgender identity"}).records[0]
    assert aliases.strands == {Strand.RELIGION, Strand.TRANSGENDER}
    assert "cannot be combined" in _messages(_validate(context, {"strands": "all; race"}), "strands")[0]


def test_dates_in_uk_spreadsheet_form(context: ValidationContext) -> None:
    assert _validate(context, {"verified_on": "06/01/2025"}).records[0].verified_on == date(2025, 1, 6)


def test_web_addresses_may_omit_the_scheme(context: ValidationContext) -> None:
    record = _validate(context, {"web": "report-it.org.uk"}).records[0]
    assert any(c.kind is ChannelKind.WEB and c.value == "report-it.org.uk" for c in record.channels)
    insecure = _validate(context, {"web": "http://example.org/x"})
    assert insecure.ok and insecure.warnings[0].field == "web"


@pytest.mark.parametrize(
    "changes",
    [
        {"description": "Report online at report-it.org.uk or www.gov.uk/report-hate-crime."},
        {"eligibility": "Ages <18 & >65, e.g. carers; St.Mary's, 3.30pm (see leaflet_2024.pdf)"},
        {"caveat": "E-mail help@example.org (not https://example.org:443/x)"},
        {"description_cy": "Ewch i report-it.org.uk, dydd Llun i ddydd Gwener; ffôn: 0113 496 0000"},
        {"phone": "0905 123 4567 [calls cost 65p per minute plus your phone company's access charge]"},
        {"phone": "0871 123 4567 [13p a minute]"},
    ],
)
def test_ordinary_text_and_priced_numbers_pass(context: ValidationContext, changes: dict[str, str]) -> None:
    result = _validate(context, changes)
    assert result.ok, [str(p) for p in result.problems]


def test_a_plain_http_address_in_text_is_a_warning(context: ValidationContext) -> None:
    result = _validate(context, {"caveat": "Older page: http://example.org/old"})
    assert result.ok and [w.field for w in result.warnings] == ["caveat"]


def test_a_force_areas_radius_reaching_a_little_over_the_border_only_warns(context: ValidationContext) -> None:
    # A real 5 km circle (Partington library, Greater Manchester): about 30 % of it lies in Cheshire.
    checked = replace(
        context, force_area=ForceAreaCheck(registry=REGISTRY, postcodes=PostcodeDirectory.default()).outside
    )
    circle = {"coverage_type": "radius", "area_codes": "", "centre_lat": "53.41777", "centre_lon": "-2.42617"}
    near = {
        **circle,
        "radius_m": "5000",
        "commissioner_code": "pcc-E23000005",
        "in_person_lat": "",
        "in_person_lon": "",
    }
    result = _validate(checked, {**near, "in_person_address": ""})
    assert result.ok, [str(p) for p in result.problems]
    assert [w.field for w in result.warnings] == ["radius_m"] and "reaches Cheshire" in result.warnings[0].message
    far = _validate(checked, {**near, "in_person_address": "", "commissioner_code": "pcc-E23000010"})
    (refused,) = _messages(far, "radius_m")
    assert "outside force area West Yorkshire (E23000010) and reaches" in refused
    assert "more than 50% outside is refused" in refused and "{" not in refused


def test_coverage_type_is_inferred_when_unambiguous(context: ValidationContext) -> None:
    result = _validate(context, {"coverage_type": "", "area_codes": "", "nation": "wales", "commissioner_code": ""})
    assert result.records[0].coverage == NationalCoverage(Nation.WALES)
    radius = _validate(
        context,
        {"coverage_type": "", "area_codes": "", "centre_lat": "53.8", "centre_lon": "-1.55", "radius_m": "5,000"},
    )
    assert radius.records[0].coverage.radius_m == 5000  # type: ignore[union-attr]


def test_area_codes_are_normalised_and_deduplicated(context: ValidationContext) -> None:
    record = _validate(context, {"area_codes": "e08000035; E23000010; E08000035"}).records[0]
    assert record.coverage.area_codes == ("E08000035", "E23000010")  # type: ignore[union-attr]


def test_a_nearly_valid_polygon_is_repaired_with_a_warning(context: ValidationContext) -> None:
    # A square with a tiny bow-tie at one corner: make_valid keeps almost all of the area.
    ring = [(-1.6, 53.75), (-1.5, 53.75), (-1.5, 53.85), (-1.6, 53.85), (-1.5995, 53.8505), (-1.5995, 53.8495)]
    wkt = "POLYGON((" + ", ".join(f"{x} {y}" for x, y in [*ring, ring[0]]) + "))"
    result = _validate(context, {"coverage_type": "polygon", "area_codes": "", "geometry": wkt})
    assert result.ok, [str(p) for p in result.problems]
    assert "repaired" in result.warnings[0].message
    repaired = shape(result.records[0].coverage.geojson)  # type: ignore[union-attr]
    assert repaired.is_valid and geometry_to_bng(repaired).area == pytest.approx(73_100_000, rel=0.001)


def test_a_polygon_given_as_geojson_text_is_accepted(context: ValidationContext) -> None:
    text = '{"type": "Polygon", "coordinates": [[[-1.6, 53.75], [-1.5, 53.75], [-1.5, 53.85], [-1.6, 53.75]]]}'
    result = _validate(context, {"coverage_type": "polygon", "area_codes": "", "geometry": text})
    assert result.ok and result.records[0].coverage.geojson["type"] == "Polygon"  # type: ignore[union-attr]


def test_latitude_and_longitude_in_wrong_order_in_a_polygon(context: ValidationContext) -> None:
    wkt = "POLYGON((53.75 -1.6, 53.75 -1.5, 53.85 -1.5, 53.75 -1.6))"
    result = _validate(context, {"coverage_type": "polygon", "area_codes": "", "geometry": wkt})
    assert "longitude first" in _messages(result, "geometry")[0]


def test_bng_suggestion_gives_the_converted_point(context: ValidationContext) -> None:
    result = _validate(
        context,
        {
            "coverage_type": "radius",
            "area_codes": "",
            "centre_lat": "433834",
            "centre_lon": "429755",
            "radius_m": "900",
        },
    )
    assert "lat 53.79" in _messages(result, "centre_lat")[0]


def test_in_person_locations_must_match_addresses(context: ValidationContext) -> None:
    result = _validate(context, {"in_person_lat": "53.8; 53.81"})
    assert "one lat and lon per address" in _messages(result, "in_person_lat")[0]


def test_a_stale_version_column_is_read(context: ValidationContext) -> None:
    result = _validate(context, {"version": "3"})
    assert result.expected_versions == {GOOD_ROW["id"]: 3}
    assert "not a version number" in _messages(_validate(context, {"version": "three"}), "version")[0]


def test_json_native_values_from_geojson(context: ValidationContext) -> None:
    fields = {
        "strands": ["race"],
        "channels": [{"kind": "phone", "value": "0113 496 0000", "note": "test"}, {"kind": "pager", "value": "1"}],
        "hours": {"always_open": True},
    }
    result = _validate(context, fields)
    assert "unknown channel kind 'pager'" in _messages(result, "channels")[0]
    fields["channels"] = fields["channels"][:1]  # type: ignore[index]
    record = _validate(context, fields).records[0]
    assert record.hours.always_open and record.kind is ServiceKind.THIRD_PARTY_REPORTING


def test_each_distinct_point_of_a_file_is_checked_once(context: ValidationContext) -> None:
    asked: list[tuple[float, float]] = []
    inner = context.place_check

    def counting(lat: float, lon: float) -> str | None:
        asked.append((lat, lon))
        return inner(lat, lon)

    counted = ValidationContext(
        is_known_area=context.is_known_area,
        commissioner_codes=context.commissioner_codes,
        local_strand_keys=context.local_strand_keys,
        place_check=counting,
        today=context.today,
    )
    at_sea = {"in_person_lat": "53.9", "in_person_lon": "-4.0"}  # the Irish Sea: refused on every row that has it
    result = _validate(counted, {"id": "a"}, {"id": "b"}, {"id": "c", **at_sea}, {"id": "d", **at_sea})
    assert sorted(asked) == sorted({(53.7997, -1.5492), (53.9, -4.0)})
    assert [r.id for r in result.records] == ["a", "b"]
    assert sorted(p.row for p in result.problems) == [4, 5]


# --- Welsh and Easy Read columns -------------------------------------------------------------------------

WELSH = {
    "name_cy": "Canolfan brawf (data prawf)",
    "description_cy": "Data prawf: nid gwasanaeth go iawn.",
    "notes_cy": "phone:0113 496 0000 [rhif drama]",
    "summary_easy": "This is test data. It is not a real service.",
}


def test_welsh_and_easy_read_columns_become_translations(context: ValidationContext) -> None:
    result = _validate(context, WELSH)
    assert result.ok, result.problems
    translations = result.records[0].translations
    assert translations["cy"]["name"] == "Canolfan brawf (data prawf)"
    assert translations["cy"]["notes"] == {"phone:0113 496 0000": "rhif drama"}
    assert translations["easy"] == {"summary": "This is test data. It is not a real service."}


def test_a_translation_that_loses_a_number_is_refused(context: ValidationContext) -> None:
    result = _validate(
        context, {"description": "Call 0113 496 0000 or write to help@example.org.", "description_cy": "Ffoniwch ni."}
    )
    (message,) = _messages(result, "description_cy")
    assert "01134960000" in message and "help@example.org" in message and "keep numbers" in message


def test_a_translation_needs_its_english_and_its_channel(context: ValidationContext) -> None:
    result = _validate(context, {"caveat_cy": "Gwiriwch hwn.", "notes_cy": "phone:0800 000 0000 [am ddim]"})
    assert "caveat is empty" in _messages(result, "caveat_cy")[0]
    assert "which this row does not have" in _messages(result, "notes_cy")[0]
    assert "phone:0113 496 0000" in _messages(result, "notes_cy")[0]  # names the channels it does have


def test_translations_are_plain_text_of_limited_length(context: ValidationContext) -> None:
    result = _validate(context, {"description_cy": "<b>Data</b> prawf", "summary_easy": "Short. " * 100})
    assert "HTML" in _messages(result, "description_cy")[0]
    assert "at most 500" in _messages(result, "summary_easy")[0]


def test_a_translations_object_names_unknown_languages_and_fields(context: ValidationContext) -> None:
    result = _validate(context, {"translations": {"fr": {"name": "Centre"}}})
    assert "unknown translation language 'fr'" in _messages(result, "translations")[0]
    result = _validate(context, {"translations": {"cy": {"title": "Canolfan"}}})
    assert "unknown field 'title'" in _messages(result, "translations")[0]
