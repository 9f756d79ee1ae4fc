"""The ``signpost`` command: one Typer app, one sub-module per user's area of work.

Each sub-module only parses arguments, builds objects through signpost.wiring and prints; logic lives in
mapping, services_db, bot and jobs.
"""

from __future__ import annotations

import typer

from signpost.cli import accounts, bot, coverage, find, geography, jobs, places, services, services_io, web
from signpost.cli.console import make_output_safe

app = typer.Typer(
    name="signpost",
    help="Signpost: hate crime reporting help for England and Wales.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
services_io.register(services.app)  # import, export, template
app.add_typer(services.app, name="services")
app.add_typer(geography.app, name="geography")
app.add_typer(coverage.app, name="coverage")
app.add_typer(accounts.app, name="accounts")
app.add_typer(jobs.app, name="jobs")
jobs.register_outbox(app)
places.register(app)  # locate
find.register(app)  # find
bot.register(app)  # chat, bot
web.register(app)  # web


def main() -> None:
    make_output_safe()
    app()
