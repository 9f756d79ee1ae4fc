"""`signpost services import|export|template`: files in and out of the directory (logic in services_db.importer)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from signpost import wiring
from signpost.cli.console import escape, fail
from signpost.cli.operator import operator_actor

if TYPE_CHECKING:  # the import machinery (geometry, phone numbers) and the ORM load only when a command here runs
    from sqlmodel import Session

    from mapping.coverage import AreaGeometryLookup
    from services_db.diff import ChangeSet
    from services_db.importer import ImportPlan
    from services_db.validation import Problem

console = Console()
errors = Console(stderr=True)

MAX_LISTED_PROBLEMS = 200
T = TypeVar("T")
FILE_FORMATS = ("csv", "geojson", "oruk")  # services_db.formats.FileFormat (a test keeps them equal)
FORMATS = ["auto", *FILE_FORMATS]


def _print_problems(problems: tuple[Problem, ...], *, title: str, style: str = "red") -> None:
    # One line per problem, never wrapped: people copy them into tickets and search for the row.
    errors.print(f"[bold {style}]{title}[/]")
    for problem in problems[:MAX_LISTED_PROBLEMS]:
        errors.print(str(problem), soft_wrap=True, markup=False, highlight=False)
    if len(problems) > MAX_LISTED_PROBLEMS:
        errors.print(f"... and {len(problems) - MAX_LISTED_PROBLEMS} more")


def _print_changes(changes: ChangeSet, *, show: int = 50) -> None:
    """The diff, at most ``show`` services per table (0: all), so a 5,000-row file stays readable."""
    console.print(f"[bold]{changes.summary()}[/]  (removal scope: {changes.scope.describe()})")

    def shown(items: Sequence[T]) -> tuple[Sequence[T], str | None]:
        if show <= 0 or len(items) <= show:
            return items, None
        return items[:show], f"... and {len(items) - show} more (--show 0 lists them all)"

    if changes.added:
        added, more = shown(changes.added)
        table = Table(title="added", title_style="green", caption=more)
        for column in ("id", "name", "kind", "coverage", "status"):
            table.add_column(column)
        for r in added:
            table.add_row(r.id, escape(r.name), r.kind.value, r.coverage.type.value, r.status.value)
        console.print(table)
    if changes.changed:
        changed, more = shown(changes.changed)
        table = Table(title="changed", title_style="yellow", caption=more)
        for column in ("id", "field", "before", "after"):
            table.add_column(column, overflow="fold")
        for change in changed:
            for n, f in enumerate(change.fields):
                table.add_row(change.service_id if n == 0 else "", f.column, escape(f.before), escape(f.after))
        console.print(table)
    if changes.removed:
        removed, more = shown(changes.removed)
        table = Table(title="removed (will be closed, never deleted)", title_style="red", caption=more)
        for column in ("id", "name", "commissioner"):
            table.add_column(column)
        for r in removed:
            table.add_row(r.id, escape(r.name), r.commissioner_code or "")
        console.print(table)


def _areas(session: Session) -> AreaGeometryLookup | None:
    """The stored boundaries' lookup (so area-coded coverage gets its geometry), or None when none are loaded."""
    from services_db.boundaries import load_boundary_index

    index = load_boundary_index(session=session)
    return index.geometry if index is not None else None


def _plan(session: Session, file: Path, fmt: str, replace_all: bool) -> ImportPlan:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    ) as progress:
        task = progress.add_task(f"reading {file.name}", total=None)

        from services_db.importer import plan_import

        def report(stage: str, done: int, total: int) -> None:
            progress.update(task, description=stage, completed=done, total=total)

        return plan_import(session=session, path=file, fmt=fmt, replace_all=replace_all, progress=report)


def import_command(
    file: Annotated[Path, typer.Argument(help="CSV, GeoJSON or Open Referral UK JSON file.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="auto, csv, geojson or oruk.")] = "auto",
    actor: Annotated[
        str | None, typer.Option("--actor", help="On whose behalf the operator imports (added to the audit trail).")
    ] = None,
    replace_all: Annotated[
        bool,
        typer.Option(
            "--replace-all",
            help="Close every stored service the file does not list (default: only those of the commissioners"
            " the file names).",
        ),
    ] = False,
    show: Annotated[
        int, typer.Option("--show", min=0, help="List at most this many services per change table (0: all).")
    ] = 50,
) -> None:
    """Import services from a file: every problem is listed at once; a real import is all or nothing."""
    if fmt not in FORMATS:
        fail(f"unknown --format {fmt!r}: use one of {', '.join(FORMATS)}")
    from sqlmodel import Session

    engine = wiring.database()
    with Session(engine, expire_on_commit=False) as session:
        plan = _plan(session, file, fmt, replace_all)
        if plan.warnings:
            _print_problems(plan.warnings, title="warnings (the import can go ahead)", style="yellow")
        if not plan.ok or plan.changes is None:
            _print_problems(plan.problems, title=f"{len(plan.problems)} problem(s): nothing was imported")
            raise typer.Exit(2)
        who = operator_actor(actor)
        _print_changes(plan.changes, show=show)
        if dry_run:
            console.print("[cyan]dry run: nothing was written[/]")
            return
        from services_db.importer import apply_import

        report = apply_import(session=session, plan=plan, actor=who, areas=_areas(session))
    if not report.applied:
        _print_problems(report.problems, title="nothing was imported")
        raise typer.Exit(2)
    console.print(
        f"[green]imported {report.file}: {len(report.created)} added, {len(report.updated)} changed,"
        f" {len(report.closed)} closed, {len(report.unchanged)} unchanged[/]"
    )


def export_command(
    fmt: Annotated[str, typer.Option("--format", help="csv, geojson or oruk.")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", help="File to write (default: standard output).")] = None,
) -> None:
    """Export the whole directory (every status) as CSV, GeoJSON or Open Referral UK JSON."""
    if fmt not in FILE_FORMATS:
        fail(f"unknown --format {fmt!r}: use csv, geojson or oruk")
    from sqlmodel import Session

    from services_db.importer import export_directory

    engine = wiring.database()
    with Session(engine, expire_on_commit=False) as session:
        text = export_directory(session=session, fmt=fmt, areas=_areas(session))
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    errors.print(f"[green]wrote {out}[/]")


def template_command(
    out: Annotated[Path, typer.Option("--out", help="Where to write the CSV template; the notes go beside it.")] = Path(
        "services_template.csv"
    ),
) -> None:
    """Write the CSV template (one example row) and a notes sheet explaining each column."""
    from services_db.formats.csv_format import TEMPLATE, template_notes

    notes = out.with_name(out.stem + "_notes.csv")
    try:
        out.write_bytes(TEMPLATE.read_bytes())
        notes.write_text(template_notes(), encoding="utf-8", newline="")
    except OSError as exc:
        fail(f"cannot write the template: {exc.strerror} ({exc.filename})")
    console.print(f"[green]wrote {out} (template with one example row) and {notes} (what each column means)[/]")


def register(app: typer.Typer) -> None:
    """Add ``import``, ``export`` and ``template`` to the ``signpost services`` group."""
    app.command("import")(import_command)
    app.command("export")(export_command)
    app.command("template")(template_command)
