"""Plain domain types shared by every package: strands, service kinds, coverage, locations and matches.

Everything here is pure Python (no database, no Telegram, no scheduler) so that services_db, bot and jobs
can all speak it. Serialisation helpers (``to_dict`` / ``from_dict``) give one JSON shape per type, used by
the database columns and by the import/export formats alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

__all__ = [
    "COMMUNITIES",
    "DAY_NAMES",
    "END_OF_DAY",
    "EXAMPLE_ID_PREFIX",
    "TRANSLATION_FIELDS",
    "AgeBand",
    "AreaCoverage",
    "Channel",
    "ChannelKind",
    "Commissioner",
    "CommissionerKind",
    "Confirmation",
    "Coverage",
    "CoverageType",
    "Location",
    "LocationSource",
    "Match",
    "MatchReason",
    "Nation",
    "NationalCoverage",
    "OpeningHours",
    "OpeningInterval",
    "PolygonCoverage",
    "RadiusCoverage",
    "ServiceKind",
    "ServiceRecord",
    "ServiceStatus",
    "Strand",
    "channel_key",
    "coverage_from_dict",
    "coverage_to_dict",
    "normalise_translations",
    "parse_intervals",
    "time_text",
]


class Strand(StrEnum):
    """The five centrally monitored hate crime strands (England and Wales)."""

    DISABILITY = "disability"
    RACE = "race"
    RELIGION = "religion"
    SEXUAL_ORIENTATION = "sexual_orientation"
    TRANSGENDER = "transgender"


ALL_STRANDS: frozenset[Strand] = frozenset(Strand)


class ServiceKind(StrEnum):
    EMERGENCY = "emergency"
    POLICE = "police"
    ONLINE_REPORTING = "online_reporting"
    THIRD_PARTY_REPORTING = "third_party_reporting"
    VICTIM_SUPPORT = "victim_support"
    SPECIALIST_SUPPORT = "specialist_support"
    HELPLINE = "helpline"
    EMOTIONAL_SUPPORT = "emotional_support"


class ServiceStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class Confirmation(StrEnum):
    """Whether the commissioner's team has confirmed an entry.

    ``unconfirmed`` entries were gathered from an organisation's public page and nobody has checked them with
    the organisation yet: they have no ``verified_on`` date, and victims are told to call first.
    """

    CONFIRMED = "confirmed"
    UNCONFIRMED = "unconfirmed"


# Communities a service may be limited to, within a strand (authored vocabulary: data files and imports use
# these keys). A service with communities serves only those people; ranking puts it after general services
# unless the person said they belong to one of them.
COMMUNITIES: Mapping[str, Strand] = {
    "gypsy_roma_traveller": Strand.RACE,
    "east_southeast_asian": Strand.RACE,
    "black": Strand.RACE,
    "refugee_asylum_seeker": Strand.RACE,
    "jewish": Strand.RELIGION,
    "muslim": Strand.RELIGION,
    "sikh": Strand.RELIGION,
    "hindu": Strand.RELIGION,
    "deaf": Strand.DISABILITY,
    "learning_disability": Strand.DISABILITY,
    "autistic": Strand.DISABILITY,
    "visually_impaired": Strand.DISABILITY,
}


AgeBand = tuple[int, int | None]  # a person's age band (youngest, oldest), inclusive; oldest None: no upper end


class CommissionerKind(StrEnum):
    PCC = "pcc"
    MAYOR = "mayor"
    MOPAC = "mopac"
    COMMON_COUNCIL = "common_council"
    WELSH_GOVERNMENT = "welsh_government"
    NATIONAL = "national"
    OTHER = "other"


class Nation(StrEnum):
    ENGLAND_AND_WALES = "england_and_wales"
    ENGLAND = "england"
    WALES = "wales"


class ChannelKind(StrEnum):
    PHONE = "phone"
    TEXT = "text"
    EMAIL = "email"
    WEB = "web"
    WEB_FORM = "web_form"
    WEB_CHAT = "web_chat"
    IN_PERSON = "in_person"
    BSL = "bsl"
    RELAY = "relay"
    APP = "app"


class CoverageType(StrEnum):
    NATIONAL = "national"
    AREAS = "areas"
    RADIUS = "radius"
    POLYGON = "polygon"


@dataclass(frozen=True, slots=True)
class Commissioner:
    """Who commissions a service: a PCC, a mayor, MOPAC, the Common Council, ... (data, never code)."""

    code: str
    name: str
    kind: CommissionerKind
    pfa_code: str | None = None


# --- coverage -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NationalCoverage:
    nation: Nation = Nation.ENGLAND_AND_WALES
    type: CoverageType = field(default=CoverageType.NATIONAL, init=False)


@dataclass(frozen=True, slots=True)
class AreaCoverage:
    """A list of ONS area codes: Police Force Areas (E23/W15) and/or Local Authority Districts (E06-E09/W06)."""

    area_codes: tuple[str, ...]
    type: CoverageType = field(default=CoverageType.AREAS, init=False)


@dataclass(frozen=True, slots=True)
class RadiusCoverage:
    lat: float
    lon: float
    radius_m: float
    type: CoverageType = field(default=CoverageType.RADIUS, init=False)


@dataclass(frozen=True, slots=True)
class PolygonCoverage:
    """A GeoJSON Polygon or MultiPolygon in WGS84 (lon, lat order, as GeoJSON says)."""

    geojson: Mapping[str, Any]
    type: CoverageType = field(default=CoverageType.POLYGON, init=False)

    def __hash__(self) -> int:
        return hash(repr(self.geojson))


Coverage = NationalCoverage | AreaCoverage | RadiusCoverage | PolygonCoverage


def coverage_to_dict(coverage: Coverage) -> dict[str, Any]:
    """One JSON shape for a coverage spec: ``{"type": ..., ...}``."""
    if isinstance(coverage, NationalCoverage):
        return {"type": "national", "nation": coverage.nation.value}
    if isinstance(coverage, AreaCoverage):
        return {"type": "areas", "area_codes": list(coverage.area_codes)}
    if isinstance(coverage, RadiusCoverage):
        return {"type": "radius", "lat": coverage.lat, "lon": coverage.lon, "radius_m": coverage.radius_m}
    return {"type": "polygon", "geojson": dict(coverage.geojson)}


def coverage_from_dict(data: Mapping[str, Any]) -> Coverage:
    """Inverse of :func:`coverage_to_dict`; raises ``ValueError`` naming what is wrong."""
    kind = data.get("type")
    if kind == "national":
        return NationalCoverage(Nation(data.get("nation", Nation.ENGLAND_AND_WALES.value)))
    if kind == "areas":
        codes = data.get("area_codes") or []
        return AreaCoverage(tuple(str(c).strip().upper() for c in codes))
    if kind == "radius":
        return RadiusCoverage(float(data["lat"]), float(data["lon"]), float(data["radius_m"]))
    if kind == "polygon":
        return PolygonCoverage(data["geojson"])
    raise ValueError(f"unknown coverage type {kind!r}: use national, areas, radius or polygon")


# --- channels and hours ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Channel:
    """One way to reach a service. ``value`` is a number, address, URL or e-mail depending on ``kind``."""

    kind: ChannelKind
    value: str
    note: str = ""
    lat: float | None = None
    lon: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value, "value": self.value}
        if self.note:
            out["note"] = self.note
        if self.lat is not None and self.lon is not None:
            out["lat"], out["lon"] = self.lat, self.lon
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Channel:
        lat, lon = data.get("lat"), data.get("lon")
        return cls(
            kind=ChannelKind(data["kind"]),
            value=str(data["value"]),
            note=str(data.get("note") or ""),
            lat=float(lat) if lat is not None else None,
            lon=float(lon) if lon is not None else None,
        )


DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
END_OF_DAY = time(23, 59, 59)  # a closing time of midnight ("00:00"): the last moment of the day it opened
ALWAYS_OPEN_TEXTS = ("24/7", "24x7", "24hours")  # as written, spaces removed, lower case


def time_text(value: time) -> str:
    """``HH:MM`` as people write it: midnight at the end of the day (:data:`END_OF_DAY`) is ``00:00``."""
    if value == END_OF_DAY:
        return "00:00"
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


@dataclass(frozen=True, slots=True)
class OpeningInterval:
    """Open on ``day`` (0 = Monday) from ``opens`` to ``closes`` (local UK time).

    A closing time of midnight is :data:`END_OF_DAY`; one earlier than ``opens`` is the next morning
    (``fri 22:00-02:00`` is open until 02:00 on Saturday).
    """

    day: int
    opens: time
    closes: time

    @property
    def overnight(self) -> bool:
        """Whether the interval runs past midnight into the next day."""
        return self.closes < self.opens

    def covers(self, day: int, at: time) -> bool:
        """Whether the service is open at ``at`` on ``day`` by this interval (its own day or, overnight, the next)."""
        if day == self.day and self.opens <= at:
            return self.overnight or self.closes == END_OF_DAY or at < self.closes
        return self.overnight and day == (self.day + 1) % 7 and at < self.closes

    def to_text(self) -> str:
        return f"{DAY_NAMES[self.day]} {time_text(self.opens)}-{time_text(self.closes)}"


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Structured opening hours: ``always_open`` (24/7) or weekly intervals, with free notes.

    The one place hours are read (:meth:`parse`) and written (:meth:`to_text`): every import, export and the
    bot's cards use these, so what a person wrote comes back as written.
    ``unknown`` means the source gave no hours we could confirm: the bot says so rather than guess.
    """

    always_open: bool = False
    intervals: tuple[OpeningInterval, ...] = ()
    bank_holidays: str = ""
    note: str = ""

    @property
    def unknown(self) -> bool:
        return not self.always_open and not self.intervals

    @classmethod
    def parse(cls, text: str, *, bank_holidays: str = "", note: str = "") -> OpeningHours:
        """Hours as people write them: ``24/7``, ``mon-fri 09:00-17:00; sat 10:00-13:00``, ``fri 22:00-02:00``
        or blank (unknown); raises ``ValueError`` with a reason a person can act on."""
        if text.lower().replace(" ", "") in ALWAYS_OPEN_TEXTS:
            return cls(always_open=True, bank_holidays=bank_holidays, note=note)
        return cls(intervals=tuple(parse_intervals(text)), bank_holidays=bank_holidays, note=note)

    def is_open(self, at: datetime) -> bool | None:
        """Whether the service is open at ``at`` (UK local wall time); ``None`` when hours are unknown.

        Overnight hours count on the morning after: at 01:00 on Saturday ``fri 22:00-02:00`` is open."""
        if self.always_open:
            return True
        if not self.intervals:
            return None
        day, now = at.weekday(), at.time()
        return any(i.covers(day, now) for i in self.intervals)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.always_open:
            out["always_open"] = True
        if self.intervals:
            out["intervals"] = [i.to_text() for i in self.intervals]
        if self.bank_holidays:
            out["bank_holidays"] = self.bank_holidays
        if self.note:
            out["note"] = self.note
        return out

    def to_text(self) -> str:
        """``24/7`` or the week, days that share their times joined: ``mon-fri 09:00-12:00, 13:00-17:00; sat
        10:00-13:00`` (read back by :meth:`parse` to the same intervals); empty when unknown."""
        if self.always_open:
            return "24/7"
        by_day: dict[int, list[str]] = {}
        for interval in sorted(self.intervals, key=lambda i: (i.day, i.opens)):
            by_day.setdefault(interval.day, []).append(f"{time_text(interval.opens)}-{time_text(interval.closes)}")
        runs: list[tuple[int, int, str]] = []  # (first day, last day, times)
        for day, times in sorted(by_day.items()):
            text = ", ".join(times)
            if runs and runs[-1][1] == day - 1 and runs[-1][2] == text:
                runs[-1] = (runs[-1][0], day, text)
            else:
                runs.append((day, day, text))
        return "; ".join(
            f"{DAY_NAMES[first] if first == last else f'{DAY_NAMES[first]}-{DAY_NAMES[last]}'} {text}"
            for first, last, text in runs
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> OpeningHours:
        if not data:
            return cls()
        intervals: list[OpeningInterval] = []
        for item in data.get("intervals") or []:
            intervals.extend(parse_intervals(str(item)))
        return cls(
            always_open=bool(data.get("always_open")),
            intervals=tuple(intervals),
            bank_holidays=str(data.get("bank_holidays") or ""),
            note=str(data.get("note") or ""),
        )


def parse_intervals(text: str) -> list[OpeningInterval]:
    """Parse ``mon-fri 09:00-12:00, 13:00-17:00; sat 10:00-13:00`` into intervals; raises ``ValueError`` with a
    reason. Times without days belong to the days before them; a closing time of ``00:00`` is midnight, one
    before the opening time the next morning (``fri 22:00-02:00``)."""
    out: list[OpeningInterval] = []
    days: list[int] = []
    for part in (p.strip() for p in text.replace(",", ";").split(";")):
        if not part:
            continue
        words = part.split()
        if len(words) == 2:
            days = _parse_days(words[0].lower(), part)
        elif len(words) != 1 or not days:
            raise ValueError(f"cannot read hours {part!r}: write them like 'mon-fri 09:00-17:00'")
        opens, closes = _parse_times(words[-1], part)
        out.extend(OpeningInterval(day, opens, closes) for day in days)
    return out


def _parse_times(text: str, part: str) -> tuple[time, time]:
    try:
        opens_text, closes_text = text.split("-")
        opens, closes = time.fromisoformat(opens_text), time.fromisoformat(closes_text)
    except ValueError as exc:
        raise ValueError(f"cannot read hours {part!r}: write them like 'mon-fri 09:00-17:00'") from exc
    if closes == time(0, 0):
        closes = END_OF_DAY
    elif closes == opens:
        raise ValueError(f"hours {part!r} open and close at the same time: for all day write 00:00-00:00")
    return opens, closes


def _parse_days(text: str, part: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-", 1)
        if first not in DAY_NAMES or last not in DAY_NAMES:
            raise ValueError(f"unknown day in {part!r}: use mon, tue, wed, thu, fri, sat, sun")
        a, b = DAY_NAMES.index(first), DAY_NAMES.index(last)
        return list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]
    if text not in DAY_NAMES:
        raise ValueError(f"unknown day in {part!r}: use mon, tue, wed, thu, fri, sat, sun")
    return [DAY_NAMES.index(text)]


# --- translations of a service's text ----------------------------------------------------------------------

# The reader's languages other than English, and the fields each may translate. Welsh translates every text a
# victim reads; Easy Read gives a ``summary`` (in place of the description) and easy versions of the rest.
# ``notes`` maps a channel (``channel_key``: "phone:0800 123 4567") to its note in that language.
TRANSLATION_FIELDS: Mapping[str, tuple[str, ...]] = {
    "cy": ("name", "organisation", "description", "eligibility", "caveat", "hours_note", "bank_holidays", "notes"),
    "easy": ("summary", "eligibility", "caveat", "hours_note", "bank_holidays", "notes"),
}


def _translated_name(language: str, name: str) -> str:
    return "summary" if language == "easy" and name == "description" else name


def channel_key(channel: Channel) -> str:
    """How a translation names one channel: its kind and value ("phone:999", "text:999")."""
    return f"{channel.kind.value}:{channel.value}"


def normalise_translations(data: object) -> dict[str, dict[str, Any]]:
    """Translations as stored: known languages and fields only, text stripped, empty values dropped.

    Raises ``ValueError`` naming the language or field that is not known, so an import can say what to fix.
    """
    if data is None or data == "":
        return {}
    if not isinstance(data, Mapping):
        raise ValueError("translations must be an object keyed by language (cy, easy)")
    out: dict[str, dict[str, Any]] = {}
    for language, fields in data.items():
        if language not in TRANSLATION_FIELDS:
            raise ValueError(f"unknown translation language {language!r}: use {', '.join(TRANSLATION_FIELDS)}")
        if not isinstance(fields, Mapping):
            raise ValueError(f"translations.{language} must be an object of fields")
        kept: dict[str, Any] = {}
        for name, value in fields.items():
            if name not in TRANSLATION_FIELDS[language]:
                allowed = ", ".join(TRANSLATION_FIELDS[language])
                raise ValueError(f"translations.{language}: unknown field {name!r} (use {allowed})")
            if name == "notes":
                if not isinstance(value, Mapping):
                    raise ValueError(f"translations.{language}.notes must map 'kind:value' to a note")
                notes = {str(k).strip(): str(v).strip() for k, v in value.items() if str(v or "").strip()}
                if notes:
                    kept[name] = dict(sorted(notes.items()))
            elif str(value or "").strip():
                kept[name] = str(value).strip()
        if kept:
            out[language] = dict(sorted(kept.items()))
    return dict(sorted(out.items()))


# --- services -------------------------------------------------------------------------------------------

EXAMPLE_ID_PREFIX = "example-"
EXAMPLE_TEXT_MARKERS = ("not a real service", "example only")


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """A service in the directory, as every package sees it.

    ``strands`` empty means the service is not strand-specific (it serves everyone); a specialist service
    lists the strands it specialises in. ``caveat`` is non-empty when a fact in the entry still needs a
    person to confirm it (the bot shows the caveat beside the contact details). ``translations`` holds the
    Welsh and Easy Read versions of the text (see :func:`normalise_translations`).

    ``confirmation`` says whether the commissioner's team confirmed the entry: a confirmed entry always has a
    ``verified_on`` date; an unconfirmed one (from a public page) may have none. ``page_date`` is the source
    page's own date when it shows one. Structured eligibility: ``communities`` (keys of :data:`COMMUNITIES`)
    the service is limited to, ``min_age``/``max_age`` (inclusive) and ``residents_only`` (only for people
    who live in its area); ``eligibility`` keeps the page's own words.
    """

    id: str
    name: str
    kind: ServiceKind
    coverage: Coverage
    source_url: str
    verified_on: date | None
    organisation: str = ""
    description: str = ""
    strands: frozenset[Strand] = frozenset()
    local_strands: tuple[str, ...] = ()
    commissioner_code: str | None = None
    channels: tuple[Channel, ...] = ()
    languages: tuple[str, ...] = ()
    hours: OpeningHours = field(default_factory=OpeningHours)
    eligibility: str = ""
    status: ServiceStatus = ServiceStatus.ACTIVE
    caveat: str = ""
    confirmation: Confirmation = Confirmation.CONFIRMED
    page_date: date | None = None
    communities: tuple[str, ...] = ()
    min_age: int | None = None
    max_age: int | None = None
    residents_only: bool = False
    updated_at: datetime | None = None
    version: int = 1
    # {"cy": {"name": ..., "description": ...}, "easy": {"summary": ...}} (see TRANSLATION_FIELDS)
    translations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verified_on is None and self.confirmation is Confirmation.CONFIRMED:
            raise ValueError(f"service {self.id!r} is confirmed but has no verified_on date")
        unknown = [c for c in self.communities if c not in COMMUNITIES]
        if unknown:
            raise ValueError(f"service {self.id!r}: unknown communities {', '.join(unknown)}")
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError(f"service {self.id!r}: min_age {self.min_age} is above max_age {self.max_age}")

    @property
    def confirmed(self) -> bool:
        return self.confirmation is Confirmation.CONFIRMED

    def serves(self, strands: Iterable[Strand]) -> bool:
        """True when the service takes reports for at least one of ``strands`` (or is not strand-specific)."""
        wanted = set(strands)
        return not self.strands or not wanted or bool(self.strands & wanted)

    def eligible(self, communities: Iterable[str] = (), age: AgeBand | None = None) -> bool | None:
        """Whether a person fits the service's structured eligibility: None when it is for everyone (no
        communities, no age limits); True when it is limited and they said they fit (a community of theirs,
        an age band wholly inside its limits); False when limited to people they did not say they are."""
        by_age = self.min_age is not None or self.max_age is not None
        if not self.communities and not by_age:
            return None
        if self.communities and not set(self.communities) & set(communities):
            return False
        if not by_age:
            return True
        if age is None or (self.min_age is not None and age[0] < self.min_age):
            return False
        return self.max_age is None or (age[1] is not None and age[1] <= self.max_age)

    def fit_rank(self, communities: Iterable[str] = (), age: AgeBand | None = None) -> int:
        """Sort key by :meth:`eligible`: limited to people like the person 0, for everyone 1, for others 2."""
        return {True: 0, None: 1, False: 2}[self.eligible(communities, age)]

    @property
    def is_example(self) -> bool:
        """A demonstration entry (the template's example row, the made-up centres of earlier versions): its id,
        name or text says so. Never shown to a victim, never counted as coverage."""
        name = self.name.strip().lower()
        if self.id.startswith(EXAMPLE_ID_PREFIX) or name.startswith("example"):
            return True
        text = " ".join((name, self.organisation, self.description, self.caveat)).lower()
        return any(marker in text for marker in EXAMPLE_TEXT_MARKERS)

    def untranslated(self) -> tuple[str, ...]:
        """The languages ("cy", "easy") missing a translation of some text this entry has in English."""
        english = {
            "organisation": self.organisation,
            "description": self.description,
            "eligibility": self.eligibility,
            "caveat": self.caveat,
            "hours_note": self.hours.note,
            "bank_holidays": self.hours.bank_holidays,
        }
        noted = {channel_key(c) for c in self.channels if c.note}
        missing = []
        for language, names in TRANSLATION_FIELDS.items():
            given = self.translations.get(language, {})
            wanted = {"description" if n == "summary" else n for n in names} - {"organisation", "notes"}
            lacking = [n for n in wanted if english.get(n) and not given.get(_translated_name(language, n))]
            if lacking or noted - set(given.get("notes", {})):
                missing.append(language)
        return tuple(missing)

    @property
    def in_person(self) -> tuple[Channel, ...]:
        return tuple(c for c in self.channels if c.kind is ChannelKind.IN_PERSON and c.lat is not None)


# --- locations and matches ------------------------------------------------------------------------------


class LocationSource(StrEnum):
    GPS = "gps"
    POSTCODE = "postcode"
    SECTOR = "sector"
    OUTCODE = "outcode"
    PLACE = "place"
    COORDINATES = "coordinates"
    GEOCODER = "geocoder"


@dataclass(frozen=True, slots=True)
class Location:
    """Where a person is, how we know, and how precisely; area codes are ``None`` outside England and Wales."""

    lat: float
    lon: float
    source: LocationSource
    precision_m: float
    lad_code: str | None = None
    pfa_code: str | None = None
    label: str = ""
    label_cy: str = ""  # the label in Welsh, where the place or district has a Welsh name ("Caerdydd (Cymru)")

    def label_in(self, language: str) -> str:
        """The label for a reader of ``language`` (``"cy"`` gets :attr:`label_cy` when there is one)."""
        return self.label_cy if language == "cy" and self.label_cy else self.label

    @property
    def in_england_or_wales(self) -> bool:
        return self.lad_code is not None and self.lad_code[:1] in ("E", "W")

    @property
    def nation(self) -> Nation | None:
        if not self.in_england_or_wales:
            return None
        return Nation.WALES if self.lad_code and self.lad_code.startswith("W") else Nation.ENGLAND


class MatchReason(StrEnum):
    COVERS = "covers"  # the service's coverage covers the person's point or area
    NATIONAL = "national"  # the service covers the whole nation the person is in
    NEAREST_OUTSIDE = "nearest_outside"  # nothing local covers them; this is the nearest, outside their area


@dataclass(frozen=True, slots=True)
class Match:
    service: ServiceRecord
    reason: MatchReason
    distance_m: float | None = None
    specialist: bool = False
