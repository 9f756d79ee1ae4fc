"""`signpost services list|show|seed|history|restore|verify|close` (import, export and template: services_io.py)."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mapping.types import (
    AreaCoverage,
    NationalCoverage,
    RadiusCoverage,
    ServiceKind,
    ServiceRecord,
    ServiceStatus,
)
from services_db.convert import record_to_dict
from services_db.errors import DirectoryError, ServiceNotFound
from services_db.limits import MAX_ROW_ID
from signpost import wiring
from signpost.cli.console import escape, escape_controls, fail
from signpost.cli.operator import operator_actor

if TYPE_CHECKING:  # the database loads only when a command runs (never for --help); the ORM (repository,
    # sessions) only for commands that write or read history: `list` and `show` read through services_db.reading
    from sqlmodel import Session

    from mapping.coverage import AreaGeometryLookup

app = typer.Typer(
    no_args_is_help=True,
    help="The services directory: list, show, history, restore, verify, seed, import, export, template.",
)
console = Console()
errors = Console(stderr=True)

ActorOption = Annotated[
    str | None, typer.Option("--actor", help="On whose behalf the operator acts (added to the audit trail).")
]


@app.command("list")
def list_command(
    kind: Annotated[list[ServiceKind] | None, typer.Option("--kind", help="Only these kinds (repeatable).")] = None,
    status: Annotated[ServiceStatus | None, typer.Option("--status", help="Only services with this status.")] = None,
    commissioner: Annotated[str | None, typer.Option("--commissioner", help="Only this commissioner's.")] = None,
    unconfirmed: Annotated[
        bool,
        typer.Option(
            "--unconfirmed",
            help="Only entries from public pages not yet confirmed (not closed): confirm with `verify`, correct by"
            " import, or close.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records instead of a table.")] = False,
) -> None:
    """List the services in the directory."""
    from services_db import reading

    with wiring.database_for_reading().connect() as connection:
        records = reading.list_services(
            connection=connection, status=status, kinds=kind or None, commissioner_code=commissioner
        )
    if unconfirmed:
        records = [r for r in records if not r.confirmed and r.status is not ServiceStatus.CLOSED]
    if as_json:
        _print_json([record_to_dict(r) for r in records])
        return
    table = Table(title=f"{len(records)} services")
    # Ids are what `show`, `history` and `verify` take: never cut them short, whatever the terminal width.
    table.add_column("id", no_wrap=True, min_width=max((len(r.id) for r in records), default=2))
    for column in ("name", "kind", "coverage", "status", "verified", "v"):
        table.add_column(column)
    for r in records:
        flag = " [yellow](caveat)[/]" if r.caveat else ""
        table.add_row(
            r.id,
            escape(r.name) + flag,
            r.kind.value,
            _coverage_text(r),
            r.status.value,
            str(r.verified_on) if r.verified_on else "[yellow]unconfirmed[/]",
            str(r.version),
        )
    console.print(table)


@app.command("show")
def show_command(
    service_id: Annotated[str, typer.Argument(help="The service's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON record.")] = False,
) -> None:
    """Show one service in full."""
    from services_db import reading

    with wiring.database_for_reading().connect() as connection:
        record = reading.get_service(connection=connection, service_id=service_id)
    if record is None:
        fail(ServiceNotFound(service_id).message)
    if as_json:
        _print_json(record_to_dict(record))
        return
    console.print(service_table(record))


def service_table(record: ServiceRecord) -> Table:
    """What `show` prints: every field of one service that has a value, one a line."""
    table = Table(title=Text(escape_controls(record.name)), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    rows: list[tuple[str, str | Text]] = [
        ("id", record.id),
        ("organisation", record.organisation),
        ("kind", record.kind.value),
        ("strands", ", ".join(sorted(s.value for s in record.strands)) or "all"),
        ("local strands", ", ".join(record.local_strands)),
        ("commissioner", record.commissioner_code or ""),
        ("description", record.description),
        *((f"{c.kind.value}", f"{c.value}" + (f" ({c.note})" if c.note else "")) for c in record.channels),
        ("languages", ", ".join(record.languages)),
        ("hours", _hours_text(record)),
        ("eligibility", record.eligibility),
        ("coverage", _coverage_text(record)),
        ("status", record.status.value),
        ("source", record.source_url),
        ("confirmation", record.confirmation.value),
        ("verified on", str(record.verified_on or "")),
        ("page date", str(record.page_date or "")),
        ("communities", ", ".join(record.communities)),
        ("ages", _ages_text(record)),
        ("residents only", "yes" if record.residents_only else ""),
        ("caveat", Text(escape_controls(record.caveat), style="yellow") if record.caveat else ""),
        *_translation_rows(record),
        ("version", f"{record.version} (updated {record.updated_at:%Y-%m-%d %H:%M} UTC)" if record.updated_at else ""),
    ]
    for name, value in rows:
        if value:  # Text, never markup: "[/free]" in a note is shown as written
            table.add_row(name, value if isinstance(value, Text) else Text(escape_controls(value)))
    return table


def _translation_rows(record: ServiceRecord) -> list[tuple[str, str | Text]]:
    """The Welsh and Easy Read text under the template's column names (name_cy, summary_easy, ...)."""
    rows: list[tuple[str, str | Text]] = []
    for language, fields in record.translations.items():
        for name, value in fields.items():
            text = "; ".join(f"{k} [{v}]" for k, v in value.items()) if name == "notes" else str(value)
            rows.append((f"{name}_{language}", text))
    missing = {"cy": "Welsh", "easy": "Easy Read"}
    if record.untranslated():
        rows.append(("untranslated", Text(", ".join(missing[m] for m in record.untranslated()), style="yellow")))
    return rows


@app.command("seed")
def seed_command(actor: ActorOption = None) -> None:
    """Apply the shipped national directory again, without touching services users added or changed."""
    with _session() as session:
        try:
            from services_db.seed import seed as seed_directory

            report = seed_directory(session=session, actor=operator_actor(actor or "seed"), areas=_areas(session))
        except DirectoryError as exc:
            fail(exc.message)
    console.print(
        f"[green]National directory applied[/]: {len(report.created)} added, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.retired)} retired."
    )
    if report.kept_user_changes:
        console.print(f"Left as users changed them: {', '.join(report.kept_user_changes)}")


def _short(value: Any, limit: int = 60) -> str:
    text = "-" if value in (None, "", [], {}) else value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _item(value: Any) -> str:
    if isinstance(value, dict) and "kind" in value and "value" in value:
        return _short(f"{value['kind']} {value['value']}")
    return _short(value)


def _changes(entry: Any) -> str:
    """One line per changed field, before -> after (the README promises both; --json has the full records)."""
    if entry.before is None or entry.after is None:
        return ", ".join(entry.changed_fields)
    before, after = record_to_dict(entry.before), record_to_dict(entry.after)
    lines = []
    for name in entry.changed_fields:
        old, new = before.get(name), after.get(name)
        if isinstance(old, list) and isinstance(new, list):
            # Lists (channels, strands): only what went and what came, not two long lists that look alike.
            gone = [_item(x) for x in old if x not in new]
            came = [_item(x) for x in new if x not in old]
            lines.append(f"{name}: " + "; ".join([*(f"- {g}" for g in gone), *(f"+ {c}" for c in came)]))
        elif name in before or name in after:
            lines.append(f"{name}: {_short(before.get(name))} -> {_short(after.get(name))}")
        else:
            lines.append(name)
    return "\n".join(lines)


@app.command("history")
def history_command(
    service_id: Annotated[str, typer.Argument(help="The service's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON entries.")] = False,
) -> None:
    """Every recorded change of one service: who, when, what changed."""
    from services_db import repository

    with _session() as session:
        entries = repository.history(session=session, service_id=service_id)
    if not entries:
        fail(f"no history for service {service_id!r}: check the id with `signpost services list`")
    if as_json:
        _print_json(
            [
                {
                    "version": e.version,
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "action": e.action,
                    "detail": e.detail,
                    "changed": list(e.changed_fields),
                    "before": record_to_dict(e.before) if e.before else None,
                    "after": record_to_dict(e.after) if e.after else None,
                }
                for e in entries
            ]
        )
        return
    table = Table(title=f"History of {service_id}")
    for column in ("version", "when (UTC)", "who", "action", "what changed"):
        table.add_column(column)
    for e in entries:
        changed = _changes(e) or e.detail or ("new entry" if e.before is None else "")
        table.add_row(str(e.version or ""), f"{e.at:%Y-%m-%d %H:%M}", escape(e.actor), e.action, escape(changed))
    console.print(table)
    console.print(f"Restore an earlier version with `signpost services restore {service_id} --version N`.")


@app.command("restore")
def restore_command(
    service_id: Annotated[str, typer.Argument(help="The service's id.")],
    version: Annotated[
        int, typer.Option("--version", min=1, max=MAX_ROW_ID, help="The version to bring back (see history).")
    ],
    actor: ActorOption = None,
) -> None:
    """Bring back an earlier version of a service, saved as a new version."""
    from services_db import repository

    with _session() as session:
        if not repository.history(session=session, service_id=service_id):
            fail(f"no service with id {service_id!r}: check the id with `signpost services list`")
        before = repository.get_service(session=session, service_id=service_id)
        try:
            record = repository.restore(
                session=session, service_id=service_id, version=version, actor=_actor(actor), areas=_areas(session)
            )
        except DirectoryError as exc:
            fail(exc.message)
    if before is not None and record.version == before.version:
        console.print(
            f"Nothing changed: {service_id} already has the content of version {version} (it stays version"
            f" {record.version})."
        )
        return
    console.print(f"[green]Restored[/] {service_id} to the content of version {version}: now version {record.version}.")


@app.command("verify")
def verify_command(
    service_id: Annotated[str, typer.Argument(help="The service's id.")],
    on: Annotated[str | None, typer.Option("--on", help="Date checked, YYYY-MM-DD (default today).")] = None,
    actor: ActorOption = None,
) -> None:
    """Record that a person checked the service's details (sets verified_on; confirms an unconfirmed entry)."""
    from services_db import repository

    try:
        checked = date.fromisoformat(on) if on else date.today()
    except ValueError:
        fail(f"--on {on!r} is not a date: write it as YYYY-MM-DD, e.g. 2025-03-01")
    if checked > date.today():
        fail(f"--on {checked} is in the future: give the date the details were actually checked")
    with _session() as session:
        before = repository.get_service(session=session, service_id=service_id)
        try:
            record = repository.set_verified(session=session, service_id=service_id, on=checked, actor=_actor(actor))
        except DirectoryError as exc:
            fail(exc.message)
    if before is not None and record.version == before.version:
        console.print(
            f"Nothing changed: {service_id} was already verified on {record.verified_on} by the same person"
            f" (it stays version {record.version})."
        )
        return
    console.print(
        f"[green]Verified[/] {service_id} on {record.verified_on} ({record.confirmation.value};"
        f" version {record.version})."
    )


@app.command("close")
def close_command(
    service_id: Annotated[str, typer.Argument(help="The service's id.")],
    actor: ActorOption = None,
) -> None:
    """Close a service that no longer runs (kept with its history; `restore` brings it back)."""
    from services_db import repository

    with _session() as session:
        try:
            record = repository.close_service(session=session, service_id=service_id, actor=_actor(actor))
        except DirectoryError as exc:
            fail(exc.message)
    console.print(f"[green]Closed[/] {service_id} (version {record.version}): no longer shown to anyone.")


def _session() -> Session:
    from sqlmodel import Session

    return Session(wiring.database(), expire_on_commit=False)


def _areas(session: Session) -> AreaGeometryLookup | None:
    """Loaded boundaries resolve area-coded and national coverage; without them services match by codes."""
    from services_db.boundaries import load_boundary_index

    index = load_boundary_index(session=session)
    return index.geometry if index is not None else None


def _actor(actor: str | None) -> str:
    return operator_actor(actor)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _ages_text(record: ServiceRecord) -> str:
    if record.min_age is None and record.max_age is None:
        return ""
    if record.max_age is None:
        return f"{record.min_age} and over"
    if record.min_age is None:
        return f"up to {record.max_age}"
    return f"{record.min_age} to {record.max_age}"


def _coverage_text(record: ServiceRecord) -> str:
    coverage = record.coverage
    if isinstance(coverage, NationalCoverage):
        return f"national ({coverage.nation.value})"
    if isinstance(coverage, AreaCoverage):
        return "areas " + ", ".join(coverage.area_codes)
    if isinstance(coverage, RadiusCoverage):
        return f"{coverage.radius_m / 1000:g} km around {coverage.lat:.4f}, {coverage.lon:.4f}"
    return "polygon"


def _hours_text(record: ServiceRecord) -> str:
    hours = record.hours
    parts = [hours.to_text() or "not known"]
    parts += [p for p in (hours.bank_holidays, hours.note) if p]
    return "; ".join(parts)
