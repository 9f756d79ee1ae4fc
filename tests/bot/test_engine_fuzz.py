"""Hostile input to the conversation engine: lone surrogates, direction overrides, control characters, 10,000
characters at once, markup, made-up button data and impossible coordinates. Never a traceback; every turn
renders in every language and leaves a way on (a button, or the wipe of Leave quickly); the state stays
serialisable and holds no text the person typed."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine import Choice, Command, Conversation, Language, SharedLocation, Text
from bot.render import render
from tests.bot.support import actions, make_engine

ENGINE = make_engine()
_NASTY = st.one_of(
    st.text(alphabet=st.characters(codec=None, categories=("Cs", "Cc", "Cf", "Zl", "Zp", "Co")), max_size=20),
    st.text(max_size=60),
    st.sampled_from(["\u202egnp.exe", "<b>999</b>", "[/free]", "=1+1", "LS6 1AA\u200b", "/start\x00", "\ud800"]),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "\u202e", "9", "["]), st.integers(0, 10_000)),
)
_EVENT = st.one_of(
    st.builds(Text, _NASTY),
    st.builds(Choice, _NASTY),
    st.builds(Command, st.sampled_from(["start", "help", "emergency", "language", "forget", "leave"]), _NASTY),
    st.builds(
        SharedLocation,
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(allow_nan=True, allow_infinity=True),
        st.none() | st.floats(allow_nan=True, allow_infinity=True),
    ),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=50), _EVENT), min_size=1, max_size=12))
def test_hostile_events_never_crash_the_engine(steps: list[tuple[bool, int, object]]) -> None:
    conv = Conversation.new()
    offered: list[str] = []
    typed: list[str] = []
    for press_button, index, event in steps:
        if press_button and offered:
            event = Choice(offered[index % len(offered)])
        if isinstance(event, Text) and len(event.text) > 12 and len(set(event.text)) > 4:  # not a mere word or run
            typed.append(event.text)
        turn = ENGINE.handle(conv, event)  # type: ignore[arg-type]
        assert turn.messages
        assert turn.messages[-1].buttons or turn.messages[-1].request_location or turn.wipe
        for language in Language:
            for message in turn.messages:
                render(message, language, markup="plain").text.encode("utf-8")  # no lone surrogate echoed
        offered = actions(turn)
        conv = turn.conversation
        stored = json.dumps(conv.to_dict(), ensure_ascii=False)
        assert not any(text in stored for text in typed if text.strip())
