"""`signpost locate FILE [--out FILE]`: one postcode, place or "lat,lon" per line -> CSV of locations."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from mapping.areas import AreaRegistry
from mapping.input_files import LINES_FILE_BYTES, InputFileError, read_input_file, read_stream
from mapping.locate import Ambiguous, Located, LocateResult, Locator
from mapping.places import Gazetteer
from mapping.postcodes import PostcodeDirectory
from mapping.spreadsheet import csv_writer
from signpost import wiring
from signpost.cli.console import fail

COLUMNS = ("query", "lat", "lon", "precision_m", "source", "lad_code", "pfa_code", "error")
_WHAT = "a list of postcodes, places or 'lat,lon' (plain text, one per line)"
_PROGRESS_FROM = 200  # lines: below this the answer comes before a bar would be worth drawing

errors = Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("locate")(locate_command)


def locate_command(
    file: Annotated[
        Path, typer.Argument(help='One postcode, sector, outcode, place or "lat,lon" per line; - for stdin.')
    ],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the CSV here instead of stdout.")] = None,
    boundaries: Annotated[
        bool, typer.Option(help="Use boundaries stored by `signpost geography load` when there are any.")
    ] = True,
) -> None:
    """Locate every line of FILE: CSV with query, lat, lon, precision_m, source, lad_code, pfa_code, error."""
    queries = _read_lines(file)
    index = None
    if boundaries:  # the database (and its geometry) loads only when the command runs, never for --help
        from sqlmodel import Session

        from services_db.boundaries import load_boundary_index

        with Session(wiring.database(), expire_on_commit=False) as session:
            index = load_boundary_index(session=session)
    locator = Locator(
        postcodes=PostcodeDirectory.default(),
        registry=AreaRegistry.default(),
        gazetteer=Gazetteer.default(),
        boundaries=index,
        geocoder=wiring.geocoder(),
    )
    # Written to a temporary file beside --out and moved into place at the end: never a half-written CSV.
    partial = out.with_name(f".{out.name}.partial") if out is not None else None
    try:
        target: TextIO = partial.open("w", encoding="utf-8", newline="") if partial is not None else sys.stdout
    except OSError as exc:
        fail(f"{out}: cannot write ({exc.strerror}); choose another --out path")
    located = 0
    try:
        writer = csv_writer(target, lineterminator="\n")
        writer.writerow(COLUMNS)
        with Progress(
            TextColumn("Locating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=errors,
            disable=len(queries) < _PROGRESS_FROM,
            transient=True,
        ) as progress:
            task = progress.add_task("locate", total=len(queries))
            for query in queries:
                result = locator.locate(query)
                located += isinstance(result, Located)
                writer.writerow(_row(query, result))
                progress.advance(task)
    except BaseException:
        if partial is not None:
            target.close()
            partial.unlink(missing_ok=True)
        raise
    if partial is not None and out is not None:
        target.close()
        try:
            partial.replace(out)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            fail(f"{out}: cannot write ({exc.strerror}); choose another --out path")
    where = f" into {out}" if out is not None else ""
    failed = len(queries) - located
    note = f", {failed} not (see the error column)" if failed else ""
    lines = "line" if len(queries) == 1 else "lines"
    errors.print(f"{len(queries)} {lines}: {located} located{where}{note}", highlight=False)


def _read_lines(file: Path) -> list[str]:
    try:
        if str(file) == "-":  # read in chunks up to the limit: an endless stream is refused, not held whole
            data = read_stream(sys.stdin.buffer, name="standard input", limit=LINES_FILE_BYTES, what=_WHAT)
        else:  # never /dev/zero, a FIFO or a 5 GB file
            data = read_input_file(file, limit=LINES_FILE_BYTES, what=_WHAT)
    except InputFileError as exc:
        fail(str(exc))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        fail(f"{file}: not UTF-8 text; save the list as UTF-8 (plain text or CSV) and run again")
    # Lines starting with "#" are comments, so a list can carry notes.
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _row(query: str, result: LocateResult) -> list[str]:
    if isinstance(result, Located):
        loc = result.location
        return [
            query,
            f"{loc.lat:.6f}",
            f"{loc.lon:.6f}",
            f"{loc.precision_m:.0f}",
            loc.source.value,
            loc.lad_code or "",
            loc.pfa_code or "",
            "",
        ]
    if isinstance(result, Ambiguous):
        choices = "; ".join(p.label for p in result.choices)
        return [query, "", "", "", "", "", "", f"ambiguous: several places have this name ({choices})"]
    return [query, "", "", "", "", "", "", f"{result.problem}: {result.message}"]
