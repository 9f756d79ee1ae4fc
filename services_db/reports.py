"""The coverage report over the stored directory and the stored boundaries: what the command line and the web
console both run (``mapping.report.run`` does the work; this gathers its inputs from the database)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session

from mapping.areas import AreaRegistry
from services_db.boundaries import load_boundary_index
from services_db.repository import list_services

if TYPE_CHECKING:
    from mapping.report.context import AreaExtra
    from mapping.report.run import BoundaryInput, Progress, ReportOptions, ReportOutcome

__all__ = ["directory_report", "stored_report_boundaries"]


def stored_report_boundaries(*, session: Session) -> BoundaryInput | None:
    """The PFA and LAD boundaries stored by ``signpost geography load``, as the report takes them."""
    from mapping.report.run import BoundaryInput  # matplotlib comes with mapping.report: load it only when used

    index = load_boundary_index(session=session)
    if index is None:
        return None
    pfa_set, lad_set = index.boundary_set("pfa"), index.boundary_set("lad")
    if pfa_set is None or lad_set is None:
        return None
    return BoundaryInput(
        pfa_set.boundaries,
        lad_set.boundaries,
        f"PFA {pfa_set.vintage}, LAD {lad_set.vintage}",
        "boundaries stored by `signpost geography load`",
    )


def directory_report(
    *,
    session: Session,
    out_dir: Path,
    options: ReportOptions,
    demand: Collection[AreaExtra] = (),
    progress: Progress | None = None,
) -> ReportOutcome:
    """Run the coverage report over every stored service with the stored boundaries (if any) into ``out_dir``."""
    from mapping.report.run import run_report

    registry = AreaRegistry.default()
    return run_report(
        list_services(session=session),
        out_dir=out_dir,
        options=options,
        boundaries=stored_report_boundaries(session=session),
        pfa_for_lad=registry.pfa_for_lad,
        area_names={a.code: a.name for a in (*registry.pfas(), *registry.lads())},
        demand=demand,
        progress=progress,
    )
