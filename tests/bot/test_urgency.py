"""Danger first (issue 10): the urgent-text recogniser on its labelled corpus, its catalogues, and the engine
answering 999 from every state, in every language, the guided note included."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from bot.content import catalogue
from bot.engine import NOTE_STATES, Choice, Command, Conversation, Language, State, Text, Turn
from bot.engine.urgency import (
    KINDS,
    CatalogueSyntaxError,
    Urgency,
    _Reader,
    _reader,
    assess,
    looks_urgent,
    mutations,
)
from bot.render import render
from tests.bot.support import Phrase, _fresh, actions, corpus, explore, make_engine

CONTENT = Path(__file__).resolve().parents[2] / "bot" / "content"


def scores(phrases: list[Phrase]) -> tuple[float, float]:
    """Recall and precision of "danger now" over ``phrases``."""
    found = [(p.label == "now", assess(p.text) is Urgency.NOW) for p in phrases]
    true_pos = sum(1 for want, got in found if want and got)
    return true_pos / sum(1 for want, _ in found if want), true_pos / max(1, sum(1 for _, got in found if got))


# --- the corpus and what the recogniser makes of it ------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "cy"])
def test_the_corpus_is_big_enough_and_has_a_held_out_slice(language: str) -> None:
    phrases = corpus(language)
    assert sum(p.label == "now" for p in phrases) >= 150
    assert sum(p.label != "now" for p in phrases) >= 150
    assert len({p.text for p in phrases}) == len(phrases), "a phrase is listed twice"
    held = [p for p in phrases if p.held_out]
    assert sum(p.label == "now" for p in held) >= 30 and sum(p.label != "now" for p in held) >= 30


@pytest.mark.parametrize("language", ["en", "cy"])
def test_recall_and_precision_on_the_corpus(language: str) -> None:
    phrases = corpus(language)
    recall, precision = scores(phrases)
    missed = [p.text for p in phrases if p.label == "now" and assess(p.text) is not Urgency.NOW]
    wrong = [p.text for p in phrases if p.label != "now" and assess(p.text) is Urgency.NOW]
    assert recall >= 0.98, f"{language}: recall {recall:.3f}, missed {missed}"
    assert precision >= 0.90, f"{language}: precision {precision:.3f}, wrongly urgent {wrong}"
    # Held-out sections measure phrasing the catalogues were not written for (README there): a floor, not a target.
    for section in sorted({p.section for p in phrases if p.held_out}):
        held_recall, held_precision = scores([p for p in phrases if p.section == section])
        assert held_recall >= 0.80 and held_precision >= 0.90, (section, held_recall, held_precision)


@pytest.mark.parametrize("language", ["en", "cy"])
def test_danger_in_the_past_is_told_from_nothing_at_all(language: str) -> None:
    phrases = [p for p in corpus(language) if p.label != "now"]
    agree = sum(1 for p in phrases if assess(p.text).value == p.label)
    assert agree / len(phrases) >= 0.9


ISSUE_URGENT = [
    "he has a knife",
    "they are attacking me",
    "helpwch fi",
    "they set fire to my car just now",
    "please call the police",
    "SOS",
    "a gang is surrounding me",
    "ffoniwch yr heddlu",
    "mae'r tŷ ar dân",
    "mae ganddo gyllell",
    "mae'n beryglus yma",
    "mae o'n fy mrifo i",
    "help he is outside my door",
    "he is outside now",
]


@pytest.mark.parametrize("text", ISSUE_URGENT)
def test_every_example_in_the_issue_is_urgent_and_in_the_corpus(text: str) -> None:
    assert assess(text) is Urgency.NOW and looks_urgent(text)
    written = {p.text for language in ("en", "cy") for p in corpus(language)}
    assert text in written


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("last week someone shouted at me", Urgency.NONE),
        ("he was outside last week", Urgency.PAST),
        ("he had a knife", Urgency.PAST),
        ("last week someone hit me", Urgency.PAST),
        ("he is outside now", Urgency.NOW),
        ("roedd gyda fe gyllell", Urgency.PAST),
        ("im not in danger", Urgency.NONE),
        ("knife crime stats", Urgency.NONE),
        ("can you help me find a reporting centre", Urgency.NONE),
    ],
)
def test_tense_and_intent(text: str, expected: Urgency) -> None:
    assert assess(text) is expected


def test_in_the_note_a_bare_danger_word_is_read_as_the_past_event_but_a_call_for_help_is_not() -> None:
    assert assess("knife") is Urgency.NOW
    assert assess("knife", during_note=True) is Urgency.PAST
    assert assess("he punched me", during_note=True) is Urgency.PAST
    for call in ("helpwch fi", "help", "call the police", "he has a knife"):
        assert assess(call, during_note=True) is Urgency.NOW, call


@pytest.mark.parametrize(
    ("radical", "forms"),
    [
        ("cyllell", {"gyllell", "nghyllell", "chyllell"}),
        ("peryglus", {"beryglus", "mheryglus", "pheryglus"}),
        ("brifo", {"frifo", "mrifo"}),
        ("dilyn", {"ddilyn", "nilyn"}),
        ("lladd", {"ladd"}),
        ("gwn", {"wn", "ngwn"}),
        ("ofn", {"hofn"}),
        ("chwilio", set()),
    ],
)
def test_welsh_mutations(radical: str, forms: set[str]) -> None:
    assert mutations(radical) == {radical, *forms}


@pytest.mark.parametrize("text", ["mae o'n fy nghuro i", "mae e'n fy nharo i", "dw i wedi cael fy nhrywanu"])
def test_mutated_welsh_is_read(text: str) -> None:
    assert assess(text) is Urgency.NOW


@pytest.mark.parametrize("text", ["hes atacking me", "some1 is folowing me", "ive been stabed", "heeelp", "helpp"])
def test_misspellings_and_texting(text: str) -> None:
    assert assess(text) is Urgency.NOW


@pytest.mark.parametrize("text", ["I am willing to report it", "we are breeding dogs", "there is a helpline"])
def test_spelling_tolerance_does_not_invent_danger(text: str) -> None:
    assert assess(text) is Urgency.NONE


# --- the catalogues, reviewed like the others ------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "cy"])
def test_each_catalogue_has_every_section(language: str) -> None:
    data = tomllib.loads((CONTENT / f"urgent_{language}.toml").read_text(encoding="utf-8"))
    assert data["language"] == language
    assert set(data["signals"]) == set(KINDS), f"urgent_{language}.toml: signals must be exactly {KINDS}"
    assert all(data["signals"][kind] for kind in KINDS)
    for key in ("now", "past_frame", "present", "past", "clause_breaks"):
        assert data["tense"][key], f"urgent_{language}.toml: [tense] {key} is empty"
    assert data["ignore"]["negation"] and data["ignore"]["suppress"] and data["common"]
    patterns = [p for kind in KINDS for p in data["signals"][kind]]
    assert len(patterns) == len(set(patterns)), "a signal pattern is listed twice"
    if language == "en":
        assert not any("~" in p for p in patterns), "mutations (~) are for Welsh"


@pytest.mark.parametrize("language", ["en", "cy"])
def test_every_signal_pattern_catches_some_phrase_of_the_corpus(language: str) -> None:
    """A pattern nothing matches is a slip ("yma|yn ol" reads "yma ol") or untested: give it a phrase."""
    reader = _reader(language)
    data = tomllib.loads((CONTENT / f"urgent_{language}.toml").read_text(encoding="utf-8"))
    clauses = [" " + " ".join(c) + " " for p in corpus(language) for c in reader.clauses(p.text)]
    unused = [
        f"[signals.{kind}] {pattern!r}"
        for kind in KINDS
        for pattern in data["signals"][kind]
        if not any(re.search(reader._pattern(pattern, kind), clause) for clause in clauses)
    ]
    assert not unused, f"urgent_{language}.toml: no corpus phrase uses {unused}"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("he's outside", "is not a normalised word"),
        ("{NOBODY} outside", "no [words] list named NOBODY"),
        ("help||me", "an empty word"),
    ],
)
def test_a_pattern_the_scorer_cannot_read_is_named(pattern: str, message: str) -> None:
    data = tomllib.loads((CONTENT / "urgent_en.toml").read_text(encoding="utf-8"))
    data["signals"]["call"] = [*data["signals"]["call"], pattern]
    with pytest.raises(CatalogueSyntaxError) as raised:
        _Reader(data, "bot/content/urgent_en.toml")
    assert "bot/content/urgent_en.toml [signals.call]" in str(raised.value) and message in str(raised.value)


@pytest.mark.parametrize("language", list(Language))
def test_no_button_or_command_label_reads_as_danger_except_the_danger_button(language: Language) -> None:
    cat = catalogue(language)
    urgent = {k for k, text in cat.entries.items() if k.startswith(("btn_", "cmd_")) and looks_urgent(text)}
    # "Help" typed on its own is a call for help (the Help screen is its button or /help).
    assert urgent <= {"btn_danger", "cmd_emergency", "btn_help"}, urgent
    assert "btn_danger" in urgent


# --- the engine: 999 one step away from every state, in every language -----------------------------------------


@pytest.fixture(scope="module")
def states() -> list[Conversation]:
    """One conversation in each state, reached by the breadth-first walk."""
    seen: dict[State, Conversation] = {}
    for _, _, turn in explore(make_engine()):
        seen.setdefault(turn.conversation.state, turn.conversation)
    assert set(seen) == set(State)
    return list(seen.values())


def _said(turn: Turn) -> str:
    language = turn.conversation.language
    return "\n".join(render(m, language, markup="plain").text for m in turn.messages)


@pytest.mark.parametrize("language", list(Language), ids=str)
def test_from_every_state_in_every_language_999_is_one_tap_away_and_so_is_leaving(
    language: Language, states: list[Conversation]
) -> None:
    engine = make_engine()
    for conv in states:
        conv = _fresh(engine, conv.but(language=language))
        offered = [b.action for m in engine.screen(conv) for row in m.buttons for b in row]
        assert "leave" in offered, conv.state
        if conv.state is not State.DANGER:
            assert "danger" in offered, conv.state
        turn = engine.handle(conv, Choice("danger"))
        assert turn.conversation.state is State.DANGER and "999" in _said(turn), (language, conv.state)
        left = engine.handle(_fresh(engine, conv), Choice("leave"))
        assert left.wipe and left.forget and "999" not in _said(left)


URGENT_TYPED = {
    Language.EN: ["he has a knife", "someone is following me", "please call the police"],
    Language.CY: ["helpwch fi", "mae ganddo gyllell", "maen nhw'n ymosod arna i"],
    Language.EASY: ["A man is hurting me.", "I am in danger. Help me."],
}


@pytest.mark.parametrize("language", list(Language), ids=str)
def test_an_urgent_phrase_typed_in_any_state_gets_999_in_the_reply(
    language: Language, states: list[Conversation]
) -> None:
    engine = make_engine()
    for conv in states:
        for text in URGENT_TYPED[language]:
            fresh = _fresh(engine, conv.but(language=language))
            turn = engine.handle(fresh, Text(text))
            assert "999" in _said(turn), (language, conv.state, text)
            if fresh.state in NOTE_STATES:
                # The note carries on: the next question (or the finished note) follows the 999 message.
                position = NOTE_STATES.index(fresh.state)
                expected = NOTE_STATES[position + 1] if position + 1 < len(NOTE_STATES) else State.NOTE_DONE
                assert turn.conversation.state is expected, (conv.state, text)
                assert [m.key for m in turn.messages][:2] == ["danger", "note_kept"]
            else:
                assert turn.conversation.state is State.DANGER, (language, conv.state, text)


def test_an_urgent_answer_in_the_note_is_kept_in_the_note_and_never_in_the_conversation() -> None:
    engine = make_engine()
    conv = engine.handle(Conversation.new(), Choice("note")).conversation
    answers = ["helpwch fi", "he had a knife", "they are attacking me", "no one", "photos"]
    stored = []
    for answer in answers:
        turn = engine.handle(conv, Text(answer))
        conv = turn.conversation
        stored.append(repr(conv.to_dict()))
    result = next(m for m in turn.messages if m.key == "note_result")
    assert list(result.vars.values()) == answers
    assert not any(a in s for a in answers for s in stored)
    assert engine.notes_in_memory == 0


def test_in_the_note_danger_in_the_past_gets_one_line_and_the_note_goes_on() -> None:
    engine = make_engine()
    conv = engine.handle(Conversation.new(), Choice("note")).conversation
    turn = engine.handle(conv, Text("he had a knife"))
    assert [m.key for m in turn.messages] == ["danger_past", "note_where_ask"]
    assert turn.conversation.state is State.NOTE_WHERE
    assert "999" in _said(turn)
    quiet = engine.handle(turn.conversation, Text("outside the shop"))
    assert [m.key for m in quiet.messages] == ["note_what_ask"]


@pytest.mark.parametrize("language", list(Language), ids=str)
def test_on_the_location_step_an_urgent_phrase_gets_999_not_place_not_found(language: Language) -> None:
    engine = make_engine()
    for state in (State.ASK_LOCATION, State.CHOOSE_PLACE, State.RESULTS):
        for text in URGENT_TYPED[language]:
            turn = engine.handle(Conversation(state, language=language), Text(text))
            assert turn.conversation.state is State.DANGER, (state, text)
            assert not any(m.key.startswith("locate_") for m in turn.messages)
        past = engine.handle(Conversation(state, language=language), Text("last week someone hit me"))
        assert [m.key for m in past.messages] == ["danger_past_aside"] and "999" in _said(past)
        assert past.conversation.state is state
    found = engine.handle(Conversation(State.ASK_LOCATION), Text("LS6 1AA"))
    assert found.conversation.state is State.RESULTS


def test_outside_the_note_the_past_does_not_jump_to_the_danger_screen() -> None:
    engine = make_engine()
    shouted = engine.handle(Conversation.new(), Text("last week someone shouted at me"))
    assert shouted.conversation.state is State.WELCOME and "danger" in actions(shouted)
    hit = engine.handle(Conversation(State.REPORTING), Text("last week someone hit me"))
    assert hit.conversation.state is State.REPORTING
    assert [m.key for m in hit.messages] == ["danger_past_aside"] and "999" in _said(hit)
    assert "danger" in actions(hit) and "leave" in actions(hit)


def test_the_danger_command_and_button_still_work_in_the_note() -> None:
    engine = make_engine()
    conv = engine.handle(Conversation.new(), Choice("note")).conversation
    for event in (Choice("danger"), Command("emergency")):
        turn = engine.handle(conv, event)
        assert turn.conversation.state is State.DANGER and "999" in _said(turn)


def test_catalogue_texts_for_the_danger_lines_name_999_in_every_language() -> None:
    for language in Language:
        for key in ("danger_past", "danger_past_aside", "welcome", "menu"):
            assert re.search(r"\b999\b", catalogue(language)[key]), (language, key)
