"""Stale directory entries: services nobody has checked for a while, and the reminder their editors get.

A service is stale when its ``verified_on`` is more than ``older_than_days`` days before today
(``SIGNPOST_STALE_AFTER_DAYS``, default 183: about six months). Closed services are never stale: they are not
shown to anyone. The weekly reminder job (jobs package) calls :func:`stale_reminders` and delivers each
:class:`Reminder` to its recipients; the bot shows a stale entry's details with "last checked on ...".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from mapping.types import Confirmation, ServiceRecord, ServiceStatus
from services_db.convert import row_to_record
from services_db.models import Account, Commissioner, Service

__all__ = [
    "DEFAULT_STALE_AFTER_DAYS",
    "Recipient",
    "Reminder",
    "is_stale",
    "reminder_for",
    "stale_cutoff",
    "stale_reminders",
    "stale_services",
    "unconfirmed_services",
]

DEFAULT_STALE_AFTER_DAYS = 183
MAX_LISTED = 25  # a chat message stays readable; /myservices lists the rest


@dataclass(frozen=True, slots=True)
class Recipient:
    """A member of staff who should be told (``telegram_user_id`` is ``None`` when they use only the CLI)."""

    account_id: int
    name: str
    telegram_user_id: int | None


@dataclass(frozen=True, slots=True)
class Reminder:
    """One commissioner's reminder: plain text (no markup), the services it names and who should get it."""

    commissioner_code: str | None
    commissioner_name: str
    subject: str
    text: str
    service_ids: tuple[str, ...]  # the stale ones (each reminded about once per check date)
    recipients: tuple[Recipient, ...] = ()
    unconfirmed_ids: tuple[str, ...] = ()  # named every week until confirmed, corrected or closed


def stale_cutoff(now: datetime | date, older_than_days: int = DEFAULT_STALE_AFTER_DAYS) -> date:
    """Services verified before this date are stale."""
    today = now.date() if isinstance(now, datetime) else now
    return today - timedelta(days=older_than_days)


def is_stale(record: ServiceRecord, *, now: datetime | date, older_than_days: int = DEFAULT_STALE_AFTER_DAYS) -> bool:
    """Whether ``record`` was last checked more than ``older_than_days`` days ago (closed services never are;
    unconfirmed entries, never checked, are named as such rather than as stale)."""
    return (
        record.status is not ServiceStatus.CLOSED
        and record.verified_on is not None
        and record.verified_on < stale_cutoff(now, older_than_days)
    )


def stale_services(
    *,
    session: Session,
    now: datetime,
    older_than_days: int = DEFAULT_STALE_AFTER_DAYS,
    commissioner_code: str | None = None,
) -> list[ServiceRecord]:
    """Active and suspended services last verified more than ``older_than_days`` days before ``now``.

    Parameters
    ----------
    session
        An open session.
    now
        The current time (a settable clock in tests).
    older_than_days
        The staleness limit (``Settings.stale_after_days``).
    commissioner_code
        Only this commissioner's services.

    Returns
    -------
    list[ServiceRecord]
        Oldest check first, then by id.
    """
    if older_than_days < 0:
        raise ValueError("older_than_days must be 0 or more")
    query = select(Service).where(
        col(Service.verified_on) < stale_cutoff(now, older_than_days),
        col(Service.status) != ServiceStatus.CLOSED.value,
    )
    if commissioner_code is not None:
        query = query.where(Service.commissioner_code == commissioner_code)
    rows = session.exec(query.order_by(col(Service.verified_on), col(Service.id)))
    return [row_to_record(row) for row in rows]


def unconfirmed_services(*, session: Session, commissioner_code: str | None = None) -> list[ServiceRecord]:
    """Entries gathered from public pages that the commissioner has not yet confirmed (not closed), by id."""
    query = select(Service).where(
        Service.confirmation == Confirmation.UNCONFIRMED.value,
        col(Service.status) != ServiceStatus.CLOSED.value,
    )
    if commissioner_code is not None:
        query = query.where(Service.commissioner_code == commissioner_code)
    return [row_to_record(row) for row in session.exec(query.order_by(col(Service.id)))]


def _long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def reminder_for(
    *,
    commissioner_code: str | None,
    commissioner_name: str,
    services: Sequence[ServiceRecord],
    now: datetime,
    older_than_days: int = DEFAULT_STALE_AFTER_DAYS,
    recipients: Sequence[Recipient] = (),
    unconfirmed: Sequence[ServiceRecord] = (),
) -> Reminder:
    """The reminder text for one commissioner's editors about ``services`` (its stale entries) and
    ``unconfirmed`` (its entries from public pages that nobody has confirmed yet)."""
    today = now.date()
    count = len(services) + len(unconfirmed)
    noun = "service" if count == 1 else "services"
    subject = f"{count} {noun} to check for {commissioner_name}"
    lines = []
    if services:
        stale_noun = "service" if len(services) == 1 else "services"
        lines += [
            f"Signpost: {len(services)} {stale_noun} commissioned by {commissioner_name} "
            f"{'was' if len(services) == 1 else 'were'} last checked more than {older_than_days} days ago.",
            "",
        ]
    if unconfirmed:
        lines += [
            f"Signpost: {len(unconfirmed)} {'entry' if len(unconfirmed) == 1 else 'entries'} for {commissioner_name}"
            " came from public web pages and nobody has confirmed them yet. People are shown them with"
            " 'not yet confirmed: contact them first'.",
            "",
        ]
        lines += [f"- {r.name} [{r.id}]: NOT YET CONFIRMED (source: {r.source_url})" for r in unconfirmed[:MAX_LISTED]]
        if len(unconfirmed) > MAX_LISTED:
            lines.append(f"- and {len(unconfirmed) - MAX_LISTED} more: /myservices lists them all")
        lines += [
            "",
            "Check each with the organisation: /verify ID confirms it as it is; send the corrected spreadsheet to"
            " change details; /close ID if it no longer runs.",
            "",
        ]
    lines += [
        "A person who has suffered hate crime may be sent to a number or page that no longer works. "
        "Please check each one with the service, correct anything that changed, and record the check.",
        "",
    ]
    for record in services[:MAX_LISTED]:
        if record.verified_on is None:
            continue
        days = (today - record.verified_on).days
        status = " (suspended)" if record.status is ServiceStatus.SUSPENDED else ""
        lines.append(
            f"- {record.name} [{record.id}]{status}: last checked on {_long_date(record.verified_on)} ({days} days ago)"
        )
    if count > MAX_LISTED:
        lines.append(f"- and {count - MAX_LISTED} more: /myservices lists them all")
    lines += [
        "",
        "In the chat app: /verify ID once checked, or send the corrected spreadsheet to update several at once.",
        "In the web console: open the service and press Checked today, or upload the corrected spreadsheet.",
    ]
    return Reminder(
        commissioner_code=commissioner_code,
        commissioner_name=commissioner_name,
        subject=subject,
        text="\n".join(lines),
        service_ids=tuple(r.id for r in services),
        recipients=tuple(recipients),
        unconfirmed_ids=tuple(r.id for r in unconfirmed),
    )


def _recipients(session: Session, commissioner_code: str | None) -> tuple[Recipient, ...]:
    """Active editors of the commissioner; admins for services no PCC team edits (national, or no editors)."""
    active = col(Account.revoked_at).is_(None)
    editors: Sequence[Account] = ()
    if commissioner_code is not None:
        editors = session.exec(
            select(Account)
            .where(active, Account.role == "pcc_editor", Account.commissioner_code == commissioner_code)
            .order_by(col(Account.id))
        ).all()
    if not editors:
        editors = session.exec(select(Account).where(active, Account.role == "admin").order_by(col(Account.id))).all()
    return tuple(Recipient(a.id, a.name, a.telegram_user_id) for a in editors if a.id is not None)


def stale_reminders(
    *,
    session: Session,
    now: datetime,
    older_than_days: int = DEFAULT_STALE_AFTER_DAYS,
) -> list[Reminder]:
    """One :class:`Reminder` per commissioner with stale or unconfirmed services (ordered by commissioner code).

    Services without a commissioner are grouped under ``commissioner_code=None`` and go to admins, as do
    those of a commissioner with no active editor.
    """
    by_commissioner: dict[str | None, list[ServiceRecord]] = {}
    for record in stale_services(session=session, now=now, older_than_days=older_than_days):
        by_commissioner.setdefault(record.commissioner_code, []).append(record)
    unconfirmed: dict[str | None, list[ServiceRecord]] = {}
    for record in unconfirmed_services(session=session):
        unconfirmed.setdefault(record.commissioner_code, []).append(record)
    names = {c.code: c.name for c in session.exec(select(Commissioner)).all()}
    reminders = []
    for code in sorted(set(by_commissioner) | set(unconfirmed), key=lambda c: (c is None, c or "")):
        reminders.append(
            reminder_for(
                commissioner_code=code,
                commissioner_name=names.get(code, code) if code else "no commissioner",
                services=by_commissioner.get(code, []),
                now=now,
                older_than_days=older_than_days,
                recipients=_recipients(session, code),
                unconfirmed=unconfirmed.get(code, []),
            )
        )
    return reminders
