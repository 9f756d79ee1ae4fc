"""The schedule registry on the SQLite and PostgreSQL job stores: every job once, restarts add no duplicates."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from jobs.runner import JobContext
from jobs.schedule import JOBS, build_scheduler


def _stored_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(r[0] for r in conn.execute(text("SELECT id FROM apscheduler_jobs")))


async def test_every_job_is_stored_once_and_restarts_do_not_duplicate(engine: Engine, tmp_path: Path) -> None:
    context = JobContext(engine=engine, data_dir=tmp_path)
    for _restart in range(3):
        scheduler = build_scheduler(engine, context)
        scheduler.start(paused=True)
        scheduler.shutdown(wait=False)
    assert _stored_ids(engine) == sorted(spec.id for spec in JOBS)


async def test_stored_jobs_have_explicit_ids_coalesce_and_a_grace_time(engine: Engine, tmp_path: Path) -> None:
    scheduler = build_scheduler(engine, JobContext(engine=engine, data_dir=tmp_path))
    scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {spec.id for spec in JOBS}
        for spec in JOBS:
            job = jobs[spec.id]
            assert job.coalesce is True
            assert job.misfire_grace_time == spec.misfire_grace_seconds
            assert job.args == (spec.id,)
            assert job.next_run_time is not None
    finally:
        scheduler.shutdown(wait=False)
