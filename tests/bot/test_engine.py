"""The conversation engine: reachability, 999 one step away from everywhere, the note never stored, random walks."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.content import catalogue
from bot.engine import (
    NOTE_STATES,
    Choice,
    Command,
    Conversation,
    Engine,
    Language,
    SharedLocation,
    State,
    Text,
    Unsupported,
    looks_urgent,
)
from bot.engine.engine import PAGE_SIZE, ServiceCard
from bot.signposter import DirectorySignposter
from mapping.locate import Locator
from mapping.types import Strand
from services_db.seed import load_national_directory, load_shipped_directory
from tests.bot.support import Clock, actions, explore, make_engine

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo_directory.json"

FLOW = Path(__file__).resolve().parents[2] / "bot" / "engine" / "flow.mmd"


@pytest.fixture(scope="module")
def walk() -> list[tuple[Conversation, object, object]]:
    return list(explore(make_engine()))


def _cards(turn) -> list[ServiceCard]:  # type: ignore[no-untyped-def]
    return [card for m in turn.messages for card in m.vars.get("services", ()) if isinstance(card, ServiceCard)]


def _ids(turn) -> set[str]:  # type: ignore[no-untyped-def]
    return {card.id for card in _cards(turn)}


def _go(engine, *events):  # type: ignore[no-untyped-def]
    conv = Conversation.new()
    turn = None
    for event in events:
        turn = engine.handle(conv, event)
        conv = turn.conversation
    return turn


# --- structure --------------------------------------------------------------------------------------------


def test_every_state_is_in_the_mermaid_diagram() -> None:
    diagram = FLOW.read_text(encoding="utf-8")
    assert diagram.lstrip().startswith("%%") and "stateDiagram-v2" in diagram
    named = set(re.findall(r"\b([a-z_]+)\b", diagram))
    missing = [s.value for s in State if s.value not in named]
    assert not missing, f"flow.mmd lacks states {missing}"


def test_every_transition_the_engine_makes_is_drawn(walk) -> None:  # type: ignore[no-untyped-def]
    diagram = FLOW.read_text(encoding="utf-8")
    drawn = set(re.findall(r"^\s*([a-z_]+)\s*-->\s*([a-z_]+)", diagram, re.MULTILINE))
    targets = re.search(r"^%% global-targets: (.+)$", diagram, re.MULTILINE)
    assert targets, "flow.mmd lacks its '%% global-targets:' line"
    everywhere = set(targets[1].split())
    made = {(conv.state.value, turn.conversation.state.value) for conv, _, turn in walk}
    undrawn = sorted((a, b) for a, b in made if a != b and b not in everywhere and (a, b) not in drawn)
    assert not undrawn, f"flow.mmd lacks transitions {undrawn}"


def test_every_state_is_reachable(walk) -> None:  # type: ignore[no-untyped-def]
    reached = {turn.conversation.state for _, _, turn in walk}
    assert reached == set(State), f"unreachable: {set(State) - reached}"


def test_from_every_state_999_is_one_step_away(walk) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine()
    by_state: dict[State, Conversation] = {}
    for _, _, turn in walk:
        by_state.setdefault(turn.conversation.state, turn.conversation)
    assert set(by_state) == set(State)
    for state, conv in by_state.items():
        for event in (Choice("danger"), Command("emergency"), Text("/emergency")):
            turn = engine.handle(conv, event)
            assert turn.conversation.state is State.DANGER, (state, event)
            assert "police-emergency-999" in _ids(turn)
        screen = engine.screen(conv)
        offered = [b.action for m in screen for row in m.buttons for b in row]
        if state is not State.DANGER:
            assert "danger" in offered, state
        assert "leave" in offered, state


def test_every_keyboard_fits_a_phone(walk) -> None:  # type: ignore[no-untyped-def]
    """At most 8 rows of at most 2 buttons: the danger and leave buttons stay on screen without scrolling."""
    for conv, event, turn in walk:
        for message in turn.messages:
            assert len(message.buttons) <= 8, (conv.state, event, message.key)
            assert all(len(row) <= 2 for row in message.buttons), (conv.state, event, message.key)


def test_every_turn_leaves_a_way_out(walk) -> None:  # type: ignore[no-untyped-def]
    for conv, event, turn in walk:
        assert turn.messages, (conv.state, event)
        last = turn.messages[-1]
        if turn.wipe:  # the quick exit's one neutral line names /start as the way back, and nothing else
            assert "/start" in catalogue(Language.EN)[last.key]
            continue
        assert last.buttons or last.request_location, (conv.state, event, last.key)
        assert "menu" in actions(turn) or "danger" in actions(turn) or turn.conversation.state is State.WELCOME


def test_conversation_round_trips_and_holds_only_enumerated_values(walk) -> None:  # type: ignore[no-untyped-def]
    for _, _, turn in walk:
        conv = turn.conversation
        assert Conversation.from_dict(json.loads(json.dumps(conv.to_dict()))) == conv
        text = json.dumps(conv.to_dict())
        for typed in ("LS6", "EX1", "Newport", "bus stop", "an answer", "53.4", "-2.2", "51.4"):
            assert typed not in text


def test_from_dict_drops_anything_not_enumerated() -> None:
    junk = {
        "state": "nowhere",
        "language": "fr",
        "strands": ["race", "he shouted at me"],
        "local_strands": ["alternative_subculture", "My Name Here"],
        "lad_code": "LS6 1AA",
        "pfa_code": "E23000010",
        "page": "lots",
        "note_token": "what happened was",
    }
    conv = Conversation.from_dict(junk)
    assert conv == Conversation(
        State.WELCOME,
        Language.EN,
        frozenset({Strand.RACE}),
        frozenset({"alternative_subculture"}),
        None,
        "E23000010",
        0,
        None,
    )


# --- flows ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "language", "strands"),
    [
        ("", Language.EN, set()),
        ("cy", Language.CY, set()),
        ("easy", Language.EASY, set()),
        ("strand-race", Language.EN, {Strand.RACE}),
        ("poster-race", Language.EN, {Strand.RACE}),
        ("cy_strand-trans", Language.CY, {Strand.TRANSGENDER}),
        ("strand-sexual-orientation", Language.EN, {Strand.SEXUAL_ORIENTATION}),
        ("something-odd", Language.EN, set()),
    ],
)
def test_start_deep_links_set_language_and_strand(argument: str, language: Language, strands: set[Strand]) -> None:
    turn = make_engine().handle(Conversation.new(), Command("start", argument))
    assert turn.conversation.state is State.WELCOME
    assert turn.conversation.language is language
    assert turn.conversation.strands == strands
    assert turn.messages[0].key == "welcome"


@pytest.mark.parametrize("text", ["help", "HELP!", "he is outside", "Mae e tu allan", "someone is following me"])
def test_urgent_text_goes_straight_to_999(text: str) -> None:
    assert looks_urgent(text)
    for state in (State.WELCOME, State.ASK_LOCATION, State.STRANDS, State.RESULTS):
        turn = make_engine().handle(Conversation(state), Text(text))
        assert turn.conversation.state is State.DANGER


@pytest.mark.parametrize("text", ["LS6 1AA", "Leeds", "yesterday", "shouting"])
def test_ordinary_text_is_not_urgent(text: str) -> None:
    assert not looks_urgent(text)


def test_what_happened_then_strands_then_explanation() -> None:
    engine = make_engine()
    turn = _go(engine, Choice("happened"), Choice("happened:yes"), Choice("strand:race"), Choice("strand:religion"))
    assert turn.conversation.state is State.STRANDS
    assert turn.conversation.strands == {Strand.RACE, Strand.RELIGION}
    labels = {b.action: b.label_vars.get("mark") for m in turn.messages for row in m.buttons for b in row}
    assert labels["strand:race"] and labels["strand:religion"] and not labels["strand:disability"]
    turn = engine.handle(turn.conversation, Choice("strand:race"))
    assert turn.conversation.strands == {Strand.RELIGION}
    turn = engine.handle(turn.conversation, Choice("strand:done"))
    assert turn.conversation.state is State.EXPLAIN
    assert [m.key for m in turn.messages] == ["explain", "explain_chosen"]


def test_not_sure_is_a_first_class_answer() -> None:
    engine = make_engine()
    turn = _go(engine, Choice("happened"), Choice("happened:yes"), Choice("strand:race"), Choice("strand:unsure"))
    assert turn.conversation.state is State.EXPLAIN and not turn.conversation.strands
    assert turn.messages[-1].key == "explain_not_sure"


def test_something_else_offers_the_local_strands_of_the_persons_area() -> None:
    engine = make_engine()
    manchester = _go(engine, SharedLocation(53.4794, -2.2453, 20.0)).conversation
    assert manchester.pfa_code == "E23000005"
    turn = engine.handle(manchester, Choice("strand:other"))
    assert turn.messages[0].key == "something_else"
    assert "local:alternative_subculture" in actions(turn)
    turn = engine.handle(turn.conversation, Choice("local:alternative_subculture"))
    assert turn.conversation.local_strands == {"alternative_subculture"}
    leeds = _go(engine, Text("LS6 1AA")).conversation
    turn = engine.handle(leeds, Choice("strand:other"))
    assert turn.messages[0].key == "something_else_none"
    assert not [a for a in actions(turn) if a.startswith("local:") and a != "local:done"]
    # A strand key from another area cannot be smuggled in.
    turn = engine.handle(leeds.but(state=State.SOMETHING_ELSE), Choice("local:alternative_subculture"))
    assert not turn.conversation.local_strands


def test_reporting_routes_come_from_the_directory() -> None:
    engine = make_engine()
    assert {"police-emergency-999", "police-non-emergency-101", "true-vision"} <= _ids(
        _go(engine, Choice("report"), Choice("report:police"))
    )
    assert "british-transport-police" not in _ids(_go(engine, Choice("report"), Choice("report:police")))
    assert _ids(_go(engine, Choice("report"), Choice("report:anonymous"))) == {"crimestoppers"}
    assert _ids(_go(engine, Choice("report"), Choice("report:railway"))) == {"british-transport-police"}
    religion = _go(engine, Command("start", "strand-religion"), Choice("report"), Choice("report:specialist"))
    assert _ids(religion) == {"cst", "tell-mama"}
    third = _go(engine, Choice("report"), Choice("report:third_party"))
    assert "find" in actions(third)


def test_wales_and_england_only_services_follow_the_persons_nation() -> None:
    engine = make_engine()
    cardiff = engine.handle(Conversation.new(), SharedLocation(51.4816, -3.1791, 50.0)).conversation
    leeds = engine.handle(Conversation.new(), Text("LS6 1AA")).conversation
    unknown = Conversation.new()
    third_party = {
        c: _ids(engine.handle(conv, Choice("report:third_party")))
        for c, conv in (("cardiff", cardiff), ("leeds", leeds), ("unknown", unknown))
    }
    assert "wales-hate-support-centre" in third_party["cardiff"]
    assert "wales-hate-support-centre" not in third_party["leeds"]
    assert "wales-hate-support-centre" in third_party["unknown"]


def test_a_local_service_counts_as_a_local_match_and_an_example_never_shows() -> None:
    services = load_shipped_directory().services
    examples = load_national_directory(DEMO).services  # the made-up centres older versions shipped
    assert {e.id for e in examples} >= {"example-leeds-reporting-centre"}
    signposter = DirectorySignposter.from_services([*services, *examples], locator=Locator.offline_default())
    engine = Engine(signposter)
    turn = _go(engine, Choice("find"), Text("LS6 1AA"))
    assert turn.conversation.state is State.RESULTS
    assert turn.conversation.lad_code == "E08000035" and turn.conversation.pfa_code == "E23000010"
    assert turn.outcome is not None and turn.outcome.outcome == "matched_local"
    assert turn.messages[0].key == "results_local"
    assert turn.messages[0].vars["area"] == "(Leeds, West Yorkshire)"  # the person sees they were understood
    assert len(_cards(turn)) <= PAGE_SIZE
    seen = _ids(turn)
    for place in ("M1 1AE", "CF10 1EP", "LS1 4AP"):
        seen |= _ids(_go(engine, Choice("find"), Text(place)))
    assert not [i for i in seen if i.startswith("example-")]
    third_party = _go(engine, Choice("report"), Choice("report:third_party"))
    assert not [c.id for c in _cards(third_party) if c.id.startswith("example-")]


def test_nothing_local_says_so_and_offers_national_and_nearest_outside() -> None:
    turn = _go(make_engine(), Choice("find"), Text("SK1 1AA"))  # Stockport: Manchester centres are a few km away
    assert turn.messages[0].key == "results_none_local"
    assert turn.outcome is not None and turn.outcome.outcome == "national_only"
    more = [a for a in actions(turn) if a.startswith("more:")]
    reasons = {card.reason for card in _cards(turn)}
    pages = [turn]
    engine = make_engine()
    conv = turn.conversation
    while more:
        page = engine.handle(conv, Choice(more[0]))
        assert page.outcome is None  # counted once, not per page
        pages.append(page)
        reasons |= {card.reason for card in _cards(page)}
        more = [a for a in actions(page) if a.startswith("more:")]
        conv = page.conversation
    assert {r.value for r in reasons if r} >= {"national", "nearest_outside"}
    seen = [card.id for page in pages for card in _cards(page)]
    assert len(seen) == len(set(seen)), "a service appeared on two pages"


def test_ambiguous_place_offers_choices_and_a_choice_finds_help() -> None:
    engine = make_engine()
    turn = _go(engine, Choice("find"), Text("Newport"))
    assert turn.conversation.state is State.CHOOSE_PLACE
    choices = [a for a in actions(turn) if a.startswith("at:")]
    assert len(choices) >= 2
    assert all(len(a.encode()) <= 64 for a in actions(turn))
    picked = engine.handle(turn.conversation, Choice(choices[0]))
    assert picked.conversation.state is State.RESULTS and picked.outcome is not None


def test_outside_england_and_wales_gets_the_emergency_route_and_a_plain_word() -> None:
    turn = _go(make_engine(), Choice("find"), Text("EH1 1YZ"))
    assert turn.messages[0].key == "locate_outside_england_wales"
    assert _ids(turn) == {"police-emergency-999"}
    assert turn.outcome is not None and turn.outcome.lad_code is None and turn.outcome.outcome == "national_only"


def test_a_place_that_cannot_be_found_asks_again_with_the_reason() -> None:
    turn = _go(make_engine(), Choice("find"), Text("Qwxzzy"))
    assert turn.conversation.state is State.ASK_LOCATION
    assert turn.messages[0].key.startswith("locate_")
    assert turn.messages[-1].request_location


def test_shared_location_is_named_by_district_not_coordinates() -> None:
    turn = _go(make_engine(), SharedLocation(53.8008, -1.5491, 15.0))
    place = turn.messages[0].vars["place"]
    assert place == "Leeds" and turn.messages[0].vars["area"] == "(West Yorkshire)"
    assert not any("53.80" in str(v) for m in turn.messages for v in m.vars.values())


def test_opening_hours_say_open_or_closed_now() -> None:
    thursday = make_engine(Clock(datetime(2026, 11, 26, 10, 0, tzinfo=UTC)))
    sunday = make_engine(Clock(datetime(2026, 11, 29, 10, 0, tzinfo=UTC)))

    def citizens_advice(engine):  # type: ignore[no-untyped-def]
        leeds = engine.handle(Conversation.new(), Text("LS6 1AA"))
        conv = leeds.conversation
        for _ in range(10):
            for card in _cards(leeds):
                if card.id == "citizens-advice-england-adviceline":
                    return card
            more = [a for a in actions(leeds) if a.startswith("more:")]
            leeds = engine.handle(conv, Choice(more[0]))
        raise AssertionError("Citizens Advice not offered in Leeds")

    assert citizens_advice(thursday).open_now is True
    assert citizens_advice(sunday).open_now is False


def test_entries_checked_long_ago_say_when() -> None:
    turn = _go(make_engine(), Choice("danger"))
    emergency = next(card for card in _cards(turn) if card.id == "police-emergency-999")
    crimestoppers = _cards(_go(make_engine(), Choice("report:anonymous")))[0]
    assert crimestoppers.checked_on is None or (datetime(2026, 11, 26).date() - crimestoppers.checked_on).days > 183
    assert emergency.checked_on is None  # checked recently in the shipped data
    grt = next(c for c in _cards(_go(make_engine(), Choice("report:specialist"))) if c.id == "report-racism-grt")
    assert grt.checked_on is not None and grt.caveat


# --- the guided note --------------------------------------------------------------------------------------


def test_the_note_comes_back_as_one_message_and_is_never_stored() -> None:
    engine = make_engine()
    secret_words = ["Tuesday 9pm", "outside Greggs on Briggate", "he called me a [slur]", "Ann saw it", "a video"]
    turn = _go(engine, Choice("note"))
    assert turn.conversation.state is State.NOTE_WHEN
    conv = turn.conversation
    stored = []
    for words in secret_words:
        turn = engine.handle(conv, Text(words))
        conv = turn.conversation
        stored.append(json.dumps(conv.to_dict()))
    assert conv.state is State.NOTE_DONE
    results = [m for m in turn.messages if m.key == "note_result"]
    assert len(results) == 1
    assert list(results[0].vars.values()) == secret_words
    for snapshot in stored:
        assert not any(w in snapshot for w in secret_words)
    assert conv.note_token is None
    assert engine.notes_in_memory == 0


def test_urgent_words_inside_the_note_are_recorded_not_diverted() -> None:
    engine = make_engine()
    conv = _go(engine, Choice("note")).conversation
    turn = engine.handle(conv, Text("he was outside my house"))
    assert turn.conversation.state is State.NOTE_WHERE
    assert "danger" in actions(turn)


def test_leaving_the_note_forgets_it_at_once() -> None:
    engine = make_engine()
    conv = _go(engine, Choice("note")).conversation
    conv = engine.handle(conv, Text("last night")).conversation
    assert engine.notes_in_memory == 1
    for leave in (Choice("menu"), Choice("danger"), Command("cancel"), Command("forget"), Choice("note:cancel")):
        engine_conv = _go(engine, Choice("note")).conversation
        engine.handle(engine_conv, Text("last night"))
        turn = engine.handle(engine_conv.but(state=State.NOTE_WHERE), leave)
        assert turn.conversation.note_token is None, leave
    engine.handle(conv, Choice("menu"))
    assert engine.notes_in_memory == 0


def test_a_note_lost_to_a_restart_starts_again_kindly() -> None:
    first, second = make_engine(), make_engine()
    conv = _go(first, Choice("note")).conversation
    turn = second.handle(conv, Text("last night"))
    assert turn.messages[0].key == "note_lost"
    assert turn.conversation.state is State.NOTE_WHEN and turn.conversation.note_token != conv.note_token


def test_notes_expire_from_memory() -> None:
    clock = Clock()
    engine = make_engine(clock)
    conv = _go(engine, Choice("note")).conversation
    clock.advance(hours=3)
    turn = engine.handle(conv, Text("last night"))
    assert turn.messages[0].key == "note_lost"


def test_long_note_answers_are_trimmed_to_fit_one_message() -> None:
    engine = make_engine()
    conv = _go(engine, Choice("note")).conversation
    for _ in NOTE_STATES:
        turn = engine.handle(conv, Text("x" * 5000))
        conv = turn.conversation
    result = next(m for m in turn.messages if m.key == "note_result")
    assert sum(len(str(v)) for v in result.vars.values()) < 3800


# --- odd input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "key"),
    [
        (Unsupported("sticker"), "unsupported_sticker"),
        (Unsupported("voice"), "unsupported_voice"),
        (Unsupported("photo"), "unsupported_media"),
        (Unsupported("hologram"), "unsupported_other"),
        (Text("x" * 2000), "too_long"),
        (Text("Здравствуйте, мне нужна помощь"), "other_language"),
        (Text("what is this"), "not_understood"),
        (Command("frobnicate"), "unknown_command"),
        (Choice("no-such-button"), "stale_button"),
        (Choice("more:1:41.900,12.500"), "locate_outside_england_wales"),
    ],
)
def test_unexpected_input_gets_a_kind_answer_and_keeps_the_place(event, key: str) -> None:  # type: ignore[no-untyped-def]
    conv = Conversation(State.REPORTING, strands=frozenset({Strand.RACE}))
    turn = make_engine().handle(conv, event)
    assert turn.messages[0].key == key
    if key != "locate_outside_england_wales":
        assert turn.conversation == conv
    assert "danger" in actions(turn)


@pytest.mark.parametrize("event", [Command("forget"), Command("leave"), Choice("leave"), Choice("forget")])
def test_leave_quickly_forgets_wipes_and_says_one_neutral_line(event) -> None:  # type: ignore[no-untyped-def]
    conv = Conversation(State.RESULTS, Language.CY, frozenset({Strand.RACE}), lad_code="E08000035")
    turn = make_engine().handle(conv, event)
    assert turn.forget and turn.wipe
    assert turn.conversation == Conversation.new(Language.CY)
    assert [m.key for m in turn.messages] == ["left"]
    assert not turn.messages[0].buttons and turn.messages[0].remove_keyboard  # nothing on screen gives it away


@pytest.mark.parametrize("language", list(Language))
def test_the_leave_line_is_short_and_neutral(language: Language) -> None:
    text = catalogue(language)["left"]
    assert len(text) <= 60
    assert not re.search(r"hate|crime|casineb|trosedd|danger|perygl|police|heddlu|999", text, re.IGNORECASE)


def test_leaving_in_the_middle_of_a_note_drops_it_from_memory() -> None:
    engine = make_engine()
    conv = _go(engine, Choice("note")).conversation
    conv = engine.handle(conv, Text("last night")).conversation
    assert engine.notes_in_memory == 1
    turn = engine.handle(conv, Choice("leave"))
    assert turn.wipe and turn.conversation.note_token is None and engine.notes_in_memory == 0


# --- random walks -----------------------------------------------------------------------------------------

_ANY_EVENT = st.one_of(
    st.builds(Text, st.text(max_size=80)),
    st.builds(Text, st.sampled_from(["LS6 1AA", "M1", "Newport", "Cardiff", "53.8,-1.5", "-1.5,53.8", "/start cy"])),
    st.builds(Choice, st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=64)),
    st.builds(Command, st.sampled_from(["start", "help", "emergency", "language", "forget", "cancel", "x"]), st.text()),
    st.builds(
        SharedLocation,
        st.floats(min_value=49.0, max_value=61.0),
        st.floats(min_value=-8.0, max_value=2.0),
        st.none() | st.floats(min_value=0, max_value=10_000),
    ),
    st.builds(Unsupported, st.sampled_from(["sticker", "photo", "voice", "document", "poll"])),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=50), _ANY_EVENT), max_size=25))
def test_random_walks_never_crash_or_strand_anyone(steps) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine()
    conv = Conversation.new()
    offered: list[str] = []
    for press_button, index, event in steps:
        if press_button and offered:
            event = Choice(offered[index % len(offered)])
        turn = engine.handle(conv, event)
        assert turn.messages
        last = turn.messages[-1]
        assert last.buttons or last.request_location or turn.wipe
        offered = actions(turn)
        assert all(len(a.encode()) <= 64 and a.isascii() for a in offered)
        if turn.conversation.state is not State.DANGER and not turn.wipe:
            assert "danger" in offered and "leave" in offered
        conv = turn.conversation
        assert Conversation.from_dict(json.loads(json.dumps(conv.to_dict()))) == conv


@pytest.mark.parametrize(
    ("text", "state", "place"),
    [
        ("Leeds", State.RESULTS, "Leeds (West Yorkshire, England)"),
        ("caerdydd", State.RESULTS, "Cardiff (South Wales, Wales)"),
        ("my postcode is LS6 1AA", State.RESULTS, "LS6 1AA"),
        ("CF10 1AA please", State.RESULTS, "CF10 1AA"),
        ("Newport", State.CHOOSE_PLACE, None),
        ("Edinburgh", State.RESULTS, None),  # outside England and Wales: says so, with the routes that still work
        ("Wales", State.ASK_LOCATION, None),  # a whole country: asks for a town or postcode (not Wales, Rotherham)
    ],
)
def test_a_place_typed_at_the_menu_gets_the_place_answer(text: str, state: State, place: str | None) -> None:
    turn = make_engine().handle(Conversation.new(), Text(text))
    assert turn.conversation.state is state
    if place is not None:
        assert turn.messages[0].vars["place"] == place and turn.outcome is not None
    if state is State.ASK_LOCATION:
        assert turn.messages[0].key == "locate_whole_nation" and turn.outcome is None


@pytest.mark.parametrize("text", ["police", "park", "what is this", "I was shouted at"])
def test_words_at_the_menu_that_are_not_a_whole_town_name_are_not_taken_for_one(text: str) -> None:
    turn = make_engine().handle(Conversation.new(), Text(text))
    assert turn.conversation.state is State.WELCOME and turn.outcome is None
    assert turn.messages[0].key in ("not_understood", "danger_past_aside")


@pytest.mark.parametrize(
    ("text", "language", "shown"),
    [
        ("church", Language.EN, "Church, Hyndburn (England)"),
        ("street", Language.EN, "Street, Somerset (England)"),
        ("Deal", Language.EASY, "Deal, Dover (England)"),
        ("Aberaeron", Language.CY, "Aberaeron, Ceredigion (Cymru)"),
    ],
)
def test_a_small_place_typed_at_the_menu_is_asked_about_before_it_is_answered_or_counted(
    text: str, language: Language, shown: str
) -> None:
    """Typed "church" or "street" is more likely a word than Church, Hyndburn or Street, Somerset: one tap confirms."""
    engine = make_engine()
    turn = engine.handle(Conversation.new(language), Text(text))
    assert turn.conversation.state is State.CHOOSE_PLACE and turn.outcome is None
    message = turn.messages[0]
    assert message.key == "confirm_place" and message.vars["place"] == shown
    offered = actions(turn)
    assert {"find", "menu", "danger", "leave"} <= set(offered)
    place = next(a for a in offered if a.startswith("at:"))
    tapped = engine.handle(turn.conversation, Choice(place))
    assert tapped.conversation.state is State.RESULTS and tapped.outcome is not None
    again = engine.handle(turn.conversation, Choice("find"))
    assert again.conversation.state is State.ASK_LOCATION and again.outcome is None


def test_danger_typed_with_a_town_at_the_menu_still_goes_to_999_first() -> None:
    turn = make_engine().handle(Conversation.new(), Text("someone is outside my door in Leeds"))
    assert turn.conversation.state is State.DANGER


@pytest.mark.parametrize("text", ["hi", "Hello!", "menu", "Shwmae"])
def test_a_greeting_brings_the_menu(text: str) -> None:
    turn = make_engine().handle(Conversation(State.REPORT_POLICE), Text(text))
    assert turn.conversation.state is State.WELCOME
    assert turn.messages[-1].key == "menu"


def test_a_location_shared_during_the_note_is_not_taken_into_it() -> None:
    engine = make_engine()
    conv = _go(engine, Choice("note"), Text("last night")).conversation
    turn = engine.handle(conv, SharedLocation(53.8, -1.55, 10.0))
    assert turn.conversation == conv and turn.messages[0].key == "note_text_only"
    assert turn.outcome is None


def test_an_abandoned_note_leaves_memory_after_the_time_limit_whoever_writes_next() -> None:
    clock = Clock()
    engine = make_engine(clock)
    conv = _go(engine, Choice("note")).conversation
    engine.handle(conv, Text("last night"))
    assert engine.notes_in_memory == 1
    clock.advance(hours=3)
    engine.handle(Conversation.new(), Choice("menu"))  # someone else, not writing a note
    assert engine.notes_in_memory == 0
