"""A PCC team's pages: their services, one service (contacts, coverage map, history, restore), edit, checked today.

Edits go through the same path as a file upload: the form's fields are the services template's columns, read
as a one-row file, validated, diffed, authorised and applied by ``services_db`` (nothing else is closed).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from functools import cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from shapely.geometry import mapping
from starlette.datastructures import FormData

from mapping.areas import AreaRegistry
from mapping.coverage import resolve_coverage
from mapping.spreadsheet import restore_cell
from mapping.types import AreaCoverage, Confirmation, NationalCoverage, RadiusCoverage, ServiceRecord, ServiceStatus
from services_db import importer, repository
from services_db.access import MAX_ROW_ID, Action, Principal, Role
from services_db.diff import field_changes
from services_db.formats import write_services
from services_db.formats.csv_format import TEMPLATE, template_notes
from services_db.staleness import is_stale
from services_db.uploads import preview_upload
from web.core import Console, NotFound, Refused

FORM_NAME = "web form.csv"
NOTICES = ("saved", "verified", "restored", "nothing_changed")
MAX_POLYGON_BYTES = 5 * 1024 * 1024


def flags(record: ServiceRecord, *, visit: Any, now: Any, stale_after_days: int) -> list[str]:
    """What needs attention, in the visitor's language."""
    out = []
    if record.confirmation is Confirmation.UNCONFIRMED or record.verified_on is None:
        out.append(visit.t("flag_unconfirmed"))
    elif is_stale(record, now=now, older_than_days=stale_after_days):
        out.append(visit.t("flag_stale", days=stale_after_days))
    if "cy" in record.untranslated():
        out.append(visit.t("flag_untranslated"))
    return out


def coverage_text(record: ServiceRecord) -> str:
    coverage = record.coverage
    registry = AreaRegistry.default()
    if isinstance(coverage, NationalCoverage):
        return f"national ({coverage.nation.value})"
    if isinstance(coverage, AreaCoverage):
        names = [f"{(area.name if (area := registry.area(c)) else c)} ({c})" for c in coverage.area_codes]
        return ", ".join(names)
    if isinstance(coverage, RadiusCoverage):
        return f"{coverage.radius_m / 1000:g} km around {coverage.lat:.4f}, {coverage.lon:.4f}"
    return "a drawn area (polygon)"


def template_row(record: ServiceRecord | None) -> tuple[list[str], dict[str, str]]:
    """The services template's columns and, for a stored service, its values as an export writes them."""
    text = write_services([record] if record is not None else [], "csv")
    reader = csv.DictReader(io.StringIO(text))
    columns = list(reader.fieldnames or [])
    row = next(reader, None) or {}
    # The export marks cells a spreadsheet would run (a phone's "+44 ..."); a form shows the value itself.
    return columns, {k: restore_cell(v or "") for k, v in row.items() if k is not None}


@cache
def column_notes() -> dict[str, tuple[bool, str]]:
    """Each template column: (required, what to write), from the template's own notes sheet."""
    rows = csv.DictReader(io.StringIO(template_notes()))
    return {r["column"]: (r.get("required", "") == "yes", r.get("what to write", "")) for r in rows}


def _one_row_csv(columns: list[str], values: dict[str, str]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerow({c: values.get(c, "") for c in columns})
    return out.getvalue().encode("utf-8")


def _area_choices(principal: Principal) -> list[tuple[str, str]]:
    """Force areas and local authorities an editor may pick: their own force's; everyone's for admins."""
    registry = AreaRegistry.default()
    areas = [*registry.pfas(), *registry.lads()]
    if principal.role is not Role.ADMIN and principal.commissioner_code:
        commissioner = next((c for c in registry.commissioners() if c.code == principal.commissioner_code), None)
        pfa = commissioner.pfa_code if commissioner else None
        areas = [a for a in areas if a.code == pfa or registry.pfa_for_lad(a.code) == pfa]
    return [(a.code, a.name) for a in areas]


def router(console: Console) -> APIRouter:
    routes = APIRouter()
    _add_directory_routes(routes, console)  # before /services/{service_id}: "new" and the files are not ids
    _add_service_routes(routes, console)
    _add_editing_routes(routes, console)
    return routes


def _load(console: Console, service_id: str) -> ServiceRecord:
    with console.session() as session:
        record = repository.get_service(session=session, service_id=service_id[:200])
    if record is None:
        raise NotFound(service_id)
    return record


def _add_directory_routes(routes: APIRouter, console: Console) -> None:
    """The list, the spreadsheet to edit, the template, and the form for a new service."""

    @routes.get("/services")
    def my_services(request: Request) -> Response:
        principal = console.authorise(request, Action.READ)
        visit = console.visit(request)
        mine = principal.commissioner_code if principal.role is Role.PCC_EDITOR else None
        with console.session() as session:
            records = repository.list_services(session=session, commissioner_code=mine)
        now = console.config.clock()
        rows = [(r, flags(r, visit=visit, now=now, stale_after_days=console.config.stale_after_days)) for r in records]
        rows.sort(key=lambda item: (item[0].status is ServiceStatus.CLOSED, not item[1], item[0].name.casefold()))
        return console.page(request, "services.html", rows=rows, mine=mine)

    @routes.get("/services/export.csv")
    def export(request: Request) -> Response:
        """The spreadsheet to edit: your commissioner's services (everyone's for analysts and admins)."""
        principal = console.authorise(request, Action.READ)
        mine = principal.commissioner_code if principal.role is Role.PCC_EDITOR else None
        with console.session() as session:
            records = repository.list_services(session=session, commissioner_code=mine)
        name = f"services-{mine or 'all'}.csv"
        return Response(
            write_services(records, "csv"), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )  # fmt: skip

    @routes.get("/services/template.csv")
    def template(request: Request) -> Response:
        console.authorise(request, Action.READ)
        return Response(
            TEMPLATE.read_bytes(), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="services_template.csv"'},
        )  # fmt: skip

    @routes.get("/services/new")
    def new_form(request: Request) -> Response:
        principal = console.authorise(request, Action.CREATE)
        columns, values = template_row(None)
        values["commissioner_code"] = principal.commissioner_code or ""
        return console.page(
            request, "edit.html", record=None, columns=columns, values=values, areas=_area_choices(principal),
            notes=column_notes(),
        )  # fmt: skip


def _add_service_routes(routes: APIRouter, console: Console) -> None:
    """One service's page, its coverage as map data, and its edit form."""

    @routes.get("/services/{service_id}")
    def service_page(request: Request, service_id: str, notice: str = "") -> Response:
        console.authorise(request, Action.READ)
        record = _load(console, service_id)
        visit = console.visit(request)
        with console.session() as session:
            entries = repository.history(session=session, service_id=record.id)
        history = []
        for entry in reversed(entries):
            changes = field_changes(entry.before, entry.after) if entry.before and entry.after else ()
            restorable = entry.after is not None and entry.version is not None and entry.version != record.version
            history.append((entry, changes, restorable))
        now = console.config.clock()
        return console.page(
            request,
            "service.html",
            record=record,
            history=history,
            coverage=coverage_text(record),
            flags=flags(record, visit=visit, now=now, stale_after_days=console.config.stale_after_days),
            notice=visit.t(f"notice_{notice}") if notice in NOTICES else "",
        )

    @routes.get("/services/{service_id}/coverage.geojson")
    def coverage_geojson(request: Request, service_id: str) -> Response:
        console.authorise(request, Action.READ)
        record = _load(console, service_id)
        features = []
        geometry = resolve_coverage(record.coverage, console.areas())
        if geometry is not None and not geometry.is_empty:
            features.append({"type": "Feature", "properties": {"role": "coverage"}, "geometry": mapping(geometry)})
        force = _force_outline(console, record)
        if force is not None:
            features.append({"type": "Feature", "properties": {"role": "force"}, "geometry": force})
        return JSONResponse({"type": "FeatureCollection", "features": features})

    @routes.get("/services/{service_id}/edit")
    def edit_form(request: Request, service_id: str) -> Response:
        record = _load(console, service_id)
        principal = console.authorise(request, Action.UPDATE, service_id=record.id)
        columns, values = template_row(record)
        return console.page(
            request, "edit.html", record=record, columns=columns, values=values, areas=_area_choices(principal),
            notes=column_notes(),
        )  # fmt: skip


def _add_editing_routes(routes: APIRouter, console: Console) -> None:
    """Saving an edit or a new service, marking one checked today, restoring an earlier version."""

    @routes.post("/services/{service_id}/edit")
    async def edit(request: Request, service_id: str) -> Response:
        record = _load(console, service_id)
        console.authorise(request, Action.UPDATE, service_id=record.id)
        return await _save(console, request, record)

    @routes.post("/services/new")
    async def create(request: Request) -> Response:
        console.authorise(request, Action.CREATE)
        return await _save(console, request, None)

    @routes.post("/services/{service_id}/verify")
    async def verify(request: Request, service_id: str) -> Response:
        await console.form(request)
        record = _load(console, service_id)
        principal = console.authorise(request, Action.VERIFY, service_id=record.id)
        today: date = console.config.clock().date()
        with console.session() as session:
            verified = repository.set_verified(
                session=session, service_id=record.id, on=today, actor=principal.actor, now=console.config.clock()
            )
        notice = "nothing_changed" if verified.version == record.version else "verified"  # already verified today
        return console.redirect(f"/services/{record.id}?notice={notice}")

    @routes.post("/services/{service_id}/restore")
    async def restore(request: Request, service_id: str) -> Response:
        form = await console.form(request)
        record = _load(console, service_id)
        text = str(form.get("version", ""))
        version = int(text) if text.isdigit() and 0 < int(text) <= MAX_ROW_ID else None
        with console.session() as session:
            states = {
                e.version: e.after
                for e in repository.history(session=session, service_id=record.id)
                if e.after is not None and e.version is not None
            }
        if version is None or version not in states:
            raise NotFound(f"{record.id} version {text}")
        principal = console.authorise(request, Action.RESTORE, service_id=record.id, proposed=states[version])
        with console.session() as session:
            try:
                restored = repository.restore(
                    session=session, service_id=record.id, version=version, actor=principal.actor,
                    areas=console.areas(), now=console.config.clock(),
                )  # fmt: skip
            except repository.DirectoryError as exc:
                return console.page(request, "message.html", status_code=409, message=exc.message)
        notice = "nothing_changed" if restored.version == record.version else "restored"
        return console.redirect(f"/services/{record.id}?notice={notice}")


async def _save(console: Console, request: Request, record: ServiceRecord | None) -> Response:
    """Apply the edit form as a one-row upload: validated, diffed, authorised and applied like a file."""
    form = await console.form(request)
    _, principal = console.signed_in(request)
    columns, values = await _form_row(form, record)
    with console.session() as session:
        preview = preview_upload(
            session=session,
            principal=principal,
            data=_one_row_csv(columns, values),
            name=FORM_NAME,
            force_area=console.force_area() if principal.role is Role.PCC_EDITOR else None,
            close_missing=False,
            now=console.config.clock(),
        )
        if preview.decision is not None and not preview.decision.allowed:
            raise Refused(preview.decision)
        if preview.decision is None or preview.changes is None:
            problems = [p.message if p.field is None else f"{p.field}: {p.message}" for p in preview.plan.problems]
            return _edit_page(console, request, 422, record, columns, values, principal, problems)
        if preview.changes.is_empty:
            target = record.id if record else values.get("id", "")
            return console.redirect(f"/services/{target}?notice=nothing_changed")
        report = importer.apply_import(session=session, plan=preview.plan, actor=principal.actor, areas=console.areas())
    if not report.applied:
        return _edit_page(
            console, request, 409, record, columns, values, principal, [p.message for p in report.problems]
        )
    saved = (report.created or report.updated or (values.get("id", ""),))[0]
    return console.redirect(f"/services/{saved}?notice=saved")


async def _form_row(form: FormData, record: ServiceRecord | None) -> tuple[list[str], dict[str, str]]:
    """The template row the form describes: the record's cells, the form's fields, a picked area list or an
    uploaded polygon file as the coverage."""
    columns, values = template_row(record)
    for column in columns:
        if column in form:
            values[column] = str(form.get(column, ""))
    picked = [str(v) for v in form.getlist("area_pick") if str(v)]
    if picked:
        _coverage_only(values, "areas", area_codes="; ".join(picked))
    upload = form.get("polygon_file")
    if upload is not None and hasattr(upload, "read"):
        data = await upload.read(MAX_POLYGON_BYTES + 1)
        if data:
            _coverage_only(values, "polygon", geometry=_polygon_cell(data))
    return columns, values


def _edit_page(
    console: Console,
    request: Request,
    status_code: int,
    record: ServiceRecord | None,
    columns: list[str],
    values: dict[str, str],
    principal: Principal,
    problems: list[str],
) -> Response:
    """The edit form again, with what was typed and why it was not saved."""
    return console.page(
        request, "edit.html", status_code=status_code, record=record, columns=columns, values=values,
        areas=_area_choices(principal), problems=problems, notes=column_notes(),
    )  # fmt: skip


COVERAGE_CELLS = ("nation", "area_codes", "centre_lat", "centre_lon", "radius_m", "geometry")


def _coverage_only(values: dict[str, str], kind: str, **cells: str) -> None:
    """Switch the row to one kind of coverage: its cells set, the other kinds' cells cleared."""
    values.update({cell: "" for cell in COVERAGE_CELLS}, coverage_type=kind)
    values.update(cells)


def _polygon_cell(data: bytes) -> str:
    """An uploaded GeoJSON file as the template's ``geometry`` cell (a Feature or collection: its geometry)."""
    try:
        parsed = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return data.decode("utf-8", errors="replace")[:200]  # validation names the problem
    if isinstance(parsed, dict) and parsed.get("type") == "Feature":
        parsed = parsed.get("geometry")
    elif isinstance(parsed, dict) and parsed.get("type") == "FeatureCollection" and parsed.get("features"):
        parsed = parsed["features"][0].get("geometry")
    return json.dumps(parsed, separators=(",", ":"))


def _force_outline(console: Console, record: ServiceRecord) -> dict[str, Any] | None:
    """The force area of the service's commissioner, when boundaries are loaded."""
    index = console.boundaries()
    if index is None or record.commissioner_code is None:
        return None
    registry = AreaRegistry.default()
    commissioner = next((c for c in registry.commissioners() if c.code == record.commissioner_code), None)
    if commissioner is None or commissioner.pfa_code is None:
        return None
    outline = index.geometry(commissioner.pfa_code)
    return dict(mapping(outline.simplify(0.001))) if outline is not None else None
