"""Service rows <-> ServiceRecord, the audit JSON shape, content hashes and stored geometry columns."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
import shapely
from shapely.geometry import Point, box

from mapping.types import (
    AreaCoverage,
    Nation,
    NationalCoverage,
    OpeningHours,
    PolygonCoverage,
    RadiusCoverage,
    ServiceStatus,
    Strand,
)
from services_db.convert import (
    NATION_AREA_CODES,
    content_hash,
    coverage_area_codes,
    geometry_columns,
    record_from_dict,
    record_to_dict,
    row_to_record,
    write_record_to_row,
)
from services_db.models import Service
from tests.services_db.factories import (
    PLACES,
    area_service,
    hours,
    make_service,
    mixed_directory,
    polygon_service,
    radius_service,
)

AT = datetime(2025, 6, 1, 12, 30, tzinfo=UTC)


def test_dict_round_trip_keeps_every_field_of_mixed_records() -> None:
    for record in mixed_directory(300, seed=7):
        stored = replace(record, updated_at=AT, version=4, caveat="check the number", local_strands=("age",))
        assert record_from_dict(record_to_dict(stored)) == stored


def test_dict_shape_is_plain_json() -> None:
    record = make_service("plain", strands={Strand.RELIGION, Strand.RACE}, hours=hours("24/7"))
    data = record_to_dict(record)
    assert data["strands"] == ["race", "religion"]  # sorted, so equal records give equal JSON
    assert data["coverage"] == {"type": "national", "nation": "england_and_wales"}
    assert data["hours"] == {"always_open": True}
    assert data["verified_on"] == "2025-03-01"
    assert data["updated_at"] is None


def test_row_round_trip_through_a_service_row() -> None:
    record = radius_service(53.8, -1.55, 2_500, strands={Strand.DISABILITY}, status=ServiceStatus.SUSPENDED)
    row = write_record_to_row(
        Service(id=record.id),
        record,
        geometry=geometry_columns(record.coverage, None),
        updated_at=AT,
        updated_by="tester",
        version=3,
    )
    assert row.coverage_type == "radius"
    assert row_to_record(row) == replace(record, updated_at=AT, version=3)


def test_naive_datetimes_from_sqlite_come_back_as_utc() -> None:
    record = make_service("naive")
    row = write_record_to_row(
        Service(id=record.id),
        record,
        geometry=geometry_columns(record.coverage, None),
        updated_at=AT,
        updated_by="t",
        version=1,
    )
    row.updated_at = AT.replace(tzinfo=None)
    assert row_to_record(row).updated_at == AT


def test_content_hash_ignores_revision_but_not_content() -> None:
    record = make_service("hash-me")
    assert content_hash(record) == content_hash(replace(record, version=9, updated_at=AT))
    assert content_hash(record) != content_hash(replace(record, name="Other name"))
    assert content_hash(record) != content_hash(replace(record, hours=OpeningHours(always_open=True)))
    assert len(content_hash(record)) == 64


def test_radius_geometry_is_a_circle_in_metres_with_its_bounding_box() -> None:
    lat, lon = PLACES["leeds"][:2]
    columns = geometry_columns(RadiusCoverage(lat, lon, 10_000), None)
    assert columns.geometry_wkb is not None
    circle = shapely.from_wkb(columns.geometry_wkb)
    assert circle.covers(Point(lon, lat))
    # 10 km is about 0.09 degrees of latitude: the box is metric, not 10 degrees wide
    assert columns.max_lat is not None and columns.min_lat is not None
    assert 0.17 < columns.max_lat - columns.min_lat < 0.19
    assert (columns.min_lon, columns.min_lat, columns.max_lon, columns.max_lat) == pytest.approx(circle.bounds)


def test_polygon_geometry_is_stored_as_given() -> None:
    record = polygon_service()
    assert isinstance(record.coverage, PolygonCoverage)
    columns = geometry_columns(record.coverage, None)
    assert columns.geometry_wkb is not None
    assert shapely.from_wkb(columns.geometry_wkb).equals(shapely.geometry.shape(record.coverage.geojson))


def test_area_and_national_coverage_have_no_geometry_without_boundaries() -> None:
    for coverage in (AreaCoverage(("E08000035",)), NationalCoverage(Nation.WALES)):
        columns = geometry_columns(coverage, None)
        assert columns.geometry_wkb is None and columns.min_lon is None


def test_area_coverage_resolves_through_a_boundary_lookup() -> None:
    outlines = {"E08000035": box(-1.8, 53.7, -1.3, 53.95), "E08000036": box(-1.6, 53.55, -1.2, 53.75)}
    columns = geometry_columns(AreaCoverage(("E08000035", "E08000036")), outlines.get)
    assert columns.geometry_wkb is not None
    assert (columns.min_lon, columns.min_lat, columns.max_lon, columns.max_lat) == pytest.approx(
        (-1.8, 53.55, -1.2, 53.95)
    )
    # one unknown area: the union would claim less than the service covers, so nothing is stored
    assert geometry_columns(AreaCoverage(("E08000035", "E06000001")), outlines.get).geometry_wkb is None


def test_area_codes_for_matching_without_boundaries() -> None:
    assert coverage_area_codes(area_service("E23000010", "E08000035", "E23000010").coverage) == (
        "E23000010",
        "E08000035",
    )
    assert coverage_area_codes(NationalCoverage(Nation.ENGLAND_AND_WALES)) == ("E92000001", "W92000004")
    assert coverage_area_codes(NationalCoverage(Nation.WALES)) == NATION_AREA_CODES[Nation.WALES]
    assert coverage_area_codes(RadiusCoverage(53.8, -1.5, 1000)) == ()


def test_malformed_dict_is_refused() -> None:
    data = record_to_dict(make_service("bad"))
    data["kind"] = "fortune_telling"
    with pytest.raises(ValueError):
        record_from_dict(data)
