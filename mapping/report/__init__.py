"""The coverage-gap report: CSV tables, gap GeoJSON, a self-contained HTML page, PNG maps and a summary.

``write_report`` writes every output into a directory; each writer is also usable alone. Every output says
which population basis (Census or the postcode proxy) and which geography (boundaries or the 5 km grid) it used.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mapping.report.analyst import write_geopackage, write_lsoa_csv, write_wide_csv, write_workbook
from mapping.report.context import AreaExtra, ReportContext
from mapping.report.csv_tables import write_csv, write_sites_csv
from mapping.report.geojson import write_gaps_geojson
from mapping.report.html import write_html
from mapping.report.png import write_pngs
from mapping.report.summary import summary_lines, write_summary

__all__ = [
    "AreaExtra",
    "ReportContext",
    "summary_lines",
    "write_csv",
    "write_gaps_geojson",
    "write_geopackage",
    "write_html",
    "write_lsoa_csv",
    "write_pngs",
    "write_report",
    "write_sites_csv",
    "write_summary",
    "write_wide_csv",
    "write_workbook",
]


def write_report(
    context: ReportContext, out_dir: Path, *, progress: Callable[[str, int, int], None] | None = None
) -> list[Path]:
    """Write every output of the report into ``out_dir`` (which must exist); returns the files written.

    ``progress`` is called with ("outputs", done, total) after each writer.
    """
    steps: list[Callable[[], list[Path]]] = [
        *[lambda lv=lv: [write_csv(context, lv, out_dir / f"coverage_{lv}.csv")] for lv in context.result.levels],
        *[
            lambda lv=lv: [write_wide_csv(context, lv, out_dir / f"coverage_{lv}_wide.csv")]
            for lv in context.result.levels
        ],
        lambda: [p] if (p := write_lsoa_csv(context, out_dir / "coverage_lsoa.csv")) is not None else [],
        lambda: [write_workbook(context, out_dir / "coverage.xlsx")],
        lambda: [write_geopackage(context, out_dir / "coverage.gpkg")],
        lambda: [write_sites_csv(context, out_dir / "proposed_sites.csv")] if context.siting is not None else [],
        lambda: [write_gaps_geojson(context, out_dir / "gaps.geojson")],
        lambda: [write_html(context, out_dir / "report.html")],
        lambda: write_pngs(context, out_dir),
        lambda: [write_summary(context, out_dir / "summary.md")],
    ]
    written: list[Path] = []
    for done, step in enumerate(steps, start=1):
        written.extend(step())
        if progress is not None:
            progress("outputs", done, len(steps))
    return written
