"""Turn what a person types or shares (postcode, sector, outcode, place, "lat,lon", GPS) into a Location.

Every answer is a value: :class:`Located`, :class:`Ambiguous` (choices to offer, never a guess) or
:class:`NotFound` with a machine-readable ``problem`` and a message a person can act on. Without boundary files
a point's LAD comes from its nearest postcode; with boundaries, from the polygons (``covers``). PFA codes come
from the polygons when loaded, otherwise from the authored LAD -> PFA table.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mapping.areas import LAD, PFA, AreaRegistry
from mapping.places import Gazetteer, Place, place_key, place_precision_m
from mapping.postcodes import FULL_POSTCODE_PRECISION_M, PostcodeDirectory, PostcodeHit
from mapping.types import Location, LocationSource

if TYPE_CHECKING:
    from mapping.boundaries import BoundaryIndex
    from mapping.geocoder import OnlineGeocoder

__all__ = [
    "MAX_POSTCODE_DISTANCE_M",
    "Ambiguous",
    "LocateResult",
    "Located",
    "Locator",
    "NotFound",
    "Problem",
]

# Without boundaries, a point farther than this from every postcode is taken to be at sea. On a 1 km grid over
# England and Wales the farthest land from any postcode (North Pennines moorland) is 7.1 km away, and 99.9% of
# land is within 5 km: we would rather place a boat near the shore in its coastal area than tell someone on a
# moor that they are at sea.
MAX_POSTCODE_DISTANCE_M = 7_500.0
_GPS_DEFAULT_PRECISION_M = 50.0
_TYPED_COORDINATES_PRECISION_M = 10.0
# A generous box round Great Britain and Ireland: inside it, a miss is the sea or another UK nation.
_UK_BOX = (-11.0, 49.0, 2.5, 61.5)  # min lon, min lat, max lon, max lat
_EW_BOX = (-6.5, 49.8, 2.0, 55.9)
_COORDINATES = re.compile(r"^\s*\(?\s*([-+]?\d+(?:\.\d+)?)\s*[,;\s]\s*([-+]?\d+(?:\.\d+)?)\s*\)?\s*$")
_OUTCODE_OR_SECTOR = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?( ?[0-9])?$")
_EMBEDDED_POSTCODE = re.compile(r"\b[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}\b")
# A nation typed on its own (English and Welsh names): never a village that shares the name ("Wales", Rotherham),
# which a qualifier still finds ("Wales, Rotherham").
_WHOLE_NATIONS = frozenset(
    {
        "wales",
        "cymru",
        "england",
        "lloegr",
        "england and wales",
        "cymru a lloegr",
        "uk",
        "united kingdom",
        "britain",
        "great britain",
        "prydain",
        "prydain fawr",
        "y deyrnas unedig",
    }
)
_NATION_NAMES = {"S": "Scotland", "N": "Northern Ireland", "L": "the Channel Islands", "M": "the Isle of Man"}


class Problem:
    """The ``problem`` values a :class:`NotFound` can carry (stable strings: the bot keys its wording on them)."""

    EMPTY = "empty"
    MALFORMED_POSTCODE = "malformed_postcode"
    UNKNOWN_POSTCODE = "unknown_postcode"
    UNKNOWN_PLACE = "unknown_place"
    OUTSIDE_ENGLAND_WALES = "outside_england_wales"
    AT_SEA = "at_sea"
    SWAPPED_COORDINATES = "swapped_coordinates"
    INVALID_COORDINATES = "invalid_coordinates"
    WHOLE_NATION = "whole_nation"  # "Wales", "England", "UK": too wide to find anything local


@dataclass(frozen=True, slots=True)
class Located:
    location: Location


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """Several places share the name: ask which (``Locator.locate_place`` resolves the chosen one)."""

    query: str
    choices: tuple[Place, ...]


@dataclass(frozen=True, slots=True)
class NotFound:
    query: str
    problem: str
    message: str


LocateResult = Located | Ambiguous | NotFound


def _in_box(lat: float, lon: float, box: tuple[float, float, float, float]) -> bool:
    return box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


class Locator:
    """Resolve text or a shared point to a :class:`~mapping.types.Location` with LAD and PFA codes.

    Parameters
    ----------
    postcodes, registry, gazetteer
        The offline sources (see :meth:`offline_default`).
    boundaries
        Loaded PFA/LAD polygons; when given, points are placed by polygon rather than by nearest postcode.
    geocoder
        An optional online geocoder for places the gazetteer does not know (off by default).
    max_postcode_distance_m
        Without boundaries, points farther than this from every postcode are "at sea".
    """

    def __init__(
        self,
        *,
        postcodes: PostcodeDirectory,
        registry: AreaRegistry,
        gazetteer: Gazetteer,
        boundaries: BoundaryIndex | None = None,
        geocoder: OnlineGeocoder | None = None,
        max_postcode_distance_m: float = MAX_POSTCODE_DISTANCE_M,
    ) -> None:
        self.postcodes = postcodes
        self.registry = registry
        self.gazetteer = gazetteer
        self.boundaries = boundaries
        self.geocoder = geocoder
        self.max_postcode_distance_m = max_postcode_distance_m

    @classmethod
    def offline_default(cls) -> Locator:
        """Packaged postcodes, the authored area tables and GeoNames places; no boundaries, no network.

        The sources are shared per process, so building several locators costs nothing extra.
        """
        return cls(
            postcodes=PostcodeDirectory.default(), registry=AreaRegistry.default(), gazetteer=Gazetteer.default()
        )

    # --- text ----------------------------------------------------------------------------------------

    def locate(self, text: str, *, strict: bool = False) -> LocateResult:
        """A full postcode, sector ("LS6 1"), outcode ("LS6"), place name or "lat,lon".

        ``strict``: a place must be named in full ("Park" does not find Park Street) and the online geocoder
        is not asked, for text that may not have been meant as a place at all.
        """
        query = " ".join(text.split())
        if not query:
            return NotFound(
                query, Problem.EMPTY, "Type a postcode (like LS6 1AA), a town or city, or share a location."
            )
        coordinates = _COORDINATES.match(query)
        if coordinates:
            return self._typed_coordinates(query, float(coordinates.group(1)), float(coordinates.group(2)))
        upper = query.upper()
        postcode = self.postcodes.normalise(upper)
        if postcode is not None:
            return self._postcode(query, postcode)
        if _OUTCODE_OR_SECTOR.match(upper):
            return self._postcode_area(query, upper)
        embedded = _EMBEDDED_POSTCODE.search(upper)
        if embedded and (postcode := self.postcodes.normalise(embedded.group(0))) is not None:
            return self._postcode(query, postcode)  # "I'm at LS6 1AA, near the park"
        if _looks_like_postcode(upper):
            return NotFound(
                query,
                Problem.MALFORMED_POSTCODE,
                f"'{query}' does not look like a UK postcode: check it against a letter or bill "
                "(it should look like LS6 1AA), or type the first half (like LS6) or your town.",
            )
        if place_key(query) in _WHOLE_NATIONS:
            return NotFound(
                query,
                Problem.WHOLE_NATION,
                f"'{query}' is a whole country: type a postcode (like LS6 1AA), its first half (like LS6) or a town.",
            )
        return self._place(query, strict=strict)

    def _typed_coordinates(self, query: str, a: float, b: float) -> LocateResult:
        if not (-90 <= a <= 90 and -180 <= b <= 180) or (
            not _in_box(a, b, _UK_BOX) and -90 <= b <= 90 and _in_box(b, a, _EW_BOX)
        ):
            if -90 <= b <= 90 and _in_box(b, a, _EW_BOX):
                return NotFound(
                    query,
                    Problem.SWAPPED_COORDINATES,
                    f"'{query}' looks like longitude then latitude: write latitude first, like '{b}, {a}'.",
                )
            return NotFound(
                query,
                Problem.INVALID_COORDINATES,
                f"'{query}' is not a latitude and longitude: write them like '53.80, -1.55' (latitude first).",
            )
        result = self.locate_point(a, b, accuracy_m=_TYPED_COORDINATES_PRECISION_M, source=LocationSource.COORDINATES)
        return NotFound(query, result.problem, result.message) if isinstance(result, NotFound) else result

    def _postcode(self, query: str, postcode: str) -> LocateResult:
        hit = self.postcodes.lookup(postcode)
        if hit is None:
            if self.postcodes.exists(postcode):
                return NotFound(
                    query,
                    Problem.OUTSIDE_ENGLAND_WALES,
                    f"{postcode} is outside England and Wales (the Channel Islands, the Isle of Man, or a "
                    "postcode with no fixed place): local services here cover England and Wales only.",
                )
            return NotFound(
                query,
                Problem.UNKNOWN_POSTCODE,
                f"{postcode} is not in the postcode directory: check it, or type the first half (like "
                f"{postcode.split()[0]}) or your town.",
            )
        return self._from_hit(query, hit, LocationSource.POSTCODE, FULL_POSTCODE_PRECISION_M)

    def _postcode_area(self, query: str, upper: str) -> LocateResult:
        found = self.postcodes.area(upper)
        if found is None:
            return NotFound(
                query,
                Problem.UNKNOWN_POSTCODE,
                f"There is no postcode district {upper}: check it, or type your full postcode or your town.",
            )
        hit, radius = found
        source = LocationSource.SECTOR if " " in hit.postcode else LocationSource.OUTCODE
        return self._from_hit(query, hit, source, radius)

    def _from_hit(self, query: str, hit: PostcodeHit, source: LocationSource, precision: float) -> LocateResult:
        lad = hit.lad_code
        if lad is None or lad[:1] not in ("E", "W"):
            where = _NATION_NAMES.get((lad or "?")[:1], "outside England and Wales")
            return NotFound(
                query,
                Problem.OUTSIDE_ENGLAND_WALES,
                f"{hit.postcode} is in {where}: local services here cover England and Wales only.",
            )
        pfa = self.registry.pfa_for_lad(lad)
        if pfa is None and self.boundaries is not None:
            pfa = self.boundaries.area_at(hit.lat, hit.lon, PFA)
        location = Location(hit.lat, hit.lon, source, precision, lad, pfa, hit.postcode)
        return Located(location)

    # --- places --------------------------------------------------------------------------------------

    def _place(self, query: str, *, strict: bool = False) -> LocateResult:
        places = self.gazetteer.search(query, prefixes=not strict)
        if not places:
            return self._unknown_place(query, online=not strict)
        if len(places) == 1:
            return self.locate_place(places[0], query=query)
        described = tuple(self._describe(p) for p in places)
        qualifier = query.split(",", 1)[1] if "," in query else ""
        if qualifier:
            wanted = place_key(qualifier)
            narrowed = tuple(p for p in described if wanted and wanted in place_key(p.district))
            if len(narrowed) == 1:
                return self.locate_place(narrowed[0], query=query)
            described = narrowed or described
        return Ambiguous(query, described)

    def _unknown_place(self, query: str, *, online: bool = True) -> LocateResult:
        elsewhere = self.gazetteer.elsewhere_in_uk(query)
        if self.geocoder is not None and online:
            found = self.geocoder.geocode(query)
            if found is not None:
                result = self.locate_point(found.lat, found.lon, source=LocationSource.GEOCODER)
                if isinstance(result, Located):
                    location = result.location
                    return Located(
                        Location(
                            location.lat,
                            location.lon,
                            LocationSource.GEOCODER,
                            found.precision_m,
                            location.lad_code,
                            location.pfa_code,
                            found.label,
                        )
                    )
                return NotFound(query, result.problem, result.message) if isinstance(result, NotFound) else result
        if elsewhere is not None:
            return NotFound(
                query,
                Problem.OUTSIDE_ENGLAND_WALES,
                f"{query} is in {elsewhere}: local services here cover England and Wales only.",
            )
        return NotFound(
            query,
            Problem.UNKNOWN_PLACE,
            f"No town or city called '{query}' was found in England or Wales: check the spelling, "
            "or type a postcode (like LS6 1AA) or its first half (like LS6).",
        )

    def _describe(self, place: Place) -> Place:
        lad = self._lad_at(place.lat, place.lon)
        info = self.registry.area(lad[0]) if lad is not None else None
        return place.with_district(info.name, info.name_cy) if info is not None else place

    def locate_place(self, place: Place, *, query: str | None = None) -> LocateResult:
        """Resolve one place (for example the choice a person picked from an :class:`Ambiguous`)."""
        result = self.locate_point(place.lat, place.lon, source=LocationSource.PLACE)
        if not isinstance(result, Located):
            return (
                NotFound(query or place.name, result.problem, result.message)
                if isinstance(result, NotFound)
                else result
            )
        location = result.location
        described = place if place.district else self._describe(place)
        return Located(
            Location(
                place.lat,
                place.lon,
                LocationSource.PLACE,
                place_precision_m(place.population),
                location.lad_code,
                location.pfa_code,
                described.label,
                described.label_in("cy"),
            )
        )

    # --- points --------------------------------------------------------------------------------------

    def locate_point(
        self,
        lat: float,
        lon: float,
        *,
        accuracy_m: float | None = None,
        source: LocationSource = LocationSource.GPS,
    ) -> LocateResult:
        """A shared or typed point, used as is; its LAD from the polygons, or else from the nearest postcode."""
        query = f"{lat}, {lon}"
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            return NotFound(query, Problem.INVALID_COORDINATES, f"'{query}' is not a latitude and longitude.")
        if not _in_box(lat, lon, _UK_BOX):
            if _in_box(lon, lat, _EW_BOX):
                return NotFound(
                    query,
                    Problem.SWAPPED_COORDINATES,
                    f"'{query}' looks like longitude then latitude: latitude comes first, like '{lon}, {lat}'.",
                )
            return NotFound(
                query,
                Problem.OUTSIDE_ENGLAND_WALES,
                "That point is outside the UK: local services here cover England and Wales only.",
            )
        precision = accuracy_m if accuracy_m is not None else _GPS_DEFAULT_PRECISION_M
        lad = self._lad_at(lat, lon)
        if lad is None:
            return self._not_in_england_wales(query, lat, lon)
        lad_code, _ = lad
        pfa = None
        if self.boundaries is not None and PFA in self.boundaries.levels:
            pfa = self.boundaries.area_at(lat, lon, PFA)
        pfa = pfa or self.registry.pfa_for_lad(lad_code)
        return Located(Location(lat, lon, source, float(precision), lad_code, pfa, f"{lat:.5f}, {lon:.5f}"))

    def _lad_at(self, lat: float, lon: float) -> tuple[str, float] | None:
        """(LAD code, distance m) for an England or Wales point; ``None`` when it is not in one."""
        if self.boundaries is not None and LAD in self.boundaries.levels:
            found = self.boundaries.area_with_distance(lat, lon, LAD)
            if found is not None and found[1] > 0 and self._nearest_is_elsewhere(lat, lon, found[1]):
                return None  # snapped across a border (Berwick, Gretna): the nearer postcode is Scottish
            return found
        if (
            self.boundaries is not None
            and PFA in self.boundaries.levels
            and self.boundaries.area_at(lat, lon, PFA) is None
        ):
            return None
        nearest = self.postcodes.nearest(lat, lon)
        if nearest is None:
            return None
        hit, distance = nearest
        if distance > self.max_postcode_distance_m or hit.lad_code is None or hit.lad_code[:1] not in ("E", "W"):
            return None
        return hit.lad_code, distance

    def _nearest_is_elsewhere(self, lat: float, lon: float, snapped_m: float) -> bool:
        nearest = self.postcodes.nearest(lat, lon)
        if nearest is None:
            return False
        hit, distance = nearest
        return distance < snapped_m and (hit.lad_code or "E")[:1] not in ("E", "W")

    def _not_in_england_wales(self, query: str, lat: float, lon: float) -> NotFound:
        nearest = self.postcodes.nearest(lat, lon)
        if nearest is not None:
            hit, distance = nearest
            lad = hit.lad_code or ""
            if distance <= self.max_postcode_distance_m and lad[:1] in _NATION_NAMES:
                return NotFound(
                    query,
                    Problem.OUTSIDE_ENGLAND_WALES,
                    f"That point is in {_NATION_NAMES[lad[:1]]}: local services here cover England and Wales only.",
                )
        return NotFound(
            query,
            Problem.AT_SEA,
            "That point is not on land in England or Wales (it looks like the sea): share your location again, "
            "or type a postcode or town.",
        )


def _looks_like_postcode(upper: str) -> bool:
    """Short, letters and digits, with a digit: meant as a postcode rather than a place name."""
    compact = upper.replace(" ", "")
    return 2 <= len(compact) <= 8 and compact.isalnum() and any(ch.isdigit() for ch in compact)
