"""A corpus of bad services files, each with one defect, written by factories rather than stored as files.

Every case names the row and field the problem must point at and a fragment of the message telling the person
what to do. ``GOOD_ROW`` is a valid row (test data: example.org, an Ofcom drama number); each case changes it in
exactly one way, so a failing case can only fail because of its defect.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from services_db.validation import COLUMNS

__all__ = ["BAD_FILES", "GOOD_ROW", "BadFile", "csv_bytes", "geojson_bytes", "good_feature"]

GOOD_ROW: dict[str, str] = {
    "id": "test-bad-files-centre",
    "name": "Test centre (test data)",
    "organisation": "Example Organisation",
    "kind": "third_party_reporting",
    "description": "Test data: a fictional service.",
    "strands": "race; religion",
    "commissioner_code": "pcc-E23000010",
    "phone": "0113 496 0000 [drama number]",
    "email": "help@example.org",
    "web": "https://example.org/report",
    "in_person_address": "1 Example Street, Leeds",
    "in_person_lat": "53.7997",
    "in_person_lon": "-1.5492",
    "hours": "mon-fri 09:00-17:00",
    "coverage_type": "areas",
    "area_codes": "E08000035",
    "status": "active",
    "source_url": "https://example.org/services/test-bad-files-centre",
    "verified_on": "2025-01-06",
}
SECOND_ROW = {**GOOD_ROW, "id": "test-bad-files-second", "name": "Second test centre (test data)"}


def csv_bytes(rows: list[dict[str, str]], *, columns: list[str] | None = None, encoding: str = "utf-8") -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=columns or list(COLUMNS), lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue().encode(encoding)


def row(**changes: str) -> bytes:
    """A CSV file of the good row with some cells changed (the defect is on line 2)."""
    return csv_bytes([{**GOOD_ROW, **changes}])


def good_feature(**properties: Any) -> dict[str, Any]:
    props: dict[str, Any] = {k: v for k, v in GOOD_ROW.items() if not k.startswith("in_person")}
    props.update(properties)
    return {"type": "Feature", "geometry": None, "properties": props}


def geojson_bytes(features: list[dict[str, Any]], **members: Any) -> bytes:
    return json.dumps({"type": "FeatureCollection", **members, "features": features}).encode()


BOWTIE = "POLYGON((-1.60 53.75, -1.50 53.85, -1.50 53.75, -1.60 53.85, -1.60 53.75))"
BNG_SQUARE = "POLYGON((429000 433000, 431000 433000, 431000 435000, 429000 435000, 429000 433000))"


@dataclass(frozen=True)
class BadFile:
    """One defect: the file, and where (row, field) and how (message fragment) it must be reported."""

    defect: str
    filename: str
    content: bytes
    row: int | None
    field: str | None
    fragment: str


def _cases() -> list[BadFile]:
    big_description = "x" * 2500
    too_many = [{**GOOD_ROW, "id": f"test-bad-{n}"} for n in range(50_001)]
    return [
        # --- the file as a whole
        BadFile("empty file", "services.csv", b"", None, None, "empty"),
        BadFile("header only", "services.csv", csv_bytes([]), None, None, "no services"),
        BadFile(
            "windows-1252 encoding",
            "services.csv",
            row(name="Café centre (test data)").decode().encode("cp1252"),
            2,
            None,
            "CSV UTF-8",
        ),
        BadFile("utf-16 encoding", "services.csv", "id,name\r\n".encode("utf-16"), None, None, "UTF-16"),
        BadFile("excel workbook", "services.csv", b"PK\x03\x04" + b"\x00" * 100, None, None, "Excel workbook"),
        BadFile(
            "semicolon separated", "services.csv", b"id;name;kind\r\ntest;Test;helpline\r\n", 1, None, "semicolons"
        ),
        BadFile(
            "huge file",
            "services.csv",
            row() + b"#" * (20 * 1024 * 1024),
            None,
            None,
            "the limit is 20 MB",
        ),
        BadFile("too many rows", "services.csv", csv_bytes(too_many), 50_002, None, "the limit is 50,000"),
        BadFile(
            "unknown column",
            "services.csv",
            csv_bytes([GOOD_ROW], columns=[*COLUMNS[:7], "comissioner_code", *COLUMNS[8:]]),
            1,
            "comissioner_code",
            "Did you mean 'commissioner_code'?",
        ),
        BadFile(
            "missing required column",
            "services.csv",
            csv_bytes([GOOD_ROW], columns=[c for c in COLUMNS if c != "source_url"]),
            1,
            "source_url",
            "required column",
        ),
        BadFile(
            "row missing its last cells",
            "services.csv",
            csv_bytes([GOOD_ROW]).rstrip(b"\r\n").rsplit(b",", 2)[0] + b"\r\n",
            2,
            None,
            f"has {len(COLUMNS) - 2} cells but the header has {len(COLUMNS)} columns",
        ),
        BadFile(
            "cell over the csv module's limit",
            "services.csv",
            row(description="x" * 200_000),
            2,
            "description",
            "longer than 131,072 characters",
        ),
        BadFile(
            "row with extra cells",
            "services.csv",
            csv_bytes([GOOD_ROW]).rstrip(b"\r\n") + b",surplus,cells\r\n",
            2,
            None,
            "unquoted comma",
        ),
        # --- one row, one field
        BadFile("unknown strand", "services.csv", row(strands="racee"), 2, "strands", "Did you mean 'race'?"),
        BadFile("unknown kind", "services.csv", row(kind="charity"), 2, "kind", "unknown kind"),
        BadFile("unknown area code", "services.csv", row(area_codes="E08999999"), 2, "area_codes", "unknown area"),
        BadFile("scottish area code", "services.csv", row(area_codes="S12000036"), 2, "area_codes", "Scotland"),
        BadFile("not an area code", "services.csv", row(area_codes="Leeds"), 2, "area_codes", "not an ONS area code"),
        BadFile(
            "self-intersecting polygon",
            "services.csv",
            row(coverage_type="polygon", area_codes="", geometry=BOWTIE),
            2,
            "geometry",
            "Self-intersection",
        ),
        BadFile(
            "polygon in BNG metres",
            "services.csv",
            row(coverage_type="polygon", area_codes="", geometry=BNG_SQUARE),
            2,
            "geometry",
            "British National Grid",
        ),
        BadFile(
            "polygon is a line",
            "services.csv",
            row(coverage_type="polygon", area_codes="", geometry="LINESTRING(-1.6 53.7, -1.5 53.8)"),
            2,
            "geometry",
            "needs a Polygon",
        ),
        BadFile(
            "unreadable polygon",
            "services.csv",
            row(coverage_type="polygon", area_codes="", geometry="POLYGON((1 2"),
            2,
            "geometry",
            "cannot read the polygon",
        ),
        BadFile(
            "BNG metres given as degrees",
            "services.csv",
            row(coverage_type="radius", area_codes="", centre_lat="433000", centre_lon="429000", radius_m="5000"),
            2,
            "centre_lat",
            "British National Grid",
        ),
        BadFile(
            "lat and lon swapped",
            "services.csv",
            row(in_person_lat="-1.5492", in_person_lon="53.7997"),
            2,
            "in_person_lat",
            "swapped",
        ),
        BadFile(
            "point in Scotland",
            "services.csv",
            row(coverage_type="radius", area_codes="", centre_lat="55.9533", centre_lon="-3.1883", radius_m="5000"),
            2,
            "centre_lat",
            "Scotland",
        ),
        BadFile(
            "point at sea",
            "services.csv",
            row(coverage_type="radius", area_codes="", centre_lat="50.0", centre_lon="-3.0", radius_m="5000"),
            2,
            "centre_lat",
            "not on land",
        ),
        BadFile("bad phone number", "services.csv", row(phone="0113 496"), 2, "phone", "not a valid UK phone number"),
        BadFile(
            "phone number mangled by a spreadsheet", "services.csv", row(phone="1134960000"), 2, "phone", "as Text"
        ),
        BadFile(
            "script in GeoJSON hours note",
            "services.geojson",
            geojson_bytes([good_feature(hours={"intervals": ["mon 09:00-17:00"], "note": "<b>call</b>"})]),
            1,
            "hours",
            "plain text only",
        ),
        BadFile("999 on a local centre", "services.csv", row(phone="999"), 2, "phone", "belongs only to emergency"),
        BadFile("bad web address", "services.csv", row(web="not a web address"), 2, "web", "not a web address"),
        BadFile(
            "source_url not https", "services.csv", row(source_url="http://example.org/s"), 2, "source_url", "https://"
        ),
        BadFile("bad email", "services.csv", row(email="help-at-example.org"), 2, "email", "not an e-mail address"),
        BadFile("verified_on in the future", "services.csv", row(verified_on="2999-01-01"), 2, "verified_on", "future"),
        BadFile(
            "verified_on unreadable", "services.csv", row(verified_on="last spring"), 2, "verified_on", "YYYY-MM-DD"
        ),
        BadFile(
            "duplicate ids",
            "services.csv",
            csv_bytes([GOOD_ROW, {**SECOND_ROW, "id": GOOD_ROW["id"]}]),
            3,
            "id",
            "row 2",
        ),
        BadFile("id not a slug", "services.csv", row(id="Leeds Centre"), 2, "id", "'leeds-centre'"),
        BadFile("missing name", "services.csv", row(name=""), 2, "name", "is required"),
        BadFile("missing source_url", "services.csv", row(source_url=""), 2, "source_url", "is required"),
        BadFile(
            "negative radius",
            "services.csv",
            row(coverage_type="radius", area_codes="", centre_lat="53.7997", centre_lon="-1.5492", radius_m="-5"),
            2,
            "radius_m",
            "positive number",
        ),
        BadFile(
            "absurd radius",
            "services.csv",
            row(coverage_type="radius", area_codes="", centre_lat="53.7997", centre_lon="-1.5492", radius_m="500000"),
            2,
            "radius_m",
            "not a plausible reach",
        ),
        BadFile("hours unreadable", "services.csv", row(hours="9 to 5"), 2, "hours", "mon-fri 09:00-17:00"),
        BadFile(
            "radius without centre",
            "services.csv",
            row(coverage_type="radius", area_codes="", radius_m="5000"),
            2,
            "centre_lat",
            "needs a centre",
        ),
        BadFile("areas without codes", "services.csv", row(area_codes=""), 2, "area_codes", "no area codes"),
        BadFile(
            "two kinds of coverage",
            "services.csv",
            row(radius_m="5000"),
            2,
            "radius_m",
            "clear it or change coverage_type",
        ),
        BadFile(
            "no coverage at all", "services.csv", row(coverage_type="", area_codes=""), 2, "coverage_type", "is missing"
        ),
        BadFile(
            "unknown commissioner",
            "services.csv",
            row(commissioner_code="pcc-E23000999"),
            2,
            "commissioner_code",
            "unknown commissioner",
        ),
        BadFile("unknown status", "services.csv", row(status="open"), 2, "status", "active, suspended, closed"),
        BadFile(
            "unknown local strand",
            "services.csv",
            row(local_strands="goths"),
            2,
            "local_strands",
            "alternative_subculture",
        ),
        BadFile("overlong description", "services.csv", row(description=big_description), 2, "description", "shorten"),
        BadFile(
            "script in description",
            "services.csv",
            row(description="Call us <script>alert(1)</script>"),
            2,
            "description",
            "plain text only",
        ),
        BadFile(
            "spreadsheet formula", "services.csv", row(name='=HYPERLINK("https://example.org")'), 2, "name", "formula"
        ),
        # --- GeoJSON
        BadFile(
            "invalid JSON", "services.geojson", b'{"type": "FeatureCollection", "features": [', None, None, "line 1"
        ),
        BadFile(
            "not a FeatureCollection",
            "services.geojson",
            json.dumps({"type": "Feature", "geometry": None, "properties": {}}).encode(),
            None,
            "type",
            "FeatureCollection",
        ),
        BadFile(
            "wrong CRS declared",
            "services.geojson",
            geojson_bytes(
                [good_feature()], crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}}
            ),
            None,
            "crs",
            "EPSG:4326",
        ),
        BadFile(
            "LineString feature",
            "services.geojson",
            geojson_bytes(
                [
                    {
                        **good_feature(coverage_type="polygon", area_codes=None),
                        "geometry": {"type": "LineString", "coordinates": [[-1.6, 53.7], [-1.5, 53.8]]},
                    }
                ]
            ),
            1,
            "geometry",
            "Polygon/MultiPolygon",
        ),
        BadFile(
            "feature without properties",
            "services.geojson",
            geojson_bytes([{"type": "Feature", "geometry": None}]),
            1,
            "properties",
            "properties object",
        ),
        BadFile(
            "unknown property",
            "services.geojson",
            geojson_bytes([good_feature(stands=["race"])]),
            1,
            "stands",
            "Did you mean 'strands'?",
        ),
        # --- Open Referral UK
        BadFile(
            "not an ORUK file", "services.json", json.dumps({"services": 3}).encode(), None, None, "Open Referral UK"
        ),
        BadFile(
            "ORUK service without a kind",
            "services.json",
            json.dumps(
                {
                    "content": [
                        {
                            "id": "test-oruk-service",
                            "name": "Test ORUK service",
                            "organization": {"id": "x", "name": "Example Organisation"},
                            "url": "https://example.org/oruk",
                            "assured_date": "2025-01-06",
                            "service_areas": [{"id": "a", "service_area": "England and Wales"}],
                        }
                    ]
                }
            ).encode(),
            1,
            "kind",
            "is required",
        ),
    ]


def _all_cases() -> list[BadFile]:
    from tests.services_db.bad_files.hostile import hostile_cases  # built on the helpers above

    return _cases() + hostile_cases()


BAD_FILES: list[BadFile] = _all_cases()
