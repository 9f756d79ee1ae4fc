"""`signpost geography load --pfa FILE_OR_URL --lad FILE_OR_URL` and `signpost geography status`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from mapping.areas import LAD, PFA
from signpost import wiring
from signpost.cli.console import fail

if TYPE_CHECKING:  # the geometry stack and the database load when a command runs, never for --help
    from sqlmodel import Session

    from mapping.boundaries import BoundaryIndex, BoundarySet

app = typer.Typer(no_args_is_help=True, help="Official boundaries (Police Force Areas, Local Authority Districts).")
console = Console()
errors = Console(stderr=True)


@app.command("load")
def load_command(
    pfa: Annotated[
        str | None, typer.Option("--pfa", help="ONS Police Force Area boundaries: GeoJSON file path or URL.")
    ] = None,
    lad: Annotated[
        str | None, typer.Option("--lad", help="ONS Local Authority District boundaries: GeoJSON file path or URL.")
    ] = None,
) -> None:
    """Load, check and store official boundaries; services' coverage geometries are then re-resolved."""
    from sqlmodel import Session

    from mapping.boundaries import BoundaryError, load_boundaries
    from services_db.boundaries import load_boundary_index, store_boundaries

    if pfa is None and lad is None:
        fail("give --pfa FILE_OR_URL and/or --lad FILE_OR_URL (ONS boundary files, GeoJSON)")
    sets: list[BoundarySet] = []
    with console.status("Reading boundaries...", spinner="dots") as status:
        for level, source in ((PFA, pfa), (LAD, lad)):
            if source is None:
                continue
            status.update(f"Reading {level.upper()} boundaries from {source}...")
            try:
                sets.append(load_boundaries(source, level=level))
            except BoundaryError as exc:
                fail(str(exc))
        status.update("Storing...")
        engine = wiring.database()
        with Session(engine, expire_on_commit=False) as session:
            counts = store_boundaries(session=session, boundaries=sets)
            index = load_boundary_index(session=session)
            status.update("Re-resolving service coverage geometries...")
            refreshed = _refresh(session, index)
    for boundary_set in sets:
        console.print(
            f"Stored {counts[boundary_set.level]} {boundary_set.level.upper()} boundaries "
            f"(vintage {boundary_set.vintage}) from {boundary_set.source}",
            highlight=False,
        )
    if refreshed is None:
        console.print("Service geometries were not re-resolved: this build has no refresh_geometries.")
    else:
        console.print(f"{refreshed} service coverage geometries re-resolved.")


def _refresh(session: Session, index: BoundaryIndex | None) -> int | None:
    try:
        from services_db.repository import refresh_geometries
    except ImportError:
        return None
    return refresh_geometries(session=session, areas=index.geometry if index is not None else None)


@app.command("status")
def status_command() -> None:
    """Which boundaries are stored (levels, vintages, counts, when loaded)."""
    from sqlmodel import Session

    from services_db.boundaries import boundary_status

    engine = wiring.database()
    with Session(engine, expire_on_commit=False) as session:
        stored = boundary_status(session=session)
    if not stored:
        console.print(
            "No boundaries loaded: areas come from postcodes and the shipped LAD -> PFA table "
            "(load polygons with `signpost geography load --pfa FILE --lad FILE`)."
        )
        return
    table = Table("level", "areas", "vintage", "loaded at (UTC)")
    for row in stored:
        table.add_row(row.level.upper(), str(row.count), ", ".join(row.vintages), f"{row.loaded_at:%Y-%m-%d %H:%M}")
    console.print(table)
