"""The console's FastAPI application: security headers on every response, the routes, the error pages."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from web.config import WebConfig
from web.core import Console, NeedsSignIn, NotFound, Refused
from web.routes import admin, reports, services, signin_pages, uploads

__all__ = ["create_app"]


def _csp(config: WebConfig) -> str:
    """No inline script or style anywhere: scripts, styles and images come from the console itself."""
    images = "'self' data:"
    if config.tiles_url:
        origin = "/".join(config.tiles_url.split("/")[:3]).replace("{s}.", "*.")
        images += f" {origin}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src {images}; connect-src 'self'; font-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def create_app(config: WebConfig) -> FastAPI:
    """The console over ``config.engine`` (see :class:`web.config.WebConfig`)."""
    app = FastAPI(title="Signpost console", docs_url=None, redoc_url=None, openapi_url=None)
    console = Console(config)
    app.state.console = console
    policy = _csp(config)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"  # a sign-in code in a URL never leaves in a Referer
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        if config.secure_cookies:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response

    @app.exception_handler(NeedsSignIn)
    async def needs_sign_in(request: Request, _exc: NeedsSignIn) -> Response:
        return console.redirect("/signin")

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return console.page(request, "refused.html", status_code=403, decision=exc.decision)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        message = console.visit(request).t("not_found", what=exc.what)
        return console.page(request, "message.html", status_code=404, message=message)

    static = resources.files("web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    for module in (signin_pages, services, uploads, reports, admin):
        app.include_router(module.router(console))
    return app
