"""The console's plumbing: who is asking (session cookie or API token), CSRF, rate limits, rendering, refusals.

No rule lives here: decisions are :mod:`services_db.access`'s; this module only gathers the request's facts
and turns a refused decision into a 403 page (the refusal is already audited by ``access``).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session
from starlette.datastructures import FormData

from mapping.boundaries import BoundaryIndex
from services_db import access, signin
from services_db.access import Action, Decision, Principal, Role
from services_db.boundaries import load_boundary_index
from services_db.force_area import ForceAreaCheck, default_force_area_check
from web.config import WebConfig
from web.i18n import LANGUAGES, translate

__all__ = ["Console", "NeedsSignIn", "NotFound", "Refused", "Visit"]

PRE_COOKIE = "signpost_pre"  # random, for the CSRF token of the sign-in forms (before there is a session)
LANG_COOKIE = "signpost_lang"
MAX_FORM_BYTES = 21 * 1024 * 1024


class NeedsSignIn(Exception):
    """No valid session or token: go to the sign-in page."""


class Refused(Exception):
    """A refused decision (already audited by ``services_db.access``), shown as a 403 page."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.message)
        self.decision = decision


class NotFound(Exception):
    """No such service (or version): a 404 page naming what was asked for."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class RateLimiter:
    """At most ``limit`` events per key per ``window`` seconds (in this process; a proxy limits across them)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True


@dataclass(frozen=True)
class Visit:
    """One request's facts: who (if anyone), how (cookie or token), the language and the form token."""

    principal: Principal | None
    language: str
    csrf: str
    secret: str | None  # the session cookie's secret (None for API tokens and visitors)

    def t(self, key: str, **values: object) -> str:
        return translate(self.language, key, **values)


class Console:
    """One console: configuration, templates, the sign-in rate limiter and the loaded geography."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        folder = resources.files("web").joinpath("templates")
        self.templates = Jinja2Templates(directory=str(folder))
        self.templates.env.globals["Role"] = Role
        self.limiter = RateLimiter(config.sign_in_attempts, config.sign_in_window_s)
        self._geography_lock = threading.Lock()
        self._boundaries: tuple[BoundaryIndex | None] | None = None
        self._force_area: ForceAreaCheck | None = None

    @property
    def cookie(self) -> str:
        # __Host- cookies are only accepted over HTTPS, bound to this host and path /.
        return "__Host-signpost_session" if self.config.secure_cookies else "signpost_session"

    def session(self) -> Session:
        return Session(self.config.engine, expire_on_commit=False)

    # --- geography, loaded once (restart the console after `signpost geography load`) ---------------------

    def boundaries(self) -> BoundaryIndex | None:
        with self._geography_lock:
            if self._boundaries is None:
                with self.session() as session:
                    self._boundaries = (load_boundary_index(session=session),)
            return self._boundaries[0]

    def force_area(self) -> ForceAreaCheck:
        index = self.boundaries()
        with self._geography_lock:
            if self._force_area is None:
                self._force_area = default_force_area_check(boundaries=index.geometry if index else None)
            return self._force_area

    def areas(self) -> Any:
        index = self.boundaries()
        return index.geometry if index is not None else None

    # --- who is asking ----------------------------------------------------------------------------------

    def visit(self, request: Request) -> Visit:
        cached = getattr(request.state, "visit", None)
        if cached is not None:
            return cached
        language = request.cookies.get(LANG_COOKIE, "en")
        language = language if language in LANGUAGES else "en"
        principal, secret = None, None
        bearer = request.headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            with self.session() as session:
                who = access.authenticate_token(session=session, token=bearer[7:].strip(), now=self.config.clock())
            if isinstance(who, Decision):
                request.state.visit = Visit(None, language, "", None)  # the refusal page shows no one signed in
                raise Refused(who)
            principal = who
            csrf = ""  # a token is not sent by the browser on its own: no cross-site forgery to guard against
        else:
            secret = request.cookies.get(self.cookie) or None
            if secret is not None:
                with self.session() as session:
                    principal = signin.principal_for_session(session=session, secret=secret, now=self.config.clock())
            if principal is None:
                secret = None
            pre = request.cookies.get(PRE_COOKIE) or ""
            if secret is None and not pre:
                pre = request.state.new_pre = secrets.token_urlsafe(32)  # set as a cookie by page()
            csrf = signin.csrf_token(secret) if secret else signin.csrf_token(pre, purpose="signin")
        visit = Visit(principal, language, csrf, secret)
        request.state.visit = visit
        return visit

    def signed_in(self, request: Request) -> tuple[Visit, Principal]:
        visit = self.visit(request)
        if visit.principal is None:
            raise NeedsSignIn()
        return visit, visit.principal

    async def form(self, request: Request) -> FormData:
        """The posted form, after checking its CSRF token (refused and audited when it is wrong)."""
        visit = self.visit(request)
        form = await request.form(max_part_size=MAX_FORM_BYTES)
        if visit.principal is not None and visit.secret is None:
            return form  # an API token: no ambient credentials
        sent = str(form.get("csrf", ""))
        if not visit.csrf or not hmac.compare_digest(sent, visit.csrf):
            actor = visit.principal.actor if visit.principal else f"web visitor {self.client(request)}"
            decision = Decision(False, Action.READ, actor, (f"form without a valid CSRF token: {request.url.path}",))
            with self.session() as session:
                access.record_refusal(session=session, decision=decision, service_id=None, now=self.config.clock())
            raise Refused(decision)
        return form

    def authorise(self, request: Request, action: Action, **facts: Any) -> Principal:
        """The signed-in principal, if ``services_db.access`` allows ``action`` (else :class:`Refused`)."""
        _, principal = self.signed_in(request)
        if facts.get("proposed") is not None and principal.role is Role.PCC_EDITOR:
            facts.setdefault("force_area", self.force_area())
        with self.session() as session:
            decision = access.authorise(
                session=session, principal=principal, action=action, now=self.config.clock(), **facts
            )
        if not decision.allowed:
            raise Refused(decision)
        return principal

    @staticmethod
    def client(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    # --- responses --------------------------------------------------------------------------------------

    def page(self, request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        visit = self.visit(request)
        response = self.templates.TemplateResponse(
            request,
            template,
            {"visit": visit, "t": visit.t, "me": visit.principal, "config": self.config, **context},
            status_code=status_code,
        )
        pre = getattr(request.state, "new_pre", None)
        if pre is not None:
            response.set_cookie(PRE_COOKIE, pre, httponly=True, secure=self.config.secure_cookies, samesite="strict")
        return response

    @staticmethod
    def redirect(url: str) -> Response:
        return RedirectResponse(url, status_code=303)
