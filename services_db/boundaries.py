"""Store loaded ONS boundaries in the ``area_boundary`` table and rebuild a point index from them.

``signpost geography load`` validates the files (``mapping.boundaries``) and calls :func:`store_boundaries`;
every other command that needs polygons calls :func:`load_boundary_index`. One level is replaced as a whole in
one transaction, so readers see either the old set or the new one, never a mixture.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import shapely
from sqlalchemy import delete, func, insert
from sqlmodel import Session, col, select

from mapping.boundaries import DEFAULT_SNAP_M, Boundary, BoundaryIndex, BoundarySet
from services_db.models import AreaBoundary

__all__ = ["BoundaryStatus", "boundary_status", "load_boundary_index", "store_boundaries"]


@dataclass(frozen=True, slots=True)
class BoundaryStatus:
    """What is stored for one level."""

    level: str
    vintages: tuple[str, ...]
    count: int
    loaded_at: datetime


def store_boundaries(
    *, session: Session, boundaries: BoundarySet | Iterable[BoundarySet], now: datetime | None = None
) -> dict[str, int]:
    """Replace the stored areas of each given level with ``boundaries``; returns the count stored per level.

    All levels are written in one transaction: on any error nothing changes.
    """
    sets = [boundaries] if isinstance(boundaries, BoundarySet) else list(boundaries)
    at = now or datetime.now(UTC)
    if at.tzinfo is None:
        raise ValueError("the clock must give timezone-aware datetimes (UTC)")
    counts: dict[str, int] = {}
    try:
        for boundary_set in sets:
            session.execute(delete(AreaBoundary).where(col(AreaBoundary.level) == boundary_set.level))
            rows = [
                {
                    "code": b.code,
                    "level": b.level,
                    "name": b.name,
                    "vintage": b.vintage,
                    "geometry_wkb": shapely.to_wkb(b.geometry),
                    "loaded_at": at,
                }
                for b in boundary_set.boundaries
            ]
            if rows:
                session.execute(insert(AreaBoundary.__table__), rows)  # type: ignore[attr-defined]
            counts[boundary_set.level] = len(rows)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return counts


def load_boundary_index(*, session: Session, snap_m: float = DEFAULT_SNAP_M) -> BoundaryIndex | None:
    """A :class:`~mapping.boundaries.BoundaryIndex` over the stored areas; ``None`` when none are stored."""
    rows = session.exec(select(AreaBoundary).order_by(col(AreaBoundary.level), col(AreaBoundary.code))).all()
    if not rows:
        return None
    by_level: dict[str, list[Boundary]] = {}
    for row in rows:
        geometry = shapely.from_wkb(bytes(row.geometry_wkb))
        by_level.setdefault(row.level, []).append(Boundary(row.code, row.name, row.level, row.vintage, geometry))
    sets = [
        BoundarySet(level, _vintage_label(items), "stored", tuple(items)) for level, items in sorted(by_level.items())
    ]
    return BoundaryIndex(sets, snap_m=snap_m)


def boundary_status(*, session: Session) -> list[BoundaryStatus]:
    """Per level: the vintages, how many areas, and when they were loaded."""
    statement = select(
        AreaBoundary.level, AreaBoundary.vintage, func.count(), func.max(AreaBoundary.loaded_at)
    ).group_by(col(AreaBoundary.level), col(AreaBoundary.vintage))
    merged: dict[str, tuple[list[str], int, datetime]] = {}
    for level, vintage, count, loaded_at in session.exec(statement).all():
        vintages, total, latest = merged.get(level, ([], 0, loaded_at))
        merged[level] = ([*vintages, vintage], total + int(count), max(latest, loaded_at))
    return [
        BoundaryStatus(level, tuple(sorted(vintages)), total, latest)
        for level, (vintages, total, latest) in sorted(merged.items())
    ]


def _vintage_label(items: list[Boundary]) -> str:
    return "/".join(sorted({b.vintage for b in items}))
