"""Conversation state over the database: enumerated values only, keyed by an HMAC of the chat id, with expiry.

What is stored per chat: ``Conversation.to_dict()`` (language, step, chosen strands, area codes: no free text,
no coordinates, no names), ``updated_at`` and ``expires_at``. The key is HMAC-SHA256 of the Telegram chat id
under a secret that never goes in the database, so a copy of the database cannot be linked back to Telegram
accounts (chat ids are small enough to enumerate, so a plain hash would not do).

The secret: ``SIGNPOST_CHAT_KEY_SECRET`` when set (needed when workers on several machines share one
database, as in webhook mode); otherwise one generated on first start and kept in ``<data dir>/chat-key.secret``
(mode 0600). The database keeps a fingerprint of it (``services_db.shared_secrets``), so a worker with another
secret refuses to start; changed on purpose (``signpost bot --rotate-chat-key-secret``), every open conversation
starts afresh.

Many stateless workers can share the table: each turn loads the state, runs the engine, and writes back only if
the row's ``version`` is unchanged (optimistic concurrency); on a clash the turn is recomputed from the fresh
state. The turn's signposting count is written in the same transaction as the state, so a retried turn is
counted once.

A guided note being written (what the person types for themselves) travels between turns, and so between
workers, only sealed: AES-GCM under a key derived from the chat id and the secret (:class:`NoteSeal`), in the
conversation row, for :data:`NOTE_SEALED_FOR` after the chat's last step; the engine holds it in memory only during a
turn. The chat id is not stored, so without the secret the database opens no note; with it, chat ids can be
recovered by trying every one (hours), so the secret must never be kept with the database or its backups.

For the quick exit, the ids of the messages in each chat (numbers only) are kept in ``chat_message`` until the
person leaves or forgets, or the conversation expires (:func:`services_db.retention.purge_expired`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Engine, RootTransaction, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.engine.engine import Turn
from bot.engine.model import Conversation
from services_db.models import ChatMessage, ConversationRecord
from services_db.retention import DELETABLE_FOR
from services_db.stats import record_signposting

__all__ = [
    "NOTE_SEALED_FOR",
    "AlreadyTaken",
    "ChatKeyer",
    "ConcurrentTurns",
    "ConversationStore",
    "NoteCarrier",
    "NoteSeal",
    "OpenTurn",
    "chat_key_secret",
]

log = logging.getLogger(__name__)
SECRET_FILE = "chat-key.secret"
_TABLE = ConversationRecord.__table__  # type: ignore[attr-defined]
_MESSAGES = ChatMessage.__table__  # type: ignore[attr-defined]
# A sealed note left alone this long is dropped; each step of its chat restarts the time (the engine drops a note
# 2 hours after it was started however often it is answered: bot.engine.engine.NOTE_TTL).
NOTE_SEALED_FOR = timedelta(minutes=30)
# Update ids remembered per conversation: more than any redelivery can span for one person.
RECENT_UPDATES = 32


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
        return _read_secret(path)
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    # Written in full to a private temporary file, then published with link(), which fails if the name exists:
    # a worker starting beside another never sees a half-written secret, and both agree on the first one.
    fd, temporary = tempfile.mkstemp(prefix=".chat-key-", dir=data_dir)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secret.hex())
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _read_secret(path)
    finally:
        os.unlink(temporary)
    return secret


def _read_secret(path: Path, *, attempts: int = 50) -> bytes:
    """The secret in ``path``; an empty or partial file (written by an older version) is read again shortly."""
    for _ in range(attempts):
        text = path.read_text(encoding="ascii").strip()
        if len(text) == 64:
            return bytes.fromhex(text)
        time.sleep(0.02)
    raise ValueError(f"{path} does not hold a 32-byte hex secret: delete it to have a new one made")


@dataclass(frozen=True)
class ChatKeyer:
    """Turns a chat id into the opaque key stored in the database and used for rate limiting."""

    secret: bytes

    def __call__(self, chat_id: int) -> str:
        return hmac.new(self.secret, str(int(chat_id)).encode("ascii"), hashlib.sha256).hexdigest()


class NoteCarrier(Protocol):
    """What the store needs from the engine to carry a note between turns (``bot.engine.Engine`` is one)."""

    def export_note(self, token: str) -> Mapping[str, Any] | None:
        """The note as plain values, taken out of memory (None: no such note)."""
        ...

    def import_note(self, token: str, data: Mapping[str, Any]) -> None:
        """Put a note back in memory for one turn."""
        ...


@dataclass(frozen=True)
class NoteSeal:
    """AES-GCM with a key per chat: HMAC-SHA256(secret, "note:" + chat id). The row's key is bound in as
    associated data, so a sealed note cannot be moved to another row."""

    secret: bytes

    def seal(self, chat_id: int, chat_key: str, data: Mapping[str, Any]) -> bytes:
        nonce = secrets.token_bytes(12)
        plain = json.dumps(data, separators=(",", ":")).encode("utf-8")
        return nonce + AESGCM(self._key(chat_id)).encrypt(nonce, plain, chat_key.encode("ascii"))

    def open(self, chat_id: int, chat_key: str, sealed: bytes) -> dict[str, Any] | None:
        try:
            plain = AESGCM(self._key(chat_id)).decrypt(sealed[:12], sealed[12:], chat_key.encode("ascii"))
            data = json.loads(plain)
        except (InvalidTag, ValueError):
            log.warning("a sealed note could not be opened; dropped")
            return None
        return data if isinstance(data, dict) else None

    def _key(self, chat_id: int) -> bytes:
        return hmac.new(self.secret, b"note:" + str(int(chat_id)).encode("ascii"), hashlib.sha256).digest()


class AlreadyTaken(Exception):
    """The update was taken by this conversation before (Telegram redelivered it after a crash or a timeout):
    ``conversation`` is the stored one, to show again if the reply may not have gone out; ``unsent`` when the
    reply was known not to have gone out yet (see :meth:`ConversationStore.mark_unsent`)."""

    def __init__(self, conversation: Conversation, *, unsent: bool = False) -> None:
        super().__init__("update already taken")
        self.conversation = conversation
        self.unsent = unsent


class ConcurrentTurns(RuntimeError):
    """The same chat's state kept changing under us: give up rather than loop."""


@dataclass(frozen=True)
class _Loaded:
    conversation: Conversation
    version: int | None  # None: no row yet
    live: bool  # False: no row, expired or unreadable (the conversation is a new one)
    note: bytes | None = None  # sealed, still within its time
    updates: tuple[int, ...] = ()  # update ids recently taken


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
    notes
        The engine, to carry guided notes between turns sealed in the row (see the module docstring); without
        it a note lives in the engine's memory (one worker only).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        keyer: ChatKeyer,
        ttl: timedelta,
        clock: Callable[[], datetime] = _utcnow,
        max_attempts: int = 5,
        notes: NoteCarrier | None = None,
    ) -> None:
        self.engine = engine
        self.keyer = keyer
        self.ttl = ttl
        self.clock = clock
        self.max_attempts = max_attempts
        self.notes = notes
        self.seal = NoteSeal(keyer.secret)

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
        update_id: int | None = None,
        remember: Callable[[Turn], Iterable[int]] | None = None,
        before_commit: Callable[[Turn], None] | None = None,
    ) -> Turn:
        """Run one turn: ``handle(current conversation) -> Turn``, then store its result atomically.

        ``fresh`` makes the conversation of a chat with no live state (e.g. in the person's app language).
        The new state (or its deletion when ``turn.forget``) and the turn's signposting count are written in
        one transaction, only if no other worker wrote this chat meanwhile; otherwise ``handle`` runs again on
        the fresh state (it must not have side effects beyond its return value).

        ``update_id`` (Telegram's) is recorded with the state in the same transaction; an update this
        conversation already took raises :class:`AlreadyTaken` instead of running twice. ``remember(turn)`` gives
        message ids to keep (as :meth:`remember_messages`) in that transaction too.

        ``before_commit(turn)`` is called once the turn is written, before the commit, which waits for it to
        return; only where the read and the write share one transaction (PostgreSQL). The Telegram adapter uses
        it to commit only once the reply is on its way (see ``bot.adapters.telegram._Hold``). The signposting
        count is written after it returns, so the count's row (shared by everyone signposted to the same area)
        stays locked for the commit only, not for the wait.
        """
        opened = self.open_turn(chat_id, handle, fresh=fresh, update_id=update_id, remember=remember)
        try:
            if before_commit is not None and opened.open:
                before_commit(opened.turn)
        except BaseException:
            opened.rollback()
            raise
        opened.commit()
        return opened.turn

    def open_turn(
        self,
        chat_id: int,
        handle: Callable[[Conversation], Turn],
        *,
        fresh: Callable[[], Conversation] = Conversation.new,
        update_id: int | None = None,
        remember: Callable[[Turn], Iterable[int]] | None = None,
    ) -> OpenTurn:
        """:meth:`apply` with its transaction left open where the read and the write share one (PostgreSQL):
        nobody else sees the step, or the update taken, until the caller commits it (:meth:`OpenTurn.commit`,
        from any thread, once). Elsewhere (SQLite) the turn comes back committed.

        Its connection stays out of the pool meanwhile, but no thread waits: the Telegram adapter commits once
        its reply is on its way (see ``bot.adapters.telegram._Prepared``). The signposting count is written at
        the commit, so the count's row (shared by everyone signposted to the same area) stays locked for the
        commit only, not for the wait."""
        key = self.keyer(chat_id)
        for _ in range(self.max_attempts):
            if self.engine.dialect.name != "postgresql":
                # (Not on SQLite, where a read transaction that later writes can be refused instead of waiting.)
                try:
                    return OpenTurn(self._turn(None, chat_id, key, handle, fresh, update_id, remember))
                except (_Clash, IntegrityError):
                    continue
            # One transaction for the read and the write: half the round trips of two.
            conn = self.engine.connect()
            transaction = conn.begin()
            try:
                # A step need not wait for the disk: a server crash may lose the last fraction of a second of
                # steps (never corrupts). A /forget turns the full wait back on.
                conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
                turn = self._turn(conn, chat_id, key, handle, fresh, update_id, remember, count=False)
            except (_Clash, IntegrityError):
                _close(conn, transaction, commit=False)
                continue
            except BaseException:
                _close(conn, transaction, commit=False)
                raise
            return OpenTurn(turn, partial(self._finish, conn, transaction, turn))
        raise ConcurrentTurns(f"conversation kept changing during {self.max_attempts} attempts")

    def _finish(self, conn: Connection, transaction: RootTransaction, turn: Turn, commit: bool) -> None:
        """End an open turn: its signposting count and the commit, or a rollback; the connection goes back."""
        if commit:
            try:
                self._count(conn, turn)
            except BaseException:
                _close(conn, transaction, commit=False)
                raise
        _close(conn, transaction, commit=commit)

    def _turn(
        self,
        conn: Connection | None,
        chat_id: int,
        key: str,
        handle: Callable[[Conversation], Turn],
        fresh: Callable[[], Conversation],
        update_id: int | None,
        remember: Callable[[Turn], Iterable[int]] | None,
        *,
        count: bool = True,
    ) -> Turn:
        """Load, run and write one turn, on ``conn`` or (without) in connections of its own; raises _Clash or
        IntegrityError when another worker wrote the chat meanwhile. ``count``: its signposting count too (else
        the caller writes it with :meth:`_count`, in the same transaction)."""
        loaded = self._load(key, conn)
        if update_id is not None and (update_id in loaded.updates or -update_id in loaded.updates):
            unsent = -update_id in loaded.updates
            raise AlreadyTaken(loaded.conversation if loaded.live else fresh(), unsent=unsent)
        conversation = loaded.conversation if loaded.live else fresh()
        self._unseal(chat_id, key, conversation, loaded.note)
        turn = handle(conversation)
        note = self._sealed(chat_id, key, conversation, turn)
        updates = (*loaded.updates, update_id)[-RECENT_UPDATES:] if update_id is not None else loaded.updates
        ids = list(remember(turn)) if remember is not None else []
        with nullcontext(conn) if conn is not None else self.engine.begin() as writing:
            self._write(writing, key, loaded.version, turn, note, updates)
            self._insert_messages(writing, key, ids)
            if count:
                self._count(writing, turn)
        return turn

    def mark_unsent(self, chat_id: int, update_id: int, unsent: bool = True) -> None:
        """Mark a taken update's reply as not sent yet (Telegram refused its first request once it was written, and
        it waits to be sent again), or, with ``unsent=False``, as sent after all. Kept among the update ids
        recently taken, negated: a worker killed before the retry leaves it marked, and the redelivered update
        shows the screen again rather than nothing. The version is left alone: this is no step."""
        key = self.keyer(chat_id)
        was, now = (update_id, -update_id) if unsent else (-update_id, update_id)
        with self.engine.begin() as conn:
            found = conn.execute(
                select(_TABLE.c.recent_updates).where(_TABLE.c.chat_key == key).with_for_update()
            ).first()
            recent = found[0] if found is not None else None
            if not isinstance(recent, list) or was not in recent:
                return  # forgotten meanwhile, or never taken here
            marked = [now if i == was else i for i in recent]
            conn.execute(update(_TABLE).where(_TABLE.c.chat_key == key).values(recent_updates=marked))

    def forget(self, chat_id: int) -> bool:
        """Delete the chat's state (sealed note included) and its message ids at once; ``True`` if there was any."""
        key = self.keyer(chat_id)
        with self.engine.begin() as conn:
            result = conn.execute(delete(_TABLE).where(_TABLE.c.chat_key == key))
            conn.execute(delete(_MESSAGES).where(_MESSAGES.c.chat_key == key))
            return bool(result.rowcount)

    def remember_messages(self, chat_id: int, message_ids: Iterable[int]) -> None:
        """Keep the ids (numbers only) of messages now in the chat, for a later quick exit."""
        ids = sorted(set(message_ids))
        if not ids:
            return
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
            self._insert_messages(conn, self.keyer(chat_id), ids)

    def remember_many(self, message_ids: Mapping[int, Iterable[int]]) -> None:
        """:meth:`remember_messages` for several chats at once, in one transaction."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
            keyed = {(self.keyer(chat_id), int(i)) for chat_id, ids in message_ids.items() for i in ids}
            self._insert_rows(conn, sorted(keyed))

    def _insert_messages(self, conn: Connection, key: str, ids: Iterable[int]) -> None:
        self._insert_rows(conn, [(key, int(i)) for i in ids])

    def _insert_rows(self, conn: Connection, keyed: Iterable[tuple[str, int]]) -> None:
        now = self.clock()
        rows = [{"chat_key": key, "message_id": i, "sent_at": now} for key, i in keyed]
        if not rows:
            return
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(pg_insert(_MESSAGES).on_conflict_do_nothing(), rows)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            conn.execute(sqlite_insert(_MESSAGES).on_conflict_do_nothing(), rows)

    def has_message(self, chat_id: int, message_id: int) -> bool:
        """Whether ``message_id`` was remembered for the chat (its turn's reply went out)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(_MESSAGES.c.message_id).where(
                    _MESSAGES.c.chat_key == self.keyer(chat_id), _MESSAGES.c.message_id == int(message_id)
                )
            ).first()
        return found is not None

    def take_messages(self, chat_id: int) -> list[int]:
        """The chat's message ids still deletable (under 48 hours old), oldest first; forgotten here at once."""
        key, now = self.keyer(chat_id), self.clock()
        with self.engine.begin() as conn:
            found = conn.execute(
                select(_MESSAGES.c.message_id, _MESSAGES.c.sent_at).where(_MESSAGES.c.chat_key == key)
            ).all()
            conn.execute(delete(_MESSAGES).where(_MESSAGES.c.chat_key == key))
        return sorted(int(i) for i, at in found if now - _aware(at) < DELETABLE_FOR)

    # --- sealed notes ---------------------------------------------------------------------------------------

    def _unseal(self, chat_id: int, key: str, conversation: Conversation, sealed: bytes | None) -> None:
        if self.notes is None or sealed is None or conversation.note_token is None:
            return
        data = self.seal.open(chat_id, key, sealed)
        if data is not None:
            self.notes.import_note(conversation.note_token, data)

    def _sealed(self, chat_id: int, key: str, before: Conversation, turn: Turn) -> bytes | None:
        """The note the turn leaves open, sealed and taken out of the engine's memory (None: no open note)."""
        if self.notes is None:
            return None
        token = turn.conversation.note_token
        if before.note_token and before.note_token != token:
            self.notes.export_note(before.note_token)  # left behind in memory: drop it
        if token is None or turn.forget:
            return None
        data = self.notes.export_note(token)
        return self.seal.seal(chat_id, key, data) if data is not None else None

    # Core connections rather than ORM sessions: a turn is one read and one small write, on every message.
    def _load(self, key: str, conn: Connection | None = None) -> _Loaded:
        with self.engine.connect() if conn is None else nullcontext(conn) as conn:
            row = conn.execute(
                select(
                    _TABLE.c.state,
                    _TABLE.c.version,
                    _TABLE.c.expires_at,
                    _TABLE.c.note,
                    _TABLE.c.note_expires_at,
                    _TABLE.c.recent_updates,
                ).where(_TABLE.c.chat_key == key)
            ).first()
        if row is None:
            return _Loaded(Conversation.new(), None, live=False)
        state, version, expires_at, note, note_expires_at, recent = row
        updates = tuple(int(i) for i in recent if isinstance(i, int)) if isinstance(recent, list) else ()
        now = self.clock()
        if _aware(expires_at) <= now:
            return _Loaded(Conversation.new(), version, live=False, updates=updates)
        if note is not None and (note_expires_at is None or _aware(note_expires_at) <= now):
            note = None
        try:
            return _Loaded(Conversation.from_dict(state), version, live=True, note=note, updates=updates)
        except (KeyError, TypeError, ValueError) as exc:
            # A state written by an older release: start afresh (logged without its contents).
            log.warning("stored conversation unreadable (%s); starting afresh", type(exc).__name__)
            return _Loaded(Conversation.new(), version, live=False)

    def _write(
        self, conn: Connection, key: str, version: int | None, turn: Turn, note: bytes | None, updates: tuple[int, ...]
    ) -> None:
        now = self.clock()
        if turn.forget:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL synchronous_commit TO ON"))  # a forget is kept even through a crash
            conn.execute(delete(_TABLE).where(_TABLE.c.chat_key == key))
        else:
            values = {
                "state": turn.conversation.to_dict(),
                "updated_at": now,
                "expires_at": now + self.ttl,
                "note": note,
                "note_expires_at": now + NOTE_SEALED_FOR if note is not None else None,
                "recent_updates": list(updates) or None,
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

    def _count(self, conn: Connection, turn: Turn) -> None:
        """The turn's signposting count (if it signposted), in ``conn``'s transaction."""
        if turn.outcome is not None:
            with Session(bind=conn) as session:  # joins this connection's transaction
                _record(session, turn, self.clock())


@dataclass
class OpenTurn:
    """A stored turn whose transaction may still be open (see :meth:`ConversationStore.open_turn`)."""

    turn: Turn
    _finish: Callable[[bool], None] | None = None

    @property
    def open(self) -> bool:
        """Whether the transaction still waits for :meth:`commit` or :meth:`rollback`."""
        return self._finish is not None

    def commit(self) -> None:
        """Commit (once; later calls, and calls on a committed turn, do nothing)."""
        finish, self._finish = self._finish, None
        if finish is not None:
            finish(True)

    def rollback(self) -> None:
        """Roll back: the step, and the update taken, are as if never run."""
        finish, self._finish = self._finish, None
        if finish is not None:
            finish(False)


def _close(conn: Connection, transaction: RootTransaction, *, commit: bool) -> None:
    try:
        if commit:
            transaction.commit()
        else:
            transaction.rollback()
    finally:
        conn.close()


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
