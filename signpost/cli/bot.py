"""Top-level commands registered by this module."""

from __future__ import annotations

import typer
from rich.console import Console

from signpost import wiring


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("chat")(chat)


def chat(
    language: str = typer.Option("en", "--language", "-l", help="en (English), cy (Cymraeg) or easy (Easy Read)."),
    start: str = typer.Option("", "--start", help="A deep-link argument, as on posters: e.g. 'strand-race'."),
) -> None:
    """Chat with Signpost in this terminal: the same conversation as the Telegram bot (works with piped input)."""
    import sys

    from bot.adapters.terminal import TerminalChat
    from bot.engine import Engine, Language
    from bot.signposter import DirectorySignposter

    errors = Console(stderr=True)
    try:
        chosen = Language(language.lower())
    except ValueError:
        errors.print(f"[red]Unknown language {language!r}.[/red] Use en, cy or easy.")
        raise typer.Exit(2) from None
    config = wiring.settings()
    console = Console(highlight=False)
    with console.status("Opening the services directory..."):
        signposter = DirectorySignposter.from_database(wiring.database(config))
    engine = Engine(signposter, stale_after_days=config.stale_after_days)
    TerminalChat(engine, console=console, input_stream=sys.stdin, echo=not sys.stdin.isatty()).run(
        start=start, language=chosen
    )
