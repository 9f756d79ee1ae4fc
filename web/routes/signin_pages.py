"""Signing in with a one-time code (from a link on Telegram, or from an admin), signing out, the language."""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response

from services_db import signin
from services_db.access import Action, Decision, Role, record_refusal
from web.core import LANG_COOKIE, Console
from web.i18n import LANGUAGES

log = logging.getLogger(__name__)


def sign_in_link(console: Console, code: str) -> str:
    return f"{console.config.public_url.rstrip('/')}/signin?code={quote(code)}"


def send_on_telegram(console: Console, telegram_user_id: int, text: str) -> bool:
    """Send a message through the Bot API (the bot's own token); ``False`` when it could not be sent."""
    config = console.config
    if not config.telegram_bot_token:
        return False
    base = config.telegram_base_url or "https://api.telegram.org/bot"
    try:
        reply = httpx.post(
            f"{base}{config.telegram_bot_token}/sendMessage",
            json={"chat_id": telegram_user_id, "text": text},
            timeout=10,
        )
        return reply.status_code == 200 and bool(reply.json().get("ok"))
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("sign-in link not sent on Telegram: %s", type(exc).__name__)
        return False


def _limited(console: Console, request: Request) -> Response | None:
    """The refusal page (audited) when this visitor has tried to sign in too often, else ``None``."""
    where = console.client(request)
    if console.limiter.allow(where):
        return None
    decision = Decision(False, Action.READ, f"web visitor {where}", ("sign in: too many attempts",))
    with console.session() as session:
        record_refusal(session=session, decision=decision, service_id=None, now=console.config.clock())
    message = console.visit(request).t("signin_limited", minutes=console.config.sign_in_window_s // 60)
    return console.page(request, "signin.html", status_code=429, error=message, code="", minutes=signin.CODE_MINUTES)


def _send_link_on_telegram(console: Console, who: str) -> None:
    """Send a one-time sign-in link to the account named ``who``, when it exists and has a Telegram id."""
    minutes = signin.CODE_MINUTES
    with console.session() as session:
        account = signin.find_account(session=session, who=who) if who.strip() else None
        if account is None or account.id is None or account.telegram_user_id is None:
            return
        issued = signin.issue_code(
            session=session, account_id=account.id, actor="web console (link sent on Telegram)",
            now=console.config.clock(),
        )  # fmt: skip
        text = (
            f"Your Signpost console sign-in link (works once, for {minutes} minutes):\n"
            f"{sign_in_link(console, issued.code)}\nIf you did not ask for it, ignore this message."
        )
        send_on_telegram(console, account.telegram_user_id, text)


def _open_session(console: Console, request: Request, code: str) -> Response:
    """Redeem a one-time code: the session cookie and the home page, or the sign-in page saying why not."""
    with console.session() as session:
        opened = signin.redeem_code(
            session=session,
            code=code,
            now=console.config.clock(),
            hours=console.config.session_hours,
            where=f"from {console.client(request)}",
        )
    if isinstance(opened, Decision):
        message = console.visit(request).t("signin_failed", reason=opened.message.removeprefix("sign in: "))
        return console.page(
            request, "signin.html", status_code=401, error=message, code="", minutes=signin.CODE_MINUTES
        )
    response = console.redirect("/")
    response.set_cookie(
        console.cookie,
        opened.secret,
        max_age=console.config.session_hours * 3600,
        httponly=True,
        secure=console.config.secure_cookies,
        samesite="strict",
        path="/",
    )
    return response


def router(console: Console) -> APIRouter:
    """Home (by role), signing in and out, and the language cookie."""
    routes = APIRouter()
    minutes = signin.CODE_MINUTES

    @routes.get("/")
    def home(request: Request) -> Response:
        visit = console.visit(request)
        if visit.principal is None:
            return console.redirect("/signin")
        if visit.principal.role is Role.ANALYST:
            return console.redirect("/reports")
        return console.redirect("/services")

    @routes.get("/signin")
    def sign_in_page(request: Request, code: str = "", out: str = "") -> Response:
        # A GET never uses the code: link previews (Telegram fetches links) must not spend it.
        notice = console.visit(request).t("signed_out") if out else ""
        return console.page(request, "signin.html", code=code[:64], minutes=minutes, notice=notice)

    @routes.post("/signin")
    async def sign_in(request: Request) -> Response:
        form = await console.form(request)
        blocked = _limited(console, request)
        if blocked is not None:
            return blocked
        return _open_session(console, request, str(form.get("code", ""))[:64])

    @routes.post("/signin/telegram")
    async def sign_in_by_telegram(request: Request) -> Response:
        form = await console.form(request)
        blocked = _limited(console, request)
        if blocked is not None:
            return blocked
        _send_link_on_telegram(console, str(form.get("who", ""))[:120])
        # The same answer whoever was named: the page does not tell which accounts exist.
        message = console.visit(request).t("signin_sent", minutes=minutes)
        return console.page(request, "signin.html", notice=message, code="", minutes=minutes)

    @routes.post("/signout")
    async def sign_out(request: Request) -> Response:
        visit = console.visit(request)
        if visit.secret is not None:
            await console.form(request)
            with console.session() as session:
                signin.end_session(session=session, secret=visit.secret, now=console.config.clock())
        response = console.redirect("/signin?out=1")
        response.delete_cookie(console.cookie, path="/", secure=console.config.secure_cookies, httponly=True)
        return response

    @routes.get("/lang/{language}")
    def set_language(request: Request, language: str, next: str = "/") -> Response:
        target = next if next.startswith("/") and not next.startswith("//") else "/"
        response = console.redirect(target)
        if language in LANGUAGES:
            response.set_cookie(
                LANG_COOKIE, language, max_age=365 * 86400, secure=console.config.secure_cookies, samesite="lax"
            )
        return response

    return routes
