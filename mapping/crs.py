"""Coordinate transforms between WGS84 (EPSG:4326, stored) and British National Grid (EPSG:27700, metric work).

Northern Ireland's official grid references (ONS Postcode Directory rows for BT postcodes) are Irish Grid
(EPSG:29903): :func:`irish_grid_to_bng` brings them into BNG so that one metric space holds every UK postcode.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np
from pyproj import Transformer

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

__all__ = [
    "bng_to_wgs84",
    "geometry_to_bng",
    "geometry_to_wgs84",
    "irish_grid_to_bng",
    "prepare_thread",
    "to_bng",
    "to_wgs84",
    "wgs84_to_bng",
]


@cache
def to_bng() -> Transformer:
    """The one WGS84 -> BNG transformer of the process (pyproj builds its PROJ object once per thread)."""
    return Transformer.from_crs(4326, 27700, always_xy=True)


@cache
def to_wgs84() -> Transformer:
    """The one BNG -> WGS84 transformer of the process."""
    return Transformer.from_crs(27700, 4326, always_xy=True)


def prepare_thread() -> None:
    """Build this thread's PROJ objects for both directions now. pyproj makes them per thread on first use, about
    30 ms each, so a pool of threads would otherwise pay for it on its first requests, under the first burst."""
    to_bng().transform(-1.5, 53.8)
    to_wgs84().transform(430000.0, 433000.0)


@cache
def _irishto_bng() -> Transformer:
    return Transformer.from_crs(29903, 27700, always_xy=True)


def irish_grid_to_bng(easting: np.ndarray | float, northing: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Irish Grid (EPSG:29903) easting/northing to British National Grid easting/northing (metres)."""
    e, n = _irishto_bng().transform(easting, northing)
    return np.asarray(e, dtype=np.float64), np.asarray(n, dtype=np.float64)


def wgs84_to_bng(lon: np.ndarray | float, lat: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude (degrees) to easting/northing (metres)."""
    e, n = to_bng().transform(lon, lat)
    return np.asarray(e), np.asarray(n)


def bng_to_wgs84(easting: np.ndarray | float, northing: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Easting/northing (metres) to longitude/latitude (degrees)."""
    lon, lat = to_wgs84().transform(easting, northing)
    return np.asarray(lon), np.asarray(lat)


def geometry_to_bng(geometry: BaseGeometry) -> BaseGeometry:
    from shapely import transform  # shapely loads only for geometry (a postcode lookup needs only pyproj)

    def fn(xy: np.ndarray) -> np.ndarray:
        e, n = to_bng().transform(xy[:, 0], xy[:, 1])
        return np.column_stack([e, n])

    return transform(geometry, fn)


def geometry_to_wgs84(geometry: BaseGeometry) -> BaseGeometry:
    from shapely import transform

    def fn(xy: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs84().transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return transform(geometry, fn)
