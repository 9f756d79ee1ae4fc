"""Validation of an imported services file: every problem at once, each located and saying what to do.

Readers (``services_db.formats``) turn a CSV row, a GeoJSON feature or an Open Referral UK service into a
:class:`RawService` (field name -> value, plus an optional GeoJSON geometry); :func:`validate_services` turns
those into :class:`mapping.types.ServiceRecord` values or :class:`Problem` values. It never stops at the first
problem: a PCC team fixes a spreadsheet once, not fifty times.

The field names are the CSV template's columns (:data:`COLUMNS`); GeoJSON properties and the Open Referral UK
extension use the same names, and may hold native JSON values (lists, objects, numbers) instead of text.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import phonenumbers
import shapely
from shapely import wkt
from shapely.errors import GEOSException
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from mapping.crs import bng_to_wgs84, geometry_to_bng
from mapping.spreadsheet import FORMULA_STARTS, is_formula
from mapping.types import (
    COMMUNITIES,
    TRANSLATION_FIELDS,
    AreaCoverage,
    Channel,
    ChannelKind,
    Confirmation,
    Coverage,
    CoverageType,
    Nation,
    NationalCoverage,
    OpeningHours,
    PolygonCoverage,
    RadiusCoverage,
    ServiceKind,
    ServiceRecord,
    ServiceStatus,
    Strand,
    channel_key,
    normalise_translations,
)
from services_db.hidden_text import HIDDEN_PATTERN, hidden_character
from services_db.web_addresses import addresses_in_text, url_problem

if TYPE_CHECKING:
    from services_db.force_area import ForceAreaOverlap

__all__ = [
    "CHANNEL_COLUMNS",
    "COLUMNS",
    "COLUMN_NOTES",
    "MAX_FILE_BYTES",
    "MAX_ROWS",
    "REQUIRED_COLUMNS",
    "PlaceCheck",
    "Problem",
    "RawService",
    "ValidationContext",
    "ValidationResult",
    "canonical_geojson",
    "format_channel_cell",
    "parse_channel_cell",
    "protected_tokens",
    "suggest",
    "validate_services",
]

MAX_FILE_BYTES = 20 * 1024 * 1024  # a whole country's directory is a few MB; anything bigger is a mistake
MAX_ROWS = 50_000
MAX_VERSION = 1_000_000_000  # a service edited every second for thirty years; longer numbers are mistakes
MAX_RADIUS_M = 100_000.0  # larger than any force area's reach from one centre: use area codes instead
MIN_RADIUS_M = 50.0
POLYGON_REPAIR_TOLERANCE = 0.01  # make_valid may change the area by at most 1 %
# A force area's commissioner's radius or polygon may reach into the next force a little (a 5 km circle round a
# town near the border: the shipped directory's reach up to 30 %), not mostly: over half outside is refused.
FORCE_AREA_REFUSED_SHARE = 0.5
FORCE_AREA_WARNED_SHARE = 0.1

# Column name -> (required, what to write). The template notes are generated from this table.
COLUMN_NOTES: dict[str, tuple[bool, str]] = {
    "id": (
        True,
        "Stable identifier: lower-case letters, digits and hyphens (e.g. leeds-hate-crime-centre). Never reuse.",
    ),
    "name": (True, "The service's public name, as a victim would recognise it."),
    "organisation": (False, "Who runs the service (charity, council, police force)."),
    "kind": (
        True,
        "One of: " + ", ".join(k.value for k in ServiceKind) + ".",
    ),
    "description": (False, "Plain text, up to 2,000 characters: what the service does for a victim. No HTML."),
    "strands": (
        False,
        "Strands it specialises in, separated by ';' (disability; race; religion; sexual_orientation; "
        "transgender) or 'all' (also when left blank).",
    ),
    "local_strands": (False, "Locally recorded extra strands, by key (e.g. alternative_subculture), ';'-separated."),
    "commissioner_code": (
        False,
        "Who commissions it: 'pcc-' and the force area code (e.g. pcc-E23000010, also for mayors and MOPAC),"
        " 'national' for national services; blank when nobody commissions it.",
    ),
    "phone": (
        False,
        "UK phone numbers, ';'-separated; a note in square brackets: 0800 123 4567 [free, 24/7]. May start with"
        " +44. Premium-rate, shared-cost and personal numbers (09, 084, 087, 070) only with the cost in the note,"
        " e.g. [calls cost 7p per minute plus your phone company's access charge].",
    ),
    "text": (False, "Numbers that take SMS text messages, ';'-separated, notes in [brackets]."),
    "email": (False, "E-mail addresses, ';'-separated."),
    "web": (False, "Web pages (https://..., no user name or password in the address), ';'-separated."),
    "web_form": (False, "Online reporting form addresses (https://...)."),
    "web_chat": (False, "Live chat addresses (https://...)."),
    "bsl": (False, "British Sign Language access: a video relay address or a short description."),
    "relay": (False, "Relay UK numbers (textphone / app), e.g. 18001 then the number."),
    "app": (False, "An app's name or store address."),
    "in_person_address": (False, "Addresses where people can call in, ';'-separated (one per location)."),
    "in_person_lat": (False, "Latitude (WGS84 degrees, e.g. 53.7997) of each address, ';'-separated, same order."),
    "in_person_lon": (False, "Longitude (WGS84 degrees, e.g. -1.5492) of each address, ';'-separated, same order."),
    "languages": (False, "Languages offered besides English (e.g. cy; pl; ur), ';'-separated."),
    "hours": (
        False,
        "'24/7', or days and times like 'mon-fri 09:00-17:00; sat 10:00-13:00' (twice a day: 'mon-fri 09:00-12:30,"
        " 13:30-17:00'; until midnight: 'fri 18:00-00:00'; past midnight: 'fri 22:00-02:00', open until 02:00 on"
        " Saturday); blank when unknown.",
    ),
    "bank_holidays": (False, "What happens on bank holidays (e.g. 'closed')."),
    "hours_note": (False, "Anything else about hours a victim should know."),
    "eligibility": (False, "Who can use it, in words (e.g. 'people who live or work in Leeds')."),
    "communities": (
        False,
        "Only when the service is limited to particular communities, ';'-separated: "
        + ", ".join(COMMUNITIES)
        + ". Blank: everyone in its strands.",
    ),
    "min_age": (False, "Youngest age it serves, in years (blank: no lower limit)."),
    "max_age": (False, "Oldest age it serves, in years (blank: no upper limit)."),
    "residents_only": (False, "yes when only people who live in its area may use it; blank or no otherwise."),
    "coverage_type": (
        True,
        "national, areas, radius or polygon (may be left blank when exactly one kind of coverage data is filled).",
    ),
    "nation": (False, "For national coverage: england_and_wales (default), england or wales."),
    "area_codes": (
        False,
        "For areas coverage: ONS codes of force areas (E23/W15) or districts (E06-E09/W06), ';'-sep.",
    ),
    "centre_lat": (False, "For radius coverage: latitude of the centre (WGS84 degrees)."),
    "centre_lon": (False, "For radius coverage: longitude of the centre (WGS84 degrees)."),
    "radius_m": (False, f"For radius coverage: radius in metres ({MIN_RADIUS_M:.0f} to {MAX_RADIUS_M:.0f})."),
    "geometry": (False, "For polygon coverage: a WKT or GeoJSON Polygon/MultiPolygon in WGS84 (lon lat order)."),
    "status": (False, "active (default), suspended or closed."),
    "source_url": (True, "https:// address of the page the details were checked against."),
    "verified_on": (
        True,
        "Date your team last checked the details: YYYY-MM-DD (or DD/MM/YYYY); not in the future."
        " Blank only for an unconfirmed entry.",
    ),
    "confirmation": (
        False,
        "confirmed (default: your team checked the details) or unconfirmed (taken from a public page, not yet"
        " checked; victims are told to call first).",
    ),
    "page_date": (False, "The source page's own date (last updated), YYYY-MM-DD, when it shows one."),
    "caveat": (False, "Anything a person still has to confirm; the bot shows it beside the details."),
    **{
        f"{name}_cy": (False, f"Welsh (Cymraeg) for {name}: the bot shows it to people chatting in Welsh.")
        for name in ("name", "organisation", "description", "eligibility", "caveat", "hours_note", "bank_holidays")
    },
    "notes_cy": (
        False,
        "Welsh for channel notes: the channel as kind:value, then the note in brackets,"
        " ';'-separated: phone:0800 123 4567 [am ddim, 24/7].",
    ),
    "summary_easy": (
        False,
        "Easy Read summary (short sentences, everyday words, up to 500 characters): shown instead of the"
        " description to people using Easy Read.",
    ),
    **{
        f"{name}_easy": (False, f"Easy Read version of {name}.")
        for name in ("eligibility", "caveat", "hours_note", "bank_holidays")
    },
    "notes_easy": (False, "Easy Read channel notes, written like notes_cy: text:61016 [Text us. Any time.]."),
    "version": (
        False,
        "Filled in by export: the version you edited. Leave it as it is; an import refuses rows changed since.",
    ),
}
COLUMNS: tuple[str, ...] = tuple(COLUMN_NOTES)
REQUIRED_COLUMNS: tuple[str, ...] = ("id", "name", "kind", "source_url", "verified_on")

CHANNEL_COLUMNS: dict[str, ChannelKind] = {
    "phone": ChannelKind.PHONE,
    "text": ChannelKind.TEXT,
    "email": ChannelKind.EMAIL,
    "web": ChannelKind.WEB,
    "web_form": ChannelKind.WEB_FORM,
    "web_chat": ChannelKind.WEB_CHAT,
    "bsl": ChannelKind.BSL,
    "relay": ChannelKind.RELAY,
    "app": ChannelKind.APP,
}

TEXT_LIMITS = {
    "name": 200,
    "organisation": 200,
    "description": 2000,
    "eligibility": 1000,
    "caveat": 1000,
    "bank_holidays": 200,
    "hours_note": 500,
}
TRANSLATION_LIMITS = {"summary": 500}
CHANNEL_VALUE_LIMIT = 300
CHANNEL_NOTE_LIMIT = 300

# Short numbers that are real only for some kinds of service: 999 on a local charity's row is a mistake.
SHORT_CODES: dict[str, frozenset[ServiceKind]] = {
    "999": frozenset({ServiceKind.EMERGENCY}),
    "112": frozenset({ServiceKind.EMERGENCY}),
    "18000": frozenset({ServiceKind.EMERGENCY}),
    "101": frozenset({ServiceKind.POLICE}),
    "18001101": frozenset({ServiceKind.POLICE}),
    "61016": frozenset({ServiceKind.POLICE}),
    "111": frozenset({ServiceKind.HELPLINE}),
    "116123": frozenset({ServiceKind.EMOTIONAL_SUPPORT, ServiceKind.HELPLINE}),
}

STRAND_ALIASES: dict[str, Strand] = {
    **{s.value: s for s in Strand},
    "religion_or_belief": Strand.RELIGION,
    "belief": Strand.RELIGION,
    "transgender_identity": Strand.TRANSGENDER,
    "trans": Strand.TRANSGENDER,
    "sexual_orientation": Strand.SEXUAL_ORIENTATION,
}

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
EMAIL_PATTERN = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
MARKUP_PATTERN = re.compile(
    r"<\s*/?\s*[A-Za-z!][^>]*>|javascript\s*:|&lt;\s*script|\bon[a-z]+\s*=\s*[\"']|\[[^\]\n]*\]\(\s*[^)\s]+", re.I
)
PHONE_FIELDS = frozenset({"phone", "text", "relay"})  # "+44 ..." is a phone number, not a formula
NUMBER_LIST_FIELDS = frozenset({"in_person_lat", "in_person_lon"})  # "-1.5; -1.6": read as numbers or refused
CHARGEABLE_TYPES = {
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "a premium-rate or service-charge number",
    phonenumbers.PhoneNumberType.SHARED_COST: "a shared-cost number",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "a personal (070) number, charged at a high rate",
}
# A cost note on a number a victim pays for states a price: pence or pounds with a number, a rate per minute or
# per call, or Ofcom's standard wording ("plus your phone company's access charge"). "[cost]" says nothing.
COST_NOTE = re.compile(
    r"£\s?\d|\d\s?(?:p|pence|ppm)\b|\bper\s+(?:minute|min|call)\b|\ba\s+(?:minute|call)\b|/\s?min\b"
    r"|access\s+charge",
    re.I,
)
FREE_CLAIM = re.compile(
    r"\bfree\b|\b0\s?(?:p|pence)\b|\bnothing\b|\bno\s+(?:cost|charge)\b|\bcosts?\s+0\b|£\s?0(?:\.0+)?\b", re.I
)
AREA_CODE_PATTERN = re.compile(r"^(E0[6-9]|W06|E23|W15)\d{6}$")
LOCAL_STRAND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
ANY_ONS_CODE = re.compile(r"^[A-Z]\d{8}$")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an imported file, located and saying what to do.

    ``row`` is the line a spreadsheet shows for a CSV row (the header is line 1), or the number of the feature /
    service (from 1, ``unit`` "record") in a GeoJSON or Open Referral UK file, with its id when it has one;
    ``None`` for the file as a whole.
    """

    file: str
    row: int | None
    field: str | None
    message: str
    unit: str = "row"
    record_id: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"{self.unit} {self.row}" + (f" (id {self.record_id!r})" if self.record_id else ""))
        if self.field:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.message}"


@dataclass(frozen=True, slots=True)
class RawService:
    """One entry as read from a file, before validation: field name -> value, plus a GeoJSON geometry."""

    row: int
    fields: Mapping[str, Any]
    geometry: Mapping[str, Any] | None = None
    unit: str = "row"  # "record": a GeoJSON feature or an Open Referral UK service, numbered from 1


# Given WGS84 lat/lon of a plausible point, a message when it is outside England and Wales, else None.
PlaceCheck = Callable[[float, float], str | None]


@dataclass(frozen=True)
class ValidationContext:
    """What validation needs to know about the world: areas, commissioners, local strands, places, today.

    Build it with :func:`services_db.importer.default_context` (the shipped area tables and postcode data).
    """

    is_known_area: Callable[[str], bool]
    commissioner_codes: frozenset[str]
    local_strand_keys: frozenset[str]
    place_check: PlaceCheck
    today: date
    # How much of a coverage lies outside a force area (``ForceAreaCheck.outside``); ``None``: not checked.
    force_area: Callable[[Coverage, str], ForceAreaOverlap] | None = None


@dataclass(frozen=True)
class ValidationResult:
    records: tuple[ServiceRecord, ...]
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...] = ()
    expected_versions: Mapping[str, int] = field(default_factory=dict)
    rows: Mapping[str, int] = field(default_factory=dict)  # service id -> row it was read from

    @property
    def ok(self) -> bool:
        return not self.problems


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the nearest choice, or an empty string."""
    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def canonical_geojson(geometry: Mapping[str, Any]) -> dict[str, Any]:
    """Only ``type`` and ``coordinates``, as plain JSON lists, so that equal shapes compare equal."""
    return json.loads(json.dumps({"type": geometry["type"], "coordinates": geometry["coordinates"]}))


def parse_channel_cell(text: str) -> list[tuple[str, str]]:
    """``'0800 1 [free]; 0113 2'`` -> ``[("0800 1", "free"), ("0113 2", "")]``; ';' inside brackets is kept."""
    items: list[tuple[str, str]] = []
    value, note, depth = "", "", 0
    for char in text:
        if char == "[" and depth == 0:
            depth = 1
        elif char == "]" and depth == 1:
            depth = 0
        elif char == ";" and depth == 0:
            items.append((value.strip(), note.strip()))
            value, note = "", ""
        elif depth:
            note += char
        else:
            value += char
    items.append((value.strip(), note.strip()))
    return [(v, n) for v, n in items if v or n]


def format_channel_cell(items: Iterable[tuple[str, str]]) -> str:
    """Inverse of :func:`parse_channel_cell`."""
    return "; ".join(f"{v} [{n}]" if n else v for v, n in items)


class _Row:
    """Collects the problems of one entry while its fields are read."""

    def __init__(self, file: str, raw: RawService, problems: list[Problem], warnings: list[Problem]) -> None:
        self.file, self.raw, self.problems, self.warnings = file, raw, problems, warnings
        self.failed = False

    def _at(self, field_name: str | None, message: str) -> Problem:
        record_id = self.raw.fields.get("id") if self.raw.unit == "record" else None
        named = record_id[:80] if isinstance(record_id, str) and record_id.strip() else None
        return Problem(self.file, self.raw.row, field_name, message, self.raw.unit, named)

    def problem(self, field_name: str | None, message: str) -> None:
        self.failed = True
        self.problems.append(self._at(field_name, message))

    def warn(self, field_name: str | None, message: str) -> None:
        self.warnings.append(self._at(field_name, message))

    def has(self, name: str) -> bool:
        value = self.raw.fields.get(name)
        return value is not None and value != "" and value != []

    def text(self, name: str, *, limit: int | None = None, plain: bool = True) -> str:
        value = self.raw.fields.get(name)
        if value is None:
            return ""
        if isinstance(value, bool | list | dict):
            self.problem(name, "must be text, not a list or object")
            return ""
        text = str(value).strip()
        limit = limit if limit is not None else TEXT_LIMITS.get(name)
        if limit is not None and len(text) > limit:
            self.problem(name, f"is {len(text):,} characters long; shorten it to at most {limit:,}")
        if plain:
            self.check_plain(name, text)
            if name in TEXT_LIMITS:
                self.check_links(name, text)
        return text

    def check_plain(self, name: str, text: str) -> None:
        if MARKUP_PATTERN.search(text):
            self.problem(
                name, "contains HTML, a markdown link or script; write plain text only (no <tags>, no [text](link))"
            )

    def check_links(self, name: str, text: str) -> None:
        """Addresses inside free text follow the address rules: Telegram makes them clickable too."""
        for address, why, warning_only in addresses_in_text(text):
            message = f"contains the web address {address!r}, which {why}"
            if warning_only:
                self.warn(name, message)
            else:
                self.problem(name, message + "; correct the address or remove it")

    def items(self, name: str) -> list[str]:
        value = self.raw.fields.get(name)
        if value is None or value == "":
            return []
        if isinstance(value, list):
            return [str(v).strip() for v in value if str(v).strip()]
        if isinstance(value, dict):
            self.problem(name, "must be a list of values separated by ';', not an object")
            return []
        return [p.strip() for p in re.split(r"[;,]", str(value)) if p.strip()]

    def number(self, name: str) -> float | None:
        value = self.raw.fields.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            self.problem(name, "must be a number")
            return None
        try:
            number = float(str(value).strip().replace(",", "")) if not isinstance(value, int | float) else value
        except ValueError:
            self.problem(name, f"{value!r} is not a number; write digits only, e.g. 53.7997")
            return None
        if not math.isfinite(number):
            self.problem(name, f"{value!r} is not a finite number")
            return None
        return float(number)


def validate_services(
    raw_services: Sequence[RawService],
    *,
    file: str,
    context: ValidationContext,
    progress: Callable[[int, int], None] | None = None,
) -> ValidationResult:
    """Turn raw entries into service records, collecting every problem (see the module docstring).

    Parameters
    ----------
    raw_services
        Entries as read by a format reader.
    file
        The file's name, used in every problem.
    context
        Known areas, commissioners, local strands, the England-and-Wales place check and today's date.
    progress
        Called with (entries done, total) every few hundred entries, for progress bars and chat messages.

    Returns
    -------
    ValidationResult
        Records only for entries without problems; ``ok`` is true when there are no problems at all.
    """
    problems: list[Problem] = []
    warnings: list[Problem] = []
    records: list[ServiceRecord] = []
    versions: dict[str, int] = {}
    first_row: dict[str, int] = {}
    total = len(raw_services)
    context = replace(context, place_check=_remembered(context.place_check))
    for done, raw in enumerate(raw_services, start=1):
        row = _Row(file, raw, problems, warnings)
        row.raw = _cleaned(row)
        service_id, record, version = _validate_one(row, context)
        if service_id and service_id in first_row:
            row.problem(
                "id",
                f"{service_id!r} is also used on {raw.unit} {first_row[service_id]}; every service needs its own id",
            )
        elif service_id:
            first_row[service_id] = raw.row
        if record is not None and not row.failed:
            records.append(record)
            if version is not None:
                versions[record.id] = version
        if progress is not None and (done % 500 == 0 or done == total):
            progress(done, total)
    return ValidationResult(tuple(records), tuple(problems), tuple(warnings), versions, first_row)


def _remembered(place_check: PlaceCheck) -> PlaceCheck:
    """``place_check`` asked once per distinct point of a file (a radius centre is often its office too)."""
    answers: dict[tuple[float, float], str | None] = {}

    def check(lat: float, lon: float) -> str | None:
        key = (lat, lon)
        if key not in answers:
            answers[key] = place_check(lat, lon)
        return answers[key]

    return check


def _validate_one(row: _Row, context: ValidationContext) -> tuple[str | None, ServiceRecord | None, int | None]:
    service_id = _service_id(row)
    name = row.text("name")
    if not name:
        row.problem("name", "is required: write the service's public name")
    kind = _enum(row, "kind", ServiceKind, required=True)
    organisation = row.text("organisation")
    description = row.text("description")
    eligibility = row.text("eligibility")
    communities = _communities(row)
    min_age, max_age = _ages(row)
    residents_only = _yes_no(row, "residents_only")
    caveat = row.text("caveat")
    strands = _strands(row)
    local_strands = _local_strands(row, context)
    commissioner = _commissioner(row, context)
    channels = _channels(row, kind, context)
    languages = _languages(row)
    hours = _hours(row)
    coverage = _coverage(row, context)
    status = _enum(row, "status", ServiceStatus, required=False) or ServiceStatus.ACTIVE
    confirmation = _enum(row, "confirmation", Confirmation, required=False) or Confirmation.CONFIRMED
    source_url = _source_url(row, confirmation)
    verified_on = _date_field(row, "verified_on", context, required=confirmation is Confirmation.CONFIRMED)
    page_date = _date_field(row, "page_date", context, required=False)
    if confirmation is Confirmation.UNCONFIRMED and verified_on is not None:
        row.warn(
            "confirmation",
            "is unconfirmed but verified_on is filled: if your team checked the details, write confirmed",
        )
    version = _version(row)
    english = {
        "name": name,
        "organisation": organisation,
        "description": description,
        "eligibility": eligibility,
        "caveat": caveat,
        "hours_note": hours.note,
        "bank_holidays": hours.bank_holidays,
    }
    translations = _translations(row, english, channels)
    if commissioner and commissioner.startswith("pcc-") and isinstance(coverage, NationalCoverage):
        row.problem(
            "coverage_type",
            f"national coverage, but {commissioner!r} commissions services for one force area: use coverage_type"
            " areas with its area codes (national services have commissioner_code 'national' or none)",
        )
    if commissioner and commissioner.startswith("pcc-") and coverage is not None:
        _inside_force_area(row, commissioner, coverage, context)
    if row.failed or service_id is None or kind is None or coverage is None:
        return service_id, None, None
    record = ServiceRecord(
        id=service_id,
        name=name,
        kind=kind,
        coverage=coverage,
        source_url=source_url,
        verified_on=verified_on,
        organisation=organisation,
        description=description,
        strands=strands,
        local_strands=local_strands,
        commissioner_code=commissioner,
        channels=channels,
        languages=languages,
        hours=hours,
        eligibility=eligibility,
        status=status,
        caveat=caveat,
        confirmation=confirmation,
        page_date=page_date,
        communities=communities,
        min_age=min_age,
        max_age=max_age,
        residents_only=residents_only,
        version=version or 1,
        translations=translations,
    )
    return service_id, record, version


def _inside_force_area(row: _Row, commissioner: str, coverage: Coverage, context: ValidationContext) -> None:
    """A force area's commissioner commissions for its own area: area codes of other forces' areas are refused,
    and so is a radius or polygon more than half outside (whatever is bigger than two force areas is); a
    smaller overlap only warns (a centre near the border reaches the next district)."""
    if context.force_area is None or isinstance(coverage, NationalCoverage):
        return
    code = commissioner.removeprefix("pcc-")
    overlap = context.force_area(coverage, code)
    pfa, forces = _area_name(code), ", ".join(_area_name(c, with_code=False) for c in overlap.forces)
    if overlap.codes:
        row.problem(
            "area_codes",
            f"{', '.join(map(_area_name, overlap.codes))} {'is' if len(overlap.codes) == 1 else 'are'} in"
            f" {forces}, outside force area {pfa}, but {commissioner!r} commissions for that area only: use {code}"
            " or its district codes, or give the row the commissioner_code of the area it serves",
        )
        return
    column = "geometry" if isinstance(coverage, PolygonCoverage) else "radius_m"
    share = f"{'' if overlap.exact else 'about '}{overlap.share:.0%}"
    reach = f" and reaches {forces}" if overlap.forces else ""
    if overlap.share > FORCE_AREA_REFUSED_SHARE:
        row.problem(
            column,
            f"{share} of this coverage lies outside force area {pfa}{reach}, but {commissioner!r} commissions for"
            f" that area only: draw it inside the force area (more than {FORCE_AREA_REFUSED_SHARE:.0%} outside is"
            " refused), or give the row the commissioner_code of the area it serves",
        )
    elif overlap.share > FORCE_AREA_WARNED_SHARE:
        row.warn(
            column,
            f"{share} of this coverage lies outside force area {pfa}{reach}: check that the service helps people"
            " there too",
        )


def _area_name(code: str, *, with_code: bool = True) -> str:
    """``"Bristol, City of (E06000023)"``: an area's name (with its code), or the code alone when unknown."""
    from mapping.areas import AreaRegistry

    area = AreaRegistry.default().area(code)
    if area is None:
        return code
    return f"{area.name} ({code})" if with_code else area.name


def _service_id(row: _Row) -> str | None:
    value = row.text("id", limit=80)
    if not value:
        row.problem("id", "is required: give each service a stable id like 'leeds-hate-crime-centre'")
        return None
    if not ID_PATTERN.match(value):
        slug = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
        row.problem(
            "id", f"{value!r} is not a valid id: use lower-case letters, digits and hyphens only (e.g. {slug!r})"
        )
        return value
    return value


@cache
def _choices(enum: Any) -> list[str]:  # an enum class
    return [e.value for e in enum]


def _enum(row: _Row, name: str, enum: Any, *, required: bool) -> Any:
    value = row.text(name).lower().replace(" ", "_").replace("-", "_")
    choices = _choices(enum)
    if not value:
        if required:
            row.problem(name, f"is required: write one of {', '.join(choices)}")
        return None
    if value not in choices:
        row.problem(name, f"unknown {name} {value!r}: use one of {', '.join(choices)}.{suggest(value, choices)}")
        return None
    return enum(value)


def _strands(row: _Row) -> frozenset[Strand]:
    out: set[Strand] = set()
    items = row.items("strands")
    if [i.lower() for i in items] == ["all"]:
        return frozenset()
    for item in items:
        key = re.sub(r"[\s-]+", "_", item.strip().lower())
        if key == "all":
            row.problem("strands", "'all' cannot be combined with other strands: write 'all' alone or list them")
        elif key in STRAND_ALIASES:
            out.add(STRAND_ALIASES[key])
        else:
            choices = [s.value for s in Strand]
            row.problem(
                "strands",
                f"unknown strand {item!r}: use {', '.join(choices)} or 'all'.{suggest(key, choices)}"
                " Locally recorded strands go in local_strands.",
            )
    return frozenset(out)


def _local_strands(row: _Row, context: ValidationContext) -> tuple[str, ...]:
    out: list[str] = []
    for item in row.items("local_strands"):
        key = item.strip().lower()
        if key not in context.local_strand_keys:
            known = ", ".join(sorted(context.local_strand_keys)) or "none"
            row.problem(
                "local_strands",
                f"unknown local strand {item!r}: known local strands are {known}."
                + suggest(key, context.local_strand_keys),
            )
        elif key not in out:
            out.append(key)
    return tuple(out)


def _commissioner(row: _Row, context: ValidationContext) -> str | None:
    code = row.text("commissioner_code", limit=32)
    if not code:
        return None
    if code not in context.commissioner_codes:
        row.problem(
            "commissioner_code",
            f"unknown commissioner {code!r}: a force area's commissioner is 'pcc-' and its force area code"
            " (e.g. pcc-E23000010); leave it blank for a service nobody commissions."
            + suggest(code, context.commissioner_codes),
        )
        return None
    return code


def _languages(row: _Row) -> tuple[str, ...]:
    out: list[str] = []
    for item in row.items("languages"):
        if len(item) > 40 or not re.fullmatch(r"[A-Za-z][A-Za-z \-()]*", item):
            row.problem("languages", f"{item!r} is not a language: write names or codes like 'cy; pl; ur'")
        elif item not in out:
            out.append(item)
    return tuple(out)


def _hours(row: _Row) -> OpeningHours:
    value = row.raw.fields.get("hours")
    if isinstance(value, dict):
        try:
            hours = OpeningHours.from_dict(value)
        except (ValueError, TypeError, AttributeError) as exc:
            row.problem("hours", f"cannot read hours: {exc}")
            return OpeningHours()
        for text, limit in (
            (hours.bank_holidays, TEXT_LIMITS["bank_holidays"]),
            (hours.note, TEXT_LIMITS["hours_note"]),
        ):
            if len(text) > limit:
                row.problem("hours", f"a note is {len(text):,} characters long; shorten it to at most {limit}")
            row.check_plain("hours", text)
            row.check_links("hours", text)
        return hours
    text = row.text("hours", limit=500)
    bank_holidays = row.text("bank_holidays")
    note = row.text("hours_note")
    try:
        return OpeningHours.parse(text, bank_holidays=bank_holidays, note=note)
    except ValueError as exc:
        row.problem("hours", f"{exc}; or write '24/7', or leave it blank when unknown")
        return OpeningHours(bank_holidays=bank_holidays, note=note)


def _source_url(row: _Row, confirmation: Confirmation) -> str:
    url = row.text("source_url", limit=500)
    if not url:
        row.problem("source_url", "is required: the https:// address of the page you checked the details against")
        return ""
    unconfirmed = confirmation is not Confirmation.CONFIRMED
    problem = url_problem(url, plain_http=unconfirmed)
    if problem is not None:
        row.problem("source_url", f"{url!r} {problem} (the page you checked the details against)")
    elif url.lower().startswith("http://"):
        # An unconfirmed entry records the page it was gathered from, as it was published (older pages are http).
        row.warn("source_url", f"{url!r} is not secure (http): when you confirm the entry, give the https:// page")
    return url


DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y")


def _date_field(row: _Row, name: str, context: ValidationContext, *, required: bool) -> date | None:
    """``verified_on`` (required for a confirmed entry) or ``page_date``: a real date, not in the future."""
    text = row.text(name, limit=40)
    what = "the date your team last checked the details" if name == "verified_on" else "the page's own date"
    if not text:
        if required:
            row.problem(
                name,
                f"is required: {what}, as YYYY-MM-DD (leave it blank only for an entry whose confirmation is"
                " unconfirmed)",
            )
        return None
    for fmt in DATE_FORMATS:
        try:
            value = datetime.strptime(text.split("T")[0], fmt).date()
            break
        except ValueError:
            continue
    else:
        row.problem(name, f"cannot read the date {text!r}: write it as YYYY-MM-DD, e.g. 2025-03-31")
        return None
    if value > context.today:
        row.problem(name, f"{value.isoformat()} is in the future: write {what}")
        return None
    if value.year < 2000:
        row.problem(name, f"{value.isoformat()} is too old to be {what}: check the details again")
        return None
    return value


def _communities(row: _Row) -> tuple[str, ...]:
    out: list[str] = []
    for item in row.items("communities"):
        key = re.sub(r"[\s-]+", "_", item.strip().lower())
        if key not in COMMUNITIES:
            row.problem(
                "communities",
                f"unknown community {item!r}: use {', '.join(COMMUNITIES)}.{suggest(key, COMMUNITIES)}"
                " Leave it blank when the service is for everyone in its strands.",
            )
        elif key not in out:
            out.append(key)
    return tuple(out)


def _ages(row: _Row) -> tuple[int | None, int | None]:
    ages: list[int | None] = []
    for name in ("min_age", "max_age"):
        number = row.number(name)
        if number is not None and (number != int(number) or not 0 <= number <= 120):
            row.problem(name, f"{number:g} is not an age: write whole years from 0 to 120, or leave it blank")
            number = None
        ages.append(int(number) if number is not None else None)
    low, high = ages
    if low is not None and high is not None and low > high:
        row.problem("max_age", f"max_age {high} is below min_age {low}: swap them")
        return None, None
    return low, high


YES = frozenset({"yes", "y", "true", "1"})
NO = frozenset({"no", "n", "false", "0", ""})


def _yes_no(row: _Row, name: str) -> bool:
    value = row.raw.fields.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in YES:
        return True
    if text not in NO:
        row.problem(name, f"{value!r} is not yes or no: write yes, or leave it blank")
    return False


def _version(row: _Row) -> int | None:
    value = row.raw.fields.get("version")
    if value is None or value == "":
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"\d{1,10}", text) or not 1 <= int(text) <= MAX_VERSION:
        row.problem(
            "version",
            f"{text[:24]!r} is not a version number (1 to {MAX_VERSION:,}): leave the exported value or clear it",
        )
        return None
    version = int(text)
    return version


# --- Welsh and Easy Read ----------------------------------------------------------------------------------

# What a translation must carry over unchanged: numbers (phone numbers, 999, dates) and web or e-mail addresses.
_KEPT = re.compile(
    r"\d(?:[\d ]*\d)?|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|(?:https?://)?(?:[\w-]+\.)+(?:uk|org|com|net|cymru|wales)\b"
)


def protected_tokens(text: str) -> set[str]:
    """Numbers and web or e-mail addresses in ``text``, which a translation must keep as they are."""
    return {match.replace(" ", "") for match in _KEPT.findall(text)}


def _translations(row: _Row, english: Mapping[str, str], channels: Sequence[Channel]) -> dict[str, dict[str, Any]]:
    """The Welsh and Easy Read text of a row: a ``translations`` object (GeoJSON, ORUK) or the ``_cy`` and
    ``_easy`` columns (CSV). Each must translate something the English has, and keep its numbers and addresses."""
    given = row.raw.fields.get("translations")
    try:
        data = normalise_translations(given)
    except ValueError as exc:
        row.problem("translations", f"{exc}")
        return {}
    for language, names in TRANSLATION_FIELDS.items():
        for name in names:
            column = f"{name}_{language}"
            if not row.has(column):
                continue
            if name == "notes":
                cells = parse_channel_cell(row.text(column, limit=3000, plain=False))
                notes = data.setdefault(language, {}).setdefault("notes", {})
                notes.update({key: note for key, note in cells})
            else:
                data.setdefault(language, {})[name] = row.text(column, limit=_limit(name))
    keys = {channel_key(c): c.note for c in channels}
    for language, fields in data.items():
        for name, value in fields.items():
            column = f"{name}_{language}"
            if name == "notes":
                _translated_notes(row, column, value, keys)
                continue
            source = english.get("description" if name == "summary" else name, "")
            if not source:
                row.problem(column, f"is filled but {name} is empty: write the English {name} too, or clear this")
                continue
            row.check_plain(column, value)
            row.check_links(column, value)
            if len(value) > _limit(name):
                row.problem(column, f"is {len(value):,} characters long; shorten it to at most {_limit(name):,}")
            if name != "summary":  # a summary may leave details to the contact lines
                _keeps_numbers(row, column, source, value)
    return normalise_translations(data)


def _limit(name: str) -> int:
    return TRANSLATION_LIMITS.get(name) or TEXT_LIMITS[name]


def _translated_notes(row: _Row, column: str, notes: Mapping[str, str], channels: Mapping[str, str]) -> None:
    for key, note in notes.items():
        if key not in channels:
            known = "; ".join(channels) or "none"
            row.problem(column, f"names channel {key!r}, which this row does not have (its channels: {known})")
        elif not channels[key]:
            row.problem(column, f"{key!r} has no English note to translate: add the note to the channel first")
        elif len(note) > CHANNEL_NOTE_LIMIT:
            row.problem(column, f"the note for {key!r} is too long: keep it under {CHANNEL_NOTE_LIMIT} characters")
        else:
            row.check_plain(column, note)
            row.check_links(column, note)
            _keeps_numbers(row, column, channels[key], note)


def _keeps_numbers(row: _Row, column: str, source: str, translated: str) -> None:
    missing = sorted(protected_tokens(source) - protected_tokens(translated))
    if missing:
        row.problem(column, f"leaves out {', '.join(missing)} from the English: keep numbers and addresses as they are")


# --- channels ----------------------------------------------------------------------------------------------


def _channels(row: _Row, kind: ServiceKind | None, context: ValidationContext) -> tuple[Channel, ...]:
    listed = row.raw.fields.get("channels")
    out: list[Channel] = []
    if listed not in (None, "", []):
        if not isinstance(listed, list) or not all(isinstance(c, dict) for c in listed):
            row.problem("channels", 'must be a list of objects like {"kind": "phone", "value": "0800 ..."}')
            return ()
        for item in listed:
            if not all(isinstance(item.get(k), str | None) for k in ("kind", "value", "note")):
                row.problem("channels", "a channel's kind, value and note must be text")
                continue
            raw_kind = str(item.get("kind", ""))
            try:
                channel_kind = ChannelKind(raw_kind)
            except ValueError:
                choices = [c.value for c in ChannelKind]
                row.problem("channels", f"unknown channel kind {raw_kind!r}: use {', '.join(choices)}")
                continue
            lat, lon = item.get("lat"), item.get("lon")
            channel = _channel(
                row,
                channel_kind,
                str(item.get("value", "")).strip(),
                str(item.get("note") or "").strip(),
                kind,
                "channels",
                lat=lat,
                lon=lon,
                context=context,
            )
            if channel is not None:
                out.append(channel)
        return tuple(out)
    for column, channel_kind in CHANNEL_COLUMNS.items():
        value = row.raw.fields.get(column)
        if value is None or value == "":
            continue
        cells = [(str(v), "") for v in value] if isinstance(value, list) else parse_channel_cell(str(value))
        for text, note in cells:
            channel = _channel(row, channel_kind, text, note, kind, column, context=context)
            if channel is not None:
                out.append(channel)
    out.extend(_in_person_columns(row, context))
    return tuple(out)


def _in_person_columns(row: _Row, context: ValidationContext) -> list[Channel]:
    addresses = parse_channel_cell(row.text("in_person_address", limit=2000, plain=False))
    lats = row.items("in_person_lat")
    lons = row.items("in_person_lon")
    if not addresses:
        if lats or lons:
            row.problem("in_person_address", "in_person_lat/lon are filled but no address: add the address")
        return []
    if len(lats) != len(lons) or (lats and len(lats) != len(addresses)):
        row.problem(
            "in_person_lat",
            f"{len(addresses)} address(es) but {len(lats)} latitude(s) and {len(lons)} longitude(s): give one"
            " lat and lon per address, in the same order, or leave both blank",
        )
        return []
    out: list[Channel] = []
    for index, (address, note) in enumerate(addresses):
        lat = lats[index] if lats else None
        lon = lons[index] if lons else None
        channel = _channel(
            row, ChannelKind.IN_PERSON, address, note, None, "in_person_address", lat=lat, lon=lon, context=context
        )
        if channel is not None:
            out.append(channel)
    return out


def _channel(
    row: _Row,
    channel_kind: ChannelKind,
    value: str,
    note: str,
    kind: ServiceKind | None,
    column: str,
    *,
    context: ValidationContext,
    lat: Any = None,
    lon: Any = None,
) -> Channel | None:
    if not value:
        row.problem(column, f"a note [{note}] without a value: put the {channel_kind.value} before the brackets")
        return None
    if len(value) > CHANNEL_VALUE_LIMIT or len(note) > CHANNEL_NOTE_LIMIT:
        row.problem(column, f"{value[:40]!r}... is too long: keep values under {CHANNEL_VALUE_LIMIT} characters")
        return None
    row.check_plain(column, value)
    row.check_plain(column, note)
    row.check_links(column, note)
    if channel_kind in (ChannelKind.IN_PERSON, ChannelKind.BSL, ChannelKind.APP):
        row.check_links(column, value)  # an address or a description, not itself a checked address
    ok = True
    if channel_kind in (ChannelKind.PHONE, ChannelKind.TEXT, ChannelKind.RELAY):
        ok = _phone(row, column, value, kind, channel_kind, note=note)
    elif channel_kind is ChannelKind.EMAIL:
        if not EMAIL_PATTERN.match(value):
            row.problem(column, f"{value!r} is not an e-mail address: write it like name@example.org")
            ok = False
    elif channel_kind in (ChannelKind.WEB, ChannelKind.WEB_FORM, ChannelKind.WEB_CHAT):
        ok = _web_address(row, column, value)
    point: tuple[float, float] | None = None
    if lat not in (None, "") or lon not in (None, ""):
        if channel_kind is not ChannelKind.IN_PERSON:
            row.problem(column, "only in-person channels have a location")
            return None
        point = _point(row, "in_person_lat", lat, lon, context)
        if point is None:
            return None
    if not ok:
        return None
    return Channel(
        kind=channel_kind,
        value=value,
        note=note,
        lat=point[0] if point else None,
        lon=point[1] if point else None,
    )


def _spreadsheet_mangled(digits: str) -> bool:
    if "E+" in digits.upper():
        return True
    if digits.isdigit() and len(digits) == 10 and digits[0] != "0":
        try:
            return phonenumbers.is_valid_number_for_region(phonenumbers.parse("0" + digits, "GB"), "GB")
        except phonenumbers.NumberParseException:
            return False
    return False


def _phone(
    row: _Row, column: str, value: str, kind: ServiceKind | None, channel_kind: ChannelKind, *, note: str = ""
) -> bool:
    digits = re.sub(r"[\s()-]", "", value)
    if re.fullmatch(r"118\d{3}", digits):
        row.problem(
            column,
            f"{value!r} is a directory enquiry (118) number, which costs a victim several pounds a call: give the"
            " service's own number",
        )
        return False
    if digits in SHORT_CODES:
        if kind is not None and kind not in SHORT_CODES[digits]:
            allowed = ", ".join(k.value for k in SHORT_CODES[digits])
            row.problem(
                column,
                f"{value!r} is a national short number that belongs only to {allowed} services; write this"
                f" service's own number",
            )
            return False
        return True
    if channel_kind is ChannelKind.RELAY and digits.startswith(("18001", "18002")) and len(digits) > 8:
        digits = digits[5:]  # Relay UK prefix before an ordinary number
    number = None
    if digits.startswith(("0", "+")):  # phonenumbers also takes 1134960000, which nobody can dial as written
        try:
            number = phonenumbers.parse(digits, "GB")
        except phonenumbers.NumberParseException:
            number = None
    if number is None or not phonenumbers.is_valid_number_for_region(number, "GB"):
        if _spreadsheet_mangled(digits):
            row.problem(
                column,
                f"{value!r} looks like a number a spreadsheet changed (it drops the leading 0 and may write E+):"
                " format the column as Text and type the number again, e.g. 0113 496 0000",
            )
            return False
        row.problem(
            column,
            f"{value!r} is not a valid UK phone number: write it with its area code, like 0113 496 0000 or"
            " 0800 123 4567 (short numbers such as 999, 101 and 116 123 only for the services they belong to)",
        )
        return False
    number_type = phonenumbers.number_type(number)
    if number_type in CHARGEABLE_TYPES and FREE_CLAIM.search(note):
        row.problem(
            column,
            f"{value!r} is {CHARGEABLE_TYPES[number_type]}, but the note [{note}] says calls are free: a victim pays"
            " to call it. Give a free number, or say what a call costs, e.g. [calls cost 7p per minute plus your"
            " phone company's access charge]",
        )
        return False
    if number_type in CHARGEABLE_TYPES and not COST_NOTE.search(note):
        row.problem(
            column,
            f"{value!r} is {CHARGEABLE_TYPES[number_type]}: a victim pays to call it. Give a free or local-rate"
            " number, or say what a call costs in the note, e.g. [calls cost 7p per minute plus your phone"
            " company's access charge]",
        )
        return False
    if channel_kind is ChannelKind.TEXT and number_type not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        row.warn(column, f"{value!r} is not a mobile number; check that it takes text messages")
    return True


def _web_address(row: _Row, column: str, value: str) -> bool:
    text = value if "://" in value else "https://" + value
    problem = url_problem(text, plain_http=True)
    if problem is not None:
        row.problem(column, f"{value!r} {problem}, e.g. https://www.example.org/report")
        return False
    if text.lower().startswith("http://"):
        row.warn(column, f"{value!r} is not secure (http): use the https:// address if the site has one")
    return True


# --- places and coverage -----------------------------------------------------------------------------------


def _point(
    row: _Row, column: str, lat_value: Any, lon_value: Any, context: ValidationContext
) -> tuple[float, float] | None:
    lat_column = column
    lon_column = column.replace("lat", "lon")
    try:
        lat = float(lat_value) if lat_value not in (None, "") else None
        lon = float(lon_value) if lon_value not in (None, "") else None
    except (TypeError, ValueError):
        row.problem(lat_column, f"{lat_value!r}, {lon_value!r} are not numbers: write decimal degrees like 53.7997")
        return None
    if lat is None or lon is None:
        missing = lat_column if lat is None else lon_column
        row.problem(missing, "latitude and longitude go together: fill in both or neither")
        return None
    return _check_point(row, lat_column, lat, lon, context)


def _check_point(
    row: _Row, column: str, lat: float, lon: float, context: ValidationContext
) -> tuple[float, float] | None:
    if not (math.isfinite(lat) and math.isfinite(lon)):
        bad = column if not math.isfinite(lat) else column.replace("lat", "lon")
        row.problem(bad, f"{lat if bad == column else lon!r} is not a coordinate: write decimal degrees like 53.7997")
        return None
    if abs(lat) > 90 or abs(lon) > 180:
        if (0 <= lat <= 1_300_000 and 0 <= lon <= 700_000) or (0 <= lon <= 1_300_000 and 0 <= lat <= 700_000):
            x, y = bng_to_wgs84(lon, lat)  # lat column holds the northing, lon the easting
            row.problem(
                column,
                f"({lat:g}, {lon:g}) look like British National Grid metres, not degrees: convert them to WGS84"
                f" latitude/longitude (this point would be about lat {float(y):.5f}, lon {float(x):.5f})",
            )
        else:
            row.problem(column, f"({lat:g}, {lon:g}) are not latitude/longitude degrees")
        return None
    if 49 <= lon <= 56 and -7 <= lat <= 2:
        row.problem(column, f"latitude {lat:g} and longitude {lon:g} look swapped: latitude is about 50-56 here")
        return None
    message = context.place_check(lat, lon)
    if message:
        row.problem(column, message)
        return None
    return lat, lon


COVERAGE_DATA = {
    CoverageType.NATIONAL: ("nation",),
    CoverageType.AREAS: ("area_codes",),
    CoverageType.RADIUS: ("centre_lat", "centre_lon", "radius_m"),
    CoverageType.POLYGON: ("geometry",),
}


def _coverage(row: _Row, context: ValidationContext) -> Coverage | None:
    declared = _enum(row, "coverage_type", CoverageType, required=False)
    if row.raw.fields.get("coverage_type") not in (None, "") and declared is None:
        return None
    filled = [t for t, cols in COVERAGE_DATA.items() if any(row.has(c) for c in cols)]
    geometry_type = row.raw.geometry.get("type") if row.raw.geometry is not None else None
    # A Point feature is a radius centre; a national/area feature's geometry is its resolved outline (export).
    if geometry_type == "Point":
        if CoverageType.RADIUS not in filled:
            filled.append(CoverageType.RADIUS)
    elif geometry_type and declared in (None, CoverageType.POLYGON) and CoverageType.POLYGON not in filled:
        filled.append(CoverageType.POLYGON)
    if declared is None:
        if len(filled) == 1:
            declared = filled[0]
        elif not filled:
            row.problem(
                "coverage_type",
                "is missing: say where the service works (national, areas with area_codes, radius with centre_lat,"
                " centre_lon and radius_m, or polygon with geometry)",
            )
            return None
        else:
            row.problem(
                "coverage_type",
                f"is blank but data for {' and '.join(t.value for t in filled)} coverage is filled: choose one type"
                " and clear the other columns",
            )
            return None
    others = [c for t, cols in COVERAGE_DATA.items() if t is not declared for c in cols if row.has(c)]
    if others:
        row.problem(
            others[0],
            f"coverage_type is {declared.value} but {', '.join(others)} is filled too:"
            " clear it or change coverage_type",
        )
        return None
    if declared is CoverageType.NATIONAL:
        nation = _enum(row, "nation", Nation, required=False) or Nation.ENGLAND_AND_WALES
        return NationalCoverage(nation)
    if declared is CoverageType.AREAS:
        return _area_coverage(row, context)
    if declared is CoverageType.RADIUS:
        return _radius_coverage(row, context)
    return _polygon_coverage(row, context)


def _area_coverage(row: _Row, context: ValidationContext) -> AreaCoverage | None:
    codes: list[str] = []
    for item in row.items("area_codes"):
        code = item.strip().upper()
        if AREA_CODE_PATTERN.match(code):
            if not context.is_known_area(code):
                row.problem(
                    "area_codes",
                    f"unknown area code {code!r}: use a current force area (E23/W15) or district (E06-E09/W06)"
                    " code; see `signpost geography status`",
                )
                continue
        elif ANY_ONS_CODE.match(code) and code[0] in "SN":
            row.problem("area_codes", f"{code!r} is in Scotland or Northern Ireland: Signpost covers England and Wales")
            continue
        elif ANY_ONS_CODE.match(code):
            row.problem(
                "area_codes",
                f"{code!r} is not a force area or district code: use E23/W15 (police force area) or"
                " E06/E07/E08/E09/W06 (local authority district) codes",
            )
            continue
        else:
            row.problem("area_codes", f"{item!r} is not an ONS area code: codes look like E23000001 or E08000035")
            continue
        if code not in codes:
            codes.append(code)
    if not codes:
        if not row.failed:
            row.problem("area_codes", "coverage_type is areas but no area codes are given: list them, ';'-separated")
        return None
    return AreaCoverage(tuple(codes))


def _radius_coverage(row: _Row, context: ValidationContext) -> RadiusCoverage | None:
    lat_value, lon_value = row.raw.fields.get("centre_lat"), row.raw.fields.get("centre_lon")
    geometry = row.raw.geometry
    if geometry is not None and geometry.get("type") == "Point" and lat_value in (None, "") and lon_value in (None, ""):
        coordinates = geometry.get("coordinates") or []
        if len(coordinates) >= 2:
            lon_value, lat_value = coordinates[0], coordinates[1]
    radius = row.number("radius_m")
    if lat_value in (None, "") and lon_value in (None, ""):
        row.problem("centre_lat", "radius coverage needs a centre: fill in centre_lat and centre_lon")
        return None
    point = _point(row, "centre_lat", lat_value, lon_value, context)
    if radius is None:
        if not row.failed:
            row.problem("radius_m", "radius coverage needs radius_m: the distance in metres the service reaches")
        return None
    if radius <= 0:
        row.problem("radius_m", f"{radius:g} is not a distance: write a positive number of metres")
        return None
    if radius < MIN_RADIUS_M or radius > MAX_RADIUS_M:
        row.problem(
            "radius_m",
            f"{radius:g} m is not a plausible reach (allowed {MIN_RADIUS_M:.0f} to {MAX_RADIUS_M:,.0f} m);"
            " metres, not km? For large areas use coverage_type areas",
        )
        return None
    if point is None:
        return None
    return RadiusCoverage(point[0], point[1], radius)


def _polygon_coverage(row: _Row, context: ValidationContext) -> PolygonCoverage | None:
    geometry = _read_geometry(row)
    if geometry is None:
        return None
    if geometry.geom_type not in ("Polygon", "MultiPolygon"):
        row.problem("geometry", f"is a {geometry.geom_type}: polygon coverage needs a Polygon or MultiPolygon")
        return None
    if geometry.is_empty:
        row.problem("geometry", "is empty: draw the area the service covers")
        return None
    minx, miny, maxx, maxy = geometry.bounds
    if not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
        if minx >= 0 and miny >= 0 and maxx <= 700_000 and maxy <= 1_300_000:
            row.problem(
                "geometry",
                "coordinates look like British National Grid metres (EPSG:27700), not degrees: re-export the"
                " polygon in WGS84 (EPSG:4326)",
            )
        else:
            row.problem("geometry", "coordinates are not longitude/latitude degrees: use WGS84 (EPSG:4326)")
        return None
    if minx >= 49 and maxx <= 56 and miny >= -7 and maxy <= 2:
        row.problem("geometry", "coordinates look like (lat, lon): GeoJSON and WKT put longitude first")
        return None
    if not geometry.is_valid:
        reason = shapely.is_valid_reason(geometry)
        repaired = shapely.make_valid(geometry)
        polygonal = shapely.get_parts(repaired)
        polygonal = [p for p in polygonal if p.geom_type in ("Polygon", "MultiPolygon")]
        fixed = shapely.union_all(polygonal) if polygonal else None
        before = abs(_signed_area_bng(geometry))
        after = geometry_to_bng(fixed).area if fixed is not None else 0.0
        if fixed is None or before == 0 or abs(after - before) / before > POLYGON_REPAIR_TOLERANCE:
            row.problem(
                "geometry",
                f"is not a valid polygon ({reason}) and cannot be repaired safely: redraw it without crossing edges",
            )
            return None
        row.warn("geometry", f"polygon was invalid ({reason}); repaired with an area change under 1 %")
        geometry = fixed
    point = geometry.representative_point()
    message = context.place_check(point.y, point.x)
    if message:
        row.problem("geometry", f"the area lies outside England and Wales ({message})")
        return None
    return PolygonCoverage(canonical_geojson(mapping(geometry)))


def _signed_area_bng(geometry: BaseGeometry) -> float:
    # An invalid polygon's area is the shoelace sum: a bow-tie's halves cancel out, which is what we want.
    return float(geometry_to_bng(geometry).area)


def _read_geometry(row: _Row) -> BaseGeometry | None:
    raw = row.raw.geometry
    text = row.raw.fields.get("geometry")
    try:
        if raw is not None:
            return shape(raw)
        if isinstance(text, dict):
            return shape(text)
        if text in (None, ""):
            row.problem("geometry", "coverage_type is polygon but geometry is empty: paste a WKT or GeoJSON polygon")
            return None
        text = str(text).strip()
        if text.startswith("{"):
            return shape(json.loads(text))
        return wkt.loads(text)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, GEOSException, json.JSONDecodeError) as exc:
        row.problem("geometry", f"cannot read the polygon ({str(exc)[:120]}): paste WKT like POLYGON((lon lat, ...))")
        return None


# --- text as it arrives ------------------------------------------------------------------------------------


def _formula_start(field_name: str, text: str, *, phone: bool) -> str | None:
    if field_name in NUMBER_LIST_FIELDS:
        return None
    if text.startswith(("\t", "\r")):
        return text[0]
    stripped = text.strip()
    if not stripped.startswith(FORMULA_STARTS) or not is_formula(stripped):
        return None
    if phone and stripped.startswith("+"):
        return None
    return stripped[0]


def _clean_text(row: _Row, field_name: str, text: str, *, phone: bool) -> str:
    hidden = HIDDEN_PATTERN.search(text)
    if hidden:
        row.problem(
            field_name,
            f"contains {hidden_character(hidden.group())} at character {hidden.start() + 1}: retype the text"
            " without it",
        )
        return text.encode("utf-8", "replace").decode("utf-8")  # no lone surrogate travels further
    start = _formula_start(field_name, text, phone=phone)
    if start is not None:
        row.problem(
            field_name,
            f"starts with {start!r}, which a spreadsheet runs as a formula: remove it or start with a word"
            + (" (a phone number may start with +44)" if field_name in PHONE_FIELDS else ""),
        )
    return unicodedata.normalize("NFC", text)


def _clean_value(row: _Row, field_name: str, value: Any, *, phone: bool) -> Any:
    if isinstance(value, str):
        return _clean_text(row, field_name, value, phone=phone)
    if isinstance(value, list):
        return [_clean_value(row, field_name, v, phone=phone) for v in value]
    if isinstance(value, dict):
        phone = phone or value.get("kind") in PHONE_FIELDS
        return {k: _clean_value(row, field_name, v, phone=phone) for k, v in value.items()}
    return value


def _cleaned(row: _Row) -> RawService:
    """The entry with every text NFC-normalised; hidden characters and formula starts are reported."""
    fields = {
        name: _clean_value(row, name, value, phone=name in PHONE_FIELDS) for name, value in row.raw.fields.items()
    }
    return replace(row.raw, fields=fields)
