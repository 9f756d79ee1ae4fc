"""The one way the command line prints: user text is escaped (``[/free]`` in a file is text, not rich markup),
and user errors exit 2 (``signpost.cli.main`` makes the output streams escape what they cannot encode)."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["console", "errors", "escape", "fail"]

console = Console()
errors = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` (escaped, so file contents cannot restyle or hide it) and exit with status 2."""
    errors.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)
