"""The routes the best services offer (witnesses, after reporting, friends and family, keeping safe, someone on
your side), in every language, and every message small enough for a phone."""

from __future__ import annotations

import pytest
from telegram import InlineKeyboardMarkup, ReplyKeyboardMarkup

from bot.adapters.telegram import telegram_messages
from bot.content import catalogue
from bot.engine import Choice, Conversation, Language, State
from bot.engine.engine import Button, Outgoing, ServiceCard, Turn
from bot.render import KEEP_WHOLE, MAX_MESSAGE, render, render_parts
from mapping.types import ServiceKind
from tests.bot.support import actions, english_sentences, explore, make_engine

ROUTES = {
    "witness": State.WITNESS,
    "after_report": State.AFTER_REPORT,
    "friend_family": State.FRIEND_FAMILY,
    "safety": State.SAFETY,
    "advocacy": State.ADVOCACY,
}
MAX_BUTTONS = 8
EN_CAT = catalogue(Language.EN)


def _reachable(start: State, within: int = 3) -> set[State]:
    """States reached from ``start`` by tapping its buttons, ``within`` taps."""
    engine = make_engine()
    frontier, seen = [Conversation(start)], {start}
    for _ in range(within):
        following = []
        for conv in frontier:
            for message in engine.screen(conv):
                for row in message.buttons:
                    for button in row:
                        if button.action and button.action not in ("danger", "leave", "menu", "lang", "note"):
                            nxt = engine.handle(conv, Choice(button.action)).conversation
                            if nxt.state not in seen:
                                seen.add(nxt.state)
                                following.append(nxt)
        frontier = following
    return seen


@pytest.mark.parametrize("start", [State.WELCOME, State.REPORTING])
def test_every_new_route_is_reachable_from_the_menu_and_from_ways_to_report(start: State) -> None:
    reached = _reachable(start)
    wanted = set(ROUTES.values()) - ({State.SAFETY} if start is State.REPORTING else set())
    assert wanted <= reached, wanted - reached
    if start is State.REPORTING:  # keeping safe is one tap from the danger screen and the menu's second page
        assert State.SAFETY in _reachable(State.DANGER, within=1) and State.SAFETY in _reachable(State.MORE, 1)


@pytest.mark.parametrize("state", [*ROUTES.values(), State.MORE, State.REPORTING_MORE], ids=str)
@pytest.mark.parametrize("language", list(Language), ids=str)
def test_each_route_screen_has_the_danger_and_leave_buttons_and_reads_in_its_language(
    state: State, language: Language
) -> None:
    engine = make_engine()
    screen = engine.screen(Conversation(state, language=language))
    offered = [b.action for m in screen for row in m.buttons for b in row]
    assert "danger" in offered and "leave" in offered
    text = "\n".join(part.text for m in screen for part in render_parts(m, language, markup="plain"))
    if language is Language.CY:
        assert english_sentences(text) == [], text


def test_a_witness_is_shown_true_vision_which_takes_reports_from_witnesses() -> None:
    turn = make_engine().handle(Conversation(State.WELCOME), Choice("more"))
    turn = make_engine().handle(turn.conversation, Choice("witness"))
    cards = [c for m in turn.messages for c in m.vars.get("services", ()) if isinstance(c, ServiceCard)]
    assert [c.id for c in cards] == ["true-vision"]
    english = render_parts(turn.messages[0], Language.EN, markup="plain")[0].text
    assert "takes reports from witnesses" in english and "ask them first" in english


def test_after_reporting_says_what_the_police_and_a_third_party_centre_do() -> None:
    for language, words in {
        Language.EN: ("crime reference number", "Crown Prosecution Service", "Victim Support", "keep your name out"),
        Language.CY: ("chyfeirnod trosedd", "Gwasanaeth Erlyn y Goron", "Cymorth i Ddioddefwyr", "gadw eich enw allan"),
        Language.EASY: ("crime number", "court", "Victim Support", "You choose if they tell the police your name"),
    }.items():
        text = catalogue(language)["after_report"]
        assert all(w in text for w in words), (language, [w for w in words if w not in text])


def test_someone_on_your_side_lists_the_directorys_support_services() -> None:
    engine = make_engine()
    turn = engine.handle(Conversation(State.AFTERCARE), Choice("advocacy"))
    cards = [c for m in turn.messages for c in m.vars.get("services", ()) if isinstance(c, ServiceCard)]
    assert cards and all(c.kind is ServiceKind.VICTIM_SUPPORT for c in cards)
    assert "find" in actions(turn)


def test_the_strand_chooser_pages_on_to_other_kinds_not_sure_and_done() -> None:
    engine = make_engine()
    first = [b.action for m in engine.screen(Conversation(State.STRANDS)) for row in m.buttons for b in row]
    strands = [f"strand:{s}" for s in ("disability", "race", "religion", "sexual_orientation", "transgender")]
    assert first == [*strands, "strand:other", "danger", "leave"]
    turn = engine.handle(Conversation(State.STRANDS), Choice("strand:race"))
    turn = engine.handle(turn.conversation, Choice("strand:other"))
    assert {"strand:unsure", "local:done", "strand:back"} <= set(actions(turn))
    done = engine.handle(turn.conversation, Choice("local:done"))
    assert done.conversation.state is State.EXPLAIN and done.messages[-1].key == "explain_chosen"
    unsure = engine.handle(turn.conversation, Choice("strand:unsure"))
    assert unsure.messages[-1].key == "explain_not_sure" and not unsure.conversation.strands


@pytest.mark.parametrize("language", list(Language), ids=str)
def test_no_message_over_1000_characters_and_no_keyboard_over_8_buttons_anywhere(language: Language) -> None:
    seen_states: set[State] = set()
    longest, most = 0, 0
    for conv, _, turn in explore(make_engine(), language=language):
        seen_states.add(conv.state)
        for message in turn.messages:
            buttons = sum(len(row) for row in message.buttons)
            assert buttons <= MAX_BUTTONS, f"{language} {message.key}: {buttons} buttons"
            most = max(most, buttons)
            for part in render_parts(message, language, markup="html"):
                if message.key != "note_result":  # the person's own note stays one message to keep
                    assert len(part.text) <= MAX_MESSAGE, f"{language} {message.key}: {len(part.text)} characters"
                    longest = max(longest, len(part.text))
    assert seen_states == set(State), set(State) - seen_states  # every state, in this language
    assert longest > 600 and most == MAX_BUTTONS  # the walk did meet long messages and full keyboards


def test_a_long_service_list_is_split_between_cards_with_the_keyboard_on_the_last_part() -> None:
    engine = make_engine()
    turn = engine.handle(Conversation(State.REPORTING), Choice("report:specialist"))
    parts = render_parts(turn.messages[0], Language.CY, markup="html")
    assert len(parts) > 1 and all(len(p.text) <= MAX_MESSAGE for p in parts)
    assert all(not p.keyboard for p in parts[:-1]) and parts[-1].keyboard
    assert all(p.text.count("<b>") == p.text.count("</b>") for p in parts)


def test_every_screen_of_the_welsh_walk_reads_in_welsh() -> None:
    """Every message the Welsh conversation sends, services and area names included: no English sentence, except
    directory text with no Welsh yet, which is marked "(yn Saesneg)" (the marked line is left out here), and the
    names of services and their organisations."""
    marker = catalogue(Language.CY)["card_in_english"]
    english: dict[str, list[str]] = {}
    for _, _, turn in explore(make_engine(), language=Language.CY):
        if turn.conversation.language is not Language.CY:
            continue  # the walk tapped "English" on the language screen
        for message in turn.messages:
            cards = [c for c in message.vars.get("services", ()) if isinstance(c, ServiceCard)]
            names = [n for c in cards for n in (c.name, c.organisation) if n]
            for part in render_parts(message, Language.CY, markup="plain"):
                text = "\n".join(line for line in part.text.splitlines() if marker not in line)
                for name in names:  # a service's own name is a name, in any language
                    text = text.replace(name, " ")
                if found := english_sentences(text):
                    english.setdefault(message.key, found)
    assert english == {}


def test_every_translated_card_of_the_easy_read_walk_shows_no_fallback() -> None:
    marker = catalogue(Language.EASY)["card_in_english"]
    checked = 0
    for _, _, turn in explore(make_engine(), language=Language.EASY):
        for message in turn.messages:
            cards = [c for c in message.vars.get("services", ()) if isinstance(c, ServiceCard)]
            for card in cards:
                if "summary" in card.translations.get("easy", {}):
                    alone = render_parts(Outgoing("route_police", {"services": (card,)}), Language.EASY, markup="plain")
                    checked += 1
                    assert all(marker not in p.text for p in alone), card.id
    assert checked


@pytest.mark.parametrize("language", list(Language), ids=str)
def test_every_turn_goes_to_telegram_in_as_few_messages_as_fit_a_phone(language: Language) -> None:
    """Each message is a round trip to Telegram, so a turn's messages are packed: none over 1000 characters or
    8 buttons, and no message without a keyboard could have taken the start of the next one. The danger screen
    opens with 999. A location question is one message: its reply keyboard has "share my location", the
    danger screen and the way out (so a worker dying between two sends cannot leave half of it)."""
    turns, messages, asks = 0, 0, 0
    cat = catalogue(language)
    for conv, _, turn in explore(make_engine(), language=language):
        out = telegram_messages(turn, previous=conv.state)
        turns, messages = turns + 1, messages + len(out)
        whole = any(m.key in KEEP_WHOLE for m in turn.messages)  # the person's note goes on its own
        if any(m.request_location for m in turn.messages):
            asks += 1
            assert len(out) == 1 and isinstance(out[0].markup, ReplyKeyboardMarkup), (language, conv.state)
            labels = [button.text for row in out[0].markup.keyboard for button in row]
            assert labels[0] == cat["btn_share_location"] and out[0].markup.keyboard[0][0].request_location
            assert {cat["btn_danger"], cat["btn_leave"]} <= set(labels), (language, conv.state, labels)
        for index, item in enumerate(out):
            markup = item.markup.to_dict() if item.markup is not None else {}
            assert sum(len(row) for row in markup.get("inline_keyboard", [])) <= MAX_BUTTONS
            assert sum(len(row) for row in markup.get("keyboard", [])) <= MAX_BUTTONS
            if not whole:
                assert len(item.text) <= MAX_MESSAGE, (language, conv.state, len(item.text))
            if item.markup is None and index + 1 < len(out) and not whole:
                following = out[index + 1].text.split("\n\n")[0]
                assert len(item.text) + 2 + len(following) > MAX_MESSAGE, (language, conv.state, index)
        if turn.conversation.state is State.DANGER and turn.messages[0].key.startswith("danger"):
            opening = render(turn.messages[0], language, markup="html").text.split("\n")[0]
            assert out[0].text.startswith(opening) and "999" in out[0].text, (language, conv.state)
    assert messages < 1.3 * turns, (messages, turns)  # mostly one message a turn
    assert asks > 0


def test_a_location_question_with_a_button_a_reply_keyboard_cannot_carry_keeps_both_keyboards() -> None:
    """A link (or an action the adapter does not read back from a label) stays an inline button; the location
    keyboard then follows on a short message of its own."""
    link = Button("btn_menu", url="https://example.org/")
    turn = Turn(Conversation.new(Language.EN), (Outgoing("ask_location", buttons=((link,),), request_location=True),))
    first, follow_up = telegram_messages(turn, previous=State.WELCOME)
    assert isinstance(first.markup, InlineKeyboardMarkup) and first.markup.inline_keyboard[0][0].url == link.url
    assert isinstance(follow_up.markup, ReplyKeyboardMarkup)
    assert [[b.text for b in row] for row in follow_up.markup.keyboard] == [[EN_CAT["btn_share_location"]]]
