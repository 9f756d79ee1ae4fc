"""Findings from using the conversation as a victim would (review R1): each test pins one fix."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from bot.content import catalogue
from bot.engine import Choice, Command, Conversation, Language, State, Text, looks_urgent
from bot.engine.engine import NEAREST_OUTSIDE_MAX_KM, Outgoing, ServiceCard
from bot.render import render
from mapping.bank_holidays import bank_holidays
from mapping.types import MatchReason, OpeningHours, OpeningInterval, ServiceKind
from tests.bot.support import Clock, actions, make_engine, shipped_signposter


def _cards(turn) -> list[ServiceCard]:  # type: ignore[no-untyped-def]
    return [card for m in turn.messages for card in m.vars.get("services", ()) if isinstance(card, ServiceCard)]


def _all_pages(engine, turn) -> list[ServiceCard]:  # type: ignore[no-untyped-def]
    cards, conv = _cards(turn), turn.conversation
    more = [a for a in actions(turn) if a.startswith("more:")]
    while more:
        turn = engine.handle(conv, Choice(more[0]))
        cards += _cards(turn)
        conv = turn.conversation
        more = [a for a in actions(turn) if a.startswith("more:")]
    return cards


def _find(engine, place: str):  # type: ignore[no-untyped-def]
    return engine.handle(Conversation(State.ASK_LOCATION), Text(place))


# --- danger words a person really types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "he is at my door",
        "they're trying to get in",
        "someone is breaking in",
        "he said he is going to kill me",
        "I've been stabbed",
        "mae e tu fas",  # southern Welsh for "he is outside"
        "helpa fi",  # colloquial Welsh "help me"
        "dw i mewn peryg",
        "mae o wrth y drws",
        "mae o'n ymosod arna i",
        "mae o'n fy nilyn i",
    ],
)
def test_urgent_words_in_english_and_welsh_go_straight_to_999(text: str) -> None:
    assert looks_urgent(text)
    for state in (State.WELCOME, State.WHAT_HAPPENED, State.ASK_LOCATION, State.RESULTS):
        turn = make_engine().handle(Conversation(state, language=Language.CY), Text(text))
        assert turn.conversation.state is State.DANGER


@pytest.mark.parametrize("text", ["Killingworth", "Helpston", "Gunnislake", "Outwood", "Llanelli", "Dangerfield"])
def test_place_names_are_not_mistaken_for_danger(text: str) -> None:
    assert not looks_urgent(text)


def test_no_gazetteer_place_name_looks_urgent() -> None:
    gazetteer = shipped_signposter()._locator.gazetteer  # every place a person may type
    gazetteer.warm()
    names = [place.name for places in (gazetteer._by_name or {}).values() for place in places]
    assert len(names) > 1000
    assert [name for name in names if looks_urgent(str(name))] == []


# --- results say only what they show ---------------------------------------------------------------------------


def test_no_far_away_service_is_offered_as_nearest() -> None:
    engine = make_engine()
    for place in ("TR21 0HE", "EX1 1AA", "SA62 6PY", "LL57 2DG", "SK1 1AA", "HR1 1AA"):
        turn = _find(engine, place)
        cards = _all_pages(engine, turn)
        nearest = [c for c in cards if c.reason is MatchReason.NEAREST_OUTSIDE]
        assert all(c.distance_km is not None and c.distance_km <= NEAREST_OUTSIDE_MAX_KM for c in nearest), place
        # ... and the heading does not promise "the nearest services outside your area" that are not there.
        local = any(c.reason is MatchReason.COVERS for c in cards)
        expected = "results_local" if local else "results_none_local" if nearest else "results_national_only"
        assert turn.messages[0].key == expected, place
        assert cards, place  # national routes always


def test_a_service_just_outside_the_area_is_still_offered_with_its_distance() -> None:
    engine = make_engine()
    turn = _find(engine, "SK1 1AA")  # Stockport: the nearest local centres are in the next districts
    assert turn.messages[0].key == "results_none_local"
    nearest = [c for c in _all_pages(engine, turn) if c.reason is MatchReason.NEAREST_OUTSIDE]
    assert nearest and all(0 < (c.distance_km or 0) <= NEAREST_OUTSIDE_MAX_KM for c in nearest)


@pytest.mark.parametrize("language", list(Language))
def test_national_only_heading_in_every_language(language: Language) -> None:
    text = render(
        Outgoing("results_national_only", {"place": "EX1 1AA", "area": "(Exeter)"}), language, markup="plain"
    ).text
    assert "EX1 1AA" in text and "(Exeter)" in text
    assert "outside your area" not in text and "tu allan i'ch ardal" not in text


def test_the_area_is_not_repeated_when_the_place_already_names_it() -> None:
    turn = _find(make_engine(), "Abertawe")
    place, area = turn.messages[0].vars["place"], turn.messages[0].vars["area"]
    assert place == "Swansea (South Wales, Wales)" and area == ""  # one pair of brackets, Swansea named once


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (Language.EN, "That place is outside England and Wales. I only know services in England and Wales"),
        (Language.CY, "Dim ond gwasanaethau yng Nghymru a Lloegr rydw i'n eu hadnabod"),
        (Language.EASY, "I only know services in England and Wales."),
    ],
)
def test_outside_england_and_wales_says_which_services_it_knows(language: Language, expected: str) -> None:
    turn = _find(make_engine(), "BT1 1AA")
    text = render(turn.messages[0], language, markup="plain").text
    assert expected in text and "999" in text


# --- hours -------------------------------------------------------------------------------------------------


def _card_for(engine, service_id: str, place: str = "LS6 1AA") -> ServiceCard:  # type: ignore[no-untyped-def]
    for card in _all_pages(engine, _find(engine, place)):
        if card.id == service_id:
            return card
    raise AssertionError(f"{service_id} not offered near {place}")


def test_hours_join_days_that_share_times_in_every_language() -> None:
    card = _card_for(make_engine(), "citizens-advice-england-adviceline")
    assert card.hours == "mon-fri 09:00-17:00"
    english = render(Outgoing("danger", {"services": (card,)}), Language.EN, markup="plain").text
    welsh = render(Outgoing("danger", {"services": (card,)}), Language.CY, markup="plain").text
    assert "Hours: Mon-Fri 09:00-17:00" in english
    assert "Oriau: Llun-Gwe 09:00-17:00" in welsh


def test_hours_keep_different_days_and_split_days_apart() -> None:
    hours = OpeningHours(
        intervals=(
            *(OpeningInterval(day, time(10), time(20, 30)) for day in range(4)),
            OpeningInterval(4, time(10), time(16, 30)),
            OpeningInterval(5, time(9), time(12)),
            OpeningInterval(5, time(13), time(15)),
        )
    )
    assert hours.to_text() == "mon-thu 10:00-20:30; fri 10:00-16:30; sat 09:00-12:00, 13:00-15:00"
    assert OpeningHours(intervals=(OpeningInterval(0, time(9), time(17)),)).to_text() == "mon 09:00-17:00"


@pytest.mark.parametrize(
    ("utc", "open_now"),
    [
        (datetime(2026, 7, 3, 8, 30, tzinfo=UTC), True),  # Friday 09:30 BST: open, though 08:30 UTC is not
        (datetime(2026, 7, 3, 16, 30, tzinfo=UTC), False),  # Friday 17:30 BST: closed, though 16:30 UTC is open
        (datetime(2026, 12, 4, 16, 30, tzinfo=UTC), True),  # Friday 16:30 GMT: open
        (datetime(2026, 3, 29, 12, 0, tzinfo=UTC), False),  # Sunday the clocks go forward: closed all day
    ],
)
def test_open_now_follows_uk_time_through_summer_time(utc: datetime, open_now: bool) -> None:
    card = _card_for(make_engine(Clock(utc)), "citizens-advice-england-adviceline")
    assert card.open_now is open_now


def test_open_or_closed_comes_first_and_unknown_hours_make_no_odd_demand() -> None:
    sunday = make_engine(Clock(datetime(2026, 11, 29, 10, 0, tzinfo=UTC)))
    card = _card_for(sunday, "citizens-advice-england-adviceline")
    text = render(Outgoing("danger", {"services": (card,)}), Language.EN, markup="plain").text
    assert "Closed now. Hours: Mon-Fri 09:00-17:00" in text
    online = _card_for(make_engine(), "true-vision")
    assert online.kind is ServiceKind.ONLINE_REPORTING and not online.hours
    text = render(Outgoing("danger", {"services": (online,)}), Language.EN, markup="plain").text
    assert "hours not known" not in text.lower() and "before you go" not in text  # an online form has no hours


# --- Welsh -------------------------------------------------------------------------------------------------


def test_welsh_fixes() -> None:
    cy = catalogue(Language.CY)
    assert "siarad na chlywed" in cy["danger"]  # negative "na" with aspirate mutation, not "neu glywed"
    assert "rhif di-frys" in cy["route_police"]  # the police's own word for 101
    assert "Ysgrifennu nodyn" in cy["btn_note"]
    assert "Ysgrifennu nodyn" in cy["too_long"] and "Ysgrifennu nodyn" in cy["note_intro"]  # what the button says
    assert "gwasanaethau yno" not in cy["locate_outside_england_wales"]  # "yno" pointed at the place outside


def test_the_note_button_label_matches_the_text_that_names_it() -> None:
    for language in Language:
        cat = catalogue(language)
        label = cat["btn_note"].split(" ", 1)[1]
        assert f"<b>{label}</b>" in cat["too_long"], language


def test_easy_read_says_online_hate_can_be_a_crime() -> None:
    assert "Hate online can be a crime too." in catalogue(Language.EASY)["explain"]


def test_dates_in_the_review_are_real() -> None:
    # The summer-time cases above rely on these being what they say (UK clocks change on the last Sunday of March).
    assert date(2026, 7, 3).weekday() == 4 and date(2026, 3, 29).weekday() == 6


def test_after_no_the_reporting_routes_are_one_tap_away() -> None:
    engine = make_engine()
    turn = engine.handle(Conversation(State.WHAT_HAPPENED), Choice("happened:no"))
    assert turn.conversation.state is State.AFTERCARE
    assert turn.messages[0].key == "not_hostility"
    assert "report" in actions(turn)
    assert engine.handle(turn.conversation, Choice("report")).conversation.state is State.REPORTING


def test_chosen_strands_are_told_apart_when_a_name_has_commas() -> None:
    from bot.engine.engine import StrandNames
    from mapping.types import Strand

    names = StrandNames((Strand.RACE, Strand.SEXUAL_ORIENTATION))
    text = render(Outgoing("explain_chosen", {"strands": names}), Language.EN, markup="plain").text
    assert "race, ethnicity or nationality; sexual orientation" in text


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (Language.EN, "Languages: Welsh, English"),
        (Language.CY, "Ieithoedd: Cymraeg, Saesneg"),
        (Language.EASY, "Languages: Welsh, English"),
    ],
)
def test_languages_are_named_not_coded(language: Language, expected: str) -> None:
    card = _card_for(make_engine(), "wales-hate-support-centre", place="CF10 1AA")
    # The reference: "BSL available" is not confirmed as a support channel of this centre, so it is not claimed.
    assert card.languages == ("cy", "en")
    text = render(Outgoing("danger", {"services": (card,)}), language, markup="plain").text
    assert expected in text
    assert "Sign Language" not in text and "Arwyddion" not in text


def test_easy_read_national_line_does_not_contradict_wales_only() -> None:
    card = _card_for(make_engine(), "wales-hate-support-centre", place="CF10 1AA")
    text = render(Outgoing("danger", {"services": (card,)}), Language.EASY, markup="plain").text
    assert "It is not just for your area." in text and "Wales only." in text and "whole country" not in text


def test_warming_loads_place_names_before_anyone_asks() -> None:
    from mapping.locate import Locator
    from mapping.places import Gazetteer
    from services_db.seed import load_national_directory

    fresh = Gazetteer()  # not the shared default, so this test sees the load happen
    base = Locator.offline_default()
    locator = Locator(postcodes=base.postcodes, registry=base.registry, gazetteer=fresh)
    from bot.signposter import DirectorySignposter

    signposter = DirectorySignposter.from_services(load_national_directory().services, locator=locator)
    thread = signposter.warm()
    assert thread is not None
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert fresh._by_name  # loaded in the background
    assert signposter.locate("Aberystwyth").location is not None  # type: ignore[union-attr]


def test_in_the_terminal_note_a_number_that_picks_nothing_is_an_answer() -> None:
    import io

    from rich.console import Console

    from bot.adapters.terminal import TerminalChat

    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None, emoji=False, highlight=False)
    lines = "6\nyesterday\n1\nthe bus\n7\n"  # menu -> note; when; skip where; what; "7" answers "who saw it?"
    TerminalChat(make_engine(), console=console, input_stream=io.StringIO(lines), echo=True).run()
    text = out.getvalue()
    assert "To answer with a number, add a word" in text  # the rule is said where it applies
    assert "There is no choice 7" not in text
    assert "5 of 5: What evidence have you kept?" in text.split("> 7", 1)[1]
    assert "When: yesterday" not in text  # the note is not finished yet: two questions left


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        # gov.uk's lists for England and Wales, one-off holidays included
        (2012, ["01-02", "04-06", "04-09", "05-07", "06-04", "06-05", "08-27", "12-25", "12-26"]),
        (2020, ["01-01", "04-10", "04-13", "05-08", "05-25", "08-31", "12-25", "12-28"]),
        (2022, ["01-03", "04-15", "04-18", "05-02", "06-02", "06-03", "08-29", "09-19", "12-26", "12-27"]),
        (2023, ["01-02", "04-07", "04-10", "05-01", "05-08", "05-29", "08-28", "12-25", "12-26"]),
        (2021, ["01-01", "04-02", "04-05", "05-03", "05-31", "08-30", "12-27", "12-28"]),
        (2026, ["01-01", "04-03", "04-06", "05-04", "05-25", "08-31", "12-25", "12-28"]),
        (2027, ["01-01", "03-26", "03-29", "05-03", "05-31", "08-30", "12-27", "12-28"]),
        (2028, ["01-03", "04-14", "04-17", "05-01", "05-29", "08-28", "12-25", "12-26"]),
    ],
)
def test_bank_holidays_of_england_and_wales(year: int, expected: list[str]) -> None:
    assert sorted(day.strftime("%m-%d") for day in bank_holidays(year)) == expected


def test_on_christmas_day_weekday_hours_claim_neither_open_nor_closed() -> None:
    christmas = make_engine(Clock(datetime(2026, 12, 25, 11, 0, tzinfo=UTC)))  # a Friday
    card = _card_for(christmas, "citizens-advice-england-adviceline")
    assert card.open_now is None and card.bank_holiday_today
    text = render(Outgoing("danger", {"services": (card,)}), Language.EN, markup="plain").text
    assert "Open now" not in text and "Today is a bank holiday, so these hours may not apply." in text
    always = _card_for(christmas, "samaritans")
    assert always.open_now is True and not always.bank_holiday_today  # 24/7 is 24/7
    friday = _card_for(
        make_engine(Clock(datetime(2026, 12, 18, 11, 0, tzinfo=UTC))), "citizens-advice-england-adviceline"
    )
    assert friday.open_now is True and not friday.bank_holiday_today


@pytest.mark.parametrize("postcode", ["IM1 1AA", "JE2 3AA", "GY1 1AA", "EH1 1YZ", "BT1 1AA"])
def test_crown_dependencies_are_not_told_they_are_in_scotland_or_northern_ireland(postcode: str) -> None:
    turn = _find(make_engine(), postcode)
    assert turn.messages[0].key == "locate_outside_england_wales"
    for language in Language:
        text = render(turn.messages[0], language, markup="plain").text
        assert not text.rstrip().endswith(("Northern Ireland, contact the police there.",))
        assert "999" in text
    english = render(turn.messages[0], Language.EN, markup="plain").text
    assert "the Isle of Man or the Channel Islands" in english


def test_hours_until_midnight_read_as_written() -> None:
    assert OpeningHours.parse("mon-fri 18:00-00:00").to_text() == "mon-fri 18:00-00:00"


def test_online_only_routes_do_not_claim_unknown_hours() -> None:
    online = render(
        Outgoing("danger", {"services": (_card_for(make_engine(), "true-vision"),)}), Language.EN, markup="plain"
    ).text
    phone = render(
        Outgoing("danger", {"services": (_card_for(make_engine(), "crimestoppers"),)}),
        Language.EN,
        markup="plain",
    ).text
    assert "report-it.org.uk" in online and "hours not known" not in online.lower()
    assert "hours not known" in phone.lower()  # a phone line's hours are worth knowing


# --- issue 10: 999 before any tap, and content corrections from review ----------------------------------------


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize(
    "event",
    [Command("start"), Command("start", "strand-race"), Command("start", "cy_poster-trans"), Choice("lang:cy")],
    ids=str,
)
def test_the_first_message_of_every_start_says_999_before_any_tap(language: Language, event) -> None:  # type: ignore[no-untyped-def]
    turn = make_engine().handle(Conversation(State.REPORTING, language=language), event)
    first = render(turn.messages[0], turn.conversation.language, markup="plain").text
    assert "999" in first, (language, event)
    menu = render(make_engine().screen(turn.conversation)[0], turn.conversation.language, markup="plain").text
    assert "999" in menu


def test_999_first_reads_naturally_in_each_language() -> None:
    assert catalogue(Language.EN)["welcome"].startswith("<b>In danger now? Call 999.</b>")
    assert catalogue(Language.CY)["welcome"].startswith("<b>Mewn perygl nawr? Ffoniwch 999.</b>")
    assert catalogue(Language.EASY)["welcome"].startswith("<b>Are you in danger now? Call 999.</b>")


def test_a_hate_incident_example_does_not_say_name_calling_is_never_a_crime() -> None:
    assert "for example, some name-calling" in catalogue(Language.EN)["explain"]
    assert "er enghraifft, rhai achosion o alw enwau" in catalogue(Language.CY)["explain"]
    assert "For example, some name-calling." in catalogue(Language.EASY)["explain"]
    for language in Language:
        text = catalogue(language)["explain"]
        assert "such as name-calling" not in text and "fel galw enwau" not in text
        assert "someone calls you names" not in text


def test_easy_read_sexual_orientation_includes_everyone() -> None:
    easy = catalogue(Language.EASY)
    for key in ("strand_sexual_orientation", "name_sexual_orientation", "what_happened"):
        assert "gay, lesbian, bi or straight" in easy[key], key


@pytest.mark.parametrize("language", list(Language))
def test_specialist_services_come_after_999_in_an_emergency(language: Language) -> None:
    assert "999" in catalogue(language)["route_specialist"]
    cst = next(s for s in shipped_signposter().national([ServiceKind.SPECIALIST_SUPPORT]) if s.id == "cst")
    assert "call 999 first, then CST" in cst.description
    assert all("emergency number" not in c.note.lower() for c in cst.channels)


def test_101_is_answered_24_hours_and_crimestoppers_claims_no_hours_without_a_source() -> None:
    services = {s.id: s for s in shipped_signposter().national(list(ServiceKind))}
    assert services["police-non-emergency-101"].hours.always_open
    crimestoppers = services["crimestoppers"].hours
    assert crimestoppers.unknown and not crimestoppers.note  # the reference facts give no hours for it


def test_welsh_grammar_from_review() -> None:
    welsh = "\n".join(catalogue(Language.CY).entries.values())
    assert "ei chadw neu ei chludo" in welsh and "ei gludo" not in welsh
    assert "Hawdd ei Ddeall" in welsh and "Hawdd ei Deall" not in welsh
