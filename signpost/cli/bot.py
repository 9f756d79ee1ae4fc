"""Top-level commands registered by this module."""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from signpost import wiring
from signpost.cli.console import fail


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("bot")(bot)
    app.command("chat")(chat)


# What to do when a worker's secret is not the other workers' (see services_db.shared_secrets).
_SAME_ON_EVERY_WORKER = {
    wiring.CHAT_KEY_SETTING: "Set the same SIGNPOST_CHAT_KEY_SECRET on every worker. To change it on purpose (every "
    "open conversation starts afresh), stop every worker, then start one with --rotate-chat-key-secret.",
    wiring.WEBHOOK_SETTING: "Set the same TELEGRAM_WEBHOOK_SECRET on every worker. To change it on purpose, start "
    "one worker with the new value and --rotate-webhook-secret, then restart the others with it.",
}


def bot(
    with_jobs: bool = typer.Option(
        False, "--with-jobs", help="Also run the scheduled jobs in this process (staff reminders go through the bot)."
    ),
    rotate_webhook_secret: bool = typer.Option(
        False, "--rotate-webhook-secret", help="TELEGRAM_WEBHOOK_SECRET is being changed: record the new one."
    ),
    rotate_chat_key_secret: bool = typer.Option(
        False, "--rotate-chat-key-secret", help="SIGNPOST_CHAT_KEY_SECRET is being changed: record the new one."
    ),
) -> None:
    """Run the Telegram bot: long polling, or a webhook if TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET are set."""
    # Imported here so that commands which never touch Telegram do not load it.
    from bot.adapters.telegram import Webhook, run
    from services_db.shared_secrets import SecretMismatch

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
    try:
        application = wiring.telegram_application(
            config,
            with_jobs=with_jobs,
            webhook_secret=webhook.secret if webhook else None,
            rotate_chat_key_secret=rotate_chat_key_secret,
            rotate_webhook_secret=rotate_webhook_secret,
        )
    except SecretMismatch as exc:
        remedy = _SAME_ON_EVERY_WORKER[exc.setting]
        errors.print(f"[red]Not started: {escape(str(exc))}.[/red] {remedy}", soft_wrap=True)
        raise typer.Exit(2) from None
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
