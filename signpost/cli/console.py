"""The one way the command line prints: user text is escaped (``[/free]`` in a file is text, not rich markup),
user errors exit 2, and text no terminal can encode (a lone surrogate) is shown escaped instead of crashing."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["console", "errors", "escape", "fail", "make_output_safe"]

console = Console()
errors = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` (escaped, so file contents cannot restyle or hide it) and exit with status 2."""
    errors.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def make_output_safe(*streams: Any) -> None:
    """Write characters the stream cannot encode as escapes (``\\udc80``) rather than raising on them."""
    for stream in streams or (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
