"""Conversation state in the database: enumerated values only, keyed by an HMAC of the chat id, with expiry."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select
from sqlmodel import Session

from bot.engine import Conversation, Language, SignpostingOutcome, State, Turn
from bot.persistence import ChatKeyer, ConcurrentTurns, ConversationStore, chat_key_secret, purge_expired
from bot.stats import signposting_counts
from mapping.types import Strand
from services_db.models import ConversationRecord

CHAT = 123456789
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class Clock:
    """A settable clock."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(engine: Engine, clock: Clock) -> ConversationStore:
    return ConversationStore(engine, keyer=ChatKeyer(b"k" * 32), ttl=timedelta(hours=24), clock=clock)


def _to(state: State, **changes: object) -> object:
    def handle(conversation: Conversation) -> Turn:
        return Turn(conversation.but(state=state, **changes), ())

    return handle


def _rows(engine: Engine) -> list[tuple[object, ...]]:
    with Session(engine) as session:
        return list(session.execute(select(ConversationRecord.__table__)).all())  # type: ignore[attr-defined]


def test_a_turn_is_stored_and_resumed_by_another_store(store: ConversationStore, engine: Engine, clock: Clock) -> None:
    store.apply(CHAT, _to(State.STRANDS, strands=frozenset({Strand.RACE}), pfa_code="E23000005"))  # type: ignore[arg-type]
    restarted = ConversationStore(engine, keyer=ChatKeyer(b"k" * 32), ttl=timedelta(hours=24), clock=clock)
    resumed = restarted.load(CHAT)
    assert resumed == Conversation.new().but(
        state=State.STRANDS, strands=frozenset({Strand.RACE}), pfa_code="E23000005"
    )


def test_the_row_holds_only_the_hashed_key_and_enumerated_state(store: ConversationStore, engine: Engine) -> None:
    store.apply(CHAT, _to(State.RESULTS, lad_code="E08000003", pfa_code="E23000005"))  # type: ignore[arg-type]
    (row,) = _rows(engine)
    key, state, version, updated_at, expires_at = row
    assert updated_at == T0 and expires_at == T0 + timedelta(hours=24)
    assert str(CHAT) not in key and len(key) == 64
    assert state == Conversation.new().but(state=State.RESULTS, lad_code="E08000003", pfa_code="E23000005").to_dict()
    assert str(CHAT) not in json.dumps(state)
    assert version == 1
    columns = {c["name"] for c in inspect(engine).get_columns("conversation_state")}
    assert columns == {"chat_key", "state", "version", "updated_at", "expires_at"}


def test_each_chat_has_its_own_state(store: ConversationStore) -> None:
    store.apply(CHAT, _to(State.DANGER))  # type: ignore[arg-type]
    store.apply(CHAT + 1, _to(State.HELP))  # type: ignore[arg-type]
    assert store.load(CHAT).state is State.DANGER  # type: ignore[union-attr]
    assert store.load(CHAT + 1).state is State.HELP  # type: ignore[union-attr]


def test_a_new_chat_starts_from_the_fresh_conversation(store: ConversationStore) -> None:
    seen: list[Conversation] = []

    def handle(conversation: Conversation) -> Turn:
        seen.append(conversation)
        return Turn(conversation, ())

    store.apply(CHAT, handle, fresh=lambda: Conversation.new(Language.CY))
    store.apply(CHAT, handle, fresh=lambda: Conversation.new(Language.EN))
    assert [c.language for c in seen] == [Language.CY, Language.CY]


def test_forget_deletes_at_once(store: ConversationStore, engine: Engine) -> None:
    store.apply(CHAT, _to(State.REPORTING))  # type: ignore[arg-type]
    assert store.forget(CHAT) is True
    assert _rows(engine) == []
    assert store.load(CHAT) is None
    assert store.forget(CHAT) is False


def test_a_forget_turn_deletes_the_row(store: ConversationStore, engine: Engine) -> None:
    store.apply(CHAT, _to(State.REPORTING))  # type: ignore[arg-type]
    store.apply(CHAT, lambda c: Turn(Conversation.new(c.language), (), forget=True))
    assert _rows(engine) == []


def test_idle_state_expires_and_is_purged(store: ConversationStore, engine: Engine, clock: Clock) -> None:
    store.apply(CHAT, _to(State.REPORTING))  # type: ignore[arg-type]
    store.apply(CHAT + 1, _to(State.HELP))  # type: ignore[arg-type]
    clock.now = T0 + timedelta(hours=23)
    store.apply(CHAT + 1, _to(State.DANGER))  # type: ignore[arg-type]  (still active: its expiry moves on)
    clock.now = T0 + timedelta(hours=24, seconds=1)
    assert store.load(CHAT) is None
    assert store.load(CHAT + 1) is not None
    with Session(engine) as session:
        assert purge_expired(session=session, now=clock.now) == 1
        session.commit()
    assert len(_rows(engine)) == 1


def test_an_expired_conversation_restarts_fresh_and_is_overwritten(store: ConversationStore, clock: Clock) -> None:
    store.apply(CHAT, _to(State.REPORTING, strands=frozenset({Strand.DISABILITY})))  # type: ignore[arg-type]
    clock.now = T0 + timedelta(days=2)
    seen: list[Conversation] = []

    def handle(conversation: Conversation) -> Turn:
        seen.append(conversation)
        return Turn(conversation.but(state=State.HELP), ())

    store.apply(CHAT, handle)
    assert seen == [Conversation.new()]
    assert store.load(CHAT) == Conversation.new().but(state=State.HELP)


def test_a_concurrent_write_makes_the_turn_run_again_on_fresh_state(
    store: ConversationStore, engine: Engine, clock: Clock
) -> None:
    other_worker = ConversationStore(engine, keyer=store.keyer, ttl=store.ttl, clock=clock)
    store.apply(CHAT, _to(State.STRANDS))  # type: ignore[arg-type]
    seen: list[frozenset[Strand]] = []

    def tick_race(conversation: Conversation) -> Turn:
        seen.append(conversation.strands)
        if len(seen) == 1:  # another worker handles this person's previous tap meanwhile
            other_worker.apply(CHAT, lambda c: Turn(c.but(strands=c.strands | {Strand.RELIGION}), ()))
        return Turn(conversation.but(strands=conversation.strands | {Strand.RACE}), ())

    store.apply(CHAT, tick_race)
    assert seen == [frozenset(), frozenset({Strand.RELIGION})]
    assert store.load(CHAT).strands == {Strand.RACE, Strand.RELIGION}  # type: ignore[union-attr]


def test_a_concurrent_first_write_is_detected_too(store: ConversationStore, engine: Engine, clock: Clock) -> None:
    other_worker = ConversationStore(engine, keyer=store.keyer, ttl=store.ttl, clock=clock)
    calls = 0

    def handle(conversation: Conversation) -> Turn:
        nonlocal calls
        calls += 1
        if calls == 1:
            other_worker.apply(CHAT, _to(State.DANGER))  # type: ignore[arg-type]
        return Turn(conversation.but(page=conversation.page + 1), ())

    store.apply(CHAT, handle)
    assert calls == 2
    assert store.load(CHAT) == Conversation.new().but(state=State.DANGER, page=1)


def test_endless_clashes_give_up(store: ConversationStore, engine: Engine, clock: Clock) -> None:
    other_worker = ConversationStore(engine, keyer=store.keyer, ttl=store.ttl, clock=clock)

    def always_beaten(conversation: Conversation) -> Turn:
        other_worker.apply(CHAT, lambda c: Turn(c.but(page=c.page + 1), ()))
        return Turn(conversation, ())

    with pytest.raises(ConcurrentTurns):
        store.apply(CHAT, always_beaten)


def test_the_signposting_count_lands_with_the_state_once(
    store: ConversationStore, engine: Engine, clock: Clock
) -> None:
    other_worker = ConversationStore(engine, keyer=store.keyer, ttl=store.ttl, clock=clock)
    outcome = SignpostingOutcome("E08000003", "E23000005", frozenset({Strand.RACE}), "matched_local")
    attempts = 0

    def signposted(conversation: Conversation) -> Turn:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            other_worker.apply(CHAT, _to(State.ASK_LOCATION))  # type: ignore[arg-type]
        return Turn(conversation.but(state=State.RESULTS), (), outcome=outcome)

    store.apply(CHAT, signposted)
    assert attempts == 2
    with Session(engine) as session:
        rows = signposting_counts(session=session, suppress_under=1, group_by=("strand",))
    assert {r.strand: r.count for r in rows} == {"race": 1, "any": 1}


def test_an_unreadable_stored_state_starts_afresh(store: ConversationStore, engine: Engine) -> None:
    store.apply(CHAT, _to(State.HELP))  # type: ignore[arg-type]
    with engine.begin() as conn:
        conn.execute(ConversationRecord.__table__.update().values(state={"state": "renamed_long_ago"}))  # type: ignore[attr-defined]
    assert store.load(CHAT) == Conversation.new()


def test_the_generated_secret_is_kept_private_and_reused(tmp_path: Path) -> None:
    first = chat_key_secret(configured=None, data_dir=tmp_path / "data")
    again = chat_key_secret(configured=None, data_dir=tmp_path / "data")
    assert first == again and len(first) == 32
    mode = stat.S_IMODE(os.stat(tmp_path / "data" / "chat-key.secret").st_mode)
    assert mode == 0o600
    assert ChatKeyer(first)(CHAT) != ChatKeyer(chat_key_secret(configured=None, data_dir=tmp_path / "other"))(CHAT)


def test_a_configured_secret_wins_and_must_be_long_enough(tmp_path: Path) -> None:
    assert chat_key_secret(configured="s" * 32, data_dir=tmp_path) == b"s" * 32
    assert not (tmp_path / "chat-key.secret").exists()
    with pytest.raises(ValueError, match="SIGNPOST_CHAT_KEY_SECRET"):
        chat_key_secret(configured="short", data_dir=tmp_path)


def test_the_key_is_a_keyed_hash_not_a_plain_one() -> None:
    import hashlib

    key = ChatKeyer(b"secret-one-secret-one")(CHAT)
    assert key != hashlib.sha256(str(CHAT).encode()).hexdigest()
    assert key != ChatKeyer(b"secret-two-secret-two")(CHAT)
    assert key == ChatKeyer(b"secret-one-secret-one")(CHAT)
