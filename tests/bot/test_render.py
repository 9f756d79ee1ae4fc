"""Rendering: catalogue text filled with directory values, escaped for Telegram's HTML, plain for terminals."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from bot.engine import Button, Conversation, Language, Outgoing, State, StrandNames
from bot.engine.engine import ServiceCard
from bot.render import render, render_label
from mapping.types import Channel, ChannelKind, MatchReason, Nation, ServiceKind, Strand
from tests.bot.support import make_engine

HOSTILE = "<b>Evil</b> & <script>alert(1)</script>"


def _card(**changes: object) -> ServiceCard:
    card = ServiceCard(
        id="test-card",
        name=HOSTILE,
        organisation="Org <i>x</i>",
        kind=ServiceKind.THIRD_PARTY_REPORTING,
        description="Helps & supports",
        channels=(
            Channel(ChannelKind.PHONE, "020 7946 0000", note="a <note>"),
            Channel(ChannelKind.WEB, "example.org"),
        ),
        hours="mon 09:00-17:00",
        always_open=False,
        open_now=True,
        languages=("English", "Polski"),
        caveat="Check <this>",
        checked_on=date(2020, 1, 1),
        reason=MatchReason.NEAREST_OUTSIDE,
        distance_km=12.5,
        specialist=True,
        strands=frozenset({Strand.RACE}),
        nation=Nation.WALES,
    )
    return replace(card, **changes)  # type: ignore[arg-type]


def test_html_escapes_every_directory_value() -> None:
    text = render(Outgoing("danger", {"services": (_card(),)}), Language.EN, markup="html").text
    assert "<script>" not in text and "<b>Evil</b>" not in text
    assert "&lt;b&gt;Evil&lt;/b&gt; &amp; &lt;script&gt;" in text
    assert "Org &lt;i&gt;x&lt;/i&gt;" in text and "Helps &amp; supports" in text and "a &lt;note&gt;" in text
    assert "Check &lt;this&gt;" in text
    # The catalogue's own markup survives.
    assert text.startswith("<b>If you are in danger now")


def test_plain_keeps_values_as_they_are_and_drops_catalogue_markup() -> None:
    text = render(Outgoing("danger", {"services": (_card(),)}), Language.EN, markup="plain").text
    assert HOSTILE in text
    assert not text.startswith("<b>")


def test_a_card_says_how_to_contact_when_open_why_and_how_fresh() -> None:
    text = render(Outgoing("danger", {"services": (_card(),)}), Language.EN, markup="plain").text
    for expected in (
        "Call: 020 7946 0000 (a <note>)",
        "Web: example.org",
        "Open now. Hours: Mon 09:00-17:00",
        "Languages: English, Polski",
        "Nearest service, outside your area (12.5 km away).",
        "Specialist in race, ethnicity or nationality.",
        "In Wales only.",
        "⚠️ Check <this>",
        "Last checked on 01/01/2020.",
    ):
        assert expected in text, expected
    fresh = render(Outgoing("danger", {"services": (_card(checked_on=None, caveat=""),)}), Language.EN, markup="plain")
    assert "Last checked" not in fresh.text and "⚠️" not in fresh.text


def test_welsh_cards_use_welsh_labels_and_day_names() -> None:
    text = render(Outgoing("danger", {"services": (_card(),)}), Language.CY, markup="plain").text
    assert "Ffoniwch: 020 7946 0000" in text and "Ar agor nawr. Oriau: Llun 09:00-17:00" in text
    assert "Yng Nghymru yn unig." in text


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        (_card(always_open=True, hours=""), "Open 24 hours, every day."),
        (_card(hours="", open_now=None), "Opening hours not known."),
        (_card(open_now=False), "Closed now."),
    ],
)
def test_hours_are_honest(card: ServiceCard, expected: str) -> None:
    assert expected in render(Outgoing("danger", {"services": (card,)}), Language.EN, markup="plain").text


def test_no_entry_says_so_rather_than_inventing_one() -> None:
    text = render(Outgoing("danger", {"services": ()}), Language.EN, markup="plain").text
    assert "I do not have an entry for this in the directory yet." in text


def test_strand_names_and_the_persons_note_are_escaped() -> None:
    names = render(
        Outgoing("explain_chosen", {"strands": StrandNames((Strand.RACE,), ("Goths & <punks>",))}),
        Language.EN,
        markup="html",
    ).text
    assert "race, ethnicity or nationality; Goths &amp; &lt;punks&gt;" in names
    note = render(
        Outgoing("note_result", {"when": "<now>", "where": None, "what": "x & y", "witnesses": None, "evidence": "z"}),
        Language.EN,
        markup="html",
    ).text
    assert "&lt;now&gt;" in note and "x &amp; y" in note and "(not given)" in note


def test_buttons_and_location_request_render_from_the_catalogue() -> None:
    message = Outgoing(
        "ask_location",
        buttons=((Button("strand_race", "strand:race", label_vars={"mark": "✅ "}), Button("btn_menu", "menu")),),
        request_location=True,
        remove_keyboard=False,
    )
    rendered = render(message, Language.EN, markup="html")
    assert rendered.keyboard == (
        (("✅ Race, ethnicity or nationality", "strand:race", None), ("☰ Menu", "menu", None)),
    )
    assert rendered.request_location_label == "📍 Share my location"
    assert render(message, Language.CY, markup="html").request_location_label == "📍 Rhannu fy lleoliad"
    assert render_label(Button("place_choice", "at:1,1", label_vars={"name": "A & <B>"}), Language.EN) == "A & <B>"


def test_a_missing_variable_names_the_key() -> None:
    with pytest.raises(KeyError, match="results_local"):
        render(Outgoing("results_local"), Language.EN, markup="plain")


def test_real_screens_render_in_html_without_stray_markup() -> None:
    engine = make_engine()
    for state in (State.DANGER, State.REPORT_POLICE, State.AFTERCARE, State.REPORT_SPECIALIST):
        for message in engine.screen(Conversation(state)):
            text = render(message, Language.EN, markup="html").text
            stripped = text.replace("<b>", "").replace("</b>", "").replace("<i>", "").replace("</i>", "")
            assert "<" not in stripped and ">" not in stripped, (state, message.key)


def test_a_long_message_is_cut_at_a_line_end_to_fit_telegram() -> None:
    cards = tuple(_card(id=f"c{n}", description="word " * 150) for n in range(12))
    text = render(Outgoing("danger", {"services": cards}), Language.EN, markup="html").text
    assert len(text) <= 4096 and text.endswith("\n…")
    assert text.count("<b>") == text.count("</b>")
