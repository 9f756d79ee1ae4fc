"""The one way the command line prints: user text is escaped (``[/free]`` in a file is text, not rich markup),
and user errors exit 2 (``signpost.cli.main`` makes the output streams escape what they cannot encode)."""

from __future__ import annotations

import re
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape as escape_markup

__all__ = ["CONTROL_CHARACTERS", "console", "errors", "escape", "escape_controls", "fail"]

# Control characters (ESC starts terminal sequences that move the cursor, retitle the window or hide text),
# and the invisible and direction-changing ones (U+202E shows "gnp.exe" as "exe.png"). Newline and tab stay.
CONTROL_CHARACTERS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]"
)


def escape_controls(text: str) -> str:
    """``text`` with every control or invisible character written as its code (``\\x1b``, ``\\u202e``)."""
    return CONTROL_CHARACTERS.sub(
        lambda m: repr(m.group())[1:-1] if m.group() < "\x80" else f"\\u{ord(m.group()):04x}", text
    )


def escape(text: str) -> str:
    """User text for rich markup: brackets escaped, control characters shown as codes."""
    return escape_markup(escape_controls(text))


console = Console()
errors = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` (escaped, so file contents cannot restyle or hide it) and exit with status 2."""
    errors.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)
