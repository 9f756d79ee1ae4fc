"""Who may do what to the services directory: accounts, roles, API tokens and authorisation decisions.

Roles
-----
``pcc_editor``
    Works for one commissioner (a PCC, a mayor's office, MOPAC, the Common Council). May read the whole
    directory, and may create, change, close, verify and restore only the services that commissioner
    commissions, with coverage inside the commissioner's police force area plus a tolerance
    (``services_db.force_area``). Never national coverage, never another commissioner's services, never a
    service handed over to another commissioner. No reports, no accounts.
``analyst``
    Reads everything and runs reports. Changes nothing.
``admin``
    Everything: accounts, national services, any commissioner's services.

Identities
----------
Staff are identified by their Telegram user id (stored only for registered staff accounts, who consent to it;
never for victims), by a web console session, or by an API token sent to the web console. Tokens are 256-bit
random strings shown once; only their SHA-256 is stored (a salt or HMAC key adds nothing for random tokens of
that length: there is no dictionary to attack), each has an expiry and can be revoked. Whoever runs
``signpost`` with the database's own credentials is the system operator and is not checked here (they could
change the database directly): the command line records them as the operator in the audit trail.

Every refused attempt is written to the audit trail (``AuditEntry`` with action ``"refused"``: actor, what was
attempted and why) in its own transaction, so it stays even though the attempt is rolled back. Decide before
writing: a refusal recorded while the caller holds an open SQLite write transaction would wait for it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import func
from sqlmodel import Session, col, select

from mapping.areas import AreaRegistry
from mapping.types import ServiceRecord
from services_db.hidden_text import HIDDEN_PATTERN, hidden_character
from services_db.limits import DEFAULT_TOKEN_DAYS, MAX_ROW_ID, MAX_TELEGRAM_ID, MAX_TOKEN_DAYS
from services_db.models import Account, ApiToken, AuditEntry, Commissioner, Service
from services_db.roles import Role

if TYPE_CHECKING:
    from services_db.diff import ChangeSet
    from services_db.force_area import ForceAreaCheck
    from services_db.importer import ImportPlan

__all__ = [
    "MAX_ROW_ID",
    "MAX_TELEGRAM_ID",
    "AccountError",
    "AccountInfo",
    "Action",
    "Decision",
    "IssuedToken",
    "Principal",
    "Role",
    "TokenInfo",
    "add_account",
    "authenticate_token",
    "authorise",
    "authorise_changes",
    "authorise_import",
    "authorise_plan",
    "decide",
    "get_account",
    "hash_token",
    "issue_token",
    "list_accounts",
    "principal_for_telegram",
    "record_refusal",
    "refusals",
    "revoke_account",
    "revoke_token",
]

TOKEN_PREFIX = "spt_"


class Action(StrEnum):
    """What someone attempts. An import is checked as the creates, updates and closes it would make."""

    READ = "read"  # list, show, history, export
    REPORT = "report"  # coverage reports, signposting statistics
    CREATE = "create"
    UPDATE = "update"
    CLOSE = "close"
    VERIFY = "verify"
    RESTORE = "restore"
    IMPORT = "import"
    MANAGE_ACCOUNTS = "manage_accounts"


WRITES = frozenset({Action.CREATE, Action.UPDATE, Action.CLOSE, Action.VERIFY, Action.RESTORE, Action.IMPORT})


class AccountError(ValueError):
    """A user error in account management; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated member of staff, and how they reached us (``"telegram"`` or ``"token"``)."""

    account_id: int
    name: str
    role: Role
    commissioner_code: str | None
    via: str

    @property
    def actor(self) -> str:
        """The name written in audit entries."""
        return f"{self.name} (account {self.account_id}, {self.via})"[:120]


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed or refused, with every reason a person can act on (empty when allowed)."""

    allowed: bool
    action: Action
    actor: str
    reasons: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "allowed"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    account_id: int
    prefix: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


@dataclass(frozen=True, slots=True)
class AccountInfo:
    id: int
    name: str
    role: Role
    commissioner_code: str | None
    telegram_user_id: int | None
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    tokens: tuple[TokenInfo, ...] = ()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token. ``token`` is shown to its owner once and never stored."""

    token: str
    info: TokenInfo


@dataclass(frozen=True, slots=True)
class RefusalRecord:
    at: datetime
    actor: str
    service_id: str | None
    detail: str


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive UTC in some paths; compare aware to aware."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --- decisions --------------------------------------------------------------------------------------------

_ABSENT = object()


def decide(
    *,
    principal: Principal,
    action: Action,
    service_id: str | None = None,
    current_owner: str | object | None = _ABSENT,
    proposed: ServiceRecord | None = None,
    force_pfa: str | None = None,
    force_area: ForceAreaCheck | None = None,
) -> Decision:
    """The pure rule: may ``principal`` do ``action``? (No database; :func:`authorise` gathers the facts.)

    Parameters
    ----------
    principal
        Who asks.
    action
        What they attempt.
    service_id
        The service concerned (for the messages).
    current_owner
        The stored service's commissioner code (``None``: it has none); leave out when the service is new.
    proposed
        The record as it would be after the change (create, update, restore).
    force_pfa
        The PFA code of the principal's commissioner.
    force_area
        The coverage check; without it a pcc_editor's coverage cannot be checked and a change is refused
        (:func:`authorise` and :func:`authorise_changes` default to
        :func:`services_db.force_area.default_force_area_check`).
    """
    actor = principal.actor
    if principal.role is Role.ADMIN:
        return Decision(True, action, actor)
    if action is Action.READ:
        return Decision(True, action, actor)
    if action is Action.MANAGE_ACCOUNTS:
        return Decision(False, action, actor, ("only admins manage accounts: ask an admin",))
    if principal.role is Role.ANALYST:
        if action is Action.REPORT:
            return Decision(True, action, actor)
        return Decision(False, action, actor, (f"analysts read and run reports; they cannot {action.value}",))
    if action is Action.REPORT:
        return Decision(False, action, actor, ("PCC editors cannot run reports: ask an analyst",))

    mine = principal.commissioner_code
    label = f"service {service_id!r}" if service_id else "this service"
    reasons: list[str] = []
    if current_owner is _ABSENT:
        if action not in (Action.CREATE, Action.IMPORT):
            reasons.append(f"{label} does not exist")
    elif current_owner != mine:
        reasons.append(
            f"{label} is commissioned by {current_owner or 'nobody'}, not by your commissioner {mine}: "
            "only its own commissioner's editors or an admin can change it"
        )
    if proposed is not None and action in (Action.CREATE, Action.UPDATE, Action.RESTORE):
        if proposed.commissioner_code != mine:
            reasons.append(
                f"{label} would be commissioned by {proposed.commissioner_code or 'nobody'}: set commissioner_code "
                f"to {mine}"
            )
        if force_pfa is None:
            reasons.append(f"your commissioner {mine} has no police force area: ask an admin")
        elif force_area is None:
            reasons.append("the force area check is not available: ask an admin")
        else:
            reasons.extend(f"{label}: {p}" for p in force_area.problems(proposed.coverage, force_pfa))
    return Decision(not reasons, action, actor, tuple(reasons))


def _force_pfa(session: Session, principal: Principal) -> str | None:
    if principal.commissioner_code is None:
        return None
    commissioner = session.get(Commissioner, principal.commissioner_code)
    return commissioner.pfa_code if commissioner else None


def _owner(session: Session, service_id: str | None) -> str | object | None:
    """The stored service's commissioner code, or ``_ABSENT`` when there is no such service."""
    row = session.get(Service, service_id) if service_id is not None else None
    return _ABSENT if row is None else row.commissioner_code


def authorise(
    *,
    session: Session,
    principal: Principal,
    action: Action,
    service_id: str | None = None,
    proposed: ServiceRecord | None = None,
    force_area: ForceAreaCheck | None = None,
    now: datetime | None = None,
) -> Decision:
    """Decide whether ``principal`` may do ``action`` on ``service_id``; a refusal is audited.

    Parameters
    ----------
    session
        Read for the stored service's commissioner and the principal's force area.
    proposed
        The record after the change, for create, update and restore (a restore's earlier version).
    """
    if principal.role is Role.ADMIN or action is Action.READ:
        return decide(principal=principal, action=action, service_id=service_id)
    if proposed is not None and force_area is None and principal.role is Role.PCC_EDITOR:
        from services_db.force_area import default_force_area_check  # geometry: only when a change is checked

        force_area = default_force_area_check()
    decision = decide(
        principal=principal,
        action=action,
        service_id=service_id,
        current_owner=_owner(session, service_id) if action is not Action.CREATE else _ABSENT,
        proposed=proposed,
        force_pfa=_force_pfa(session, principal),
        force_area=force_area,
    )
    if action is Action.CREATE and service_id is not None and _owner(session, service_id) is not _ABSENT:
        reasons = (*decision.reasons, f"service {service_id!r} already exists: update it instead")
        decision = Decision(False, action, decision.actor, reasons)
    if not decision.allowed:
        record_refusal(session=session, decision=decision, service_id=service_id, now=now)
    return decision


def authorise_changes(
    *,
    session: Session,
    principal: Principal,
    added: Sequence[ServiceRecord] = (),
    changed: Sequence[ServiceRecord] = (),
    removed: Sequence[str] = (),
    force_area: ForceAreaCheck | None = None,
    rows: Mapping[str, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> Decision:
    """Check a whole change set (an import) at once: one decision naming every refused service; audited once.

    Parameters
    ----------
    added, changed, removed
        New records; records as they would be after a change; ids that would be closed.
    rows
        Service id -> the row of the file it came from, so each reason names its row.
    progress
        Called with (checked, total) as services are checked (coverage checks take a while for big files).
    """
    action = Action.IMPORT
    if principal.role is Role.ADMIN:
        return Decision(True, action, principal.actor)
    if principal.role is Role.ANALYST:
        decision = decide(principal=principal, action=action)
        record_refusal(session=session, decision=decision, service_id=None, now=now)
        return decision
    force_pfa = _force_pfa(session, principal)
    if force_area is None:
        from services_db.force_area import default_force_area_check  # geometry: only when a change is checked

        force_area = default_force_area_check()
    ids = [r.id for r in added] + [r.id for r in changed] + list(removed)
    owners = _owners(session, ids)
    reasons: list[str] = []
    checks: list[tuple[Action, str, ServiceRecord | None]] = [
        *((Action.CREATE, r.id, r) for r in added),
        *((Action.UPDATE, r.id, r) for r in changed),
        *((Action.CLOSE, sid, None) for sid in removed),
    ]
    rows = rows or {}
    for done, (kind, sid, record) in enumerate(checks, start=1):
        if progress is not None:
            progress(done, len(checks))
        owner: str | object | None = owners.get(sid, _ABSENT)
        if kind is Action.CREATE and owner is not _ABSENT:
            kind = Action.UPDATE
        one = decide(
            principal=principal,
            action=kind,
            service_id=sid,
            current_owner=owner if kind is not Action.CREATE else _ABSENT,
            proposed=record,
            force_pfa=force_pfa,
            force_area=force_area,
        )
        where = f"row {rows[sid]}: " if sid in rows else ""
        reasons.extend(where + reason for reason in one.reasons)
    decision = Decision(not reasons, action, principal.actor, tuple(reasons))
    if not decision.allowed:
        record_refusal(session=session, decision=decision, service_id=None, now=now)
    return decision


def _owners(session: Session, ids: Iterable[str]) -> dict[str, str | None]:
    wanted = list(dict.fromkeys(ids))
    out: dict[str, str | None] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for sid, owner in session.exec(select(Service.id, Service.commissioner_code).where(col(Service.id).in_(chunk))):
            out[sid] = owner
    return out


def authorise_import(
    *,
    session: Session,
    token: str,
    plan: ImportPlan,
    force_area: ForceAreaCheck | None = None,
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> Decision:
    """May the holder of an API token apply this import plan? The same rules as the chat app and the web console.

    Parameters
    ----------
    token
        The API token the person gave; unknown, expired or revoked tokens are refused (and audited).
    plan
        An ``importer.ImportPlan``: its ``changes`` (a ``diff.ChangeSet``) are checked service by service.
    """
    principal = authenticate_token(session=session, token=token, action=Action.IMPORT, now=now)
    if isinstance(principal, Decision):
        return principal
    return authorise_plan(
        session=session, principal=principal, plan=plan, force_area=force_area, progress=progress, now=now
    )


def authorise_plan(
    *,
    session: Session,
    principal: Principal,
    plan: ImportPlan,
    force_area: ForceAreaCheck | None = None,
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> Decision:
    """May ``principal`` apply this import plan? (The chat upload's check; a refusal is audited once.)"""
    added, changed, removed = change_set_parts(plan.changes)
    return authorise_changes(
        session=session,
        principal=principal,
        added=added,
        changed=changed,
        removed=removed,
        force_area=force_area,
        rows=plan.rows,
        progress=progress,
        now=now,
    )


def change_set_parts(
    changes: ChangeSet | ImportPlan | None,
) -> tuple[list[ServiceRecord], list[ServiceRecord], list[str]]:
    """(added records, changed records as they would be, ids that would close) of a change set or an import plan."""
    from services_db.importer import ImportPlan  # the import machinery loads only when a plan is checked

    if isinstance(changes, ImportPlan):
        changes = changes.changes
    if changes is None:
        return [], [], []
    return list(changes.added), [c.after for c in changes.changed], [r.id for r in changes.removed]


# --- the audit of refusals --------------------------------------------------------------------------------


def record_refusal(
    *,
    session: Session,
    decision: Decision,
    service_id: str | None,
    now: datetime | None = None,
) -> None:
    """Write an ``AuditEntry(action="refused")`` in its own transaction, so it outlives the caller's rollback.

    ``detail`` is ``"<attempted action>: <reasons>"``; ``before``/``after`` stay empty (they hold service
    records in the directory's history, and a refusal changed nothing).
    """
    detail = f"{decision.action.value}: {decision.message}"
    entry = AuditEntry(
        at=_now(now),
        actor=decision.actor[:120],
        action="refused",
        service_id=service_id,
        detail=detail,
    )
    with Session(session.get_bind()) as own:
        own.add(entry)
        own.commit()


def refusals(*, session: Session, since: datetime | None = None, limit: int = 100) -> list[RefusalRecord]:
    """The most recent refused attempts, newest first."""
    query = select(AuditEntry).where(AuditEntry.action == "refused")
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    rows = session.exec(query.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()).limit(limit)).all()
    return [RefusalRecord(_aware(r.at), r.actor, r.service_id, r.detail) for r in rows]


# --- identities -------------------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    """The stored form of a token (SHA-256, hex)."""
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def _principal(account: Account, via: str) -> Principal:
    assert account.id is not None
    return Principal(account.id, account.name, Role(account.role), account.commissioner_code, via)


def principal_for_telegram(*, session: Session, telegram_user_id: int) -> Principal | None:
    """The registered, active staff account of a Telegram user, or ``None`` (everyone else: the victim flow)."""
    account = session.exec(select(Account).where(Account.telegram_user_id == telegram_user_id)).first()
    if account is None or account.revoked_at is not None:
        return None
    return _principal(account, "telegram")


def authenticate_token(
    *, session: Session, token: str, action: Action = Action.READ, now: datetime | None = None
) -> Principal | Decision:
    """The principal a command-line token stands for, or a refused, audited :class:`Decision` saying why.

    ``action`` is what the token was presented for, so the audit trail says what was attempted.
    """
    now = _now(now)
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    account = session.get(Account, row.account_id) if row is not None else None
    reason = None
    if row is None or account is None:
        actor, reason = "unknown token", "this token is not known: ask an admin for a token (signpost accounts token)"
    else:
        actor = f"{account.name} (account {account.id}, token {row.prefix})"[:120]
        if row.revoked_at is not None:
            reason = f"token {row.prefix} was revoked: ask an admin for a new one"
        elif _aware(row.expires_at) <= now:
            reason = f"token {row.prefix} expired on {_aware(row.expires_at):%Y-%m-%d}: ask an admin for a new one"
        elif account.revoked_at is not None:
            reason = f"account {account.id} was revoked"
    if reason is not None:
        refused = Decision(False, action, actor, (reason,))
        record_refusal(session=session, decision=refused, service_id=None, now=now)
        return refused
    assert row is not None and account is not None
    with Session(session.get_bind()) as own:
        stored = own.get(ApiToken, row.id)
        if stored is not None:
            stored.last_used_at = now
            own.commit()
    return _principal(account, "token")


def _token_info(row: ApiToken) -> TokenInfo:
    assert row.id is not None
    return TokenInfo(
        id=row.id,
        account_id=row.account_id,
        prefix=row.prefix,
        created_at=_aware(row.created_at),
        expires_at=_aware(row.expires_at),
        revoked_at=_aware(row.revoked_at) if row.revoked_at else None,
        last_used_at=_aware(row.last_used_at) if row.last_used_at else None,
    )


def _account_info(session: Session, account: Account) -> AccountInfo:
    assert account.id is not None
    tokens = session.exec(select(ApiToken).where(ApiToken.account_id == account.id).order_by(col(ApiToken.id))).all()
    return AccountInfo(
        id=account.id,
        name=account.name,
        role=Role(account.role),
        commissioner_code=account.commissioner_code,
        telegram_user_id=account.telegram_user_id,
        created_at=_aware(account.created_at),
        created_by=account.created_by,
        revoked_at=_aware(account.revoked_at) if account.revoked_at else None,
        tokens=tuple(_token_info(t) for t in tokens),
    )


def _audit(session: Session, *, actor: str, action: str, detail: str, now: datetime) -> None:
    session.add(AuditEntry(at=now, actor=actor[:120], action=action, detail=detail))


def add_account(
    *,
    session: Session,
    name: str,
    role: Role | str,
    actor: str,
    commissioner_code: str | None = None,
    telegram_user_id: int | None = None,
    now: datetime | None = None,
) -> AccountInfo:
    """Register a member of staff (audited). Raises :class:`AccountError` naming what to fix.

    A ``pcc_editor`` needs a known commissioner with a police force area; analysts and admins have none.
    """
    now = _now(now)
    name = name.strip()
    if not name or len(name) > 120:
        raise AccountError("give the person's name or team name (1 to 120 characters)")
    hidden = HIDDEN_PATTERN.search(name) or re.search("[\t\n]", name)
    if hidden:  # the name is the account's actor in the audit trail: it must read as it is
        raise AccountError(
            f"the name contains {hidden_character(hidden.group())} at character {hidden.start() + 1}: type it again"
            " without it"
        )
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(f"unknown role {role!r}: use one of {', '.join(r.value for r in Role)}") from None
    if role is Role.PCC_EDITOR:
        if not commissioner_code:
            raise AccountError("a pcc_editor needs --commissioner CODE (the commissioner whose services they edit)")
        commissioner = session.get(Commissioner, commissioner_code) or _shipped_commissioner(session, commissioner_code)
        if commissioner is None:
            known = session.exec(select(Commissioner.code).order_by(Commissioner.code).limit(5)).all()
            hint = f" (known codes include {', '.join(known)})" if known else " (no commissioners are loaded yet)"
            raise AccountError(f"unknown commissioner {commissioner_code!r}{hint}")
        if commissioner.pfa_code is None:
            raise AccountError(
                f"commissioner {commissioner_code!r} has no police force area: its services are managed by admins"
            )
    elif commissioner_code:
        raise AccountError(f"a {role.value} is not tied to a commissioner: leave out --commissioner")
    if telegram_user_id is not None:
        if not 0 < telegram_user_id <= MAX_TELEGRAM_ID:
            raise AccountError(
                "a Telegram user id is a positive number of at most 16 digits (the person can get it from @userinfobot)"
            )
        taken = session.exec(select(Account).where(Account.telegram_user_id == telegram_user_id)).first()
        if taken is not None:
            raise AccountError(f"Telegram user {telegram_user_id} is already account {taken.id} ({taken.name})")
    account = Account(
        name=name,
        role=role.value,
        commissioner_code=commissioner_code if role is Role.PCC_EDITOR else None,
        telegram_user_id=telegram_user_id,
        created_at=now,
        created_by=actor[:120],
    )
    session.add(account)
    session.flush()
    _audit(
        session,
        actor=actor,
        action="account_added",
        detail=f"account {account.id} {name!r} role {role.value} commissioner {account.commissioner_code or '-'}",
        now=now,
    )
    session.commit()
    return _account_info(session, account)


def _shipped_commissioner(session: Session, code: str) -> Commissioner | None:
    """A commissioner from the shipped table (mapping/data/commissioners.csv), added to the directory on first use."""
    known = next((c for c in AreaRegistry.default().commissioners() if c.code == code), None)
    if known is None:
        return None
    row = Commissioner(code=known.code, name=known.name, kind=known.kind.value, pfa_code=known.pfa_code)
    session.add(row)
    session.flush()
    return row


def get_account(*, session: Session, account_id: int) -> AccountInfo | None:
    account = session.get(Account, account_id) if 0 < account_id <= MAX_ROW_ID else None
    return _account_info(session, account) if account else None


def list_accounts(*, session: Session, include_revoked: bool = False) -> list[AccountInfo]:
    query = select(Account).order_by(col(Account.id))
    if not include_revoked:
        query = query.where(Account.revoked_at.is_(None))  # type: ignore[union-attr]
    return [_account_info(session, a) for a in session.exec(query).all()]


def _active_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id) if 0 < account_id <= MAX_ROW_ID else None
    if account is None:
        raise AccountError(f"no account {account_id}: see signpost accounts list")
    if account.revoked_at is not None:
        raise AccountError(f"account {account_id} was revoked on {_aware(account.revoked_at):%Y-%m-%d}")
    return account


def revoke_account(*, session: Session, account_id: int, actor: str, now: datetime | None = None) -> AccountInfo:
    """Revoke an account and all its tokens at once (audited); its Telegram id is forgotten."""
    now = _now(now)
    account = _active_account(session, account_id)
    account.revoked_at = now
    account.telegram_user_id = None  # consent ends with the account: keep no identifier we no longer need
    for token in session.exec(select(ApiToken).where(ApiToken.account_id == account_id)).all():
        if token.revoked_at is None:
            token.revoked_at = now
    _audit(session, actor=actor, action="account_revoked", detail=f"account {account_id} {account.name!r}", now=now)
    session.commit()
    return _account_info(session, account)


def issue_token(
    *,
    session: Session,
    account_id: int,
    actor: str,
    valid_for: timedelta = timedelta(days=DEFAULT_TOKEN_DAYS),
    now: datetime | None = None,
    token_factory: Callable[[], str] | None = None,
) -> IssuedToken:
    """A new random token for an account (audited); only its hash is stored, so show ``token`` once."""
    now = _now(now)
    if not timedelta(hours=1) <= valid_for <= timedelta(days=MAX_TOKEN_DAYS):
        raise AccountError(f"a token lasts between 1 hour and {MAX_TOKEN_DAYS} days")
    _active_account(session, account_id)
    token = token_factory() if token_factory else TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        account_id=account_id,
        token_hash=hash_token(token),
        prefix=token[:12],
        created_at=now,
        expires_at=now + valid_for,
    )
    session.add(row)
    session.flush()
    _audit(
        session,
        actor=actor,
        action="token_issued",
        detail=f"token {row.prefix} for account {account_id}, expires {row.expires_at:%Y-%m-%d}",
        now=now,
    )
    session.commit()
    return IssuedToken(token=token, info=_token_info(row))


def revoke_token(*, session: Session, prefix: str, actor: str, now: datetime | None = None) -> TokenInfo:
    """Revoke one token by the prefix shown in ``signpost accounts list`` (audited)."""
    now = _now(now)
    prefix = prefix.strip()
    rows = session.exec(select(ApiToken).where(func.substr(ApiToken.prefix, 1, len(prefix)) == prefix)).all()
    if not prefix or not rows:
        raise AccountError(f"no token starts with {prefix!r}: see signpost accounts list")
    if len(rows) > 1:
        raise AccountError(f"{len(rows)} tokens start with {prefix!r}: give more of the prefix")
    row = rows[0]
    if row.revoked_at is None:
        row.revoked_at = now
        _audit(
            session,
            actor=actor,
            action="token_revoked",
            detail=f"token {row.prefix} of account {row.account_id}",
            now=now,
        )
        session.commit()
    return _token_info(row)
