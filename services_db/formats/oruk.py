"""Open Referral UK (ORUK) JSON: services with organization, contacts/phones, locations, regular_schedules,
service_areas (with a GeoJSON ``extent``), languages and taxonomy terms, as in the ORUK service schema.

A file is a page of the ORUK ``/services`` API (``{"content": [service, ...], ...}``) or a bare list of
services. ORUK has no fields for what Signpost must know (service kind, hate crime strands, commissioner,
coverage spec, source page, caveat), so each exported service also carries ``x_signpost``: the complete
Signpost record, named like the CSV columns. On import ``x_signpost`` is authoritative when present; without
it (a feed from another ORUK publisher) the standard fields are mapped and whatever is missing is reported.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from mapping.types import (
    DAY_NAMES,
    AreaCoverage,
    ChannelKind,
    Nation,
    NationalCoverage,
    PolygonCoverage,
    RadiusCoverage,
    ServiceRecord,
    ServiceStatus,
    Strand,
    time_text,
)
from services_db.formats.common import as_records, load_json, record_to_properties
from services_db.validation import (
    COLUMNS,
    MAX_ROWS,
    Problem,
    RawService,
    canonical_geojson,
    parse_channel_cell,
    suggest,
)

__all__ = ["EXTENSION", "read_oruk", "write_oruk"]

EXTENSION = "x_signpost"
NAMESPACE = uuid.UUID("6f1c1d8e-6b0a-4a8e-9a57-0b6a9d1e2c3f")  # stable ids for ORUK sub-objects
BYDAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
STATUS_TO_ORUK = {
    ServiceStatus.ACTIVE: "active",
    ServiceStatus.SUSPENDED: "temporarily closed",
    ServiceStatus.CLOSED: "defunct",
}
STATUS_FROM_ORUK = {"active": "active", "inactive": "suspended", "temporarily closed": "suspended", "defunct": "closed"}
KIND_VOCABULARY = "signpost-service-kind"
STRAND_VOCABULARY = "signpost-hate-crime-strand"
ONS_URI = "http://statistics.data.gov.uk/id/statistical-geography/"
NATION_NAMES = {Nation.ENGLAND_AND_WALES: "England and Wales", Nation.ENGLAND: "England", Nation.WALES: "Wales"}
EXTENSION_NAMES = frozenset(COLUMNS) | {"channels", "translations"}


def _id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


# --- writing ----------------------------------------------------------------------------------------------


def _service_areas(record: ServiceRecord, geometries: Mapping[str, BaseGeometry]) -> list[dict[str, Any]]:
    coverage = record.coverage
    if isinstance(coverage, NationalCoverage):
        area: dict[str, Any] = {"id": _id(record.id, "area"), "service_area": NATION_NAMES[coverage.nation]}
        resolved = geometries.get(record.id)
        if resolved is not None and not resolved.is_empty:
            area["extent"] = json.dumps(canonical_geojson(mapping(resolved)))
        return [area]
    if isinstance(coverage, AreaCoverage):
        return [
            {"id": _id(record.id, "area", code), "service_area": code, "uri": ONS_URI + code}
            for code in coverage.area_codes
        ]
    if isinstance(coverage, RadiusCoverage):
        text = f"within {coverage.radius_m:g} m of {coverage.lat:.5f}, {coverage.lon:.5f}"
        extent = geometries.get(record.id)
        area = {"id": _id(record.id, "area"), "service_area": text}
        if extent is not None:
            area["extent"] = json.dumps(canonical_geojson(mapping(extent)))
        return [area]
    assert isinstance(coverage, PolygonCoverage)
    return [{"id": _id(record.id, "area"), "service_area": "polygon", "extent": json.dumps(dict(coverage.geojson))}]


def _service(record: ServiceRecord, geometries: Mapping[str, BaseGeometry]) -> dict[str, Any]:
    def first(kinds: tuple[ChannelKind, ...]) -> str | None:
        return next((c.value for c in record.channels if c.kind in kinds), None)

    url = first((ChannelKind.WEB, ChannelKind.WEB_FORM))
    if url and "://" not in url:
        url = "https://" + url
    phones = [c for c in record.channels if c.kind is ChannelKind.PHONE]
    places = [c for c in record.channels if c.kind is ChannelKind.IN_PERSON]
    organisation = record.organisation or record.name
    service: dict[str, Any] = {
        "id": record.id,
        "organization": {"id": _id("organisation", organisation), "name": organisation, "description": ""},
        "name": record.name,
        "description": record.description,
        "url": url,
        "email": first((ChannelKind.EMAIL,)),
        "status": STATUS_TO_ORUK[record.status],
        # ORUK's assured_date is when the details were checked: an unconfirmed entry has none.
        "assured_date": record.verified_on.isoformat() if record.verified_on else None,
        "contacts": [
            {
                "id": _id(record.id, "contact", str(i)),
                "name": c.note,
                "phones": [{"id": _id(record.id, "phone", str(i)), "number": c.value}],
            }
            for i, c in enumerate(phones)
        ],
        "service_at_locations": [
            {
                "id": _id(record.id, "sal", str(i)),
                "location": {
                    "id": _id(record.id, "location", str(i)),
                    "name": c.value,
                    "description": c.note,
                    "latitude": c.lat,
                    "longitude": c.lon,
                    "physical_addresses": [{"id": _id(record.id, "address", str(i)), "address_1": c.value}],
                },
            }
            for i, c in enumerate(places)
        ],
        "regular_schedules": [
            {
                "id": _id(record.id, "schedule", str(i)),
                "freq": "WEEKLY",
                "byday": BYDAY[interval.day],
                "opens_at": time_text(interval.opens),
                "closes_at": time_text(interval.closes),  # "00:00" for midnight, as the hours were written
            }
            for i, interval in enumerate(record.hours.intervals)
        ],
        "service_areas": _service_areas(record, geometries),
        "eligibilitys": _eligibilitys(record),
        "languages": [{"id": _id(record.id, "language", lang), "language": lang} for lang in record.languages],
        "service_taxonomys": [
            {
                "id": _id(record.id, "taxonomy", term),
                "taxonomy": {"id": f"{vocabulary}:{term}", "name": term, "vocabulary": vocabulary},
            }
            for vocabulary, term in [(KIND_VOCABULARY, record.kind.value)]
            + [(STRAND_VOCABULARY, s.value) for s in Strand if s in record.strands]
        ],
        EXTENSION: _extension(record),
    }
    return service


def _eligibilitys(record: ServiceRecord) -> list[dict[str, Any]]:
    if not (record.eligibility or record.min_age is not None or record.max_age is not None):
        return []
    return [
        {
            "id": _id(record.id, "eligibility"),
            "eligibility": record.eligibility,
            "minimum_age": record.min_age,
            "maximum_age": record.max_age,
        }
    ]


def _extension(record: ServiceRecord) -> dict[str, Any]:
    props = record_to_properties(record)
    coverage = record.coverage
    if isinstance(coverage, RadiusCoverage):
        props["centre_lat"], props["centre_lon"] = float(coverage.lat), float(coverage.lon)
    elif isinstance(coverage, PolygonCoverage):
        props["geometry"] = dict(coverage.geojson)
    return props


def write_oruk(records: Sequence[ServiceRecord], *, geometries: Mapping[str, BaseGeometry]) -> str:
    """A one-page ORUK ``/services`` response holding every service."""
    content = [_service(r, geometries) for r in records]
    page = {
        "totalElements": len(content),
        "totalPages": 1,
        "number": 1,
        "size": len(content),
        "first": True,
        "last": True,
        "content": content,
    }
    return json.dumps(page, ensure_ascii=False, indent=1) + "\n"


# --- reading ----------------------------------------------------------------------------------------------


def _services(document: Any) -> Any:
    return document.get("content") if isinstance(document, dict) else document


def read_oruk(text: str, *, file: str) -> tuple[list[RawService], list[Problem], list[Problem]]:
    """ORUK services as raw entries (numbered from 1 in ``content``, as "record N" in problems)."""
    document, problem = load_json(text, file=file, records=_services)
    if problem is not None:
        return [], [problem], []
    if isinstance(document, dict) and isinstance(document.get("content"), list):
        services = document["content"]
    elif isinstance(document, list):
        services = document
    elif isinstance(document, dict) and "id" in document and "name" in document:
        services = [document]
    else:
        return (
            [],
            [
                Problem(
                    file,
                    None,
                    None,
                    'not an Open Referral UK services file: expected {"content": [services]} or a list of services',
                )
            ],
            [],
        )
    if not services:
        return [], [Problem(file, None, "content", "the file lists no services: add at least one")], []
    if len(services) > MAX_ROWS:
        return [], [Problem(file, None, "content", f"{len(services):,} services: the limit is {MAX_ROWS:,}")], []
    out: list[RawService] = []
    problems: list[Problem] = []
    for index, service in enumerate(services, start=1):
        if not isinstance(service, dict):
            problems.append(Problem(file, index, None, "is not a service object"))
            continue
        extension = service.get(EXTENSION)
        if isinstance(extension, dict):
            unknown = [k for k in extension if k not in EXTENSION_NAMES]
            for key in unknown:
                problems.append(Problem(file, index, f"{EXTENSION}.{key}", f"unknown field.{suggest(key, COLUMNS)}"))
            if unknown:
                continue
            outer_id, inner_id = service.get("id"), extension.get("id")
            if outer_id not in (None, "") and outer_id != inner_id:
                problems.append(
                    Problem(
                        file,
                        index,
                        f"{EXTENSION}.id",
                        f"the service's id {str(outer_id)[:80]!r} and its {EXTENSION} id {str(inner_id)[:80]!r}"
                        " differ: make them the same (which record is meant is otherwise a guess)",
                    )
                )
                continue
            disagreements = _disagreements(service, extension)
            for name, outer, inner in disagreements:
                problems.append(
                    Problem(
                        file,
                        index,
                        f"{EXTENSION}.{name}",
                        f"the service's {name} {str(outer)[:120]!r} and its {EXTENSION} {name} {str(inner)[:120]!r}"
                        f" differ: make them the same (Signpost reads {EXTENSION}; the other would be dropped unseen)",
                    )
                )
            if disagreements:
                continue
            fields = dict(extension)
            geometry = fields.pop("geometry", None)
            out.append(
                RawService(
                    row=index, fields=fields, geometry=geometry if isinstance(geometry, dict) else None, unit="record"
                )
            )
        else:
            out.append(_from_standard(file, index, service, problems))
    return out, as_records(problems, services), []


def _extension_web(extension: Mapping[str, Any]) -> str | None:
    """The web address the writer puts in a service's top-level ``url``: its first web or web form channel."""
    channels = extension.get("channels")
    if isinstance(channels, list):
        found = [c.get("value") for c in channels if isinstance(c, dict) and c.get("kind") in ("web", "web_form")]
    else:
        found = []
        for column in ("web", "web_form"):
            cell = extension.get(column)
            values = cell if isinstance(cell, list) else parse_channel_cell(str(cell)) if cell else []
            found.extend(v if isinstance(v, str) else v[0] for v in values)
    value = next((v for v in found if isinstance(v, str) and v), None)
    return value if value is None or "://" in value else "https://" + value


def _disagreements(service: Mapping[str, Any], extension: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """The standard members (``name``, ``url``) that say something other than the extension Signpost reads."""
    out: list[tuple[str, Any, Any]] = []
    name = service.get("name")
    if name not in (None, "") and name != extension.get("name"):
        out.append(("name", name, extension.get("name")))
    url = service.get("url")
    if url not in (None, "") and url != _extension_web(extension):
        out.append(("url", url, _extension_web(extension) or "no web address"))
    return out


def _objects(value: Any, where: str, file: str, index: int, problems: list[Problem]) -> list[dict[str, Any]]:
    """The objects of an ORUK list member; anything else in it is reported, not guessed at."""
    if value in (None, "", []):
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        problems.append(Problem(file, index, where, "must be a list of objects, as in the Open Referral UK schema"))
        return []
    return value


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _from_standard(file: str, index: int, service: Mapping[str, Any], problems: list[Problem]) -> RawService:
    raw_id = service.get("id")
    fields: dict[str, Any] = {
        "id": _slug(raw_id) if isinstance(raw_id, str) else raw_id,
        "name": service.get("name"),
        "description": service.get("description") or "",
        "status": STATUS_FROM_ORUK.get(str(service.get("status") or "active").lower(), service.get("status")),
        "verified_on": service.get("assured_date") or "",
    }
    organisation = service.get("organization")
    if isinstance(organisation, dict):
        fields["organisation"] = organisation.get("name") or ""
    url = service.get("url") or ""
    if isinstance(url, str) and url.startswith("https://"):
        fields["source_url"] = url
    fields["channels"] = _standard_channels(file, index, service, problems, url)
    for term in _objects(service.get("service_taxonomys"), "service_taxonomys", file, index, problems):
        taxonomy = _object(term.get("taxonomy"))
        if taxonomy.get("vocabulary") == KIND_VOCABULARY:
            fields["kind"] = taxonomy.get("name")
        elif taxonomy.get("vocabulary") == STRAND_VOCABULARY:
            fields.setdefault("strands", []).append(taxonomy.get("name"))
    fields["languages"] = [
        x["language"]
        for x in _objects(service.get("languages"), "languages", file, index, problems)
        if x.get("language")
    ]
    for eligibility in _objects(service.get("eligibilitys"), "eligibilitys", file, index, problems):
        if isinstance(eligibility, dict):
            fields.setdefault("eligibility", eligibility.get("eligibility") or "")
            fields.setdefault("min_age", eligibility.get("minimum_age"))
            fields.setdefault("max_age", eligibility.get("maximum_age"))
    intervals = _standard_hours(file, index, service, problems)
    if intervals:
        fields["hours"] = "; ".join(intervals)
    geometry = _standard_coverage(file, index, service, fields, problems)
    return RawService(row=index, fields=fields, geometry=geometry, unit="record")


def _standard_channels(
    file: str, index: int, service: Mapping[str, Any], problems: list[Problem], url: Any
) -> list[dict[str, Any]]:
    """Phones (named by their contact), the email, the web address and the places to go, as channels."""
    channels: list[dict[str, Any]] = []
    for contact in _objects(service.get("contacts"), "contacts", file, index, problems):
        for phone in _objects(contact.get("phones"), "contacts.phones", file, index, problems):
            if phone.get("number"):
                channels.append({"kind": "phone", "value": phone["number"], "note": contact.get("name") or ""})
    if service.get("email"):
        channels.append({"kind": "email", "value": service["email"]})
    if url:
        channels.append({"kind": "web", "value": url})
    for link in _objects(service.get("service_at_locations"), "service_at_locations", file, index, problems):
        location = _object(link.get("location"))
        addresses = _objects(location.get("physical_addresses"), "physical_addresses", file, index, problems)
        address = location.get("name") or next((a["address_1"] for a in addresses if a.get("address_1")), None)
        if address:
            channels.append(
                {
                    "kind": "in_person",
                    "value": address,
                    "lat": location.get("latitude"),
                    "lon": location.get("longitude"),
                }
            )
    return channels


def _standard_hours(file: str, index: int, service: Mapping[str, Any], problems: list[Problem]) -> list[str]:
    """The weekly schedules as intervals in the hours' own text (``fri 22:00-02:00``), one per day."""
    intervals = []
    for schedule in _objects(service.get("regular_schedules"), "regular_schedules", file, index, problems):
        for day in str(schedule.get("byday") or "").split(","):
            day = day.strip().upper()
            if day in BYDAY and schedule.get("opens_at") and schedule.get("closes_at"):
                opens, closes = str(schedule["opens_at"])[:5], str(schedule["closes_at"])[:5]
                intervals.append(f"{DAY_NAMES[BYDAY.index(day)]} {opens}-{closes}")
            elif day:
                problems.append(Problem(file, index, "regular_schedules", f"cannot read schedule day {day[:20]!r}"))
    return intervals


def _standard_coverage(
    file: str, index: int, service: Mapping[str, Any], fields: dict[str, Any], problems: list[Problem]
) -> dict[str, Any] | None:
    codes: list[str] = []
    for area in _objects(service.get("service_areas"), "service_areas", file, index, problems):
        uri = str(area.get("uri") or "")
        name = str(area.get("service_area") or area.get("name") or "").strip()
        code = uri.rsplit("/", 1)[-1] if uri.startswith(ONS_URI) else name.upper()
        if re.fullmatch(r"[EW]\d{8}", code):
            codes.append(code)
            continue
        nation = {v.lower(): k for k, v in NATION_NAMES.items()}.get(name.lower())
        if nation is not None:
            fields.update(coverage_type="national", nation=nation.value)
            return None
        extent = area.get("extent")
        if extent:
            geometry, problem = load_json(extent, file=file) if isinstance(extent, str) else (extent, None)
            if problem is not None:
                problems.append(Problem(file, index, "service_areas.extent", f"is not GeoJSON: {problem.message}"))
                return None
            fields["coverage_type"] = "polygon"
            return geometry if isinstance(geometry, dict) else None
    if codes:
        fields.update(coverage_type="areas", area_codes=codes)
    return None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]
