"""Analysts' pages: the latest coverage report (its page and downloads), coverage over time, run a report now."""

from __future__ import annotations

import re
import tempfile
import threading
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from mapping.areas import AreaRegistry
from mapping.gaps import ANY
from mapping.types import Strand
from services_db.access import Action
from services_db.reports import directory_report
from services_db.snapshots import snapshot_series
from web.core import Console

RUN_NAME = re.compile(r"^\d{8}-\d{6}$")
# report.html is self-contained with its own inline script: serve it sandboxed (an opaque origin, no cookies,
# no forms), so nothing in it can act as the signed-in analyst.
REPORT_CSP = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; frame-ancestors 'none'"
)


class _Runs:
    """At most one report run at a time in this process; its outcome for the page."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = False
        self.error = ""


def _finished(folder: Path) -> list[Path]:
    """The complete report runs, newest first."""
    if not folder.is_dir():
        return []
    done = [p for p in folder.iterdir() if RUN_NAME.match(p.name) and (p / "report.html").is_file()]
    return sorted(done, reverse=True)


def _run(console: Console, runs: _Runs, out_dir: Path) -> None:
    """One report run (in its own thread), written to ``out_dir`` whole or not at all."""
    from mapping.report.run import ReportOptions

    try:
        partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=out_dir.parent))
        with console.session() as session:
            directory_report(session=session, out_dir=partial, options=ReportOptions())
        partial.rename(out_dir)  # appears complete or not at all
        runs.error = ""
    except Exception as exc:  # shown to the analyst on the page; the console keeps running
        runs.error = str(exc)[:500] or type(exc).__name__
    finally:
        runs.running = False


def router(console: Console) -> APIRouter:
    routes = APIRouter()
    runs = _Runs()
    folder = console.config.reports_dir

    @routes.get("/reports")
    def reports_page(request: Request, area: str = "", strand: str = ANY) -> Response:
        console.authorise(request, Action.REPORT)
        registry = AreaRegistry.default()
        pfas = [(a.code, a.name) for a in registry.pfas()]
        area = area if area in {code for code, _ in pfas} else ""
        strand = strand if strand in {ANY, *(s.value for s in Strand)} else ANY
        with console.session() as session:
            series = snapshot_series(session=session, area_code=area or None, strand=strand)
        latest = _finished(folder)[:1]
        files = sorted(p.name for p in latest[0].iterdir() if p.is_file()) if latest else []
        return console.page(
            request,
            "reports.html",
            latest=latest[0].name if latest else None,
            files=files,
            runs=runs,
            series=series,
            pfas=pfas,
            strands=[ANY, *(s.value for s in Strand)],
            area=area,
            strand=strand,
        )

    @routes.get("/reports/history.png")
    def history_chart(request: Request, area: str = "", strand: str = ANY) -> Response:
        console.authorise(request, Action.REPORT)
        from mapping.report.history import draw_history

        registry = AreaRegistry.default()
        info = registry.area(area) if area else None
        strand = strand if strand in {ANY, *(s.value for s in Strand)} else ANY
        with console.session() as session:
            series = snapshot_series(session=session, area_code=info.code if info else None, strand=strand)
        if not series:
            return Response(status_code=404)
        where = info.name if info else "England and Wales"
        with tempfile.TemporaryDirectory() as tmp:
            title = f"Third-party reporting coverage: {where} ({strand})"
            path = draw_history(series, title=title, path=Path(tmp) / "history.png")
            return Response(path.read_bytes(), media_type="image/png")

    @routes.get("/reports/{run_name}/{file_name}")
    def report_file(request: Request, run_name: str, file_name: str) -> Response:
        console.authorise(request, Action.REPORT)
        run_dir = folder / run_name
        known = RUN_NAME.match(run_name) is not None and run_dir.is_dir()
        names = {p.name for p in run_dir.iterdir() if p.is_file()} if known else set()
        if file_name not in names:
            return console.page(request, "message.html", status_code=404, message=f"{run_name}/{file_name}")
        headers = {"Content-Security-Policy": REPORT_CSP} if file_name.endswith(".html") else {}
        as_download = not file_name.endswith((".html", ".png"))
        return FileResponse(
            run_dir / file_name, headers=headers, filename=file_name if as_download else None,
            content_disposition_type="attachment" if as_download else "inline",
        )  # fmt: skip

    @routes.post("/reports/run")
    async def run_now(request: Request) -> Response:
        await console.form(request)
        console.authorise(request, Action.REPORT)
        with runs.lock:
            if not runs.running:
                runs.running = True
                folder.mkdir(parents=True, exist_ok=True)
                name = console.config.clock().strftime("%Y%m%d-%H%M%S")
                threading.Thread(
                    target=_run, args=(console, runs, folder / name), name="coverage-report", daemon=True
                ).start()
        return console.redirect("/reports")

    return routes
