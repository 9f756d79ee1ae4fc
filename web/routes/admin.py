"""Admins' pages: accounts (add, revoke, API tokens, sign-in links) and the refused attempts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services_db import access, signin
from services_db.access import MAX_ROW_ID, MAX_TELEGRAM_ID, AccountError, Action, Role
from web.core import Console
from web.routes.signin_pages import sign_in_link


def router(console: Console) -> APIRouter:
    routes = APIRouter()
    _add_account_routes(routes, console)
    _add_credential_routes(routes, console)
    return routes


def _accounts_page(console: Console, request: Request, status_code: int = 200, **extra: object) -> Response:
    with console.session() as session:
        accounts = access.list_accounts(session=session, include_revoked=True)
    return console.page(
        request, "accounts.html", status_code=status_code, accounts=accounts, roles=list(Role),
        now=console.config.clock(), **extra,
    )  # fmt: skip


def _account_id(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < int(text) <= MAX_ROW_ID else None


def _add_account_routes(routes: APIRouter, console: Console) -> None:
    """The accounts page, adding and revoking an account, and the refused attempts."""

    @routes.get("/admin/accounts")
    def accounts(request: Request) -> Response:
        console.authorise(request, Action.MANAGE_ACCOUNTS)
        return _accounts_page(console, request)

    @routes.post("/admin/accounts")
    async def add(request: Request) -> Response:
        form = await console.form(request)
        principal = console.authorise(request, Action.MANAGE_ACCOUNTS)
        telegram = str(form.get("telegram_id", "")).strip()
        try:
            if telegram and not (telegram.isdigit() and 0 < int(telegram) <= MAX_TELEGRAM_ID):
                raise AccountError("a Telegram user id is a positive number of at most 16 digits")
            with console.session() as session:
                info = access.add_account(
                    session=session,
                    name=str(form.get("name", "")),
                    role=str(form.get("role", "")),
                    commissioner_code=str(form.get("commissioner", "")).strip() or None,
                    telegram_user_id=int(telegram) if telegram else None,
                    actor=principal.actor,
                    now=console.config.clock(),
                )
        except AccountError as exc:
            return _accounts_page(console, request, status_code=422, error=str(exc))
        return _accounts_page(console, request, notice=console.visit(request).t("account_added", id=info.id))

    @routes.post("/admin/accounts/{number}/revoke")
    async def revoke(request: Request, number: str) -> Response:
        await console.form(request)
        principal = console.authorise(request, Action.MANAGE_ACCOUNTS)
        target = _account_id(number)
        try:
            with console.session() as session:
                info = access.revoke_account(
                    session=session, account_id=target or 0, actor=principal.actor, now=console.config.clock()
                )
                signin.revoke_sessions(session=session, account_id=info.id, now=console.config.clock())
        except AccountError as exc:
            return _accounts_page(console, request, status_code=422, error=str(exc))
        return _accounts_page(console, request, notice=console.visit(request).t("account_revoked", id=info.id))

    @routes.get("/admin/refusals")
    def refusals(request: Request) -> Response:
        console.authorise(request, Action.MANAGE_ACCOUNTS)
        with console.session() as session:
            rows = access.refusals(session=session, limit=200)
        return console.page(request, "refusals.html", rows=rows)


def _add_credential_routes(routes: APIRouter, console: Console) -> None:
    """An API token or a one-time sign-in link for an account, shown once."""

    @routes.post("/admin/accounts/{number}/token")
    async def token(request: Request, number: str) -> Response:
        await console.form(request)
        principal = console.authorise(request, Action.MANAGE_ACCOUNTS)
        try:
            with console.session() as session:
                issued = access.issue_token(
                    session=session, account_id=_account_id(number) or 0, actor=principal.actor,
                    now=console.config.clock(),
                )  # fmt: skip
        except AccountError as exc:
            return _accounts_page(console, request, status_code=422, error=str(exc))
        shown = console.visit(request).t(
            "account_token_shown", id=issued.info.account_id, day=f"{issued.info.expires_at:%Y-%m-%d}"
        )
        return _accounts_page(console, request, secret_label=shown, secret=issued.token)

    @routes.post("/admin/accounts/{number}/link")
    async def link(request: Request, number: str) -> Response:
        await console.form(request)
        principal = console.authorise(request, Action.MANAGE_ACCOUNTS)
        try:
            with console.session() as session:
                issued = signin.issue_code(
                    session=session, account_id=_account_id(number) or 0, actor=principal.actor,
                    now=console.config.clock(),
                )  # fmt: skip
        except signin.SignInError as exc:
            return _accounts_page(console, request, status_code=422, error=str(exc))
        shown = console.visit(request).t(
            "account_link_shown", name=issued.account_name, time=f"{issued.expires_at:%H:%M}"
        )
        return _accounts_page(console, request, secret_label=shown, secret=sign_in_link(console, issued.code))
