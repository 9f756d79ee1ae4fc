"""The authorisation matrix's web cells: every role x every route, judged by HTTP status and by what changed.

Each cell signs in as a real account through a one-time code, then sends the request a browser would send
(with the page's CSRF token). A refused cell must answer 403 (or send a visitor to sign in), change nothing in
the directory or the accounts, and leave a refusal in the audit trail.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping
from sqlmodel import Session, func, select

from mapping.crs import geometry_to_wgs84, wgs84_to_bng
from services_db import repository
from services_db.formats import write_services
from services_db.models import Account, AuditEntry, Service
from tests.services_db.factories import area_service
from tests.web.conftest import WEST_YORKSHIRE, Site, csrf_of

ROLES = ("anonymous", "editor", "other_editor", "analyst", "admin")


def _state(site: Site) -> tuple[object, ...]:
    """What a request could change: every service's version, status and verified date, and the accounts."""
    with Session(site.engine) as session:
        services = tuple(session.exec(select(Service.id, Service.version, Service.status, Service.verified_on)).all())
        accounts = tuple(session.exec(select(Account.id, Account.revoked_at)).all())
    return services, accounts


def _refusals(site: Site) -> int:
    with Session(site.engine) as session:
        return session.exec(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "refused")).one()


def _form(client: TestClient, page: str) -> str:
    """The CSRF token of a page the person could open (or the sign-in page's, for those who cannot)."""
    reply = client.get(page)
    return csrf_of(reply.text) if 'name="csrf"' in reply.text else csrf_of(client.get("/services").text or "")


def _token(client: TestClient) -> str:
    for page in ("/services", "/signin"):
        text = client.get(page).text
        if 'name="csrf"' in text:
            return csrf_of(text)
    return ""


def _own_csv() -> bytes:
    record = area_service(
        "E08000035", service_id="wy-upload", name="Uploaded Leeds centre", commissioner_code=WEST_YORKSHIRE
    )
    return write_services([record], "csv").encode("utf-8")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    allowed: frozenset[str]
    data: Callable[[], dict[str, str]] | None = None
    upload: bool = False
    changes: bool = False  # an allowed request changes the directory or the accounts


EDIT = {"phone": "0113 496 0999"}
NEW = {
    "id": "wy-new", "name": "New Leeds centre", "kind": "third_party_reporting", "strands": "race",
    "commissioner_code": WEST_YORKSHIRE, "phone": "0113 496 0002", "coverage_type": "areas", "area_codes": "E08000035",
    "source_url": "https://example.org/new", "verified_on": "2026-01-05", "status": "active",
}  # fmt: skip
EDITORS_AND_ADMIN = frozenset({"editor", "admin"})
READERS = frozenset({"editor", "other_editor", "analyst", "admin"})
ROUTES = [
    Route("GET", "/services", READERS),
    Route("GET", "/services/wy-centre", READERS),
    Route("GET", "/services/export.csv", READERS),
    Route("GET", "/services/template.csv", READERS),
    Route("GET", "/services/wy-centre/coverage.geojson", READERS),
    Route("GET", "/services/wy-centre/edit", EDITORS_AND_ADMIN),
    Route("POST", "/services/wy-centre/edit", EDITORS_AND_ADMIN, lambda: dict(EDIT), changes=True),
    Route("POST", "/services/wy-centre/verify", EDITORS_AND_ADMIN, dict, changes=True),
    Route("POST", "/services/wy-centre/restore", EDITORS_AND_ADMIN, lambda: {"version": "1"}, changes=True),
    Route("GET", "/services/new", frozenset({"editor", "other_editor", "admin"})),
    Route("POST", "/services/new", EDITORS_AND_ADMIN, lambda: dict(NEW), changes=True),
    Route("GET", "/upload", frozenset({"editor", "other_editor", "admin"})),
    Route("POST", "/upload", EDITORS_AND_ADMIN, dict, upload=True),
    Route("GET", "/reports", frozenset({"analyst", "admin"})),
    Route("GET", "/admin/accounts", frozenset({"admin"})),
    Route("POST", "/admin/accounts", frozenset({"admin"}), lambda: {"name": "New", "role": "analyst"}, changes=True),
    Route("POST", "/admin/accounts/3/revoke", frozenset({"admin"}), dict, changes=True),
    Route("GET", "/admin/refusals", frozenset({"admin"})),
]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
@pytest.mark.parametrize("role", ROLES)
def test_every_role_on_every_route(site: Site, role: str, route: Route) -> None:
    client = site.sign_in(role)
    before, refused_before = _state(site), _refusals(site)
    if route.method == "GET":
        reply = client.get(route.path)
    else:
        data = {"csrf": _token(client), **(route.data() if route.data else {})}
        if route.path.endswith("/edit") and role in route.allowed:
            data.update({k: v for k, v in _edit_values(client, route.path).items() if k not in data})
        files = {"file": ("leeds.csv", io.BytesIO(_own_csv()), "text/csv")} if route.upload else None
        reply = client.post(route.path, data=data, files=files)
    after = _state(site)
    if role in route.allowed:
        assert reply.status_code in (200, 303), (reply.status_code, reply.text[:2000])
        if route.changes:
            assert after != before, "an allowed change changed nothing"
        else:
            assert after == before
        return
    if role == "anonymous":
        assert reply.status_code in (303, 403), reply.status_code
        assert reply.status_code == 403 or reply.headers["location"] == "/signin"
    else:
        assert reply.status_code == 403, (reply.status_code, reply.text[:2000])
        assert _refusals(site) > refused_before, "the refusal was not audited"
    assert after == before, "a refused request changed something"


def _edit_values(client: TestClient, path: str) -> dict[str, str]:
    """The edit form's fields as the browser would send them back."""
    import re

    html = client.get(path).text
    values = dict(re.findall(r'<input id="f-([a-z_]+)" name="[a-z_]+" value="([^"]*)"', html))
    values.update(re.findall(r'<textarea id="f-([a-z_]+)" name="[a-z_]+" rows="3">([^<]*)</textarea>', html))
    values["version"] = re.search(r'name="version" value="(\d*)"', html).group(1)  # type: ignore[union-attr]
    return {k: v.replace("&amp;", "&").replace("&#39;", "'").replace("&#34;", '"') for k, v in values.items()}


# --- adversarial coverage through the console ------------------------------------------------------------


def test_the_issues_comb_and_manchester_square_is_refused_in_the_edit_form(site: Site) -> None:
    """A West Yorkshire editor uploads a polygon: a comb in Leeds and a 2 km square over central Manchester.

    The square is a third of the area, so the file itself is valid (over half outside a commissioner's force
    area is refused as a file problem, 422); it is the editor's force-area check that refuses it."""
    client = site.sign_in("editor")
    lx, ly = (float(v) for v in wgs84_to_bng(-1.5492, 53.7997))
    mx, my = (float(v) for v in wgs84_to_bng(-2.2453, 53.4794))
    teeth = [box(lx + k * 130, ly, lx + k * 130 + 20, ly + 6_000) for k in range(60)]
    comb = shapely.union_all([*teeth, box(lx, ly, lx + 60 * 130, ly + 50)])
    parts = [*getattr(comb, "geoms", [comb]), box(mx - 1_000, my - 1_000, mx + 1_000, my + 1_000)]
    geojson = {"type": "MultiPolygon", "coordinates": [mapping(geometry_to_wgs84(p))["coordinates"] for p in parts]}
    import json

    before, refused = _state(site), _refusals(site)
    data = {**_edit_values(client, "/services/wy-centre/edit"), "csrf": _token(client)}
    files = {"polygon_file": ("cover.geojson", io.BytesIO(json.dumps(geojson).encode()), "application/geo+json")}
    reply = client.post("/services/wy-centre/edit", data=data, files=files)
    assert reply.status_code == 403 and "outside your force area E23000010" in reply.text
    assert _state(site) == before and _refusals(site) == refused + 1


def test_an_edit_shows_in_the_history_with_before_and_after(site: Site) -> None:
    client = site.sign_in("editor")
    data = {**_edit_values(client, "/services/wy-centre/edit"), "csrf": _token(client), "phone": "0113 496 0999"}
    assert client.post("/services/wy-centre/edit", data=data).status_code == 303
    page = client.get("/services/wy-centre?notice=saved").text
    assert "Leeds team (account 1, web)" in page and "0113 496 0999" in page and 'class="before"' in page
    with Session(site.engine) as session:
        [latest] = repository.history(session=session, service_id="wy-centre")[-1:]
    assert latest.actor == "Leeds team (account 1, web)" and latest.after is not None


def test_an_editor_downloads_only_their_services_and_can_upload_them_back(site: Site) -> None:
    client = site.sign_in("editor")
    exported = client.get("/services/export.csv")
    assert exported.status_code == 200 and "wy-centre" in exported.text and "gm-centre" not in exported.text
    token = _token(client)
    files = {"file": ("mine.csv", io.BytesIO(exported.content), "text/csv")}
    assert "matches the directory" in client.post("/upload", data={"csrf": token}, files=files).text


def test_verifying_again_the_same_day_changes_nothing(site: Site) -> None:
    client = site.sign_in("editor")
    first = client.post("/services/wy-centre/verify", data={"csrf": _token(client)})
    assert first.status_code == 303 and first.headers["location"].endswith("notice=verified")
    with Session(site.engine) as session:
        versions = len(repository.history(session=session, service_id="wy-centre"))
    again = client.post("/services/wy-centre/verify", data={"csrf": _token(client)})
    assert again.status_code == 303 and again.headers["location"].endswith("notice=nothing_changed")
    with Session(site.engine) as session:
        assert len(repository.history(session=session, service_id="wy-centre")) == versions
