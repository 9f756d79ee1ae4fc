"""Top-level commands registered by this module."""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from rich.logging import RichHandler

from signpost import wiring
from signpost.cli.console import fail


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("bot")(bot)
    app.command("chat")(chat)


def bot(
    with_jobs: bool = typer.Option(
        False, "--with-jobs", help="Also run the scheduled jobs in this process (staff reminders go through the bot)."
    ),
) -> None:
    """Run the Telegram bot: long polling, or a webhook if TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET are set."""
    # Imported here so that commands which never touch Telegram do not load it.
    from bot.adapters.telegram import Webhook, run

    console, errors = Console(), Console(stderr=True)
    config = wiring.settings()
    if not config.telegram_bot_token:
        errors.print("[red]TELEGRAM_BOT_TOKEN is not set.[/red] Put @BotFather's token in the environment or .env.")
        raise typer.Exit(2)
    if bool(config.telegram_webhook_url) != bool(config.telegram_webhook_secret):
        errors.print(
            "[red]Webhook mode needs both TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET[/red] "
            "(unset both for long polling)."
        )
        raise typer.Exit(2)
    logging.basicConfig(level=config.log_level.upper(), handlers=[RichHandler(console=errors)], format="%(message)s")
    webhook = None
    if config.telegram_webhook_url and config.telegram_webhook_secret:
        webhook = Webhook(
            url=config.telegram_webhook_url,
            secret=config.telegram_webhook_secret,
            listen=config.telegram_webhook_listen,
            port=config.telegram_webhook_port,
        )
    application = wiring.telegram_application(config, with_jobs=with_jobs)
    mode = f"webhook {webhook.url} (listening on {webhook.listen}:{webhook.port})" if webhook else "long polling"
    jobs = " with scheduled jobs" if with_jobs else ""
    console.print(f"Signpost bot running by {mode}{jobs}. Ctrl+C to stop.")
    run(application, webhook=webhook)


def chat(
    language: str = typer.Option("en", "--language", "-l", help="en (English), cy (Cymraeg) or easy (Easy Read)."),
    start: str = typer.Option("", "--start", help="A deep-link argument, as on posters: e.g. 'strand-race'."),
) -> None:
    """Chat with Signpost in this terminal: the same conversation as the Telegram bot (works with piped input)."""
    import sys

    from rich.markup import escape
    from sqlalchemy.exc import OperationalError

    from bot.adapters.terminal import TerminalChat
    from bot.engine import Engine, Language
    from bot.signposter import DirectorySignposter

    errors = Console(stderr=True)
    try:
        chosen = Language(language.lower())
    except ValueError:
        fail(f"unknown language {language!r}. Use en, cy or easy.")
    config = wiring.settings()
    console = Console(highlight=False)
    try:
        with console.status("Opening the services directory..."):
            signposter = DirectorySignposter.from_database(wiring.database(config))
    except OperationalError as exc:
        reason = escape(str(exc.orig).splitlines()[0])
        errors.print(f"[red]Cannot open the database:[/red] {reason}. Check DATABASE_URL, or unset it for SQLite.")
        raise typer.Exit(2) from None
    signposter.warm()  # place names load while the person reads the welcome
    engine = Engine(signposter, stale_after_days=config.stale_after_days)
    TerminalChat(engine, console=console, input_stream=sys.stdin, echo=not sys.stdin.isatty()).run(
        start=start, language=chosen
    )
