"""Signing in to the web console without passwords: one-time codes exchanged for short, revocable sessions.

A code is sent to a registered member of staff's own Telegram chat (the bot, or the web console through the Bot
API) or handed out by an operator (``signpost accounts link``). It lasts :data:`CODE_MINUTES` and works once.
Redeeming it opens a session: the browser holds a random secret in a cookie; only its SHA-256 is stored, with
an expiry, and it can be revoked (signing out, or revoking the account). Failed and refused attempts are
written to the audit trail like every other refusal (:func:`services_db.access.record_refusal`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from services_db.access import MAX_ROW_ID, Action, Decision, Principal, Role, record_refusal
from services_db.models import Account, AuditEntry, WebSession, WebSignIn

__all__ = [
    "CODE_MINUTES",
    "IssuedCode",
    "OpenedSession",
    "SignInError",
    "csrf_token",
    "end_session",
    "find_account",
    "issue_code",
    "principal_for_session",
    "redeem_code",
    "revoke_sessions",
]

CODE_MINUTES = 15
DEFAULT_SESSION_HOURS = 8
CODE_BYTES = 18  # 24 URL-safe characters: short enough to type, far too many to guess


class SignInError(ValueError):
    """A sign-in code cannot be issued; the message says what to do."""


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: str
    account_id: int
    account_name: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class OpenedSession:
    """A new session: ``secret`` goes in the cookie and is never stored."""

    secret: str
    principal: Principal
    expires_at: datetime


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.strip().encode("utf-8")).hexdigest()


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def find_account(*, session: Session, who: str) -> Account | None:
    """An active account by number or by exact name (case-insensitive); ``None`` when none or several match."""
    who = who.strip()
    if who.isdigit():
        account = session.get(Account, int(who)) if 0 < int(who) <= MAX_ROW_ID else None
    else:
        found = session.exec(select(Account).where(Account.revoked_at.is_(None))).all()  # type: ignore[union-attr]
        named = [a for a in found if a.name.casefold() == who.casefold()]
        account = named[0] if len(named) == 1 else None
    return account if account is not None and account.revoked_at is None else None


def issue_code(
    *, session: Session, account_id: int, actor: str, now: datetime | None = None, minutes: int = CODE_MINUTES
) -> IssuedCode:
    """A one-time sign-in code for an active account (audited as ``signin_code_issued``)."""
    now = _now(now)
    account = session.get(Account, account_id) if 0 < account_id <= MAX_ROW_ID else None
    if account is None or account.revoked_at is not None:
        raise SignInError(f"no active account {account_id}: see signpost accounts list")
    session.execute(delete(WebSignIn).where(col(WebSignIn.expires_at) < now))
    code = secrets.token_urlsafe(CODE_BYTES)
    expires = now + timedelta(minutes=minutes)
    session.add(WebSignIn(code_hash=_hash(code), account_id=account_id, created_at=now, expires_at=expires))
    session.add(
        AuditEntry(
            at=now,
            actor=actor[:120],
            action="signin_code_issued",
            detail=f"web sign-in code for account {account_id}, expires {expires:%Y-%m-%d %H:%M} UTC",
        )
    )
    session.commit()
    return IssuedCode(code, account_id, account.name, expires)


def redeem_code(
    *, session: Session, code: str, now: datetime | None = None, hours: int = DEFAULT_SESSION_HOURS, where: str = ""
) -> OpenedSession | Decision:
    """Exchange a code for a session, once; an unknown, used or expired code is refused and audited."""
    now = _now(now)
    row = session.get(WebSignIn, _hash(code)) if code.strip() else None
    account = session.get(Account, row.account_id) if row is not None else None
    reason = None
    if row is None or account is None:
        reason = "this sign-in code is not known: ask for a new link"
    elif row.used_at is not None:
        reason = "this sign-in code was already used: ask for a new link"
    elif _aware(row.expires_at) <= now:
        reason = f"this sign-in code expired at {_aware(row.expires_at):%H:%M} UTC: ask for a new link"
    elif account.revoked_at is not None:
        reason = f"account {account.id} was revoked"
    actor = f"{account.name} (account {account.id}, web)" if account is not None else f"web sign-in {where}".strip()
    if reason is not None:
        refused = Decision(False, Action.READ, actor[:120], (f"sign in: {reason}",))
        record_refusal(session=session, decision=refused, service_id=None, now=now)
        return refused
    assert row is not None and account is not None and account.id is not None
    # Used once, even by two tabs racing: only the update that finds it unused opens a session.
    used = session.execute(
        update(WebSignIn).where(col(WebSignIn.code_hash) == row.code_hash, col(WebSignIn.used_at).is_(None))
        .values(used_at=now)
    )  # fmt: skip
    if used.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        refused = Decision(False, Action.READ, actor[:120], ("sign in: this sign-in code was already used",))
        record_refusal(session=session, decision=refused, service_id=None, now=now)
        return refused
    secret = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=hours)
    session.add(WebSession(id_hash=_hash(secret), account_id=account.id, created_at=now, expires_at=expires))
    session.add(AuditEntry(at=now, actor=actor[:120], action="signed_in", detail=f"web console {where}".strip()))
    session.commit()
    principal = Principal(account.id, account.name, Role(account.role), account.commissioner_code, "web")
    return OpenedSession(secret, principal, expires)


def principal_for_session(*, session: Session, secret: str, now: datetime | None = None) -> Principal | None:
    """The member of staff a session cookie stands for; ``None`` when unknown, expired, revoked or theirs is."""
    if not secret:
        return None
    now = _now(now)
    row = session.get(WebSession, _hash(secret))
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now:
        return None
    account = session.get(Account, row.account_id)
    if account is None or account.revoked_at is not None or account.id is None:
        return None
    return Principal(account.id, account.name, Role(account.role), account.commissioner_code, "web")


def end_session(*, session: Session, secret: str, now: datetime | None = None) -> None:
    """Sign out: the session is revoked at once (and expired ones are cleared)."""
    now = _now(now)
    session.execute(
        update(WebSession).where(col(WebSession.id_hash) == _hash(secret), col(WebSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )  # fmt: skip
    session.execute(delete(WebSession).where(col(WebSession.expires_at) < now - timedelta(days=1)))
    session.commit()


def revoke_sessions(*, session: Session, account_id: int, now: datetime | None = None) -> int:
    """Revoke every open session of an account (an admin's "sign out everywhere"); returns how many."""
    now = _now(now)
    done = session.execute(
        update(WebSession).where(col(WebSession.account_id) == account_id, col(WebSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )  # fmt: skip
    session.commit()
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


def csrf_token(secret: str, *, purpose: str = "form") -> str:
    """The form token bound to a session (or pre-sign-in) secret: HMAC, so it cannot be made without the cookie."""
    return hmac.new(secret.encode("utf-8"), f"csrf:{purpose}".encode(), hashlib.sha256).hexdigest()
