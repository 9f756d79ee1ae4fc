"""The coverage-gap report: CSV tables, gap GeoJSON, a self-contained HTML page, PNG maps and a summary.

``write_report`` writes every output into a directory; each writer is also usable alone. Every output says
which population basis (Census or the postcode proxy) and which geography (boundaries or the 5 km grid) it used.
"""

from __future__ import annotations

from pathlib import Path

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
    "write_html",
    "write_pngs",
    "write_report",
    "write_sites_csv",
    "write_summary",
]


def write_report(context: ReportContext, out_dir: Path) -> list[Path]:
    """Write every output of the report into ``out_dir`` (which must exist); returns the files written."""
    written: list[Path] = []
    for level in context.result.levels:
        written.append(write_csv(context, level, out_dir / f"coverage_{level}.csv"))
    if context.siting is not None:
        written.append(write_sites_csv(context, out_dir / "proposed_sites.csv"))
    written.append(write_gaps_geojson(context, out_dir / "gaps.geojson"))
    written.append(write_html(context, out_dir / "report.html"))
    written.extend(write_pngs(context, out_dir))
    written.append(write_summary(context, out_dir / "summary.md"))
    return written
