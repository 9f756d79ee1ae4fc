"""The one schedule registry: every job, its trigger, and the APScheduler 3 set-up that runs them.

Jobs live in the project's database (APScheduler's SQLAlchemyJobStore on the ``apscheduler_jobs`` table, which
the migrations own), so restarts neither lose nor duplicate them: each job has an explicit id and is added with
``replace_existing=True``. The stored job is a textual reference to :func:`run_registered` plus the job id;
the process that runs the scheduler installs the :class:`~jobs.runner.JobContext` with :func:`install_context`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from jobs import tasks
from jobs.runner import JobContext, JobFunction, JobOutcome, run_job

__all__ = ["JOBS", "JobSpec", "build_scheduler", "install_context", "job_spec", "run_now", "run_registered"]

TIMEZONE = "Europe/London"


@dataclass(frozen=True)
class JobSpec:
    id: str
    title: str
    function: JobFunction
    trigger: Callable[[], BaseTrigger]
    misfire_grace_seconds: int
    schedule: str  # for people: when it runs


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        "coverage-snapshot",
        "Nightly coverage snapshot (per force area and strand)",
        tasks.coverage_snapshot,
        lambda: CronTrigger(hour=2, minute=30, timezone=TIMEZONE),
        6 * 3600,
        "daily 02:30",
    ),
    JobSpec(
        "staleness-reminders",
        "Weekly staleness reminders to commissioners' editors",
        tasks.staleness_reminders,
        lambda: CronTrigger(day_of_week="mon", hour=9, minute=0, timezone=TIMEZONE),
        24 * 3600,
        "Mondays 09:00",
    ),
    JobSpec(
        "retention",
        "Hourly retention: expired conversation state and leftover uploads",
        tasks.retention,
        lambda: IntervalTrigger(hours=1, timezone=TIMEZONE),
        1800,
        "hourly",
    ),
    JobSpec(
        "statistics",
        "Daily signposting statistics roll-up (small numbers suppressed)",
        tasks.statistics,
        lambda: CronTrigger(hour=3, minute=30, timezone=TIMEZONE),
        6 * 3600,
        "daily 03:30",
    ),
    JobSpec(
        "scheduled-imports",
        "Daily fetch of commissioners' published service lists",
        tasks.scheduled_imports,
        lambda: CronTrigger(hour=5, minute=0, timezone=TIMEZONE),
        6 * 3600,
        "daily 05:00",
    ),
)

_CONTEXT: JobContext | None = None


def job_spec(job_id: str) -> JobSpec:
    for spec in JOBS:
        if spec.id == job_id:
            return spec
    raise KeyError(f"unknown job {job_id!r}: one of {', '.join(s.id for s in JOBS)}")


def install_context(context: JobContext) -> None:
    """Give this process's scheduled runs their context (engine, clock, notifier)."""
    global _CONTEXT
    _CONTEXT = context


async def run_registered(job_id: str) -> JobOutcome:
    """What the job store calls: run one registered job with the installed context."""
    if _CONTEXT is None:
        raise RuntimeError("install_context() must be called before the scheduler starts")
    return await run_now(job_id, _CONTEXT)


async def run_now(job_id: str, context: JobContext) -> JobOutcome:
    spec = job_spec(job_id)
    return await run_job(spec.id, spec.function, context)


def build_scheduler(engine: Engine, context: JobContext) -> AsyncIOScheduler:
    """A scheduler on the project's database with every registered job (idempotent across restarts)."""
    install_context(context)
    scheduler = AsyncIOScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone=TIMEZONE,
    )
    for spec in JOBS:
        scheduler.add_job(
            "jobs.schedule:run_registered",
            trigger=spec.trigger(),
            args=[spec.id],
            id=spec.id,
            name=spec.title,
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=spec.misfire_grace_seconds,
        )
    return scheduler
