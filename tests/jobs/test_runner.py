"""Job runs: recorded, leased (never two at once), and a failure does not stop the next job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from jobs.runner import JobContext, acquire_lease, release_lease, run_job
from services_db.models import JobRun

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _context(engine: Engine, tmp_path: Path, now: datetime = T0) -> JobContext:
    return JobContext(engine=engine, data_dir=tmp_path, clock=lambda: now)


async def _counts(_: JobContext) -> dict[str, int]:
    return {"deleted": 3}


async def _boom(_: JobContext) -> dict[str, int]:
    raise RuntimeError("feed unreachable")


async def test_a_run_is_recorded_with_its_counts(engine: Engine, tmp_path: Path) -> None:
    outcome = await run_job("retention", _counts, _context(engine, tmp_path))
    assert outcome.outcome == "ok" and outcome.counts == {"deleted": 3}
    with Session(engine) as session:
        run = session.exec(select(JobRun)).one()
    assert (run.job_id, run.outcome, run.counts) == ("retention", "ok", {"deleted": 3})
    assert run.started_at == T0 and run.finished_at == T0


async def test_a_failure_is_recorded_and_the_next_job_still_runs(engine: Engine, tmp_path: Path) -> None:
    failed = await run_job("statistics", _boom, _context(engine, tmp_path))
    after = await run_job("retention", _counts, _context(engine, tmp_path))
    assert failed.outcome == "failed" and "feed unreachable" in failed.error
    assert after.outcome == "ok"
    # the failed job's lease was released, so its next scheduled run is not blocked
    again = await run_job("statistics", _counts, _context(engine, tmp_path))
    assert again.outcome == "ok"


async def test_a_job_held_by_another_process_is_skipped(engine: Engine, tmp_path: Path) -> None:
    assert acquire_lease(engine, "coverage-snapshot", holder="other-host:1", now=T0, ttl=timedelta(hours=2))
    outcome = await run_job("coverage-snapshot", _counts, _context(engine, tmp_path), holder="me:2")
    assert outcome.outcome == "skipped"
    release_lease(engine, "coverage-snapshot", holder="other-host:1")
    assert (await run_job("coverage-snapshot", _counts, _context(engine, tmp_path), holder="me:2")).outcome == "ok"


def test_an_expired_lease_can_be_taken_over(engine: Engine) -> None:
    assert acquire_lease(engine, "retention", holder="crashed:1", now=T0, ttl=timedelta(minutes=5))
    assert not acquire_lease(engine, "retention", holder="me:2", now=T0 + timedelta(minutes=4), ttl=timedelta(hours=1))
    assert acquire_lease(engine, "retention", holder="me:2", now=T0 + timedelta(minutes=6), ttl=timedelta(hours=1))
    # the crashed holder cannot release what it no longer holds
    release_lease(engine, "retention", holder="crashed:1")
    assert not acquire_lease(
        engine, "retention", holder="third:3", now=T0 + timedelta(minutes=7), ttl=timedelta(hours=1)
    )
