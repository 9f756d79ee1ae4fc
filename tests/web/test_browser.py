"""The console in a real browser (the system Chromium through Playwright): what a PCC officer does, end to end.

Sign in through a one-time link, edit a service, upload a file and confirm it, see the change in the history,
and be refused on another commissioner's service. Screenshots are kept in tests/web/screenshots/ (git-ignored)
for a person to look at. Without Chromium (or Playwright) the tests skip, unless SIGNPOST_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from mapping.areas import AreaRegistry
from services_db import access, repository, signin
from services_db.formats import write_services
from tests.services_db.factories import area_service, radius_service
from web import WebConfig, create_app

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("SIGNPOST_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent / "screenshots"
WY, GM = "pcc-E23000010", "pcc-E23000005"


def _browser_or_skip() -> None:
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "playwright is not installed (pip install -e '.[test]')"
    if problem is None and not Path(CHROMIUM).exists():
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set SIGNPOST_CHROMIUM)"
    if problem is not None:
        if os.environ.get("SIGNPOST_REQUIRE_BROWSER") == "1":
            pytest.fail(f"a browser is required (SIGNPOST_REQUIRE_BROWSER=1): {problem}")
        pytest.skip(problem)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(sqlite_engine: Engine, tmp_path: Path) -> Iterator[tuple[str, Engine, dict[str, int]]]:
    """The console on http://127.0.0.1 (cookies not Secure: plain HTTP on loopback), with two commissioners."""
    _browser_or_skip()
    import uvicorn

    registry = AreaRegistry.default()
    with Session(sqlite_engine, expire_on_commit=False) as session:
        repository.upsert_commissioners(
            session=session,
            commissioners=[registry.commissioner_for("E23000010"), registry.commissioner_for("E23000005")],
        )
        leeds = radius_service(53.7997, -1.5492, 4_000, service_id="wy-centre", name="Leeds reporting centre",
                               commissioner_code=WY)  # fmt: skip
        repository.create_service(session=session, record=leeds, actor="seed")
        manchester = area_service("E08000003", service_id="gm-centre", name="Manchester centre", commissioner_code=GM)
        repository.create_service(session=session, record=manchester, actor="seed")
        accounts = {
            "editor": access.add_account(session=session, name="Leeds team", role="pcc_editor", commissioner_code=WY,
                                         actor="test").id,
        }  # fmt: skip
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    config = WebConfig(engine=sqlite_engine, data_dir=tmp_path / "data", public_url=base, secure_cookies=False)
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:  # wait for the socket, not for a time
        if not thread.is_alive():
            pytest.fail("the console did not start")
        time.sleep(0.02)
    yield base, sqlite_engine, accounts
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def page(served: tuple[str, Engine, dict[str, int]]) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
        tab = context.new_page()
        tab.csp_errors = []  # type: ignore[attr-defined]
        tab.on("console", lambda m: "Content Security Policy" in m.text and tab.csp_errors.append(m.text))  # type: ignore[attr-defined]
        yield tab
        browser.close()


def _shot(tab: object, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def _sign_in(tab: object, base: str, engine: Engine, account_id: int) -> None:
    with Session(engine, expire_on_commit=False) as session:
        code = signin.issue_code(session=session, account_id=account_id, actor="test").code
    tab.goto(f"{base}/signin?code={code}")  # type: ignore[attr-defined]
    _shot(tab, "01-sign-in-link")
    tab.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    tab.wait_for_url(f"{base}/services")  # type: ignore[attr-defined]


def test_a_pcc_officer_signs_in_edits_uploads_and_is_refused_elsewhere(
    page: object, served: tuple[str, Engine, dict[str, int]], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    tab, (base, engine, accounts) = page, served
    _sign_in(tab, base, engine, accounts["editor"])
    expect(tab.get_by_role("heading", name="Services commissioned by pcc-E23000010")).to_be_visible()  # type: ignore[attr-defined]
    expect(tab.get_by_role("link", name="Leeds reporting centre")).to_be_visible()  # type: ignore[attr-defined]
    _shot(tab, "02-my-services")

    # The service page: coverage drawn on the map (Leaflet served by the console), history below.
    tab.get_by_role("link", name="Leeds reporting centre").click()  # type: ignore[attr-defined]
    expect(tab.locator("#map[data-loaded='1'] path.leaflet-interactive").first).to_be_visible()  # type: ignore[attr-defined]
    _shot(tab, "03-service-page")

    # Edit: change the phone number and save.
    tab.get_by_role("link", name="Edit").click()  # type: ignore[attr-defined]
    tab.locator("#f-phone").fill("0113 496 0999")  # type: ignore[attr-defined]
    _shot(tab, "04-edit-form")
    tab.get_by_role("button", name="Save").click()  # type: ignore[attr-defined]
    expect(tab.get_by_text("Saved. The change is in the history below.")).to_be_visible()  # type: ignore[attr-defined]
    history = tab.locator("table.history")  # type: ignore[attr-defined]
    expect(history.locator("td.after", has_text="0113 496 0999")).to_be_visible()
    expect(history.get_by_text("Leeds team (account 1, web)").first).to_be_visible()
    _shot(tab, "05-history-after-edit")

    # Checked today.
    tab.get_by_role("button", name="Checked today").click()  # type: ignore[attr-defined]
    expect(tab.get_by_text("Recorded: checked today.")).to_be_visible()  # type: ignore[attr-defined]

    # Upload a file: preview, then Confirm.
    with Session(engine) as session:
        current = repository.get_service(session=session, service_id="wy-centre")
    assert current is not None
    new = area_service("E08000035", service_id="wy-hub", name="Leeds community hub", commissioner_code=WY)
    upload = tmp_path / "leeds.csv"
    upload.write_text(write_services([current, new], "csv"), encoding="utf-8")
    tab.get_by_role("link", name="Upload a file").click()  # type: ignore[attr-defined]
    tab.locator("#file").set_input_files(str(upload))  # type: ignore[attr-defined]
    tab.get_by_role("button", name="Check the file").click()  # type: ignore[attr-defined]
    expect(tab.get_by_role("heading", name="What would change")).to_be_visible()  # type: ignore[attr-defined]
    expect(tab.get_by_text("+ wy-hub: Leeds community hub")).to_be_visible()  # type: ignore[attr-defined]
    _shot(tab, "06-upload-preview")
    tab.get_by_role("button", name="Confirm: apply all of it").click()  # type: ignore[attr-defined]
    expect(tab.get_by_text("Done: 1 added, 0 changed, 0 closed.")).to_be_visible()  # type: ignore[attr-defined]
    _shot(tab, "07-upload-done")
    tab.goto(f"{base}/services/wy-hub")  # type: ignore[attr-defined]
    expect(tab.locator("table.history").get_by_text("create")).to_be_visible()  # type: ignore[attr-defined]

    # Another commissioner's service: readable, but its edit form is refused (and the refusal recorded).
    tab.goto(f"{base}/services/gm-centre/edit")  # type: ignore[attr-defined]
    expect(tab.get_by_role("heading", name="Not allowed")).to_be_visible()  # type: ignore[attr-defined]
    expect(tab.get_by_text("is commissioned by pcc-E23000005, not by your commissioner")).to_be_visible()  # type: ignore[attr-defined]
    _shot(tab, "08-refused")
    assert tab.csp_errors == []  # type: ignore[attr-defined]
    with Session(engine) as session:
        hub = repository.get_service(session=session, service_id="wy-hub")
        gm = repository.get_service(session=session, service_id="gm-centre")
    assert hub is not None and gm is not None and gm.version == 1


def test_the_console_in_welsh(page: object, served: tuple[str, Engine, dict[str, int]]) -> None:
    from playwright.sync_api import expect

    tab, (base, engine, accounts) = page, served
    _sign_in(tab, base, engine, accounts["editor"])
    tab.get_by_role("link", name="Cymraeg").click()  # type: ignore[attr-defined]
    expect(tab.get_by_role("heading", name="Gwasanaethau a gomisiynwyd gan pcc-E23000010")).to_be_visible()  # type: ignore[attr-defined]
    _shot(tab, "09-cymraeg")


def test_without_chromium_the_reason_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("SIGNPOST_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Chromium at /nonexistent/chromium"):
        _browser_or_skip()
    monkeypatch.setenv("SIGNPOST_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="a browser is required"):
        _browser_or_skip()
