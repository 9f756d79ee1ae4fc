"""Top-level commands registered by this module."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler

from signpost import wiring
from signpost.cli.console import escape, fail

if TYPE_CHECKING:
    from telegram.ext import Application

    from bot.adapters.telegram import NotStarted, Webhook
    from signpost.config import Settings


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
    from bot.adapters.telegram import NotStarted, run

    console, errors = Console(), Console(stderr=True)
    config = wiring.settings()
    if not config.telegram_bot_token:
        errors.print("[red]TELEGRAM_BOT_TOKEN is not set.[/red] Put @BotFather's token in the environment or .env.")
        raise typer.Exit(2)
    webhook = _webhook(config)
    logging.basicConfig(level=config.log_level.upper(), handlers=[RichHandler(console=errors)], format="%(message)s")
    application = _application(
        config,
        with_jobs=with_jobs,
        webhook=webhook,
        rotate_chat_key_secret=rotate_chat_key_secret,
        rotate_webhook_secret=rotate_webhook_secret,
    )
    mode = f"webhook {webhook.url} (listening on {webhook.listen}:{webhook.port})" if webhook else "long polling"
    jobs = " with scheduled jobs" if with_jobs else ""
    console.print(f"Signpost bot running by {mode}{jobs}. Ctrl+C to stop.")
    try:
        run(application, webhook=webhook)
    except NotStarted as exc:
        _stop(*_not_started(exc, webhook))


# Telegram's rule for setWebhook's secret_token (sent back in the X-Telegram-Bot-Api-Secret-Token header).
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _stop(message: str, code: int) -> NoReturn:
    """Print ``error: message`` (escaped) on stderr and exit with ``code``: 2 a setting to fix, 1 a failure."""
    Console(stderr=True).print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _webhook(config: Settings) -> Webhook | None:
    """The webhook settings, checked before anything starts; ``None`` for long polling."""
    from bot.adapters.telegram import Webhook

    url, secret = config.telegram_webhook_url, config.telegram_webhook_secret
    if bool(url) != bool(secret):
        _stop(
            "webhook mode needs both TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET (unset both for long polling).", 2
        )
    if not url or not secret:
        return None
    if not _WEBHOOK_SECRET.fullmatch(secret):
        _stop(
            f"TELEGRAM_WEBHOOK_SECRET has {len(secret)} characters, some of which Telegram refuses: use 1-256 "
            "characters, each A-Z, a-z, 0-9, _ or - (e.g. the output of: openssl rand -hex 32).",
            2,
        )
    if not 0 < config.telegram_webhook_port < 65536:
        _stop(f"TELEGRAM_WEBHOOK_PORT={config.telegram_webhook_port} is not a port: use 1-65535.", 2)
    return Webhook(url=url, secret=secret, listen=config.telegram_webhook_listen, port=config.telegram_webhook_port)


def _application(
    config: Settings,
    *,
    with_jobs: bool,
    webhook: Webhook | None,
    rotate_chat_key_secret: bool,
    rotate_webhook_secret: bool,
) -> Application:  # type: ignore[type-arg]
    """The bot, built; a setting it cannot use or a database it cannot reach is a message, not a traceback."""
    from sqlalchemy.exc import ArgumentError, OperationalError

    from services_db.shared_secrets import SecretMismatch

    try:
        return wiring.telegram_application(
            config,
            with_jobs=with_jobs,
            webhook_secret=webhook.secret if webhook else None,
            rotate_chat_key_secret=rotate_chat_key_secret,
            rotate_webhook_secret=rotate_webhook_secret,
        )
    except SecretMismatch as exc:
        remedy = _SAME_ON_EVERY_WORKER[exc.setting]
        Console(stderr=True).print(f"[red]Not started: {escape(str(exc))}.[/red] {remedy}", soft_wrap=True)
        raise typer.Exit(2) from None
    except ArgumentError as exc:  # not a URL, or an unknown database kind
        _stop(f"DATABASE_URL is not a database URL SQLAlchemy can use ({exc}). Unset it for SQLite.", 2)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        _stop(f"cannot open the database: {reason}. Check DATABASE_URL and that the database server is running.", 1)
    except ValueError as exc:  # a setting the bot cannot use; the message names it
        _stop(str(exc), 2)


def _not_started(exc: NotStarted, webhook: Webhook | None) -> tuple[str, int]:
    """What to tell the operator when Telegram or the webhook's address refused the start, and the exit code."""
    if exc.stage == "token":
        return f"Telegram refused the bot token ({exc.reason}). Check TELEGRAM_BOT_TOKEN.", 2
    if exc.stage == "listen" and webhook is not None:
        return (
            f"cannot listen on {webhook.listen}:{webhook.port} ({exc.reason}). Set TELEGRAM_WEBHOOK_PORT to a free "
            "port (or stop what uses it) and TELEGRAM_WEBHOOK_LISTEN to an address of this machine.",
            1,
        )
    if exc.stage == "webhook" and webhook is not None:
        return (
            f"Telegram refused setWebhook for {webhook.url} ({exc.reason}). Check TELEGRAM_WEBHOOK_URL; after "
            "'Too Many Requests', start the workers a few seconds apart.",
            1,
        )
    return f"cannot reach Telegram ({exc.reason}). Check the network, and TELEGRAM_BASE_URL if it is set.", 1


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
