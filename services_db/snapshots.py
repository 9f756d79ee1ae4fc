"""Reading the nightly coverage snapshots back as a series (coverage over time)."""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import Session, col, select

from mapping.report.history import SnapshotPoint
from services_db.models import CoverageSnapshot

__all__ = ["snapshot_series"]


def snapshot_series(
    *, session: Session, area_code: str | None = None, strand: str = "any", scope: str = "local"
) -> list[SnapshotPoint]:
    """One point per snapshot day for a force area, or summed over England and Wales when ``area_code`` is None.

    ``scope`` is ``"local"`` (local provision) or ``"with_national"`` (national services merged in).
    """
    query = select(CoverageSnapshot).where(
        CoverageSnapshot.strand == strand, CoverageSnapshot.level == "pfa", CoverageSnapshot.scope == scope
    )
    if area_code is not None:
        query = query.where(CoverageSnapshot.area_code == area_code)
    days: dict = defaultdict(lambda: [0.0, 0.0, set()])
    for row in session.exec(query.order_by(col(CoverageSnapshot.taken_on))):
        day = days[row.taken_on]
        day[0] += row.population
        day[1] += row.population_covered
        day[2].add(row.method)
    return [
        SnapshotPoint(taken_on=d, population=v[0], population_covered=v[1], method="; ".join(sorted(v[2])))
        for d, v in sorted(days.items())
    ]
