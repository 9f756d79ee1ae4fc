"""`signpost web`: the web console for PCC teams, analysts and admins (served by uvicorn)."""

from __future__ import annotations

import typer
from rich.console import Console

from signpost import wiring


def register(app: typer.Typer) -> None:
    """Add ``web`` to the main app."""
    app.command("web")(web)


def web(
    host: str | None = typer.Option(None, "--host", help="Address to listen on (default SIGNPOST_WEB_HOST)."),
    port: int | None = typer.Option(None, "--port", min=1, max=65535, help="Port (default SIGNPOST_WEB_PORT)."),
) -> None:
    """Run the web console. Put it behind an HTTPS reverse proxy; it listens on 127.0.0.1 by default."""
    import uvicorn

    config = wiring.settings()
    console = Console(stderr=True)
    if not config.web_secure_cookies:
        console.print("[yellow]SIGNPOST_WEB_SECURE_COOKIES is off: use this only on http://127.0.0.1.[/]")
    app = wiring.web_app(config)
    console.print(f"Signpost console on http://{host or config.web_host}:{port or config.web_port} ({config.web_url})")
    # proxy_headers: the client address for rate limits comes from X-Forwarded-For set by the local proxy only.
    uvicorn.run(
        app, host=host or config.web_host, port=port or config.web_port, proxy_headers=True, log_level="warning"
    )
