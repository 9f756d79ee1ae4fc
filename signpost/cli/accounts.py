"""`signpost accounts add|list|revoke|token|refusals`: staff accounts for PCC teams, analysts and admins.

The command line is the operator's tool: whoever runs it holds the database's credentials, so it acts as the
operator (named by OS account and host in the audit trail). Staff use the bot and the web console, where their
role is checked; the tokens issued here are for the web console's API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from services_db.limits import DEFAULT_TOKEN_DAYS, MAX_ROW_ID, MAX_TELEGRAM_ID, MAX_TOKEN_DAYS
from services_db.roles import Role
from signpost import wiring
from signpost.cli.console import escape, fail
from signpost.cli.operator import operator_actor

if TYPE_CHECKING:  # the database (services_db.access, the ORM) loads when a command runs, never for --help
    from sqlmodel import Session

    from services_db import access

app = typer.Typer(
    no_args_is_help=True,
    help="Staff accounts (PCC editors, analysts, admins), web console sign-in links and API tokens.",
)
console = Console()
errors = Console(stderr=True)

DaysOption = Annotated[
    int, typer.Option("--expires-days", min=1, max=MAX_TOKEN_DAYS, help="Days until the token expires.")
]


@contextmanager
def _session() -> Iterator[Session]:
    from sqlmodel import Session

    with Session(wiring.database(), expire_on_commit=False) as session:
        yield session


def _show_token(issued: access.IssuedToken) -> None:
    console.print("[bold]API token[/] for the web console (shown once: keep it secret, it cannot be shown again):")
    typer.echo(issued.token)  # plain, unwrapped, so it can be copied whole
    console.print(
        f"It expires on {issued.info.expires_at:%Y-%m-%d}. "
        f"Revoke it with: signpost accounts revoke --token-prefix {issued.info.prefix}",
        soft_wrap=True,
    )


@app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="The person's or team's name.")],
    role: Annotated[Role, typer.Option("--role", help="pcc_editor, analyst or admin.")],
    commissioner: Annotated[
        str | None, typer.Option("--commissioner", help="For a pcc_editor: the commissioner code, e.g. pcc-E23000032.")
    ] = None,
    telegram_id: Annotated[
        int | None,
        typer.Option(
            "--telegram-id",
            min=1,
            max=MAX_TELEGRAM_ID,
            help="Their Telegram user id, with their consent, for the staff chat commands and web sign-in links.",
        ),
    ] = None,
    issue_token: Annotated[bool, typer.Option("--issue-token", help="Also issue an API token (web console).")] = False,
    expires_days: DaysOption = DEFAULT_TOKEN_DAYS,
) -> None:
    """Register a member of staff."""
    from services_db import access
    from services_db.access import AccountError

    with _session() as session:
        actor = operator_actor()
        try:
            info = access.add_account(
                session=session,
                name=name,
                role=role,
                commissioner_code=commissioner,
                telegram_user_id=telegram_id,
                actor=actor,
            )
            issued = (
                access.issue_token(
                    session=session, account_id=info.id, actor=actor, valid_for=timedelta(days=expires_days)
                )
                if issue_token
                else None
            )
        except AccountError as exc:
            fail(str(exc))
    console.print(f"Account [bold]{info.id}[/] added: {escape(info.name)} ({info.role.value}{_of(info)}).")
    if issued is not None:
        _show_token(issued)


def _of(info: access.AccountInfo) -> str:
    return f" for {info.commissioner_code}" if info.commissioner_code else ""


@app.command("list")
def list_command(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked accounts.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List staff accounts and their tokens (prefixes only: tokens themselves are never stored)."""
    from services_db import access

    now = datetime.now(UTC)
    with _session() as session:
        accounts = access.list_accounts(session=session, include_revoked=include_revoked)
    if as_json:
        rows = [
            {
                "id": a.id,
                "name": a.name,
                "role": a.role.value,
                "commissioner_code": a.commissioner_code,
                "telegram": a.telegram_user_id is not None,
                "revoked_at": a.revoked_at.isoformat() if a.revoked_at else None,
                "tokens": [
                    {"prefix": t.prefix, "expires_at": t.expires_at.isoformat(), "active": t.active(now)}
                    for t in a.tokens
                ],
            }
            for a in accounts
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(accounts)} accounts")
    for column in ("id", "name", "role", "commissioner", "telegram", "active tokens", "status"):
        table.add_column(column)
    for a in accounts:
        tokens = ", ".join(f"{t.prefix} (to {t.expires_at:%Y-%m-%d})" for t in a.tokens if t.active(now)) or "-"
        status = "active" if a.active else f"revoked {a.revoked_at:%Y-%m-%d}"
        telegram = "yes" if a.telegram_user_id is not None else "-"
        table.add_row(str(a.id), escape(a.name), a.role.value, a.commissioner_code or "-", telegram, tokens, status)
    console.print(table)


@app.command("revoke")
def revoke_command(
    account_id: Annotated[
        int | None,
        typer.Argument(min=1, max=MAX_ROW_ID, help="The account to revoke (with all its tokens)."),
    ] = None,
    token_prefix: Annotated[
        str | None, typer.Option("--token-prefix", help="Revoke only the token with this prefix (see list).")
    ] = None,
) -> None:
    """Revoke an account (and its tokens), or one token."""
    from services_db import access
    from services_db.access import AccountError

    if (account_id is None) == (token_prefix is None):
        fail("give an account id, or --token-prefix PREFIX (not both)")
    with _session() as session:
        actor = operator_actor()
        try:
            if token_prefix is not None:
                done = access.revoke_token(session=session, prefix=token_prefix, actor=actor)
                console.print(f"Token {done.prefix} of account {done.account_id} revoked.")
                return
            assert account_id is not None
            info = access.revoke_account(session=session, account_id=account_id, actor=actor)
        except AccountError as exc:
            fail(str(exc))
    console.print(f"Account {info.id} ({escape(info.name)}) revoked, with its tokens; its Telegram id is forgotten.")


@app.command("token")
def token_command(
    account_id: Annotated[int, typer.Argument(min=1, max=MAX_ROW_ID, help="The account the token is for.")],
    expires_days: DaysOption = DEFAULT_TOKEN_DAYS,
) -> None:
    """Issue a new API token for an account, for scripts against the web console (shown once)."""
    from services_db import access
    from services_db.access import AccountError

    with _session() as session:
        actor = operator_actor()
        try:
            issued = access.issue_token(
                session=session, account_id=account_id, actor=actor, valid_for=timedelta(days=expires_days)
            )
        except AccountError as exc:
            fail(str(exc))
    _show_token(issued)


@app.command("link")
def link_command(
    who: Annotated[str, typer.Argument(help="The account's number or exact name.")],
) -> None:
    """A one-time sign-in link to the web console for a member of staff (pass it on privately)."""
    from services_db import signin

    with _session() as session:
        account = signin.find_account(session=session, who=who)
        if account is None or account.id is None:
            fail(f"no single active account {who!r}: see signpost accounts list")
        issued = signin.issue_code(session=session, account_id=account.id, actor=operator_actor())
    url = wiring.settings().web_url.rstrip("/")
    console.print(
        f"One-time sign-in link for {issued.account_name} (works once, until {issued.expires_at:%H:%M} UTC):",
        soft_wrap=True,
    )
    typer.echo(f"{url}/signin?code={issued.code}")


@app.command("refusals")
def refusals_command(
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="How many, newest first.")] = 50,
) -> None:
    """Show refused attempts from the audit trail (who tried what, and why it was refused)."""
    from services_db import access

    with _session() as session:
        rows = access.refusals(session=session, limit=limit)
    table = Table(title=f"{len(rows)} refused attempts")
    for column in ("when", "who", "service", "what and why"):
        table.add_column(column)
    for r in rows:
        table.add_row(f"{r.at:%Y-%m-%d %H:%M}", escape(r.actor), r.service_id or "-", escape(r.detail))
    console.print(table)
