"""Coordinate transforms between WGS84 (EPSG:4326, stored) and British National Grid (EPSG:27700, metric work).

Northern Ireland's official grid references (ONS Postcode Directory rows for BT postcodes) are Irish Grid
(EPSG:29903): :func:`irish_grid_to_bng` brings them into BNG so that one metric space holds every UK postcode.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from pyproj import Transformer
from shapely import transform
from shapely.geometry.base import BaseGeometry

__all__ = ["bng_to_wgs84", "geometry_to_bng", "geometry_to_wgs84", "irish_grid_to_bng", "wgs84_to_bng"]


@cache
def _to_bng() -> Transformer:
    return Transformer.from_crs(4326, 27700, always_xy=True)


@cache
def _to_wgs84() -> Transformer:
    return Transformer.from_crs(27700, 4326, always_xy=True)


@cache
def _irish_to_bng() -> Transformer:
    return Transformer.from_crs(29903, 27700, always_xy=True)


def irish_grid_to_bng(easting: np.ndarray | float, northing: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Irish Grid (EPSG:29903) easting/northing to British National Grid easting/northing (metres)."""
    e, n = _irish_to_bng().transform(easting, northing)
    return np.asarray(e, dtype=np.float64), np.asarray(n, dtype=np.float64)


def wgs84_to_bng(lon: np.ndarray | float, lat: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude (degrees) to easting/northing (metres)."""
    e, n = _to_bng().transform(lon, lat)
    return np.asarray(e), np.asarray(n)


def bng_to_wgs84(easting: np.ndarray | float, northing: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Easting/northing (metres) to longitude/latitude (degrees)."""
    lon, lat = _to_wgs84().transform(easting, northing)
    return np.asarray(lon), np.asarray(lat)


def geometry_to_bng(geometry: BaseGeometry) -> BaseGeometry:
    def fn(xy: np.ndarray) -> np.ndarray:
        e, n = _to_bng().transform(xy[:, 0], xy[:, 1])
        return np.column_stack([e, n])

    return transform(geometry, fn)


def geometry_to_wgs84(geometry: BaseGeometry) -> BaseGeometry:
    def fn(xy: np.ndarray) -> np.ndarray:
        lon, lat = _to_wgs84().transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return transform(geometry, fn)
