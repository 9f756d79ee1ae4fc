"""`signpost coverage report`: the coverage-gap mapping exercise for analysts (logic in mapping.report.run)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from mapping.areas import AreaRegistry
from mapping.defaults import ANY, DEFAULT_RADIUS_M
from mapping.input_files import InputFileError, read_input_file
from mapping.spreadsheet import csv_writer
from mapping.types import ServiceKind, ServiceRecord, Strand
from signpost import wiring
from signpost.cli.console import fail

# mapping.report (and through it matplotlib), the geometry stack and the database are imported inside the
# commands that use them: --help would otherwise pay seconds of start-up for them.
if TYPE_CHECKING:
    from sqlmodel import Session

    from mapping.report.context import AreaExtra
    from mapping.report.run import BoundaryInput, ReportOptions, ReportOutcome

app = typer.Typer(no_args_is_help=True, help="Coverage-gap mapping of third-party reporting services.")
console = Console()
errors = Console(stderr=True)
LEVELS = ("pfa", "lad")


def _levels(text: str) -> tuple[str, ...]:
    levels = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    bad = [lv for lv in levels if lv not in LEVELS]
    if bad or not levels:
        fail(f"--level {text!r}: use pfa, lad or pfa,lad")
    return levels


def _services_from_file(path: Path, session: Session) -> list[ServiceRecord]:
    from services_db.formats import read_services
    from services_db.geometry_limits import geometry_size_problems
    from services_db.importer import default_context
    from services_db.validation import MAX_FILE_BYTES, validate_services

    try:
        data = read_input_file(path, limit=MAX_FILE_BYTES, what="a services file (CSV, GeoJSON or Open Referral UK)")
    except InputFileError as exc:
        fail(str(exc))
    parsed = read_services(data, name=str(path))
    problems = list(parsed.problems) or list(geometry_size_problems(parsed.services, file=parsed.file))
    records: list[ServiceRecord] = []
    if not problems:
        checked = validate_services(parsed.services, file=parsed.file, context=default_context(session=session))
        problems.extend(checked.problems)
        records = list(checked.records)
    if problems:
        shown = "\n  ".join(str(p) for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        fail(f"{path}: {len(problems)} problem(s), fix them and run again:\n  {shown}{more}")
    return records


def _boundaries(pfa: str | None, lad: str | None, session: Session) -> BoundaryInput | None:
    from mapping.boundaries import BoundaryError, load_boundaries
    from mapping.report.run import BoundaryInput
    from services_db.reports import stored_report_boundaries

    if (pfa is None) != (lad is None):
        fail("give both --pfa and --lad (or neither, to use the boundaries loaded with `signpost geography load`)")
    if pfa is not None and lad is not None:
        try:
            pfas, lads = load_boundaries(pfa, level="pfa"), load_boundaries(lad, level="lad")
        except BoundaryError as exc:
            fail(str(exc))
        vintage = f"PFA {pfas.vintage}, LAD {lads.vintage}"
        return BoundaryInput(pfas.boundaries, lads.boundaries, vintage, f"{pfa}, {lad}")
    return stored_report_boundaries(session=session)


def _demand(session: Session) -> list[AreaExtra]:
    from mapping.report.context import AreaExtra

    """The bot's anonymised signposting counts per area (any strand), counts under 5 suppressed."""
    from services_db.stats import signposting_counts

    out: list[AreaExtra] = []
    fields: tuple[tuple[str, Literal["pfa_code", "lad_code"]], ...] = (("pfa", "pfa_code"), ("lad", "lad_code"))
    for level, field in fields:
        rows = signposting_counts(session=session, suppress_under=5, group_by=(field, "strand"))
        values: dict[tuple[str, str], dict[str, str | float | int | None]] = {}
        for row in rows:
            code = getattr(row, field)
            if row.strand == ANY and code:
                values[(level, code)] = {"signposted_by_bot": "<5" if row.count is None else row.count}
        if values:
            out.append(
                AreaExtra(
                    "Demand: signposting by the bot",
                    ("signposted_by_bot",),
                    values,
                    note=(
                        "People the Telegram bot signposted, per area, all weeks, any strand: anonymous counts, "
                        "those under 5 shown as <5. Compare with coverage: high demand in a poorly covered area "
                        "is a gap people are feeling."
                    )
                    if level == "pfa"
                    else "",
                )
            )
    return out


@app.command("report")
def report(
    out: Annotated[Path, typer.Option("--out", help="Directory for the outputs (created if missing).")],
    kind: Annotated[
        list[ServiceKind] | None,
        typer.Option("--kind", help="Kinds that count as coverage (repeatable; default third_party_reporting)."),
    ] = None,
    strand: Annotated[list[Strand] | None, typer.Option("--strand", help="Strands to report (repeatable).")] = None,
    level: Annotated[str, typer.Option("--level", help="Area levels: pfa, lad or pfa,lad.")] = "pfa,lad",
    population: Annotated[
        str | None, typer.Option("--population", help="LSOA population-weighted centroids CSV (path or URL).")
    ] = None,
    census: Annotated[
        str | None, typer.Option("--census", help="Census usual residents per LSOA, if not in --population.")
    ] = None,
    lsoa_lookup: Annotated[
        str | None,
        typer.Option(
            "--lsoa-lookup", help="ONS LSOA -> LAD lookup CSV (path or URL), instead of the districts LSOA names give."
        ),
    ] = None,
    partial: Annotated[
        bool,
        typer.Option("--partial", help="Accept a population file covering only part of England and Wales (labelled)."),
    ] = False,
    pfa: Annotated[str | None, typer.Option("--pfa", help="Police Force Area boundaries (path or URL).")] = None,
    lad: Annotated[str | None, typer.Option("--lad", help="Local Authority District boundaries (path or URL).")] = None,
    recorded_crime: Annotated[
        str | None, typer.Option("--recorded-crime", help="Police-recorded hate crime per force (CSV).")
    ] = None,
    crime_year: Annotated[str | None, typer.Option("--crime-year", help="Year of --recorded-crime to use.")] = None,
    siting: Annotated[int, typer.Option("--siting", min=0, help="Propose K new third-party reporting centres.")] = 0,
    siting_radius_km: Annotated[
        float, typer.Option("--siting-radius-km", help="Service radius of a proposed centre, km.")
    ] = DEFAULT_RADIUS_M / 1000,
    include_national: Annotated[
        bool,
        typer.Option(
            "--include-national",
            help="Merge national services into the figures (by default they are listed beside local provision).",
        ),
    ] = False,
    services_file: Annotated[
        Path | None,
        typer.Option("--services", help="Read services from this file (CSV, GeoJSON, ORUK) instead of the directory."),
    ] = None,
) -> None:
    """Coverage of third-party reporting by force area and local authority: CSV, GeoJSON, HTML, PNG, summary."""
    from rich.markdown import Markdown

    from mapping.report.run import ReportOptions
    from mapping.report.summary import summary_lines

    levels = _levels(level)
    if siting_radius_km <= 0:
        fail("--siting-radius-km must be positive")
    services, source, boundaries, demand = _report_inputs(services_file, pfa, lad)
    options = ReportOptions(
        kinds=tuple(kind or (ServiceKind.THIRD_PARTY_REPORTING,)),
        strands=tuple(strand or ()),
        levels=levels,
        population=population,
        census=census,
        lsoa_lookup=lsoa_lookup,
        partial=partial,
        recorded_crime=recorded_crime,
        crime_year=crime_year,
        siting=siting,
        siting_radius_m=siting_radius_km * 1000,
        include_national=include_national,
        command=shlex.join(["signpost", *sys.argv[1:]]),
        parallel=True,  # this process does nothing else meanwhile: the maps are drawn on the second core
    )
    outcome = _run_with_progress(services, out, options, boundaries, demand, source)
    console.print(Markdown("\n".join(summary_lines(outcome.context))))
    console.print(f"Wrote {len(outcome.files)} files to {out}:")
    for path in outcome.files:
        console.print(f"  {path.name}", highlight=False)


def _report_inputs(
    services_file: Path | None, pfa: str | None, lad: str | None
) -> tuple[list[ServiceRecord], str, BoundaryInput | None, list[AreaExtra]]:
    """The services (from the file given, else the directory) and where they came from, the boundaries and the
    bot's demand counts."""
    from sqlmodel import Session

    engine = wiring.database()
    with Session(engine, expire_on_commit=False) as session:
        if services_file is not None:
            services = _services_from_file(services_file, session)
            source = str(services_file)
        else:
            from services_db.repository import list_services

            services = list_services(session=session)
            source = "the directory"
        boundaries = _boundaries(pfa, lad, session)
        demand = _demand(session)
    return services, source, boundaries, demand


def _run_with_progress(
    services: list[ServiceRecord],
    out: Path,
    options: ReportOptions,
    boundaries: BoundaryInput | None,
    demand: list[AreaExtra],
    source: str,
) -> ReportOutcome:
    """Run the report with a progress bar on stderr; a bad input ends the command with its message."""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from mapping.crime import CrimeError
    from mapping.gaps import CoverageInputError
    from mapping.population import PopulationError
    from mapping.report.run import run_report

    registry = AreaRegistry.default()
    names = {a.code: a.name for a in (*registry.pfas(), *registry.lads())}
    with Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=max(total, 1))
            bar.update(tasks[step], completed=done, total=max(total, 1))

        try:
            return run_report(
                services,
                out_dir=out,
                options=options,
                boundaries=boundaries,
                pfa_for_lad=registry.pfa_for_lad,
                area_names=names,
                demand=demand,
                services_source=source,
                progress=progress,
            )
        except (PopulationError, CrimeError, CoverageInputError, ValueError) as exc:
            bar.stop()
            fail(f"{exc}\nNothing was written.")


@app.command("history")
def history(
    area: Annotated[
        str | None, typer.Option("--area", help="A force area code (E23.../W15...); default: England and Wales.")
    ] = None,
    strand: Annotated[str, typer.Option("--strand", help="A strand, or 'any'.")] = ANY,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Also write the series as CSV.")] = None,
    png_out: Annotated[Path | None, typer.Option("--png", help="Also draw the series as a PNG chart.")] = None,
    include_national: Annotated[
        bool, typer.Option("--include-national", help="The series with national services merged (default: local).")
    ] = False,
) -> None:
    """Coverage over time, from the nightly snapshots (`signpost jobs run-now coverage-snapshot` takes one now)."""
    from sqlmodel import Session

    from mapping.report.history import draw_history
    from services_db.snapshots import snapshot_series

    if strand != ANY and strand not in {s.value for s in Strand}:
        fail(f"unknown strand {strand!r}: use any, {', '.join(s.value for s in Strand)}")
    registry = AreaRegistry.default()
    if area is not None:
        area = area.strip().upper()
        info = registry.area(area)
        if info is None or info.level != "pfa":
            fail(f"{area} is not a police force area code (E23000001-E23000039, W15000001-W15000004)")
    engine = wiring.database()
    with Session(engine) as session:
        scope = "with_national" if include_national else "local"
        series = snapshot_series(session=session, area_code=area, strand=strand, scope=scope)
    named = registry.area(area) if area else None
    where = named.name if named is not None else "England and Wales"
    if not series:
        console.print(f"No coverage snapshots for {where} yet: run `signpost jobs run-now coverage-snapshot`.")
        return
    table = Table(
        "date",
        "population",
        "covered",
        "% covered",
        "method",
        title=f"Coverage over time: {where}, {strand}, {'local and national' if include_national else 'local'}",
    )
    for point in series:
        table.add_row(
            point.taken_on.isoformat(),
            f"{point.population:,.0f}",
            f"{point.population_covered:,.0f}",
            f"{point.pct:.1f}%" if point.pct is not None else "-",
            point.method,
        )
    console.print(table)
    if csv_out:
        with csv_out.open("w", newline="", encoding="utf-8") as fh:
            writer = csv_writer(fh)
            writer.writerow(
                ["taken_on", "area", "strand", "population", "population_covered", "pct", "method", "scope"]
            )
            for p in series:
                pct = f"{p.pct:.2f}" if p.pct is not None else ""
                row = [p.taken_on, area or "E+W", strand, f"{p.population:.0f}", f"{p.population_covered:.0f}", pct]
                writer.writerow([*row, p.method, scope])
        console.print(f"Wrote {csv_out}")
    if png_out:
        what = "local and national services" if include_national else "local services only"
        draw_history(series, title=f"Third-party reporting coverage: {where} ({strand}, {what})", path=png_out)
        console.print(f"Wrote {png_out}")
