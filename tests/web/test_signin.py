"""Signing in without passwords, sessions, CSRF, the Content-Security-Policy, rate limits, tokens, languages."""

from __future__ import annotations

import io
import tomllib
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, select

from services_db import access, signin
from services_db.formats import write_services
from services_db.models import AuditEntry, WebSession, WebSignIn
from tests.services_db.factories import area_service
from tests.web.conftest import WEST_YORKSHIRE, Site, csrf_of
from web import WebConfig, create_app


def _refusal_details(site: Site) -> list[str]:
    with Session(site.engine) as session:
        return list(session.exec(select(AuditEntry.detail).where(AuditEntry.action == "refused")).all())


def test_a_link_signs_in_once_and_the_cookie_is_locked_down(site: Site) -> None:
    client = site.client()
    code = site.code("editor")
    page = client.get(f"/signin?code={code}")
    assert page.status_code == 200 and f'value="{code}"' in page.text  # a GET (a link preview) does not spend it
    pre = page.headers["set-cookie"]
    assert "HttpOnly" in pre and "Secure" in pre and "SameSite=strict" in pre
    reply = client.post("/signin", data={"csrf": csrf_of(page.text), "code": code})
    cookie = reply.headers["set-cookie"]
    assert reply.status_code == 303 and cookie.startswith("__Host-signpost_session=")
    assert all(flag in cookie for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/", "Max-Age=28800"))
    secret = cookie.split(";")[0].split("=", 1)[1]
    with Session(site.engine) as session:
        stored = session.exec(select(WebSession)).one()
        codes = session.exec(select(WebSignIn)).all()
    assert stored.id_hash != secret and secret not in stored.id_hash and all(c.code_hash != code for c in codes)
    assert client.get("/services").status_code == 200
    again = site.client()
    page = again.get("/signin")
    reused = again.post("/signin", data={"csrf": csrf_of(page.text), "code": code})
    assert reused.status_code == 401 and "already used" in reused.text
    assert any("already used" in d for d in _refusal_details(site))


def test_expired_and_unknown_codes_are_refused_and_audited(site: Site) -> None:
    with Session(site.engine, expire_on_commit=False) as session:
        old = signin.issue_code(
            session=session, account_id=site.accounts["editor"], actor="t",
            now=signin._now(None) - timedelta(minutes=signin.CODE_MINUTES + 1),
        )  # fmt: skip
    client = site.client()
    token = csrf_of(client.get("/signin").text)
    assert "expired" in client.post("/signin", data={"csrf": token, "code": old.code}).text
    assert client.post("/signin", data={"csrf": token, "code": "nope"}).status_code == 401
    details = _refusal_details(site)
    assert any("expired" in d for d in details) and any("not known" in d for d in details)


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(site: Site) -> None:
    client = site.sign_in("editor")
    reply = client.post("/services/wy-centre/verify", data={})
    assert reply.status_code == 403 and any("CSRF" in d for d in _refusal_details(site))
    forged = client.post("/services/wy-centre/verify", data={"csrf": "0" * 64})
    assert forged.status_code == 403


def test_signing_out_revokes_the_session(site: Site) -> None:
    client = site.sign_in("editor")
    cookie = client.cookies.get("__Host-signpost_session")
    token = csrf_of(client.get("/services").text)
    assert client.post("/signout", data={"csrf": token}).status_code == 303
    stolen = site.client()
    stolen.cookies.set("__Host-signpost_session", cookie or "")
    assert stolen.get("/services").status_code == 303  # back to sign in: the cookie no longer works


def test_a_revoked_account_is_signed_out_everywhere(site: Site) -> None:
    editor = site.sign_in("editor")
    admin = site.sign_in("admin")
    token = csrf_of(admin.get("/admin/accounts").text)
    assert admin.post(f"/admin/accounts/{site.accounts['editor']}/revoke", data={"csrf": token}).status_code == 200
    assert editor.get("/services").status_code == 303


def test_every_page_has_a_strict_content_security_policy(site: Site) -> None:
    client = site.sign_in("admin")
    for page in ("/signin", "/services", "/services/wy-centre", "/services/wy-centre/edit", "/upload", "/reports",
                 "/admin/accounts", "/admin/refusals"):  # fmt: skip
        reply = client.get(page)
        policy = reply.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        assert reply.headers["x-frame-options"] == "DENY" and reply.headers["referrer-policy"] == "no-referrer"
        assert "<script>" not in reply.text and " style=" not in reply.text and " onclick" not in reply.text


def test_sign_in_attempts_are_rate_limited(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(WebConfig(engine=engine, data_dir=tmp_path, sign_in_attempts=3))
    from fastapi.testclient import TestClient

    client = TestClient(app, base_url="https://console.test", follow_redirects=False)
    token = csrf_of(client.get("/signin").text)
    codes = [client.post("/signin", data={"csrf": token, "code": f"guess{k}"}).status_code for k in range(5)]
    assert codes == [401, 401, 401, 429, 429]


def test_telegram_link_request_does_not_reveal_accounts(site: Site) -> None:
    client = site.client()
    token = csrf_of(client.get("/signin").text)
    known = client.post("/signin/telegram", data={"csrf": token, "who": "Leeds team"})
    unknown = client.post("/signin/telegram", data={"csrf": token, "who": "Nobody at all"})
    assert known.status_code == unknown.status_code == 200
    assert "a link is on its way" in known.text and "a link is on its way" in unknown.text


def test_an_api_token_works_without_a_cookie_and_follows_the_role(site: Site) -> None:
    with Session(site.engine, expire_on_commit=False) as session:
        token = access.issue_token(session=session, account_id=site.accounts["editor"], actor="t").token
    client = site.client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/services", headers=headers).status_code == 200
    assert client.post("/services/wy-centre/verify", headers=headers).status_code == 303
    assert client.post("/services/gm-centre/verify", headers=headers).status_code == 403
    assert client.get("/services", headers={"Authorization": "Bearer spt_wrong"}).status_code == 403


def test_upload_preview_then_confirm_applies_exactly_what_was_shown(site: Site) -> None:
    client = site.sign_in("editor")
    record = area_service(
        "E08000035", service_id="wy-upload", name="Uploaded Leeds centre", commissioner_code=WEST_YORKSHIRE
    )
    data = write_services([record], "csv").encode("utf-8")
    token = csrf_of(client.get("/upload").text)
    preview = client.post("/upload", data={"csrf": token}, files={"file": ("leeds.csv", io.BytesIO(data), "text/csv")})
    assert preview.status_code == 200 and "wy-upload" in preview.text and "Confirm" in preview.text
    # wy-centre is not in the file: the preview says it would be closed, as in the chat app
    assert "wy-centre" in preview.text
    nonce = preview.text.split('name="nonce" value="')[1].split('"')[0]
    done = client.post("/upload/confirm", data={"csrf": token, "nonce": nonce, "confirm": "1"})
    assert done.status_code == 200 and "1 added" in done.text and "1 closed" in done.text
    again = client.post("/upload/confirm", data={"csrf": token, "nonce": nonce, "confirm": "1"})
    assert again.status_code == 410
    assert not any(site.data_dir.joinpath("uploads").iterdir())


def test_the_console_speaks_welsh_on_request_and_both_catalogues_match() -> None:
    folder = Path(__file__).resolve().parents[2] / "web" / "content"
    en = tomllib.loads((folder / "en.toml").read_text(encoding="utf-8"))
    cy = tomllib.loads((folder / "cy.toml").read_text(encoding="utf-8"))
    assert set(en) == set(cy)
    import string

    for key in en:
        fields = {f for _, f, _, _ in string.Formatter().parse(en[key]) if f}
        assert fields == {f for _, f, _, _ in string.Formatter().parse(cy[key]) if f}, key


def test_the_welsh_toggle(site: Site) -> None:
    client = site.client()
    switched = client.get("/lang/cy?next=/signin")
    assert switched.status_code == 303 and switched.headers["location"] == "/signin"
    page = client.get("/signin")
    assert '<html lang="cy">' in page.text and "Mewngofnodi" in page.text
    assert client.get("/lang/cy?next=//evil.example").headers["location"] == "/"
