"""How many points a geometry a person hands in may have, counted before shapely builds anything.

A polygon of a million points is accepted by shapely, but validating, reprojecting and indexing it takes minutes
and most of a gigabyte; a service's coverage never needs that detail. The points are counted on the parsed GeoJSON
(or the WKT / GeoJSON text) and the count stops as soon as it passes the limit, so a huge geometry costs no more
than reading it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "BOUNDARY_FILE_POINTS",
    "BOUNDARY_POINTS",
    "SERVICE_FILE_POINTS",
    "SERVICE_POINTS",
    "count_points",
    "too_many_points",
]

# A service's coverage drawn by hand has tens to hundreds of points; a district outline at 1 m detail has tens of
# thousands. 100,000 points take shapely about 7 s to validate and reproject; a million took 96 s and 820 MB.
SERVICE_POINTS = 100_000
SERVICE_FILE_POINTS = 500_000
# ONS boundaries: the generalised (BUC) files have at most 5,506 points per district and 50,920 per file (LAD May
# 2025), 787 and 8,888 (PFA Dec 2023); the full-resolution (BFE/BFC) files are about 100 to 200 times that (a
# coastal district up to about a million points, all UK districts about ten million).
BOUNDARY_POINTS = 5_000_000
BOUNDARY_FILE_POINTS = 50_000_000
SIMPLIFY_HINT = (
    "simplify it to about 1 m (e.g. QGIS Vector > Geometry > Simplify, tolerance 0.00001 degrees, or mapshaper)"
)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _is_position(value: Any) -> bool:
    return isinstance(value, list | tuple) and bool(value) and isinstance(value[0], int | float)


def count_points(geometry: Mapping[str, Any] | str | None, *, stop_after: int | None = None) -> int:
    """Points (positions) in a GeoJSON geometry, or in WKT / GeoJSON text; shapely is not used.

    Parameters
    ----------
    geometry
        A parsed GeoJSON geometry (any type, GeometryCollection included), or WKT / GeoJSON text (a position is
        taken as two numbers there).
    stop_after
        Stop counting once the count passes this: the answer is then only known to be larger.
    """
    if geometry is None:
        return 0
    if isinstance(geometry, str):
        found = 0
        for found, _ in enumerate(_NUMBER.finditer(geometry), start=1):
            if stop_after is not None and found > 2 * stop_after + 1:
                break
        return found // 2
    stack: list[Any] = [geometry.get("coordinates"), geometry.get("geometries")]
    count = 0
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            stack += [item.get("coordinates"), item.get("geometries")]
        elif _is_position(item):
            count += 1
            if stop_after is not None and count > stop_after:
                break
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return count


def too_many_points(count: int, *, limit: int, what: str) -> str | None:
    """The message for ``count`` points over ``limit`` (``what``: e.g. ``"one service's coverage"``), else None."""
    if count <= limit:
        return None
    return f"has more than {limit:,} points, the limit for {what}: {SIMPLIFY_HINT}"
