"""`signpost jobs list|run-now|runs|serve`: the scheduled jobs, on their own or beside the bot."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from mapping.input_files import InputFileError, check_input_file
from services_db.limits import MAX_ROW_ID
from signpost import wiring
from signpost.cli.console import escape, fail

# The scheduler, the jobs and the ORM are imported inside the commands: --help should not pay for them.

app = typer.Typer(no_args_is_help=True, help="Scheduled jobs: reports, reminders, retention and statistics.")
console = Console()
errors = Console(stderr=True)


@app.command("list")
def list_jobs() -> None:
    """List every registered job with its schedule and last run."""
    from sqlmodel import Session, col, select

    from jobs.schedule import JOBS
    from services_db.models import JobRun

    engine = wiring.database()
    table = Table("id", "what", "when", "last run", "outcome")
    with Session(engine) as session:
        for spec in JOBS:
            last = session.exec(
                select(JobRun).where(JobRun.job_id == spec.id).order_by(col(JobRun.started_at).desc()).limit(1)
            ).first()
            table.add_row(
                spec.id,
                spec.title,
                spec.schedule,
                f"{last.started_at:%Y-%m-%d %H:%M} UTC" if last else "never",
                (last.outcome + (f": {last.error}" if last.error else "")) if last else "",
            )
    console.print(table)


@app.command("run-now")
def run_now_command(job_id: str = typer.Argument(..., help="A job id from `signpost jobs list`.")) -> None:
    """Run one job now (under its lease, recorded like a scheduled run)."""
    from jobs.schedule import job_spec, run_now

    try:
        job_spec(job_id)
    except KeyError as exc:
        fail(str(exc.args[0]))
    outcome = asyncio.run(run_now(job_id, wiring.job_context()))
    colour = {"ok": "green", "skipped": "yellow"}.get(outcome.outcome, "red")
    console.print(f"[{colour}]{job_id}: {outcome.outcome}[/{colour}] {json.dumps(dict(outcome.counts))}")
    if outcome.error:
        console.print(outcome.error)
    if outcome.outcome == "failed":
        raise typer.Exit(1)


@app.command("runs")
def runs(job_id: str | None = typer.Option(None, "--job"), limit: int = typer.Option(20, min=1, max=10_000)) -> None:
    """Show the most recent recorded runs."""
    from sqlmodel import Session, col, select

    from services_db.models import JobRun

    engine = wiring.database()
    table = Table("job", "started (UTC)", "took", "outcome", "counts / error")
    with Session(engine) as session:
        query = select(JobRun).order_by(col(JobRun.started_at).desc()).limit(limit)
        if job_id:
            query = query.where(JobRun.job_id == job_id)
        for run in session.exec(query):
            took = f"{(run.finished_at - run.started_at).total_seconds():.1f}s" if run.finished_at else ""
            table.add_row(
                run.job_id,
                f"{run.started_at:%Y-%m-%d %H:%M:%S}",
                took,
                run.outcome,
                run.error or json.dumps(run.counts),
            )
    console.print(table)


@app.command("serve")
def serve() -> None:
    """Run the scheduler on its own until interrupted (the bot can run it too: `signpost bot --with-jobs`)."""
    from jobs.schedule import JOBS, build_scheduler

    engine = wiring.database()

    async def main() -> None:
        scheduler = build_scheduler(engine, wiring.job_context())
        scheduler.start()
        console.print(f"Scheduler running {len(JOBS)} jobs; Ctrl+C to stop.")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        scheduler.shutdown(wait=True)

    asyncio.run(main())


imports_app = typer.Typer(no_args_is_help=True, help="Commissioners' published lists, fetched on a schedule.")
app.add_typer(imports_app, name="imports")


@imports_app.command("add")
def imports_add(
    source: str = typer.Argument(..., help="An https URL or a file path of the published services list."),
    account: int = typer.Option(
        ..., "--account", min=1, max=MAX_ROW_ID, help="The PCC editor account whose rights the import uses."
    ),
) -> None:
    """Register a published list; the daily job imports it through the same validation as `services import`."""
    from sqlmodel import Session

    from jobs.tasks import MAX_FETCH_BYTES
    from services_db.models import Account, ScheduledImport

    if not source.startswith(("https://", "http://")):
        try:
            check_input_file(source, limit=MAX_FETCH_BYTES, what="the published services list (or an https URL)")
        except InputFileError as exc:
            fail(str(exc))
    engine = wiring.database()
    with Session(engine) as session:
        owner = session.get(Account, account)
        if owner is None or owner.revoked_at is not None or owner.role != "pcc_editor":
            fail(f"account {account} is not an active pcc_editor: see `signpost accounts list`")
        schedule = ScheduledImport(account_id=account, source=source, created_at=datetime.now(UTC))
        session.add(schedule)
        session.commit()
        console.print(f"Registered scheduled import {schedule.id}: {escape(source)} as {escape(owner.name)}")


@imports_app.command("list")
def imports_list() -> None:
    """List the registered published lists and how their last fetch went."""
    from sqlmodel import Session, col, select

    from services_db.models import Account, ScheduledImport

    engine = wiring.database()
    table = Table("id", "source", "account", "last run (UTC)", "last outcome")
    with Session(engine) as session:
        for schedule in session.exec(select(ScheduledImport).order_by(col(ScheduledImport.id))):
            owner = session.get(Account, schedule.account_id)
            last = f"{schedule.last_run_at:%Y-%m-%d %H:%M}" if schedule.last_run_at else "never"
            table.add_row(str(schedule.id), schedule.source, owner.name if owner else "?", last, schedule.last_outcome)
    console.print(table)


@imports_app.command("remove")
def imports_remove(schedule_id: int = typer.Argument(..., min=1, max=MAX_ROW_ID)) -> None:
    """Stop fetching a published list."""
    from sqlmodel import Session

    from services_db.models import ScheduledImport

    engine = wiring.database()
    with Session(engine) as session:
        schedule = session.get(ScheduledImport, schedule_id)
        if schedule is None:
            fail(f"no scheduled import {schedule_id}: see `signpost jobs imports list`")
        session.delete(schedule)
        session.commit()
    console.print(f"Removed scheduled import {schedule_id}")


def register_outbox(main: typer.Typer) -> None:
    """`signpost outbox`: messages for staff that no chat delivered (e.g. staleness reminders)."""

    @main.command("outbox")
    def outbox(
        keep: bool = typer.Option(False, "--keep", help="Show without marking them as delivered."),
        show_all: bool = typer.Option(False, "--all", help="Include messages already delivered."),
    ) -> None:
        """Print undelivered messages for staff, then mark them delivered (unless --keep)."""
        from sqlmodel import Session, col, select

        from services_db.models import OutboxMessage

        engine = wiring.database()
        with Session(engine) as session:
            query = select(OutboxMessage).order_by(col(OutboxMessage.created_at))
            if not show_all:
                query = query.where(col(OutboxMessage.delivered_at).is_(None))
            messages = session.exec(query).all()
            if not messages:
                console.print("The outbox is empty.")
                return
            now = datetime.now(UTC)
            for message in messages:
                to = message.recipient or "editors"
                console.rule(f"{message.created_at:%Y-%m-%d %H:%M} · {message.commissioner_code or 'admins'} · {to}")
                console.print(f"[bold]{message.subject}[/bold]")
                console.print(message.body, markup=False, highlight=False)
                if not keep and message.delivered_at is None:
                    message.delivered_at, message.delivered_via = now, "cli"
                    session.add(message)
            session.commit()
