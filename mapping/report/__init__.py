"""The coverage-gap report: CSV tables, gap GeoJSON, a self-contained HTML page, PNG maps and a summary.

``write_report`` writes every output into a directory; each writer is also usable alone. Every output says
which population basis (Census or the postcode proxy) and which geography (boundaries or the 5 km grid) it used.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
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
    context: ReportContext,
    out_dir: Path,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    parallel: bool = False,
) -> list[Path]:
    """Write every output of the report into ``out_dir`` (which must exist); returns the files written.

    ``progress`` is called with ("outputs", done, total) after each writer. ``parallel``: draw the PNG maps in a
    forked process while this one writes the rest (Linux only; a second core then takes a quarter of the work).
    Only for a process that runs nothing else meanwhile, such as the command line: a fork copies one thread.
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
    pngs = len(steps) - 2
    child = _Forked(steps[pngs]) if parallel and _can_fork() else None
    written: list[Path] = []
    try:
        for done, step in enumerate(steps, start=1):
            written.extend(child.join() if child is not None and done - 1 == pngs else step())
            if progress is not None:
                progress("outputs", done, len(steps))
    except BaseException:
        if child is not None:
            child.stop()
        raise
    return written


def _can_fork() -> bool:
    return sys.platform == "linux" and hasattr(os, "fork")


class _Forked:
    """A writer run in a forked child process; :meth:`join` returns its files or raises with its error."""

    def __init__(self, write: Callable[[], list[Path]]) -> None:
        read, send = os.pipe()
        self._pid = os.fork()
        if self._pid == 0:  # the child: write, report through the pipe, leave without running any cleanup
            os.close(read)
            code = 0
            try:
                message = json.dumps([str(p) for p in write()])
            except BaseException as exc:  # handed to the parent, which raises it
                message, code = json.dumps({"error": f"{type(exc).__name__}: {exc}"}), 1
            with os.fdopen(send, "w", encoding="utf-8") as pipe:
                pipe.write(message)
            os._exit(code)
        os.close(send)
        self._read = read

    def stop(self) -> None:
        """End the child (this process failed first) and reap it."""
        if self._pid:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
            os.close(self._read)
            self._pid = 0

    def join(self) -> list[Path]:
        with os.fdopen(self._read, encoding="utf-8") as pipe:
            message = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        answer = json.loads(message) if message else {"error": f"the process ended with status {status}"}
        if isinstance(answer, dict) or os.waitstatus_to_exitcode(status) != 0:
            error = answer.get("error") if isinstance(answer, dict) else f"status {status}"
            raise RuntimeError(f"drawing the PNG maps failed: {error}")
        return [Path(p) for p in answer]
