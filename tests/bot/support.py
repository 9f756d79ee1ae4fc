"""Shared parts for the conversation tests: the real signposter over the shipped directory, a settable clock,
and a breadth-first explorer of the conversation graph."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from bot.engine import (
    NOTE_STATES,
    Choice,
    Command,
    Conversation,
    Engine,
    Event,
    Language,
    SharedLocation,
    State,
    Text,
    Turn,
    Unsupported,
)
from bot.signposter import DirectorySignposter
from mapping.locate import Locator
from services_db.seed import load_shipped_directory

# A Thursday afternoon in November (UK time = UTC): inside most weekday opening hours.
THURSDAY_AFTERNOON = datetime(2026, 11, 26, 14, 30, tzinfo=UTC)

# What a person might type or share, beyond the buttons offered.
TYPED: tuple[Event, ...] = (
    Text("LS6 1AA"),  # Leeds: local services (from the starter directory, unconfirmed) cover it
    Text("EX1 1AA"),  # Exeter: nothing local; national routes only (the nearest centre is too far away)
    Text("Newport"),  # ambiguous place
    Text("EH1 1YZ"),  # Edinburgh: outside England and Wales
    Text("ZZ99 9ZZ"),  # not a postcode
    Text("the bus stop near the market"),
    SharedLocation(53.4794, -2.2453, 20.0),  # Manchester, where alternative subcultures are recorded
    SharedLocation(51.4816, -3.1791, 50.0),  # Cardiff
    Unsupported("sticker"),
)
COMMANDS: tuple[Event, ...] = (
    Command("start"),
    Command("help"),
    Command("emergency"),
    Command("language"),
    Command("cancel"),
    Command("forget"),
)


class Clock:
    """A clock tests can set and move."""

    def __init__(self, now: datetime = THURSDAY_AFTERNOON) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@cache
def shipped_signposter() -> DirectorySignposter:
    """The real signposter over the shipped directory (national and local files) and the offline locator (built
    once)."""
    return DirectorySignposter.from_services(load_shipped_directory().services, locator=Locator.offline_default())


def make_engine(clock: Clock | None = None) -> Engine:
    return Engine(shipped_signposter(), clock=clock or Clock())


def actions(turn: Turn) -> list[str]:
    """Every callback action offered by a turn's messages."""
    return [b.action for m in turn.messages for row in m.buttons for b in row if b.action]


def explore(
    engine: Engine, *, with_typed: bool = True, language: Language = Language.EN
) -> Iterator[tuple[Conversation, Event, Turn]]:
    """Breadth-first over the conversation: every offered button, the commands, and typical typed input.

    Yields each (conversation, event, turn) once per distinct (conversation, event), without note tokens
    (a random token would make every note step look new). The walk starts in ``language``.
    """
    start = Conversation.new(language)
    seen: set[tuple[object, ...]] = set()
    queue: deque[Conversation] = deque([start])
    visited: set[tuple[object, ...]] = {_key(start)}
    while queue:
        conv = queue.popleft()
        screen = engine.screen(conv)
        offered = [Choice(b.action) for m in screen for row in m.buttons for b in row if b.action]
        typed = with_typed and conv.state in _TYPING_STATES
        events: list[Event] = [*offered, *COMMANDS, *(TYPED if typed else TYPED[-1:])]
        if conv.state.value.startswith("note_") and conv.state is not State.NOTE_DONE:
            events.append(Text("an answer"))
        for event in events:
            if (_key(conv), event) in seen:
                continue
            seen.add((_key(conv), event))
            turn = engine.handle(_fresh(engine, conv), event)
            yield conv, event, turn
            following = [turn.conversation]
            # Buttons that carry the place (no screen of their own can offer them): one and two taps deep.
            for action in actions(turn):
                if action.startswith(("more:", "at:", "who:")):
                    followed = engine.handle(turn.conversation, Choice(action))
                    yield turn.conversation, Choice(action), followed
                    following.append(followed.conversation)
                    for deeper in actions(followed):
                        if deeper.startswith("who:") and not deeper.startswith("who:ask:"):
                            answered = engine.handle(followed.conversation, Choice(deeper))
                            yield followed.conversation, Choice(deeper), answered
            for nxt in following:
                if _key(nxt) not in visited and len(visited) < 400:
                    visited.add(_key(nxt))
                    queue.append(nxt)


_TYPING_STATES = frozenset({State.WELCOME, State.ASK_LOCATION, State.CHOOSE_PLACE, State.RESULTS, State.STRANDS})


def _fresh(engine: Engine, conv: Conversation) -> Conversation:
    """The same step of a guided note, with a note this engine still holds (earlier branches dropped it)."""
    if conv.state not in NOTE_STATES:
        return conv
    fresh = engine.handle(conv.but(state=State.WELCOME, note_token=None), Choice("note")).conversation
    while fresh.state is not conv.state:
        fresh = engine.handle(fresh, Text("an answer")).conversation
    return fresh


def _key(conv: Conversation) -> tuple[object, ...]:
    # Coarse on purpose: language, strands and area change the words shown, not the paths available.
    return (conv.state, bool(conv.strands), bool(conv.local_strands), conv.pfa_code is None, conv.who_asked)


# --- the labelled corpus of the danger recogniser (tests/bot/urgent_corpus, see its README) --------------------

URGENT_CORPUS = Path(__file__).resolve().parent / "urgent_corpus"
HELD_OUT_MARK = "# --- held-out"


@dataclass(frozen=True)
class Phrase:
    label: str  # now | past | none
    text: str
    section: str  # "written first", or the name of the held-out section it is in ("held-out 1", ...)

    @property
    def held_out(self) -> bool:
        return self.section != "written first"


def corpus(language: str) -> list[Phrase]:
    """The labelled phrases of ``urgent_corpus/{language}.tsv``; those after a held-out mark are held out."""
    phrases, section = [], "written first"
    path = URGENT_CORPUS / f"{language}.tsv"
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(HELD_OUT_MARK):
            section = line.removeprefix("# --- ").split(":", 1)[0].strip()
        if not line.strip() or line.startswith("#"):
            continue
        label, _, text = line.partition("\t")
        if label not in ("now", "past", "none") or not text.strip():
            raise ValueError(f"{path.name} line {number}: want 'now|past|none<TAB>text', got {line!r}")
        phrases.append(Phrase(label, text, section))
    return phrases


# English words that do not occur as Welsh words: two of them in one sentence make it an English sentence.
ENGLISH_WORDS = frozenset(
    re.findall(
        r"[a-z]+",
        "the and you your for with from this that are is of or not can be by it if have has will about who what when"
        " before after free open hours every only also they them their was were does there here please been any"
        " call report support people should would could our we",
    )
)
# Proper names and contact values a Welsh or Easy Read card rightly keeps as they are.
KEPT_AS_NAMES = re.compile(
    r"True Vision|Relay UK|Crimestoppers|Samaritans|Galop|Tell MAMA|GATE Herts|Report Racism GRT|CST|"
    r"Community Security Trust|emergencySMS|\"register\"|999 BSL|Signpost|LGBT\+|https?://\S+|"
    r"[\w.-]+\.(?:uk|org|com|net|cymru|wales)\b\S*"
)


def english_sentences(text: str) -> list[str]:
    """Sentences of ``text`` that read as English (a simple stopword count, proper names left out)."""
    text = KEPT_AS_NAMES.sub(" ", text)
    found = []
    for sentence in re.split(r"[.!?:;()\n]+", text):
        words = {w.lower() for w in re.findall(r"[A-Za-zÀ-ÿŵŷŴŶ']+", sentence)}
        if len(words & ENGLISH_WORDS) >= 2:
            found.append(sentence.strip())
    return found
