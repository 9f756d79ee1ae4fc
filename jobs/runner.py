"""Run a job once: take the job's lease, record the run, never let one job's failure stop another.

A lease row per job (``job_lease``) makes sure two processes never run the same job at the same time: the
first to insert the row, or to take it over once it has expired, holds it until the run ends.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services_db.models import JobLease, JobRun

__all__ = ["JobContext", "JobOutcome", "acquire_lease", "release_lease", "run_job"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# Sends a message to a staff member on Telegram; returns False when it could not be delivered.
Notifier = Callable[[int, str], Awaitable[bool]]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class JobContext:
    """Everything a job function may use, handed in by the composition root."""

    engine: Engine
    data_dir: Path
    clock: Clock = utc_now
    stale_after_days: int = 183
    notify: Notifier | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    outcome: str  # ok | failed | skipped
    counts: Mapping[str, Any]
    error: str = ""
    run_id: int | None = None


JobFunction = Callable[[JobContext], Awaitable[Mapping[str, Any]]]

_HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire_lease(engine: Engine, job_id: str, *, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take the job's lease if nobody holds it (or the holder's lease has expired). Atomic on SQLite and PostgreSQL."""
    expires = now + ttl
    with Session(engine) as session:
        session.add(JobLease(job_id=job_id, holder=holder, expires_at=expires))
        try:
            session.commit()
            return True
        except IntegrityError:
            session.rollback()
        result = session.exec(  # type: ignore[call-overload]
            update(JobLease)
            .where(JobLease.job_id == job_id, JobLease.expires_at < now)  # type: ignore[arg-type]
            .values(holder=holder, expires_at=expires)
        )
        session.commit()
        return bool(result.rowcount == 1)


def release_lease(engine: Engine, job_id: str, *, holder: str) -> None:
    with Session(engine) as session:
        lease = session.get(JobLease, job_id)
        if lease is not None and lease.holder == holder:
            session.delete(lease)
            session.commit()


async def run_job(
    job_id: str,
    function: JobFunction,
    context: JobContext,
    *,
    lease_ttl: timedelta = timedelta(hours=2),
    holder: str = _HOLDER,
) -> JobOutcome:
    """Run ``function`` under the job's lease and record the run; a failure is recorded, not raised."""
    started = context.clock()
    if not acquire_lease(context.engine, job_id, holder=holder, now=started, ttl=lease_ttl):
        log.info("job %s is already running elsewhere; skipped", job_id)
        return _record(
            context,
            JobRun(
                job_id=job_id,
                started_at=started,
                finished_at=started,
                outcome="skipped",
                error="another process holds the lease",
                runner=holder,
            ),
        )
    run = JobRun(job_id=job_id, started_at=started, runner=holder)
    try:
        counts = dict(await function(context))
        run.counts, run.outcome = _jsonable(counts), "ok"
    except Exception as exc:  # a failed run is logged and retried on the next schedule
        log.exception("job %s failed", job_id)
        run.outcome, run.error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
    finally:
        release_lease(context.engine, job_id, holder=holder)
    run.finished_at = context.clock()
    return _record(context, run)


def _record(context: JobContext, run: JobRun) -> JobOutcome:
    with Session(context.engine, expire_on_commit=False) as session:
        session.add(run)
        session.commit()
        return JobOutcome(run.job_id, run.outcome, dict(run.counts), run.error, run.id)


def _jsonable(counts: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, int | float | str | bool) or v is None else str(v)) for k, v in counts.items()}
