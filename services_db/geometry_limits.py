"""Services whose coverage polygons have too many points, found before validation builds any shapely geometry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mapping.geometry_limits import SERVICE_FILE_POINTS, SERVICE_POINTS, count_points, too_many_points
from services_db.validation import Problem, RawService

__all__ = ["geometry_size_problems"]


def geometry_size_problems(
    services: Sequence[RawService],
    *,
    file: str,
    limit: int = SERVICE_POINTS,
    file_limit: int = SERVICE_FILE_POINTS,
) -> tuple[Problem, ...]:
    """A problem for each service whose geometry has more than ``limit`` points, and one for the file when all of
    them together have more than ``file_limit`` (counting stops there)."""
    problems: list[Problem] = []
    total = 0
    for raw in services:
        geometry = raw.geometry if raw.geometry is not None else raw.fields.get("geometry")
        if not isinstance(geometry, Mapping | str):
            continue
        points = count_points(geometry, stop_after=limit)
        message = too_many_points(points, limit=limit, what="one service's coverage")
        if message is not None:
            service = raw.fields.get("id")
            named = f" of service {service!r}" if isinstance(service, str) and service else ""
            problems.append(Problem(file, raw.row, "geometry", f"the polygon{named} {message}", raw.unit))
        total += points
        if total > file_limit:
            message = too_many_points(total, limit=file_limit, what="one file") or ""
            problems.append(Problem(file, None, "geometry", f"the polygons together {message}, or split the file"))
            break
    return tuple(problems)
