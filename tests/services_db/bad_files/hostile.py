"""Hostile files: what an attacker or a careless copy-and-paste sends. Each is one defect on the good row.

Spreadsheet formulas, chargeable phone numbers, addresses that hide or imitate their real site, invisible and
direction-changing characters, markup, absurd numbers, JSON built to exhaust the parser, keys given twice.
Every case says where (row, field) the refusal must point and a fragment of what it must say.
"""

from __future__ import annotations

import json
from typing import Any

from tests.services_db.bad_files import GOOD_ROW, BadFile, geojson_bytes, good_feature, row

__all__ = ["hostile_cases"]

DEEP = 100_000
RADIUS = {"coverage_type": "radius", "area_codes": "", "centre_lat": "53.7997", "centre_lon": "-1.5492"}


def _extension(**changes: Any) -> dict[str, Any]:
    """The good row as an Open Referral UK ``x_signpost`` extension."""
    props = {k: v for k, v in GOOD_ROW.items() if not k.startswith("in_person")}
    props.update(changes)
    return props


def _oruk(*services: dict[str, Any]) -> bytes:
    return json.dumps({"content": list(services)}).encode()


def _standard(**changes: Any) -> dict[str, Any]:
    """A plain ORUK service (no extension) that needs only its kind to be valid."""
    service: dict[str, Any] = {
        "id": "test-oruk-service",
        "name": "Test ORUK service",
        "organization": {"id": "x", "name": "Example Organisation"},
        "url": "https://example.org/oruk",
        "assured_date": "2025-01-06",
        "service_areas": [{"id": "a", "service_area": "England and Wales"}],
        "service_taxonomys": [
            {"id": "t", "taxonomy": {"id": "k", "name": "helpline", "vocabulary": "signpost-service-kind"}}
        ],
    }
    service.update(changes)
    return service


def _csv_cases() -> list[BadFile]:
    csv = "services.csv"
    return [
        # Spreadsheet formulas: = + - @ tab and CR start a formula in Excel, LibreOffice and Google Sheets.
        BadFile("formula starting with +", csv, row(name="+SUM(1,2)"), 2, "name", "formula"),
        BadFile("formula starting with -", csv, row(description="-2+3+cmd|' /C calc'!A0"), 2, "description", "formula"),
        BadFile(
            "formula starting with @", csv, row(organisation="@SUM(1+1)*cmd|' /C calc'!A0"), 2, "organisation", "@"
        ),
        BadFile("formula behind a tab", csv, row(eligibility="\t=1+1"), 2, "eligibility", "formula"),
        BadFile("formula in a web cell", csv, row(web='=HYPERLINK("https://example.org")'), 2, "web", "formula"),
        BadFile("formula in a phone cell", csv, row(phone="=0113 496 0000"), 2, "phone", "may start with +44"),
        BadFile("minus before a phone number", csv, row(phone="-0113 496 0000"), 2, "phone", "formula"),
        BadFile("formula in an e-mail cell", csv, row(email="@example.org"), 2, "email", "formula"),
        BadFile("formula in the caveat", csv, row(caveat="=IMPORTXML(A1)"), 2, "caveat", "formula"),
        BadFile("formula in the hours note", csv, row(hours_note="+1 on Fridays"), 2, "hours_note", "formula"),
        BadFile("carriage return first", csv, row(caveat="\r=1+1"), 2, "caveat", "U+000D"),
        # Numbers a victim pays for.
        BadFile("premium-rate 09 number", csv, row(phone="0906 123 4567"), 2, "phone", "premium-rate"),
        BadFile("087 service-charge number", csv, row(phone="0871 123 4567"), 2, "phone", "a victim pays"),
        BadFile(
            "084 number with no cost", csv, row(phone="0844 123 4567 [local rate]"), 2, "phone", "what a call costs"
        ),
        BadFile("premium number noted [cost]", csv, row(phone="0905 123 4567 [cost]"), 2, "phone", "what a call costs"),
        BadFile(
            "premium number noted as free",
            csv,
            row(phone="0905 123 4567 [calls cost nothing]"),
            2,
            "phone",
            "says calls are free",
        ),
        BadFile("personal 070 number", csv, row(phone="0700 123 4567"), 2, "phone", "personal (070)"),
        BadFile("directory enquiry 118", csv, row(phone="118 118"), 2, "phone", "directory enquiry"),
        BadFile("premium text number", csv, row(text="0906 123 4567"), 2, "text", "premium-rate"),
        # Addresses that are not what they look like.
        BadFile("user info hides the site", csv, row(web="https://www.gov.uk@evil.example/"), 2, "web", "user name"),
        BadFile(
            "password in source_url",
            csv,
            row(source_url="https://user:secret@example.org/s"),
            2,
            "source_url",
            "user name",
        ),
        BadFile("http source_url", csv, row(source_url="http://example.org/s2"), 2, "source_url", "https://"),
        BadFile("ftp web address", csv, row(web="ftp://example.org/report"), 2, "web", "must start with https://"),
        BadFile("javascript address", csv, row(web="javascript:alert(1)"), 2, "web", "plain text only"),
        BadFile("data address", csv, row(web="data:text/html,hello"), 2, "web", "not a web address"),
        BadFile("punycode site name", csv, row(web="https://xn--gv-uk-5ua.example/"), 2, "web", "internationalised"),
        BadFile("cyrillic o in gov.uk", csv, row(web="https://www.g\u043ev.uk/report"), 2, "web", "other alphabets"),
        BadFile(
            "gov.uk as a subdomain", csv, row(web="https://gov.uk.report-hate.example/"), 2, "web", "gov.uk address"
        ),
        BadFile(
            "police-uk look-alike",
            csv,
            row(source_url="https://police-uk.example.org/x"),
            2,
            "source_url",
            "police.uk address",
        ),
        BadFile("g0v look-alike", csv, row(web="https://www.g0v-uk.example/"), 2, "web", "gov.uk address"),
        BadFile("unusual port", csv, row(web="https://example.org:8443/report"), 2, "web", "port 8443"),
        BadFile("web chat over gopher", csv, row(web_chat="gopher://example.org/chat"), 2, "web_chat", "https://"),
        # Addresses inside free text: Telegram makes them clickable, so the address rules apply there too.
        BadFile(
            "user info in a description's address",
            csv,
            row(description="Report online at https://www.gov.uk@evil.example/report now"),
            2,
            "description",
            "user name",
        ),
        BadFile(
            "cyrillic letter in an address in the eligibility",
            csv,
            row(eligibility="See https://www.gov.\u0443k/help"),
            2,
            "eligibility",
            "other alphabets",
        ),
        BadFile(
            "bare gov.uk look-alike in the caveat",
            csv,
            row(caveat="Check www.gov.uk.evil.example first"),
            2,
            "caveat",
            "gov.uk address",
        ),
        BadFile(
            "look-alike in the Welsh description",
            csv,
            row(description_cy="Ewch i police.uk.evil.example i roi gwybod"),
            2,
            "description_cy",
            "police.uk address",
        ),
        BadFile(
            "accented gov.uk in the Easy Read summary",
            csv,
            row(summary_easy="Go to gov.\u00fck to report"),
            2,
            "summary_easy",
            "other alphabets",
        ),
        BadFile("IP address in the hours note", csv, row(hours_note="Book at 203.0.113.9/book"), 2, "hours_note", "IP"),
        BadFile(
            "ftp address in a channel note",
            csv,
            row(phone="0113 496 0000 [or see ftp://example.org/list]"),
            2,
            "phone",
            "https://",
        ),
        BadFile(
            "e-mail behind a gov.uk name in the organisation",
            csv,
            row(organisation="www.gov.uk@evil.example"),
            2,
            "organisation",
            "hides the real site",
        ),
        # Characters nobody can see.
        BadFile("right-to-left override", csv, row(name="Leeds centre \u202egnp.exe"), 2, "name", "U+202E"),
        BadFile("zero-width space in id", csv, row(id="test-bad\u200bfiles-centre"), 2, "id", "U+200B"),
        BadFile("soft hyphen", csv, row(organisation="Example Organ\u00adisation"), 2, "organisation", "U+00AD"),
        BadFile("byte order mark in a cell", csv, row(description="Test \ufeffdata"), 2, "description", "U+FEFF"),
        BadFile("bell character", csv, row(name="Test centre \x07"), 2, "name", "U+0007"),
        BadFile("line separator", csv, row(eligibility="Anyone\u2028at all"), 2, "eligibility", "U+2028"),
        BadFile("bidi isolate in a note", csv, row(phone="0113 496 0000 [\u2067free\u2069]"), 2, "phone", "U+2067"),
        # Markup that would show a different target.
        BadFile(
            "markdown link",
            csv,
            row(description="Report at [www.gov.uk](https://evil.example)"),
            2,
            "description",
            "markdown link",
        ),
        BadFile(
            "HTML link",
            csv,
            row(description='Report at <a href="https://evil.example">www.gov.uk</a>'),
            2,
            "description",
            "plain text only",
        ),
        # Numbers out of range.
        BadFile("twenty-digit version", csv, row(version="12345678901234567890"), 2, "version", "1 to 1,000,000,000"),
        BadFile("version zero", csv, row(version="0"), 2, "version", "not a version number"),
        BadFile("fractional version", csv, row(version="1.5"), 2, "version", "not a version number"),
        BadFile("radius not a number", csv, row(**RADIUS, radius_m="nan"), 2, "radius_m", "finite"),
        BadFile("radius overflow", csv, row(**RADIUS, radius_m="1e309"), 2, "radius_m", "finite"),
        BadFile("latitude overflow", csv, row(in_person_lat="1e400"), 2, "in_person_lat", "not a coordinate"),
        # Claims nobody can make.
        BadFile(
            "local commissioner claims national coverage",
            csv,
            row(coverage_type="national", area_codes=""),
            2,
            "coverage_type",
            "one force area",
        ),
        BadFile(
            "local commissioner's polygon over England and Wales",
            csv,
            row(coverage_type="polygon", area_codes="", geometry="POLYGON((-6 49.8,2 49.8,2 56,-6 56,-6 49.8))"),
            2,
            "geometry",
            "lies outside force area West Yorkshire (E23000010)",
        ),
        BadFile(
            "local commissioner names another force area",
            csv,
            row(area_codes="E23000001"),
            2,
            "area_codes",
            "Metropolitan Police (E23000001) is in Metropolitan Police, outside force area West Yorkshire (E23000010)",
        ),
        BadFile(
            "local commissioner names another force's district",
            csv,
            row(area_codes="E08000035; E06000023"),
            2,
            "area_codes",
            "Bristol, City of (E06000023) is in Avon and Somerset, outside force area West Yorkshire (E23000010)",
        ),
    ]


def _json_cases() -> list[BadFile]:
    geojson, oruk = "services.geojson", "services.json"
    surrogate = good_feature(name="\ud800 centre")
    return [
        BadFile(
            "GeoJSON nested 100,000 deep",
            geojson,
            b'{"type": "FeatureCollection", "features": ' + b"[" * DEEP + b"]" * DEEP + b"}",
            None,
            None,
            "nested 100,001 levels",
        ),
        BadFile(
            "GeoJSON key given twice",
            geojson,
            b'{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": null,'
            b' "properties": {"id": "a", "id": "b"}}]}',
            1,
            None,
            "'id' appears twice",
        ),
        BadFile(
            "GeoJSON key given twice in the second feature",
            geojson,
            geojson_bytes([good_feature(), good_feature(id="test-second", caveat="C")]).replace(
                b'"caveat": "C"', b'"caveat": "a", "caveat": "b"'
            ),
            2,
            None,
            "'caveat' appears twice",
        ),
        BadFile(
            "GeoJSON key given twice at the top",
            geojson,
            b'{"type": "FeatureCollection", "features": [], "features": []}',
            None,
            None,
            "'features' appears twice in the file's top-level object",
        ),
        BadFile(
            "GeoJSON NaN",
            geojson,
            geojson_bytes([good_feature(**RADIUS, radius_m=5000)]).replace(b"5000", b"NaN"),
            None,
            None,
            "NaN is not a JSON number",
        ),
        BadFile(
            "GeoJSON number of 5,000 digits",
            geojson,
            geojson_bytes([good_feature(version=7)]).replace(b'"version": 7', b'"version": ' + b"9" * 5000),
            None,
            "version",
            "5,000 digits long (line 1): write the real value (a version is 1 to 1,000,000,000",
        ),
        BadFile(
            "GeoJSON lone surrogate",
            geojson,
            json.dumps({"type": "FeatureCollection", "features": [surrogate]}).encode(),
            1,
            "name",
            "surrogate",
        ),
        BadFile(
            "GeoJSON bidi in a channel note",
            geojson,
            geojson_bytes(
                [good_feature(phone=None, channels=[{"kind": "phone", "value": "0113 496 0000", "note": "\u202efree"}])]
            ),
            1,
            "channels",
            "U+202E",
        ),
        BadFile(
            "GeoJSON channel value is an object",
            geojson,
            geojson_bytes([good_feature(phone=None, channels=[{"kind": "phone", "value": {"n": 1}}])]),
            1,
            "channels",
            "must be text",
        ),
        BadFile(
            "GeoJSON name is a list", geojson, geojson_bytes([good_feature(name=["a"])]), 1, "name", "must be text"
        ),
        BadFile("GeoJSON is a bare string", geojson, b'"hello"', None, "type", "FeatureCollection"),
        BadFile(
            "GeoJSON features is an object",
            geojson,
            b'{"type": "FeatureCollection", "features": {"a": 1}}',
            None,
            "features",
            "'features' list",
        ),
        BadFile(
            "GeoJSON premium number",
            geojson,
            geojson_bytes([good_feature(phone="0909 879 0000")]),
            1,
            "phone",
            "premium-rate",
        ),
        BadFile(
            "GeoJSON formula in a name",
            geojson,
            geojson_bytes([good_feature(name="=cmd|' /C calc'!A0")]),
            1,
            "name",
            "formula",
        ),
        BadFile(
            "ORUK ids disagree",
            oruk,
            _oruk({"id": "another-service", "name": "Test", "x_signpost": _extension()}),
            1,
            "x_signpost.id",
            "differ",
        ),
        BadFile(
            "ORUK nested 100,000 deep",
            oruk,
            b'{"content": ' + b"[" * DEEP + b"]" * DEEP + b"}",
            None,
            None,
            "nested",
        ),
        BadFile(
            "ORUK key given twice",
            oruk,
            b'{"content": [{"id": "a", "name": "Test"}, {"id": "b", "id": "c", "name": "Test"}]}',
            2,
            None,
            "'id' appears twice",
        ),
        BadFile(
            "ORUK name disagrees with the extension",
            oruk,
            _oruk({"id": GOOD_ROW["id"], "name": "Another name", "x_signpost": _extension()}),
            1,
            "x_signpost.name",
            "'Another name' and its x_signpost name 'Test centre (test data)' differ",
        ),
        BadFile(
            "ORUK url disagrees with the extension",
            oruk,
            _oruk({"id": GOOD_ROW["id"], "url": "https://www.gov.uk@evil.example/", "x_signpost": _extension()}),
            1,
            "x_signpost.url",
            "'https://www.gov.uk@evil.example/' and its x_signpost url 'https://example.org/report' differ",
        ),
        BadFile(
            "GeoJSON longitude not a number",
            geojson,
            geojson_bytes([good_feature(**{**RADIUS, "centre_lon": "nan"}, radius_m=5000)]),
            1,
            "centre_lon",
            "nan is not a coordinate",
        ),
        BadFile(
            "GeoJSON read as CSV",
            "services.csv",
            geojson_bytes([good_feature()]),
            None,
            None,
            "this looks like GeoJSON, not CSV",
        ),
        BadFile("ORUK contacts not a list", oruk, _oruk(_standard(contacts="0113 496 0000")), 1, "contacts", "list of"),
        BadFile(
            "ORUK phones not objects",
            oruk,
            _oruk(_standard(contacts=[{"id": "c", "phones": ["0113 496 0000"]}])),
            1,
            "contacts.phones",
            "list of objects",
        ),
        BadFile(
            "ORUK service areas not objects", oruk, _oruk(_standard(service_areas=[1, 2])), 1, "service_areas", "list"
        ),
        BadFile(
            "ORUK extent nested deep",
            oruk,
            _oruk(_standard(service_areas=[{"id": "a", "service_area": "x", "extent": "[" * 50 + "]" * 50}])),
            1,
            "service_areas.extent",
            "nested 50 levels",
        ),
        BadFile(
            "ORUK premium contact",
            oruk,
            _oruk(_standard(contacts=[{"id": "c", "name": "", "phones": [{"id": "p", "number": "0906 123 4567"}]}])),
            1,
            "channels",
            "premium-rate",
        ),
        BadFile(
            "ORUK lone surrogate in a standard name",
            oruk,
            _oruk(_standard(name="Test \udfff service")),
            1,
            "name",
            "surrogate",
        ),
        BadFile(
            "ORUK extension with user info",
            oruk,
            _oruk({"id": GOOD_ROW["id"], "x_signpost": _extension(web="https://www.police.uk@evil.example/")}),
            1,
            "web",
            "user name",
        ),
        BadFile(
            "ORUK extension twenty-digit version",
            oruk,
            _oruk({"id": GOOD_ROW["id"], "x_signpost": _extension(version=10**19)}),
            1,
            "version",
            "not a version number",
        ),
        BadFile("ORUK service is a number", oruk, b'{"content": [7]}', 1, None, "not a service object"),
    ]


def hostile_cases() -> list[BadFile]:
    return _csv_cases() + _json_cases()
