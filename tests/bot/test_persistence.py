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
from bot.persistence import AlreadyTaken, ChatKeyer, ConcurrentTurns, ConversationStore, chat_key_secret
from mapping.types import Strand
from services_db.models import ChatMessage, ConversationRecord
from services_db.retention import purge_expired
from services_db.stats import signposting_counts

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
    key, state, version, updated_at, expires_at, note, note_expires_at, recent_updates = row
    assert note is None and note_expires_at is None and recent_updates is None  # no note, no update ids given
    assert updated_at == T0 and expires_at == T0 + timedelta(hours=24)
    assert str(CHAT) not in key and len(key) == 64
    assert state == Conversation.new().but(state=State.RESULTS, lad_code="E08000003", pfa_code="E23000005").to_dict()
    assert str(CHAT) not in json.dumps(state)
    assert version == 1
    columns = {c["name"] for c in inspect(engine).get_columns("conversation_state")}
    assert columns == {
        "chat_key",
        "state",
        "version",
        "updated_at",
        "expires_at",
        "note",
        "note_expires_at",
        "recent_updates",
    }


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


def test_people_signposted_to_the_same_area_at_once_hold_their_turns_open_together(
    store: ConversationStore, engine: Engine
) -> None:
    """Open turns (PostgreSQL: committed once each reply is on its way) of two people signposted to the same area
    are both open at once: the shared count's row is written at the commit, so the second is not held up by
    the first (both are opened in this one thread: were the count written with the step, the second would wait
    for good on the first's row lock). A rolled back turn leaves nothing: not its step, not its count, not its
    update id."""
    outcome = SignpostingOutcome("E08000035", "E23000010", frozenset({Strand.RACE}), "matched_local")

    def signposted(conversation: Conversation) -> Turn:
        return Turn(conversation.but(state=State.RESULTS), (), outcome=outcome)

    first = store.open_turn(CHAT, signposted, update_id=1)
    second = store.open_turn(CHAT + 1, signposted, update_id=2)
    third = store.open_turn(CHAT + 2, signposted, update_id=3)
    assert first.open == second.open == third.open == (engine.dialect.name == "postgresql")
    other = ConversationStore(engine, keyer=store.keyer, ttl=store.ttl, clock=store.clock)
    if engine.dialect.name == "postgresql":
        assert other.load(CHAT) is None  # not committed yet
    second.commit()
    first.commit()
    third.rollback()
    first.commit()  # once only
    with Session(engine) as session:
        rows = signposting_counts(session=session, suppress_under=1, group_by=("strand",))
    expected = 2 if engine.dialect.name == "postgresql" else 3  # SQLite's turns come back committed
    assert {r.strand: r.count for r in rows} == {"race": expected, "any": expected}
    assert other.load(CHAT).state is State.RESULTS  # type: ignore[union-attr]
    if engine.dialect.name == "postgresql":
        assert other.load(CHAT + 2) is None
        assert other.apply(CHAT + 2, signposted, update_id=3).conversation.state is State.RESULTS  # not taken


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


# --- guided notes across workers, sealed ----------------------------------------------------------------------

NOTE = ("Tuesday about 9pm", "the 42 bus by Quarry Street", "he shouted at me", "the driver saw it", "photos")


def test_a_note_travels_sealed_between_workers_and_is_gone_when_given_back(engine: Engine, clock: Clock) -> None:
    from bot.engine import Choice, Text
    from tests.bot.support import Clock as EngineClock
    from tests.bot.support import make_engine as make_conversation_engine

    engine_clock = EngineClock()
    workers = []
    for _ in range(2):  # two processes: each its own engine (memory) and store, one database
        conversation_engine = make_conversation_engine(engine_clock)
        workers.append(
            (
                conversation_engine,
                ConversationStore(
                    engine, keyer=ChatKeyer(b"k" * 32), ttl=timedelta(hours=24), clock=clock, notes=conversation_engine
                ),
            )
        )
    first_engine, first = workers[0]
    first.apply(CHAT, lambda c: first_engine.handle(c, Choice("note")))
    for index, answer in enumerate(NOTE):  # every answer lands on the other worker
        conversation_engine, store = workers[(index + 1) % 2]
        turn = store.apply(CHAT, lambda c, e=conversation_engine, a=answer: e.handle(c, Text(a)))  # type: ignore[misc]
        assert all(w.notes_in_memory == 0 for w, _ in workers)  # nothing readable left in any worker between turns
        if index < len(NOTE) - 1:
            (row,) = _rows(engine)
            sealed = row[5]
            assert isinstance(sealed, bytes) and row[6] == clock.now + timedelta(minutes=30)
            assert all(a.encode() not in sealed for a in NOTE)  # unreadable at rest
    given_back = json.dumps([m.vars for m in turn.messages], default=str)
    assert all(answer in given_back for answer in NOTE)  # nothing lost on the way
    (row,) = _rows(engine)
    assert row[5] is None and row[6] is None  # gone once given back


def test_a_sealed_note_opens_only_for_its_own_chat(engine: Engine, clock: Clock) -> None:
    from bot.persistence import NoteSeal

    seal = NoteSeal(b"k" * 32)
    sealed = seal.seal(CHAT, "row-key", {"answers": {"note_when": "Tuesday"}})
    assert seal.open(CHAT, "row-key", sealed) == {"answers": {"note_when": "Tuesday"}}
    assert seal.open(CHAT + 1, "row-key", sealed) is None  # another chat's key
    assert seal.open(CHAT, "other-row", sealed) is None  # moved to another row
    assert NoteSeal(b"x" * 32).open(CHAT, "row-key", sealed) is None  # another secret


def test_an_abandoned_sealed_note_expires_and_is_purged(engine: Engine, clock: Clock) -> None:
    from bot.engine import Choice, Text
    from tests.bot.support import make_engine as make_conversation_engine

    conversation_engine = make_conversation_engine()
    store = ConversationStore(
        engine, keyer=ChatKeyer(b"k" * 32), ttl=timedelta(hours=24), clock=clock, notes=conversation_engine
    )
    store.apply(CHAT, lambda c: conversation_engine.handle(c, Choice("note")))
    store.apply(CHAT, lambda c: conversation_engine.handle(c, Text(NOTE[0])))
    assert _rows(engine)[0][5] is not None
    clock.now = T0 + timedelta(minutes=31)
    with Session(engine) as session:
        purge_expired(session=session, now=clock.now)
        session.commit()
    assert _rows(engine)[0][5] is None
    turn = store.apply(CHAT, lambda c: conversation_engine.handle(c, Text(NOTE[1])))
    assert "note_lost" in [m.key for m in turn.messages]  # said plainly; the person starts the note again


# --- message ids for the quick exit --------------------------------------------------------------------------


def test_message_ids_are_kept_as_numbers_and_taken_once(store: ConversationStore, engine: Engine, clock: Clock) -> None:
    store.apply(CHAT, _to(State.HELP))  # type: ignore[arg-type]
    store.remember_messages(CHAT, [10, 11, 12])
    clock.now = T0 + timedelta(hours=47)
    store.remember_messages(CHAT, [12, 13])
    store.remember_messages(CHAT + 1, [500])
    with Session(engine) as session:
        rows = session.execute(select(ChatMessage.__table__)).all()  # type: ignore[attr-defined]
    assert {r[1] for r in rows} == {10, 11, 12, 13, 500} and all(str(CHAT) not in r[0] for r in rows)
    clock.now = T0 + timedelta(hours=48, seconds=1)
    assert store.take_messages(CHAT) == [13]  # 10-12 are past Telegram's 48 hours
    assert store.take_messages(CHAT) == []  # taken once
    assert store.forget(CHAT + 1) is False and store.take_messages(CHAT + 1) == []  # /forget drops them too


def test_message_ids_go_with_their_conversation(store: ConversationStore, engine: Engine, clock: Clock) -> None:
    store.apply(CHAT, _to(State.HELP))  # type: ignore[arg-type]
    store.remember_messages(CHAT, [1, 2])
    clock.now = T0 + timedelta(hours=25)
    with Session(engine) as session:
        assert purge_expired(session=session, now=clock.now) == 1
        session.commit()
        assert session.execute(select(ChatMessage.__table__)).all() == []  # type: ignore[attr-defined]


def test_a_redelivered_update_is_not_run_twice(store: ConversationStore, engine: Engine) -> None:
    from bot.persistence import RECENT_UPDATES, AlreadyTaken

    runs: list[State] = []

    def tick(conversation: Conversation) -> Turn:
        runs.append(conversation.state)
        return Turn(conversation.but(state=State.HELP), ())

    store.apply(CHAT, tick, update_id=1000)
    with pytest.raises(AlreadyTaken) as taken:
        store.apply(CHAT, tick, update_id=1000)
    assert taken.value.conversation.state is State.HELP and len(runs) == 1
    store.apply(CHAT + 1, tick, update_id=1000)  # another chat's update of the same id is its own (ids are per bot)
    for update_id in range(1001, 1001 + RECENT_UPDATES):
        store.apply(CHAT, tick, update_id=update_id)
    (row,) = [r for r in _rows(engine) if r[0] == store.keyer(CHAT)]
    assert row[7] == list(range(1001, 1001 + RECENT_UPDATES))  # numbers only, bounded


def test_a_reply_waiting_to_be_sent_again_is_marked_so_its_redelivery_shows_the_screen(
    store: ConversationStore, engine: Engine
) -> None:
    """While a refused reply waits to be sent again, its update is kept among those taken, marked unsent; the
    mark goes once a try succeeds. Other chats, the update's neighbours and the step itself are untouched."""
    tick = _to(State.HELP)
    store.apply(CHAT, tick, update_id=2000)  # type: ignore[arg-type]
    store.apply(CHAT, tick, update_id=2001)  # type: ignore[arg-type]
    store.apply(CHAT + 1, tick, update_id=2001)  # type: ignore[arg-type]
    version = next(r for r in _rows(engine) if r[0] == store.keyer(CHAT))
    store.mark_unsent(CHAT, 2001)
    (row,) = [r for r in _rows(engine) if r[0] == store.keyer(CHAT)]
    assert row[7] == [2000, -2001] and row[:7] == version[:7]  # the same step, version and state
    with pytest.raises(AlreadyTaken) as taken:
        store.apply(CHAT, tick, update_id=2001)  # type: ignore[arg-type]
    assert taken.value.unsent and taken.value.conversation.state is State.HELP
    with pytest.raises(AlreadyTaken) as other:
        store.apply(CHAT + 1, tick, update_id=2001)  # type: ignore[arg-type]
    assert not other.value.unsent  # another chat's update of the same id is its own
    store.mark_unsent(CHAT, 2001, unsent=False)
    with pytest.raises(AlreadyTaken) as again:
        store.apply(CHAT, tick, update_id=2001)  # type: ignore[arg-type]
    assert not again.value.unsent
    store.mark_unsent(CHAT, 9999)  # never taken: nothing to mark
    store.forget(CHAT)
    store.mark_unsent(CHAT, 2001)  # forgotten meanwhile: nothing to mark, no row made
    assert [r for r in _rows(engine) if r[0] == store.keyer(CHAT)] == []


def test_before_commit_sees_the_turn_written_but_not_yet_committed(store: ConversationStore, engine: Engine) -> None:
    """On PostgreSQL the turn's transaction waits for ``before_commit`` (the adapter commits once the reply is on
    the wire): until it returns, nobody else sees the step or the update taken. SQLite does not hold."""
    store.apply(CHAT, _to(State.WELCOME))  # type: ignore[arg-type]
    if engine.dialect.name != "postgresql":
        called: list[Turn] = []
        store.apply(CHAT, _to(State.STRANDS), update_id=7, before_commit=called.append)  # type: ignore[arg-type]
        assert called == []
        return
    import threading

    ready, release = threading.Event(), threading.Event()

    def holding(turn: Turn) -> None:
        ready.set()
        release.wait(10)

    worker = threading.Thread(
        target=store.apply, args=(CHAT, _to(State.STRANDS)), kwargs={"update_id": 7, "before_commit": holding}
    )
    worker.start()
    assert ready.wait(10)
    other = ConversationStore(engine, keyer=store.keyer, ttl=store.ttl, clock=store.clock)
    assert other.load(CHAT).state is State.WELCOME  # type: ignore[union-attr]  (not committed yet)
    release.set()
    worker.join(10)
    assert other.load(CHAT).state is State.STRANDS  # type: ignore[union-attr]
    with pytest.raises(AlreadyTaken):
        other.apply(CHAT, _to(State.HELP), update_id=7)  # type: ignore[arg-type]
