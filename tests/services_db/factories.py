"""Factories building ``ServiceRecord`` values (and commissioners) for everyone's tests and benchmarks.

Every value is plainly test data: ids start with ``test-``, URLs are on ``example.org`` (reserved for
examples, RFC 2606) and phone numbers come from Ofcom's ranges kept for drama and fiction (020 7946 0xxx,
0113 496 0xxx), so nothing here could be mistaken for, or dial, a real service.

Usage::

    from tests.services_db.factories import make_service, radius_service, area_service

    record = radius_service(53.8008, -1.5491, 5_000, kind=ServiceKind.THIRD_PARTY_REPORTING)
    other = make_service(strands={Strand.RACE}, channels=(phone("020 7946 0123"),))
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from mapping.types import (
    AreaCoverage,
    Channel,
    ChannelKind,
    Commissioner,
    CommissionerKind,
    Coverage,
    Nation,
    NationalCoverage,
    OpeningHours,
    PolygonCoverage,
    RadiusCoverage,
    ServiceKind,
    ServiceRecord,
    ServiceStatus,
    Strand,
)

__all__ = [
    "DRAMA_PHONES",
    "PLACES",
    "area_service",
    "email",
    "hours",
    "in_person",
    "make_commissioner",
    "make_service",
    "mixed_directory",
    "national_service",
    "phone",
    "polygon_service",
    "radius_service",
    "square_geojson",
    "web",
    "with_changes",
]

VERIFIED_ON = date(2025, 3, 1)

# Ofcom numbers reserved for TV and radio drama: valid UK formats that reach nobody.
DRAMA_PHONES: tuple[str, ...] = tuple(f"020 7946 0{n:03d}" for n in range(0, 1000, 37)) + tuple(
    f"0113 496 0{n:03d}" for n in range(0, 1000, 53)
)

# Well-known city-centre points in England and Wales (lat, lon, a LAD code and its PFA code).
PLACES: dict[str, tuple[float, float, str, str]] = {
    "leeds": (53.7997, -1.5492, "E08000035", "E23000010"),
    "manchester": (53.4794, -2.2453, "E08000003", "E23000005"),
    "birmingham": (52.4797, -1.9027, "E08000025", "E23000014"),
    "bristol": (51.4545, -2.5879, "E06000023", "E23000036"),
    "cardiff": (51.4816, -3.1791, "W06000015", "W15000003"),
    "london": (51.5072, -0.1276, "E09000033", "E23000001"),
    "norwich": (52.6309, 1.2974, "E07000148", "E23000024"),
    "plymouth": (50.3755, -4.1427, "E06000026", "E23000035"),
}

_ids = itertools.count(1)


def phone(number: str = DRAMA_PHONES[0], note: str = "") -> Channel:
    return Channel(ChannelKind.PHONE, number, note)


def email(address: str = "help@example.org") -> Channel:
    return Channel(ChannelKind.EMAIL, address)


def web(url: str = "https://example.org/report") -> Channel:
    return Channel(ChannelKind.WEB, url)


def in_person(lat: float, lon: float, address: str = "1 Example Street") -> Channel:
    return Channel(ChannelKind.IN_PERSON, address, lat=lat, lon=lon)


def hours(text: str = "mon-fri 09:00-17:00", *, bank_holidays: str = "", note: str = "") -> OpeningHours:
    """Opening hours from the CSV form (``"24/7"`` or ``"mon-fri 09:00-17:00; sat 10:00-13:00"``)."""
    return OpeningHours.parse(text, bank_holidays=bank_holidays, note=note)


def make_commissioner(
    code: str = "test-pcc", name: str = "Test Police and Crime Commissioner", **overrides: Any
) -> Commissioner:
    values: dict[str, Any] = {"kind": CommissionerKind.PCC, "pfa_code": None, **overrides}
    return Commissioner(code=code, name=name, **values)


def make_service(service_id: str | None = None, **overrides: Any) -> ServiceRecord:
    """A complete, valid record (England-and-Wales national helpline by default); any field can be overridden.

    ``strands`` may be given as any iterable of ``Strand`` or strand names.
    """
    service_id = service_id or f"test-service-{next(_ids)}"
    strands = overrides.pop("strands", ())
    values: dict[str, Any] = {
        "name": f"Test service {service_id}",
        "kind": ServiceKind.HELPLINE,
        "coverage": NationalCoverage(Nation.ENGLAND_AND_WALES),
        "source_url": f"https://example.org/services/{service_id}",
        "verified_on": VERIFIED_ON,
        "organisation": "Example Organisation",
        "description": "Test data: a fictional service.",
        "channels": (phone(), web()),
        "hours": hours(),
        **overrides,
    }
    return ServiceRecord(id=service_id, strands=frozenset(Strand(s) for s in strands), **values)


def national_service(nation: Nation = Nation.ENGLAND_AND_WALES, **overrides: Any) -> ServiceRecord:
    return make_service(coverage=NationalCoverage(nation), **overrides)


def area_service(*area_codes: str, **overrides: Any) -> ServiceRecord:
    """A service covering ONS areas (PFA E23/W15 or LAD codes); Leeds LAD by default."""
    codes = area_codes or (PLACES["leeds"][2],)
    overrides.setdefault("kind", ServiceKind.THIRD_PARTY_REPORTING)
    return make_service(coverage=AreaCoverage(tuple(codes)), **overrides)


def radius_service(lat: float, lon: float, radius_m: float = 5_000, **overrides: Any) -> ServiceRecord:
    """A third-party reporting centre covering ``radius_m`` around a point, with an in-person channel there."""
    overrides.setdefault("kind", ServiceKind.THIRD_PARTY_REPORTING)
    overrides.setdefault("channels", (phone(), in_person(lat, lon)))
    return make_service(coverage=RadiusCoverage(lat, lon, radius_m), **overrides)


def square_geojson(lat: float, lon: float, half_side_deg: float = 0.05) -> dict[str, Any]:
    """A GeoJSON Polygon: a square centred on a point (lon/lat order, closed ring)."""
    w, e, s, n = lon - half_side_deg, lon + half_side_deg, lat - half_side_deg, lat + half_side_deg
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def polygon_service(geojson: dict[str, Any] | None = None, **overrides: Any) -> ServiceRecord:
    """A service whose coverage is a polygon (a small square over central Leeds by default)."""
    lat, lon = PLACES["leeds"][:2]
    overrides.setdefault("kind", ServiceKind.THIRD_PARTY_REPORTING)
    return make_service(coverage=PolygonCoverage(geojson or square_geojson(lat, lon)), **overrides)


def mixed_directory(
    count: int,
    *,
    seed: int = 1,
    commissioner_codes: Sequence[str | None] = (None,),
    places: Iterable[tuple[float, float, str, str]] | None = None,
) -> list[ServiceRecord]:
    """``count`` deterministic services with mixed coverage (national, area codes, radius, polygon),
    kinds, strands, hours and channels: for benchmarks and property-style tests."""
    rng = random.Random(seed)
    spots = list(places or PLACES.values())
    out: list[ServiceRecord] = []
    for n in range(count):
        lat, lon, lad, pfa = rng.choice(spots)
        lat, lon = lat + rng.uniform(-0.05, 0.05), lon + rng.uniform(-0.05, 0.05)
        shape = n % 10
        coverage: Coverage
        if shape == 0:
            coverage = NationalCoverage(rng.choice(list(Nation)))
        elif shape < 4:
            coverage = AreaCoverage((rng.choice([lad, pfa]),))
        elif shape < 8:
            coverage = RadiusCoverage(round(lat, 5), round(lon, 5), float(rng.randrange(2_000, 25_000, 500)))
        else:
            coverage = PolygonCoverage(square_geojson(round(lat, 5), round(lon, 5), rng.choice([0.02, 0.05, 0.1])))
        strands = rng.sample(list(Strand), rng.choice([0, 0, 1, 2]))
        commissioner = rng.choice(list(commissioner_codes))
        if commissioner and commissioner.startswith("pcc-"):
            # A force area's commissioner commissions inside its own area: no national services, none placed in
            # another force, no circle reaching mostly beyond the border.
            if isinstance(coverage, NationalCoverage) or commissioner != f"pcc-{pfa}":
                commissioner = None
            elif isinstance(coverage, RadiusCoverage) and coverage.radius_m > 8_000:
                coverage = RadiusCoverage(coverage.lat, coverage.lon, 8_000.0)
        record = make_service(
            f"test-{seed}-{n:06d}",
            name=f"Test centre {n}",
            kind=rng.choice(list(ServiceKind)),
            coverage=coverage,
            strands=strands,
            commissioner_code=commissioner,
            channels=(phone(rng.choice(DRAMA_PHONES)), in_person(round(lat, 5), round(lon, 5))),
            hours=hours(rng.choice(["24/7", "mon-fri 09:00-17:00", "mon-thu 10:00-20:30; fri 10:00-16:30"])),
            status=ServiceStatus.ACTIVE if n % 17 else ServiceStatus.SUSPENDED,
        )
        out.append(record)
    return out


def with_changes(record: ServiceRecord, **changes: Any) -> ServiceRecord:
    """``record`` with some fields changed (strands accept names), e.g. for an edit in a test."""
    if "strands" in changes:
        changes["strands"] = frozenset(Strand(s) for s in changes["strands"])
    return replace(record, **changes)
