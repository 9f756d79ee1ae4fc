"""Conversation state over the database: enumerated values only, keyed by an HMAC of the chat id, with expiry.

What is stored per chat: ``Conversation.to_dict()`` (language, step, chosen strands, area codes: no free text,
no coordinates, no names), ``updated_at`` and ``expires_at``. The key is HMAC-SHA256 of the Telegram chat id
under a secret that never goes in the database, so a copy of the database cannot be linked back to Telegram
accounts (chat ids are small enough to enumerate, so a plain hash would not do).

The secret: ``SIGNPOST_CHAT_KEY_SECRET`` when set (needed when workers on several machines share one
database, as in webhook mode); otherwise one generated on first start and kept in ``<data dir>/chat-key.secret``
(mode 0600). Losing or changing it only means every open conversation starts afresh.

Many stateless workers can share the table: each turn loads the state, runs the engine, and writes back only if
the row's ``version`` is unchanged (optimistic concurrency); on a clash the turn is recomputed from the fresh
state. The turn's signposting count is written in the same transaction as the state, so a retried turn is
counted once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.engine.engine import Turn
from bot.engine.model import Conversation
from bot.stats import record_signposting
from services_db.models import ConversationRecord

__all__ = [
    "ChatKeyer",
    "ConcurrentTurns",
    "ConversationStore",
    "chat_key_secret",
    "purge_expired",
]

log = logging.getLogger(__name__)
SECRET_FILE = "chat-key.secret"
_TABLE = ConversationRecord.__table__  # type: ignore[attr-defined]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def chat_key_secret(*, configured: str | None, data_dir: Path) -> bytes:
    """The HMAC secret: ``configured`` if given, else the one in ``data_dir``, generated on first use.

    Parameters
    ----------
    configured
        ``Settings.chat_key_secret`` (``SIGNPOST_CHAT_KEY_SECRET``), at least 16 characters.
    data_dir
        Where a generated secret is kept (``chat-key.secret``, readable by the owner only).
    """
    if configured:
        if len(configured) < 16:
            raise ValueError("SIGNPOST_CHAT_KEY_SECRET is too short: use at least 16 random characters")
        return configured.encode("utf-8")
    path = data_dir / SECRET_FILE
    if path.exists():
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    # O_EXCL: two workers starting at once agree on whichever secret was written first.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret.hex())
    return secret


@dataclass(frozen=True)
class ChatKeyer:
    """Turns a chat id into the opaque key stored in the database and used for rate limiting."""

    secret: bytes

    def __call__(self, chat_id: int) -> str:
        return hmac.new(self.secret, str(int(chat_id)).encode("ascii"), hashlib.sha256).hexdigest()


class ConcurrentTurns(RuntimeError):
    """The same chat's state kept changing under us: give up rather than loop."""


@dataclass(frozen=True)
class _Loaded:
    conversation: Conversation
    version: int | None  # None: no row yet
    live: bool  # False: no row, expired or unreadable (the conversation is a new one)


class ConversationStore:
    """Load, update and forget conversations by chat id; the database never sees the id.

    Parameters
    ----------
    engine
        The migrated database engine.
    keyer
        HMAC of chat ids (see :func:`chat_key_secret`).
    ttl
        How long an idle conversation is kept; after that it starts afresh and is purged.
    clock
        Aware UTC "now" (settable in tests).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        keyer: ChatKeyer,
        ttl: timedelta,
        clock: Callable[[], datetime] = _utcnow,
        max_attempts: int = 5,
    ) -> None:
        self.engine = engine
        self.keyer = keyer
        self.ttl = ttl
        self.clock = clock
        self.max_attempts = max_attempts

    def load(self, chat_id: int) -> Conversation | None:
        """The live conversation of ``chat_id``, or ``None`` (none, expired or unreadable)."""
        loaded = self._load(self.keyer(chat_id))
        return loaded.conversation if loaded.live else None

    def apply(
        self,
        chat_id: int,
        handle: Callable[[Conversation], Turn],
        *,
        fresh: Callable[[], Conversation] = Conversation.new,
    ) -> Turn:
        """Run one turn: ``handle(current conversation) -> Turn``, then store its result atomically.

        ``fresh`` makes the conversation of a chat with no live state (e.g. in the person's app language).
        The new state (or its deletion when ``turn.forget``) and the turn's signposting count are written in
        one transaction, only if no other worker wrote this chat meanwhile; otherwise ``handle`` runs again on
        the fresh state (it must not have side effects beyond its return value).
        """
        key = self.keyer(chat_id)
        for _ in range(self.max_attempts):
            loaded = self._load(key)
            turn = handle(loaded.conversation if loaded.live else fresh())
            if self._write(key, loaded.version, turn):
                return turn
        raise ConcurrentTurns(f"conversation kept changing during {self.max_attempts} attempts")

    def forget(self, chat_id: int) -> bool:
        """Delete the chat's state at once; ``True`` if there was any."""
        with self.engine.begin() as conn:
            result = conn.execute(delete(_TABLE).where(_TABLE.c.chat_key == self.keyer(chat_id)))
            return bool(result.rowcount)

    # Core connections rather than ORM sessions: a turn is one read and one small write, on every message.
    def _load(self, key: str) -> _Loaded:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_TABLE.c.state, _TABLE.c.version, _TABLE.c.expires_at).where(_TABLE.c.chat_key == key)
            ).first()
        if row is None:
            return _Loaded(Conversation.new(), None, live=False)
        state, version, expires_at = row
        if _aware(expires_at) <= self.clock():
            return _Loaded(Conversation.new(), version, live=False)
        try:
            return _Loaded(Conversation.from_dict(state), version, live=True)
        except (KeyError, TypeError, ValueError) as exc:
            # A state written by an older release: start afresh (logged without its contents).
            log.warning("stored conversation unreadable (%s); starting afresh", type(exc).__name__)
            return _Loaded(Conversation.new(), version, live=False)

    def _write(self, key: str, version: int | None, turn: Turn) -> bool:
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                if turn.forget:
                    conn.execute(delete(_TABLE).where(_TABLE.c.chat_key == key))
                else:
                    if conn.dialect.name == "postgresql":
                        # A step of a conversation need not wait for the disk: a server crash may lose the last
                        # fraction of a second of steps (never corrupts). A /forget above keeps the full wait.
                        conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
                    values = {
                        "state": turn.conversation.to_dict(),
                        "updated_at": now,
                        "expires_at": now + self.ttl,
                    }
                    if version is None:
                        conn.execute(insert(_TABLE).values(chat_key=key, version=1, **values))
                    else:
                        result = conn.execute(
                            update(_TABLE)
                            .where(_TABLE.c.chat_key == key, _TABLE.c.version == version)
                            .values(version=version + 1, **values)
                        )
                        if result.rowcount != 1:
                            raise _Clash
                if turn.outcome is not None:
                    with Session(bind=conn) as session:  # joins this connection's transaction
                        _record(session, turn, now)
        except (_Clash, IntegrityError):
            return False
        return True


class _Clash(Exception):
    pass


def _record(session: Session, turn: Turn, now: datetime) -> None:
    outcome = turn.outcome
    assert outcome is not None
    record_signposting(
        session=session,
        at=now,
        lad_code=outcome.lad_code,
        pfa_code=outcome.pfa_code,
        strands=outcome.strands,
        outcome=outcome.outcome,
    )


def _aware(value: datetime) -> datetime:
    return value if value.utcoffset() is not None else value.replace(tzinfo=UTC)


def purge_expired(*, session: Session, now: datetime) -> int:
    """Delete every conversation idle past its expiry; returns how many. The retention job calls this.

    Parameters
    ----------
    session
        An open session; the caller commits.
    now
        Aware UTC time.
    """
    result = session.connection().execute(delete(_TABLE).where(_TABLE.c.expires_at <= now))
    return int(result.rowcount or 0)
