"""The job functions: plain async functions taking a :class:`~jobs.runner.JobContext` and returning counts.

Each does its database work in a worker thread (``asyncio.to_thread``) so a bot running the scheduler keeps
answering people while a job runs. Counts never hold personal data.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session, col, delete, select

from jobs.runner import JobContext
from mapping.areas import AreaRegistry
from mapping.gaps import Geography, compute_coverage
from mapping.input_files import InputFileError, read_input_file
from mapping.nesting import DistrictNames, load_nested_population
from mapping.population import PostcodePoints, load_postcode_points, postcode_proxy
from mapping.spreadsheet import csv_writer
from services_db import access, importer, repository
from services_db.boundaries import load_boundary_index
from services_db.models import (
    Account,
    CoverageSnapshot,
    OutboxMessage,
    PendingUpload,
    ReminderSent,
    ScheduledImport,
    Service,
)
from services_db.retention import purge_expired
from services_db.staleness import Reminder, stale_reminders
from services_db.stats import signposting_counts

__all__ = ["coverage_snapshot", "retention", "scheduled_imports", "staleness_reminders", "statistics"]

log = logging.getLogger(__name__)

MAX_FETCH_BYTES = 20 * 1024 * 1024  # the same limit as a chat upload
FETCH_TIMEOUT_S = 60.0


# --- retention ------------------------------------------------------------------------------------------


async def retention(context: JobContext) -> Mapping[str, Any]:
    """Delete conversation state past its expiry and upload previews nobody confirmed."""
    return await asyncio.to_thread(_retention, context)


def _retention(context: JobContext) -> dict[str, int]:
    now = context.clock()
    with Session(context.engine) as session:
        conversations = purge_expired(session=session, now=now)
        uploads = session.exec(delete(PendingUpload).where(col(PendingUpload.expires_at) <= now)).rowcount  # type: ignore[call-overload]
        session.commit()
    return {"conversations_deleted": conversations, "upload_previews_deleted": int(uploads or 0)}


# --- statistics -----------------------------------------------------------------------------------------

STATISTICS_EXPORTS: Mapping[str, tuple[str, ...]] = {
    "signposting_by_week_pfa.csv": ("week", "pfa_code", "strand", "outcome"),
    "signposting_by_week_lad.csv": ("week", "lad_code", "pfa_code", "strand", "outcome"),
    "signposting_by_pfa.csv": ("pfa_code", "strand", "outcome"),
}


async def statistics(context: JobContext) -> Mapping[str, Any]:
    """Roll the bot's anonymous signposting counts up by week and area into CSV exports, small numbers suppressed.

    Files go to ``<data dir>/statistics/``; a cell under 5 is written as ``<5``. Each file is replaced whole.
    """
    return await asyncio.to_thread(_statistics, context)


def _statistics(context: JobContext) -> dict[str, int]:
    out_dir = context.data_dir / "statistics"
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    suppressed = 0
    with Session(context.engine) as session:
        for name, fields in STATISTICS_EXPORTS.items():
            rows = signposting_counts(session=session, suppress_under=5, group_by=fields)  # type: ignore[arg-type]
            buffer = io.StringIO()
            writer = csv_writer(buffer, lineterminator="\n")
            writer.writerow([*fields, "count"])
            for row in rows:
                writer.writerow([getattr(row, f) or "" for f in fields] + ["<5" if row.suppressed else row.count])
                suppressed += row.suppressed
            _write_atomically(out_dir / name, buffer.getvalue())
            counts[name.removesuffix(".csv")] = len(rows)
    counts["suppressed_cells"] = suppressed
    return counts


def _write_atomically(path: Path, text: str) -> None:
    temp = path.with_suffix(path.suffix + ".tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


# --- staleness reminders --------------------------------------------------------------------------------


async def staleness_reminders(context: JobContext) -> Mapping[str, Any]:
    """Tell each commissioner's editors about their stale services, once per service per stale period.

    A service is reminded about once for each ``verified_on`` date: verifying it (a new date) starts a new
    period. Each reminder goes to the outbox (``signpost outbox``); when the bot is running, it is also sent
    on Telegram to recipients who registered a Telegram account.
    """
    pending = await asyncio.to_thread(_queue_reminders, context)
    delivered = 0
    if context.notify is not None:
        for message_id, reminder in pending:
            sent = [
                await context.notify(r.telegram_user_id, reminder.text)
                for r in reminder.recipients
                if r.telegram_user_id
            ]
            if any(sent):
                delivered += 1
                await asyncio.to_thread(_mark_delivered, context, message_id)
    return {
        "reminders": len(pending),
        "delivered_on_telegram": delivered,
        "services": sum(len(r.service_ids) for _, r in pending),
        "unconfirmed": sum(len(r.unconfirmed_ids) for _, r in pending),
    }


def _queue_reminders(context: JobContext) -> list[tuple[int, Reminder]]:
    now = context.clock()
    queued: list[tuple[int, Reminder]] = []
    with Session(context.engine, expire_on_commit=False) as session:
        for reminder in stale_reminders(session=session, now=now, older_than_days=context.stale_after_days):
            records = _stale_records(session, reminder)
            fresh = [sid for sid, verified in records if session.get(ReminderSent, (sid, verified)) is None]
            # Stale entries are reminded about once per check date; unconfirmed ones every week until handled.
            if not fresh and not reminder.unconfirmed_ids:
                continue
            for sid, verified in records:
                if session.get(ReminderSent, (sid, verified)) is None:
                    session.add(ReminderSent(service_id=sid, verified_on=verified, sent_at=now))
            message = OutboxMessage(
                created_at=now,
                commissioner_code=reminder.commissioner_code,
                recipient=", ".join(r.name for r in reminder.recipients),
                subject=reminder.subject,
                body=reminder.text,
            )
            session.add(message)
            session.flush()
            assert message.id is not None
            queued.append((message.id, reminder))
        session.commit()
    return queued


def _stale_records(session: Session, reminder: Reminder) -> list[tuple[str, Any]]:
    rows = session.exec(
        select(col(Service.id), col(Service.verified_on)).where(col(Service.id).in_(reminder.service_ids))
    )
    return [(sid, verified) for sid, verified in rows]


def _mark_delivered(context: JobContext, message_id: int) -> None:
    with Session(context.engine) as session:
        message = session.get(OutboxMessage, message_id)
        if message is not None:
            message.delivered_at, message.delivered_via = context.clock(), "telegram"
            session.add(message)
            session.commit()


# --- scheduled imports ----------------------------------------------------------------------------------


async def scheduled_imports(context: JobContext) -> Mapping[str, Any]:
    """Fetch each registered published list and import it through the same validation and authorisation.

    A failed fetch, an invalid file or a refused change changes nothing; the commissioner's editors are told
    through the outbox. The import runs with the rights of the account that registered it.
    """
    with Session(context.engine) as session:
        schedules = [(s.id, s.source) for s in session.exec(select(ScheduledImport).order_by(col(ScheduledImport.id)))]
    counts = {"sources": len(schedules), "applied": 0, "unchanged": 0, "failed": 0}
    async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=True) as client:
        for schedule_id, source in schedules:
            assert schedule_id is not None
            fetched = await _fetch(client, source)
            outcome = await asyncio.to_thread(_import_one, context, schedule_id, source, fetched)
            counts[outcome] += 1
    return counts


async def _fetch(client: httpx.AsyncClient, source: str) -> bytes | str:
    """The file's bytes, or a message saying why it could not be fetched."""
    try:
        if source.startswith(("http://", "https://")):
            async with client.stream("GET", source) as response:
                if response.status_code != 200:
                    return f"fetching {source} answered HTTP {response.status_code}"
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_FETCH_BYTES:
                        return f"{source} is larger than {MAX_FETCH_BYTES // (1024 * 1024)} MB"
                    chunks.append(chunk)
                return b"".join(chunks)
        return read_input_file(source, limit=MAX_FETCH_BYTES, what="the published services list")
    except InputFileError as exc:
        return str(exc)
    except (httpx.HTTPError, OSError) as exc:
        return f"could not fetch {source}: {exc.__class__.__name__}: {exc}"


def _import_one(context: JobContext, schedule_id: int, source: str, fetched: bytes | str) -> str:
    now = context.clock()
    with Session(context.engine, expire_on_commit=False) as session:
        schedule = session.get(ScheduledImport, schedule_id)
        assert schedule is not None
        account = session.get(Account, schedule.account_id)
        outcome, summary = _plan_and_apply(session, account, source, fetched, now)
        schedule.last_run_at, schedule.last_outcome = now, summary[:300]
        session.add(schedule)
        if outcome == "failed":
            session.add(
                OutboxMessage(
                    created_at=now,
                    commissioner_code=account.commissioner_code if account else None,
                    recipient=account.name if account else "",
                    subject=f"Scheduled import of {source} did not apply",
                    body=f"Signpost fetched your published list from {source} and changed nothing:\n{summary}",
                )
            )
        session.commit()
    return outcome


def _plan_and_apply(
    session: Session, account: Account | None, source: str, fetched: bytes | str, now: datetime
) -> tuple[str, str]:
    if account is None or account.revoked_at is not None or account.id is None:
        return "failed", "the account that registered this import is revoked: register it again"
    if isinstance(fetched, str):
        return "failed", fetched
    plan = importer.plan_import(session=session, data=fetched, name=Path(source).name or "published-list")
    if not plan.ok:
        lines = [str(p) for p in plan.problems[:20]]
        more = len(plan.problems) - len(lines)
        return "failed", "\n".join(lines + ([f"... and {more} more problems"] if more > 0 else []))
    principal = access.Principal(
        account.id, account.name, access.Role(account.role), account.commissioner_code, "scheduled import"
    )
    added, changed, removed = access.change_set_parts(plan)
    decision = access.authorise_changes(
        session=session, principal=principal, added=added, changed=changed, removed=removed, rows=plan.rows, now=now
    )
    if not decision.allowed:
        return "failed", "refused: " + decision.message
    if not (added or changed or removed):
        return "unchanged", "no changes"
    report = importer.apply_import(session=session, plan=plan, actor=principal.actor)
    if not report.applied:
        return "failed", "; ".join(p.message for p in report.problems[:10]) or "not applied"
    return "applied", f"{len(report.created)} added, {len(report.updated)} changed, {len(report.closed)} closed"


# --- coverage snapshot ----------------------------------------------------------------------------------


async def coverage_snapshot(context: JobContext) -> Mapping[str, Any]:
    """Store today's third-party reporting coverage per force area and strand (% of population covered), as two
    series: local provision, and with national services merged (``CoverageSnapshot.scope``).

    Uses the stored boundaries when `signpost geography load` has run, else the 5 km grid; population from
    ``context.options["population"]`` (LSOA centroids, path or URL, with ``"census"`` counts when separate),
    each LSOA in its district by the ONS nesting (``"lsoa_lookup"``, ``"partial"`` as the report's options),
    else the postcode-count proxy. Each row records which method it used. A second run on the same day
    replaces that day's rows.
    """
    return await asyncio.to_thread(_coverage_snapshot, context)


def _coverage_snapshot(context: JobContext) -> dict[str, Any]:
    today = context.clock().date()
    registry = AreaRegistry.default()
    with Session(context.engine) as session:
        services = repository.list_services(session=session)
        index = load_boundary_index(session=session)
    pfa_set = index.boundary_set("pfa") if index else None
    lad_set = index.boundary_set("lad") if index else None
    postcodes: PostcodePoints | None = None
    if pfa_set is not None and lad_set is not None:
        geography = Geography.from_boundaries(
            pfas=pfa_set.boundaries,
            lads=lad_set.boundaries,
            pfa_for_lad=registry.pfa_for_lad,
            vintage=f"PFA {pfa_set.vintage}, LAD {lad_set.vintage}",
        )
    else:
        postcodes = load_postcode_points()
        names = {a.code: a.name for a in (*registry.pfas(), *registry.lads())}
        geography = Geography.grid(postcodes, pfa_for_lad=registry.pfa_for_lad, names=names)
    source = context.options.get("population")
    if source:
        districts = DistrictNames.of({a.code: a.name for a in registry.lads()})
        population = load_nested_population(
            source,
            context.options.get("census"),
            districts=districts,
            lookup=context.options.get("lsoa_lookup"),
            partial=bool(context.options.get("partial", False)),
        )
    else:
        population = postcode_proxy(postcodes or load_postcode_points())
    method = f"{population.basis.label}; {geography.basis.value} {geography.vintage}"[:200]
    # Two series: local provision (what the report shows by default) and with national services merged (a
    # national service makes every area 100%, so that series alone would hide every local change).
    results = {
        scope: compute_coverage(
            services, population, geography, levels=("pfa",), gaps=False, include_national=scope == "with_national"
        )
        for scope in ("local", "with_national")
    }
    with Session(context.engine) as session:
        session.exec(delete(CoverageSnapshot).where(col(CoverageSnapshot.taken_on) == today))  # type: ignore[call-overload]
        for scope, result in results.items():
            for row in result.rows_for_level("pfa"):
                session.add(
                    CoverageSnapshot(
                        taken_on=today,
                        level="pfa",
                        area_code=row.code,
                        strand=row.strand,
                        population=row.population,
                        population_covered=row.population_covered,
                        method=method,
                        scope=scope,
                    )
                )
        session.commit()
    local = results["local"]
    out: dict[str, Any] = {"areas": len(local.rows_for("pfa")), "rows": len(local.rows_for_level("pfa"))}
    for scope, result in results.items():
        total, covered = result.totals()
        out[f"pct_population_covered_{scope}"] = round(100.0 * covered / total, 2) if total else 0.0
    out["method"] = method
    return out
