"""The ``signpost`` command: one Typer app, one sub-module per user's area of work.

Each sub-module only parses arguments, builds objects through signpost.wiring and prints; logic lives in
mapping, services_db, bot, jobs and web. A sub-module is imported only when its command runs (``--help`` and a
mistyped command import none), so ``signpost --help`` and a quick ``signpost services show ID`` do not pay for
the database, geometry and Telegram libraries of every other command.
"""

from __future__ import annotations

import importlib
import sys
from functools import cache
from typing import Any

import typer
from typer.core import TyperGroup

__all__ = ["COMMANDS", "app", "load_command", "main", "make_output_safe"]

# name -> (module, how the module adds it, the one line `signpost --help` shows). A test checks the line is the
# command's own help.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "services": (
        "signpost.cli.services",
        "app",
        "The services directory: list, show, history, restore, verify, seed, import, export, template.",
    ),
    "geography": (
        "signpost.cli.geography",
        "app",
        "Official boundaries (Police Force Areas, Local Authority Districts).",
    ),
    "coverage": ("signpost.cli.coverage", "app", "Coverage-gap mapping of third-party reporting services."),
    "accounts": (
        "signpost.cli.accounts",
        "app",
        "Staff accounts (PCC editors, analysts, admins), web console sign-in links and API tokens.",
    ),
    "jobs": ("signpost.cli.jobs", "app", "Scheduled jobs: reports, reminders, retention and statistics."),
    "outbox": (
        "signpost.cli.jobs",
        "register_outbox",
        "Print undelivered messages for staff, then mark them delivered (unless --keep).",
    ),
    "locate": (
        "signpost.cli.places",
        "register",
        "Locate every line of FILE: CSV with query, lat, lon, precision_m, source, lad_code, pfa_code, error.",
    ),
    "find": (
        "signpost.cli.find",
        "register",
        "Who can help someone at this place: the services covering it, ranked, each saying why.",
    ),
    "bot": (
        "signpost.cli.bot",
        "register",
        "Run the Telegram bot: long polling, or a webhook if TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET are set.",
    ),
    "chat": (
        "signpost.cli.bot",
        "register",
        "Chat with Signpost in this terminal: the same conversation as the Telegram bot (works with piped input).",
    ),
    "web": (
        "signpost.cli.web",
        "register",
        "Run the web console. Put it behind an HTTPS reverse proxy; it listens on 127.0.0.1 by default.",
    ),
}


@cache
def load_command(name: str) -> Any:
    """The click command ``name`` (typer's own click), importing only the module that defines it."""
    module_name, how, _ = COMMANDS[name]
    command: Any
    module = importlib.import_module(module_name)
    if how == "app":
        sub: typer.Typer = module.app
        if name == "services":
            from signpost.cli import services_io

            services_io.register(sub)  # import, export, template
        command = typer.main.get_group(sub)
    else:
        holder = typer.Typer(add_completion=False)
        getattr(module, how)(holder)
        built = typer.main.get_command(holder)
        command = built.commands[name] if hasattr(built, "commands") else built
    command.name = name
    return command


class _LazyGroup(TyperGroup):
    """The root group: lists the commands from :data:`COMMANDS` and imports one only to run it."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, _, short) in COMMANDS.items()])


app = typer.Typer(
    name="signpost",
    cls=_LazyGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # rich help would build every command's help, importing every module
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Signpost: hate crime reporting help for England and Wales."""


def make_output_safe() -> None:
    """Write characters the terminal cannot encode (a lone surrogate from a file) as escapes, never raise."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main() -> None:
    make_output_safe()
    app()
