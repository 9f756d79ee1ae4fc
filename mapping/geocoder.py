"""An optional online geocoder (Nominatim through geopy) for places the offline gazetteer does not know.

Off by default and never required. Nominatim's usage policy asks for an identifying user agent and at most one
request a second; answers are cached so the same question is asked once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["GeocodedPlace", "NominatimGeocoder", "OnlineGeocoder", "geodesic_m"]


@dataclass(frozen=True, slots=True)
class GeocodedPlace:
    lat: float
    lon: float
    label: str
    precision_m: float


class OnlineGeocoder(Protocol):
    def geocode(self, query: str) -> GeocodedPlace | None: ...


def geodesic_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance in metres on the WGS84 ellipsoid (geopy's geodesic)."""
    from geopy.distance import geodesic

    return float(geodesic((lat1, lon1), (lat2, lon2)).meters)


def _precision_from_bbox(raw: dict[str, Any], lat: float, lon: float) -> float:
    """Half the diagonal of Nominatim's bounding box, at least 100 m."""
    try:
        south, north, west, east = (float(v) for v in raw["boundingbox"])
    except (KeyError, TypeError, ValueError):
        return 1_000.0
    return max(100.0, geodesic_m(south, west, north, east) / 2)


class NominatimGeocoder:
    """Geocode within the UK through Nominatim, rate limited and cached.

    Parameters
    ----------
    user_agent
        Identifies the application to the Nominatim operators (their policy requires it).
    domain, scheme
        Another Nominatim server (for example a self-hosted one).
    min_delay_s
        Minimum time between requests.
    cache_size
        How many answers (including "not found") to keep.
    clock, sleep
        Injected for tests; real time by default.
    """

    def __init__(
        self,
        *,
        user_agent: str,
        domain: str = "nominatim.openstreetmap.org",
        scheme: str = "https",
        min_delay_s: float = 1.0,
        cache_size: int = 1024,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from geopy.geocoders import Nominatim

        self._nominatim = Nominatim(user_agent=user_agent, domain=domain, scheme=scheme, timeout=timeout_s)
        self._min_delay_s = min_delay_s
        self._cache: OrderedDict[str, GeocodedPlace | None] = OrderedDict()
        self._cache_size = cache_size
        self._clock, self._sleep = clock, sleep
        self._last: float | None = None
        self.requests = 0

    def geocode(self, query: str) -> GeocodedPlace | None:
        """The best UK match for ``query``, or ``None``; network errors are treated as "not found"."""
        from geopy.exc import GeopyError

        key = " ".join(query.casefold().split())
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if self._last is not None:
            wait = self._min_delay_s - (self._clock() - self._last)
            if wait > 0:
                self._sleep(wait)
        self._last = self._clock()
        self.requests += 1
        try:
            found = self._nominatim.geocode(query, exactly_one=True, country_codes="gb")
        except GeopyError:
            return None  # not cached: a later attempt may succeed
        result = None
        if found is not None:
            lat, lon = float(found.latitude), float(found.longitude)
            result = GeocodedPlace(lat, lon, str(found.address), _precision_from_bbox(found.raw, lat, lon))
        self._cache[key] = result
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result
