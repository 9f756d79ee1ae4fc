"""Services for particular groups: where some services for a place are limited to a group (Gypsy, Roma and
Traveller people, Deaf people, ...), the results offer "is one of these you?" (buttons only, skippable, asked once);
the answer ranks that group's services first, lives only in the conversation and is never counted."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest
from rich.console import Console

from bot.adapters.terminal import TerminalChat
from bot.engine import Choice, Command, Conversation, Engine, Language, SignpostingOutcome, State, Text, Turn
from bot.engine.engine import ServiceCard
from bot.render import render_label, render_parts
from bot.signposter import DirectorySignposter
from mapping.locate import Locator
from mapping.types import COMMUNITIES, AreaCoverage, ServiceKind, Strand
from tests.bot.support import Clock, actions, make_engine
from tests.services_db.factories import make_service

GRT = "gypsy_roma_traveller"


def _cards(turn: Turn) -> list[ServiceCard]:
    return [c for m in turn.messages for c in m.vars.get("services", ()) if isinstance(c, ServiceCard)]


def _all_ids(engine: Engine, turn: Turn) -> list[str]:
    """Every service of a place's answer, page after page."""
    ids = [c.id for c in _cards(turn)]
    while more := [a for a in actions(turn) if a.startswith("more:")]:
        turn = engine.handle(turn.conversation, Choice(more[0]))
        ids += [c.id for c in _cards(turn)]
    return ids


def _who(turn: Turn, prefix: str) -> str:
    return next(a for a in actions(turn) if a.startswith(prefix))


def test_leeds_offers_the_question_and_a_gypsy_roma_traveller_person_gets_their_service_first() -> None:
    engine = make_engine()
    leeds = engine.handle(Conversation(State.ASK_LOCATION), Text("LS6 1AA"))
    assert leeds.conversation.state is State.RESULTS and leeds.outcome is not None
    before = _all_ids(engine, leeds)
    assert before.index("report-racism-grt") >= 3  # for everyone else it comes after the services for all

    asked = engine.handle(leeds.conversation, Choice(_who(leeds, "who:ask:")))
    assert asked.conversation.state is State.WHO_FOR and asked.outcome is None
    question = asked.messages[-1]
    assert question.key == "who_for" and question.vars["place"] == "Leeds"
    offered = [a for a in actions(asked) if a.startswith("who:")]
    assert [a.split(":")[1] for a in offered] == [GRT, "skip"]
    assert {"danger", "leave", "menu"} <= set(actions(asked))

    answered = engine.handle(asked.conversation, Choice(_who(asked, f"who:{GRT}:")))
    assert answered.conversation.state is State.RESULTS
    assert answered.conversation.communities == {GRT} and answered.conversation.who_asked
    assert answered.outcome is None  # the place was counted once, when it was first answered
    assert _cards(answered)[0].id == "report-racism-grt" and _cards(answered)[0].specialist
    assert not any(a.startswith("who:") for a in actions(answered))  # asked once
    assert sorted(_all_ids(engine, answered)) == sorted(before)  # the same services, in another order


def test_skip_keeps_the_order_and_is_not_asked_again_at_the_next_place() -> None:
    engine = make_engine()
    leeds = engine.handle(Conversation(State.ASK_LOCATION), Text("LS6 1AA"))
    asked = engine.handle(leeds.conversation, Choice(_who(leeds, "who:ask:")))
    skipped = engine.handle(asked.conversation, Choice(_who(asked, "who:skip:")))
    assert skipped.conversation.communities == frozenset() and skipped.conversation.who_asked
    assert _all_ids(engine, skipped) == _all_ids(engine, leeds)
    elsewhere = engine.handle(skipped.conversation.but(state=State.ASK_LOCATION), Text("CF10 1AA"))
    assert elsewhere.conversation.state is State.RESULTS
    assert not any(a.startswith("who:") for a in actions(elsewhere))


def test_the_answer_ranks_the_next_place_too() -> None:
    engine = make_engine()
    conv = Conversation(State.ASK_LOCATION, communities=frozenset({GRT}), who_asked=True)
    turn = engine.handle(conv, Text("CF10 1AA"))
    assert _cards(turn)[0].id == "report-racism-grt"


def test_not_offered_when_no_service_there_is_limited_to_a_group_for_the_chosen_strands() -> None:
    engine = make_engine()
    conv = Conversation(State.ASK_LOCATION, strands=frozenset({Strand.RELIGION}))
    turn = engine.handle(conv, Text("LS6 1AA"))
    assert turn.conversation.state is State.RESULTS
    assert not any(a.startswith("who:") for a in actions(turn))


def test_the_answer_is_kept_only_in_the_conversation_and_leave_quickly_forgets_it() -> None:
    conv = Conversation(State.RESULTS, communities=frozenset({GRT}), who_asked=True, lad_code="E08000035")
    stored = json.loads(json.dumps(conv.to_dict()))
    assert stored["communities"] == [GRT] and Conversation.from_dict(stored) == conv
    assert Conversation.from_dict({**stored, "communities": ["made_up", "<b>"]}).communities == frozenset()
    assert "communities" not in {f.name for f in dataclasses.fields(SignpostingOutcome)}  # never counted
    for event in (Choice("leave"), Command("forget")):
        turn = make_engine().handle(conv, event)
        assert turn.forget and turn.conversation.communities == frozenset() and not turn.conversation.who_asked


def test_typed_text_is_never_taken_as_an_answer_and_danger_still_wins() -> None:
    engine = make_engine()
    leeds = engine.handle(Conversation(State.ASK_LOCATION), Text("LS6 1AA"))
    asked = engine.handle(leeds.conversation, Choice(_who(leeds, "who:ask:")))
    typed = engine.handle(asked.conversation, Text("traveller"))
    assert typed.conversation.communities == frozenset() and typed.messages[0].key == "not_understood"
    assert engine.handle(asked.conversation, Text("they are outside my door now")).conversation.state is State.DANGER
    made_up = engine.handle(asked.conversation, Choice("who:made_up:53.8179,-1.5745"))
    assert made_up.messages[0].key == "stale_button" and made_up.conversation.communities == frozenset()


@pytest.mark.parametrize("language", list(Language), ids=str)
def test_many_groups_still_fit_one_screen_in_every_language(language: Language) -> None:
    """Five local services for five groups: four offered (with Skip, the menu and the way out: 8 buttons)."""
    groups = list(COMMUNITIES)[:5]
    services = [
        make_service(
            f"test-{key.replace('_', '-')}",
            kind=ServiceKind.SPECIALIST_SUPPORT,
            coverage=AreaCoverage(("E08000035",)),
            strands={COMMUNITIES[key]},
            communities=(key,),
        )
        for key in groups
    ]
    engine = Engine(DirectorySignposter.from_services(services, locator=Locator.offline_default()), clock=Clock())
    leeds = engine.handle(Conversation(State.ASK_LOCATION, language=language), Text("LS6 1AA"))
    asked = engine.handle(leeds.conversation, Choice(_who(leeds, "who:ask:")))
    buttons = [b for m in asked.messages for row in m.buttons for b in row]
    assert len(buttons) == 8 and [b.action.split(":")[1] for b in buttons[:5]] == [*groups[:4], "skip"]  # type: ignore[union-attr]
    for message in asked.messages:
        assert all(len(part.text) <= 1000 for part in render_parts(message, language, markup="html"))
    answered = engine.handle(asked.conversation, Choice(buttons[2].action or ""))
    assert _cards(answered)[0].id == f"test-{groups[2].replace('_', '-')}"


@pytest.mark.parametrize(
    ("language", "question", "group"),
    [
        (Language.EN, "only for particular groups of people", "Gypsy, Roma or Traveller"),
        (Language.CY, "ar gyfer grwpiau penodol o bobl yn unig", "Sipsi, Roma neu Deithiwr"),
        (Language.EASY, "only for some groups of people", "Gypsy, Roma or Traveller"),
    ],
)
def test_through_the_terminal_chat(language: Language, question: str, group: str) -> None:
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None, emoji=False, highlight=False)
    # 5: find help near me; then a postcode; then the "particular groups" button (2nd: after "Show more").
    chat = TerminalChat(make_engine(), console=console, input_stream=io.StringIO("5\nLS6 1AA\n2\n1\n"), echo=True)
    chat.run(language=language)
    text = out.getvalue()
    assert question in text and f"1) {group}" in text
    after = text.rsplit("> 1", 1)[1]
    assert after.index("Report Racism GRT") < after.index("Stop Hate UK")  # their service first now
    assert chat.stats.outcomes == ["matched_local"]  # counted once, and nothing about the answer


def _leeds_engine(*services: object) -> Engine:
    general = make_service(
        "test-z-centre", kind=ServiceKind.THIRD_PARTY_REPORTING, coverage=AreaCoverage(("E08000035",))
    )
    directory = [general, *services]
    return Engine(DirectorySignposter.from_services(directory, locator=Locator.offline_default()), clock=Clock())  # type: ignore[arg-type]


def _youth(**overrides: object) -> object:
    values: dict[str, object] = {"kind": ServiceKind.VICTIM_SUPPORT, "coverage": AreaCoverage(("E08000035",))}
    return make_service("test-a-youth", min_age=11, max_age=25, **{**values, **overrides})


def test_services_limited_by_age_ask_an_age_band_that_tells_them_apart() -> None:
    older = make_service(
        "test-b-older", kind=ServiceKind.VICTIM_SUPPORT, coverage=AreaCoverage(("E08000035",)), min_age=60
    )
    engine = _leeds_engine(_youth(), older)
    leeds = engine.handle(Conversation(State.ASK_LOCATION, language=Language.CY), Text("LS6 1AA"))
    assert [c.id for c in _cards(leeds)] == ["test-z-centre", "test-a-youth", "test-b-older"]
    asked = engine.handle(leeds.conversation, Choice(_who(leeds, "who:ask:")))
    assert asked.conversation.state is State.WHO_FOR and asked.messages[-1].key == "who_age"
    buttons = [b for row in asked.messages[-1].buttons for b in row]
    labels = [render_label(b, Language.CY) for b in buttons]
    assert labels[:5] == ["O dan 11", "11 i 25", "26 i 59", "60 neu'n hŷn", "Hepgor"] and len(buttons) == 8
    youth = engine.handle(asked.conversation, Choice(buttons[1].action or ""))
    assert youth.conversation.age_band == (11, 25) and youth.conversation.who_asked
    assert _cards(youth)[0].id == "test-a-youth" and youth.outcome is None
    sixty = engine.handle(asked.conversation, Choice(buttons[3].action or ""))
    assert [c.id for c in _cards(sixty)] == ["test-b-older", "test-z-centre", "test-a-youth"]
    skipped = engine.handle(asked.conversation, Choice(buttons[4].action or ""))
    assert skipped.conversation.age_band is None and [c.id for c in _cards(skipped)] == [c.id for c in _cards(leeds)]


def test_a_group_then_an_age_when_services_are_limited_by_both() -> None:
    grt = make_service(
        "test-c-grt",
        kind=ServiceKind.SPECIALIST_SUPPORT,
        coverage=AreaCoverage(("E08000035",)),
        strands={Strand.RACE},
        communities=(GRT,),
    )
    engine = _leeds_engine(_youth(), grt)
    leeds = engine.handle(Conversation(State.ASK_LOCATION), Text("LS6 1AA"))
    asked = engine.handle(leeds.conversation, Choice(_who(leeds, "who:ask:")))
    assert asked.messages[-1].key == "who_for"
    grouped = engine.handle(asked.conversation, Choice(_who(asked, f"who:{GRT}:")))
    assert grouped.messages[-1].key == "who_age" and grouped.conversation.communities == {GRT}
    assert not grouped.conversation.who_asked  # not finished: the button stays on the list if they stop here
    done = engine.handle(grouped.conversation, Choice(_who(grouped, "who:age:")))  # Skip the age
    assert done.conversation.who_asked and done.conversation.age_band is None
    assert _cards(done)[0].id == "test-c-grt"


def test_a_stored_age_band_round_trips_and_anything_else_is_dropped() -> None:
    conv = Conversation(State.RESULTS, age_band=(11, 25), who_asked=True)
    stored = json.loads(json.dumps(conv.to_dict()))
    assert Conversation.from_dict(stored) == conv
    assert Conversation.from_dict({**stored, "age_band": [65, None]}).age_band == (65, None)
    for bad in ([25, 11], [-1, 5], ["11", "25"], [True, 5], [11], "11-25", [11, 25, 30], [5, 999]):
        assert Conversation.from_dict({**stored, "age_band": bad}).age_band is None, bad


@pytest.mark.parametrize("action", ["report:specialist", "report:third_party"])
def test_the_answer_also_orders_the_ways_to_report(action: str) -> None:
    """ "Specialist services" and "Without the police": the Gypsy, Roma and Traveller service comes after the other
    specialists for anyone, and before them for someone who said it is for them."""
    engine = make_engine()

    def specialists(conv: Conversation) -> list[str]:
        cards = _cards(engine.handle(conv, Choice(action)))
        return [c.id for c in cards if c.kind is ServiceKind.SPECIALIST_SUPPORT and c.strands]

    untold = specialists(Conversation(State.REPORTING))
    told = specialists(Conversation(State.REPORTING, communities=frozenset({GRT}), who_asked=True))
    assert len(untold) > 2 and sorted(told) == sorted(untold)
    assert untold[-1] == "report-racism-grt" and told[0] == "report-racism-grt"
