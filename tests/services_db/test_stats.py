"""Anonymous signposting counts: keyed by week, area codes, strand and outcome; suppressed under 5 in exports."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, inspect
from sqlmodel import Session, select

from mapping.types import Strand
from services_db.db import make_engine
from services_db.models import SignpostingCount
from services_db.stats import ANY_STRAND, UNSPECIFIED_STRAND, iso_week, record_signposting, signposting_counts

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # ISO week 2026-W48
MANCHESTER_LAD, GMP_PFA = "E08000003", "E23000005"


def _record(session: Session, *, times: int = 1, at: datetime = MONDAY, **overrides: object) -> None:
    fields: dict[str, object] = {
        "lad_code": MANCHESTER_LAD,
        "pfa_code": GMP_PFA,
        "strands": {Strand.RACE},
        "outcome": "matched_local",
    }
    fields.update(overrides)
    for _ in range(times):
        record_signposting(session=session, at=at, **fields)  # type: ignore[arg-type]
    session.commit()


def test_iso_week_uses_the_utc_date() -> None:
    assert iso_week(MONDAY) == "2026-W48"
    assert iso_week(datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"
    late_sunday_in_new_york = datetime(2026, 11, 22, 23, 30, tzinfo=ZoneInfo("America/New_York"))
    assert iso_week(late_sunday_in_new_york) == "2026-W48"  # already Monday in UTC


def test_each_signposting_counts_once_per_strand_and_once_in_any(session: Session) -> None:
    _record(session, strands={Strand.RACE, Strand.RELIGION})
    _record(session, strands={Strand.RACE})
    rows = {(r.strand, r.count) for r in session.exec(select(SignpostingCount)).all()}
    assert rows == {("race", 2), ("religion", 1), (ANY_STRAND, 2)}


def test_no_strand_chosen_is_counted_as_unspecified(session: Session) -> None:
    _record(session, strands=set(), outcome="national_only", lad_code=None, pfa_code=None)
    rows = session.exec(select(SignpostingCount)).all()
    assert {r.strand for r in rows} == {UNSPECIFIED_STRAND, ANY_STRAND}
    assert all(r.lad_code == "" and r.pfa_code == "" and r.outcome == "national_only" for r in rows)


def test_unknown_outcome_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="matched_local"):
        record_signposting(session=session, at=MONDAY, lad_code=None, pfa_code=None, strands=(), outcome="somewhere")


def test_counts_under_five_are_suppressed_in_exports(session: Session) -> None:
    _record(session, times=5)
    _record(session, times=4, outcome="national_only")
    rows = signposting_counts(session=session, group_by=("pfa_code", "strand", "outcome"))
    by_key = {(r.strand, r.outcome): r for r in rows}
    assert by_key[("race", "matched_local")].count == 5
    assert by_key[("race", "national_only")].count is None
    assert by_key[("race", "national_only")].suppressed
    assert all(r.week is None and r.lad_code is None and r.pfa_code == GMP_PFA for r in rows)


def test_aggregating_first_loses_fewer_cells(session: Session) -> None:
    _record(session, times=3, at=MONDAY)
    _record(session, times=3, at=MONDAY + timedelta(days=7))
    weekly = signposting_counts(session=session, group_by=("week", "strand"))
    assert [r.count for r in weekly if r.strand == "race"] == [None, None]
    overall = signposting_counts(session=session, group_by=("strand",))
    assert {r.strand: r.count for r in overall} == {"race": 6, ANY_STRAND: 6}


def test_week_range_filters(session: Session) -> None:
    _record(session, times=5, at=MONDAY)
    _record(session, times=6, at=MONDAY + timedelta(days=7))
    rows = signposting_counts(session=session, group_by=("week", "strand"), weeks=("2026-W49", "2026-W53"))
    assert {(r.week, r.strand, r.count) for r in rows} == {("2026-W49", "race", 6), ("2026-W49", ANY_STRAND, 6)}


def test_suppress_under_is_configurable(session: Session) -> None:
    _record(session, times=2)
    assert {r.count for r in signposting_counts(session=session, suppress_under=1)} == {2}
    assert {r.count for r in signposting_counts(session=session, suppress_under=10)} == {None}


def test_grouping_by_an_unknown_field_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="user_id"):
        signposting_counts(session=session, group_by=("user_id",))  # type: ignore[arg-type]


def test_table_holds_no_person(engine: Engine) -> None:
    columns = {c["name"] for c in inspect(engine).get_columns("signposting_count")}
    assert columns == {"week", "lad_code", "pfa_code", "strand", "outcome", "count"}


def _add_ten(url: str) -> None:
    engine = make_engine(url)
    for _ in range(10):
        with Session(engine) as s:
            record_signposting(
                session=s, at=MONDAY, lad_code=MANCHESTER_LAD, pfa_code=GMP_PFA, strands=(), outcome="none"
            )
            s.commit()
    engine.dispose()


def test_concurrent_increments_are_not_lost(engine: Engine) -> None:
    # Separate processes, as separate bot workers would be (threads would also trip a CPython 3.11 AST bug).
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    with ProcessPoolExecutor(max_workers=4, mp_context=multiprocessing.get_context("fork")) as pool:
        list(pool.map(_add_ten, [url] * 4))
    with Session(engine) as s:
        rows = signposting_counts(session=s, group_by=("strand",))
    assert {r.strand: r.count for r in rows} == {ANY_STRAND: 40, UNSPECIFIED_STRAND: 40}
