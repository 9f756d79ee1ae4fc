"""Anonymous signposting statistics: one count per (ISO week, LAD code, PFA code, strand, outcome).

Nothing about a person is kept: no user id, no text, no coordinates, no time finer than the ISO week. A
signposting adds one to the row of each strand the person chose and one to the ``"any"`` row (so totals are
never double counted); with no strand chosen ("not sure") it adds one to ``"unspecified"`` and one to ``"any"``.
Unknown area codes are stored as ``""`` and reported as ``None``.

Increments are a single ``INSERT ... ON CONFLICT DO UPDATE SET count = count + n`` so that many bot workers can
write the same row at once without losing counts (SQLite and PostgreSQL both support it).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from mapping.types import Strand
from services_db.models import SignpostingCount

__all__ = [
    "ANY_STRAND",
    "GROUP_FIELDS",
    "OUTCOMES",
    "UNSPECIFIED_STRAND",
    "SignpostingCountRow",
    "iso_week",
    "record_signposting",
    "signposting_counts",
]

ANY_STRAND = "any"
UNSPECIFIED_STRAND = "unspecified"
OUTCOMES = ("matched_local", "national_only", "none")
GroupField = Literal["week", "lad_code", "pfa_code", "strand", "outcome"]
GROUP_FIELDS: tuple[GroupField, ...] = ("week", "lad_code", "pfa_code", "strand", "outcome")
_TABLE = SignpostingCount.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class SignpostingCountRow:
    """One exported cell. A field not grouped by is ``None``; ``count`` is ``None`` when suppressed (1..n-1)."""

    week: str | None
    lad_code: str | None
    pfa_code: str | None
    strand: str | None
    outcome: str | None
    count: int | None

    @property
    def suppressed(self) -> bool:
        return self.count is None


def iso_week(at: datetime) -> str:
    """``"2026-W48"``: the ISO week of ``at`` (its UTC date when aware)."""
    if at.utcoffset() is not None:
        at = at.astimezone(UTC)
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


def record_signposting(
    *,
    session: Session,
    at: datetime,
    lad_code: str | None,
    pfa_code: str | None,
    strands: Collection[Strand],
    outcome: str,
) -> None:
    """Add one signposting to the counts, in the caller's transaction.

    Parameters
    ----------
    session
        The open session; the caller commits (so a conversation's state and its count land together).
    at
        When it happened; only its ISO week is kept.
    lad_code, pfa_code
        Area codes of where the person asked about, or ``None`` when unknown.
    strands
        The strands the person chose (may be empty).
    outcome
        ``"matched_local"``, ``"national_only"`` or ``"none"``.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown signposting outcome {outcome!r}: use one of {', '.join(OUTCOMES)}")
    keys = [Strand(s).value for s in strands] or [UNSPECIFIED_STRAND]
    week = iso_week(at)
    rows = [
        {"week": week, "lad_code": lad_code or "", "pfa_code": pfa_code or "", "strand": s, "outcome": outcome}
        for s in sorted({*keys, ANY_STRAND})
    ]
    _increment(session, rows)


def _increment(session: Session, rows: Sequence[dict[str, str]]) -> None:
    dialect = session.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"signposting counts need SQLite or PostgreSQL, not {dialect}")
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_TABLE).values([{**row, "count": 1} for row in rows])
    stmt = stmt.on_conflict_do_update(
        index_elements=list(GROUP_FIELDS),
        set_={"count": _TABLE.c.count + stmt.excluded.count},
    )
    session.execute(stmt)


def signposting_counts(
    *,
    session: Session,
    suppress_under: int = 5,
    group_by: Iterable[GroupField] = GROUP_FIELDS,
    weeks: tuple[str, str] | None = None,
) -> list[SignpostingCountRow]:
    """Signposting counts for export, aggregated then suppressed.

    Parameters
    ----------
    session
        An open session.
    suppress_under
        Counts from 1 to ``suppress_under - 1`` come back as ``count=None`` (suppressed). Aggregate first
        (``group_by``) to lose fewer cells.
    group_by
        The key fields to keep, any of ``week``, ``lad_code``, ``pfa_code``, ``strand``, ``outcome``; the
        others are summed over and come back as ``None``. Include ``strand`` or filter for ``"any"`` to avoid
        counting a multi-strand signposting more than once.
    weeks
        Optional inclusive range of ISO weeks, e.g. ``("2026-W01", "2026-W52")``.

    Returns
    -------
    list[SignpostingCountRow]
        Sorted by the grouped fields.
    """
    fields = [f for f in GROUP_FIELDS if f in set(group_by)]
    unknown = set(group_by) - set(GROUP_FIELDS)
    if unknown:
        raise ValueError(f"cannot group signposting counts by {sorted(unknown)}: use {', '.join(GROUP_FIELDS)}")
    columns = [_TABLE.c[f] for f in fields]
    query = select(*columns, func.sum(_TABLE.c.count)).group_by(*columns).order_by(*columns)
    if weeks is not None:
        query = query.where(_TABLE.c.week >= weeks[0], _TABLE.c.week <= weeks[1])
    out: list[SignpostingCountRow] = []
    for *keys, total in session.execute(query):
        values: dict[str, str | None] = dict.fromkeys(GROUP_FIELDS)
        for name, value in zip(fields, keys, strict=True):
            values[name] = value if value != "" or name in ("week", "strand", "outcome") else None
        total = int(total or 0)
        if total == 0:
            continue
        out.append(SignpostingCountRow(**values, count=None if total < suppress_under else total))  # type: ignore[arg-type]
    return out
