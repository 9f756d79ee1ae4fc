"""Every word in the reader's language: the directory's Welsh and Easy Read text, area names, the fallback marker."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from bot.content import catalogue
from bot.engine import Choice, Conversation, Language, SharedLocation, State, Text
from bot.engine.engine import Outgoing, ServiceCard
from bot.render import render, render_label
from mapping.areas import AreaRegistry
from mapping.types import TRANSLATION_FIELDS, ServiceRecord, channel_key
from services_db.seed import load_national_directory, load_shipped_directory
from services_db.validation import protected_tokens
from tests.bot.support import actions, english_sentences, make_engine

SHIPPED = load_national_directory().services


def _card(service: ServiceRecord) -> ServiceCard:
    return make_engine()._card(service, Conversation(State.RESULTS), None)


def _rendered(service: ServiceRecord, language: Language) -> str:
    return render(Outgoing("route_police", {"services": (_card(service),)}), language, markup="plain").text


def test_the_detector_finds_english_and_passes_welsh() -> None:
    assert english_sentences("Free hate crime support for people in Wales, for all strands.")
    assert english_sentences("Open 24 hours, every day.")
    assert not english_sentences("Cymorth am ddim i bobl yng Nghymru. Ar agor 24 awr y dydd, bob dydd.")


@pytest.mark.parametrize("service", SHIPPED, ids=lambda s: s.id)
def test_every_shipped_entry_carries_welsh_and_easy_read_for_all_its_text(service: ServiceRecord) -> None:
    assert service.untranslated() == ()
    assert service.translations["easy"]["summary"]
    if service.description:
        assert service.translations["cy"]["description"] != service.description


@pytest.mark.parametrize("service", SHIPPED, ids=lambda s: s.id)
def test_translations_keep_the_numbers_and_addresses(service: ServiceRecord) -> None:
    english = {
        "name": service.name,
        "organisation": service.organisation,
        "description": service.description,
        "eligibility": service.eligibility,
        "caveat": service.caveat,
        "hours_note": service.hours.note,
        "bank_holidays": service.hours.bank_holidays,
    }
    notes = {channel_key(c): c.note for c in service.channels}
    for language, fields in service.translations.items():
        assert set(fields) <= set(TRANSLATION_FIELDS[language])
        for name, value in fields.items():
            if name == "summary":
                continue
            pairs = [(notes[k], v) for k, v in value.items()] if name == "notes" else [(english[name], value)]
            for source, translated in pairs:
                assert protected_tokens(source) <= protected_tokens(translated), (service.id, language, name)


@pytest.mark.parametrize("service", SHIPPED, ids=lambda s: s.id)
def test_every_shipped_entry_renders_with_no_english_sentence_in_welsh(service: ServiceRecord) -> None:
    text = _rendered(service, Language.CY)
    assert english_sentences(text) == [], text
    assert "(yn Saesneg)" not in text


@pytest.mark.parametrize("service", SHIPPED, ids=lambda s: s.id)
def test_every_shipped_entry_renders_in_easy_read_without_the_ordinary_english(service: ServiceRecord) -> None:
    text = _rendered(service, Language.EASY)
    ordinary = [service.description, service.eligibility, service.caveat, service.hours.note]
    ordinary += [c.note for c in service.channels]
    easy = service.translations["easy"]
    left = [t for t in ordinary if t and t in text and t not in str(easy)]
    assert left == [], text
    assert easy["summary"] in text and "(not in Easy Read)" not in text


def test_untranslated_text_falls_back_to_english_with_a_marker_never_silently() -> None:
    service = replace(next(s for s in SHIPPED if s.id == "victim-support-supportline"), translations={})
    welsh, easy = _rendered(service, Language.CY), _rendered(service, Language.EASY)
    assert f"{service.description} (yn Saesneg)" in welsh
    assert f"Ar gyfer pwy: {service.eligibility} (yn Saesneg)" in welsh
    assert "(Free) (yn Saesneg)" in welsh  # a channel note: the marker after its brackets, not inside them
    assert f"{service.description} (not in Easy Read)" in easy
    english = _rendered(service, Language.EN)
    assert "(in English)" not in english and service.description in english


def test_a_partial_translation_marks_only_what_is_missing() -> None:
    base = next(s for s in SHIPPED if s.id == "galop")
    service = replace(base, translations={"cy": {"description": base.translations["cy"]["description"]}})
    welsh = _rendered(service, Language.CY)
    assert base.translations["cy"]["description"] + "\n" in welsh  # no marker on what is translated
    assert f"{base.caveat} (yn Saesneg)" in welsh


def test_welsh_areas_have_their_official_welsh_names() -> None:
    registry = AreaRegistry.default()
    welsh = [a for a in registry.lads() if a.code.startswith("W")]
    assert len(welsh) == 22 and all(a.name_cy for a in welsh)
    assert all(not a.name_cy for a in registry.lads() if a.code.startswith("E"))
    assert {a.name_in("cy") for a in registry.pfas() if a.code.startswith("W")} == {
        "Gogledd Cymru",
        "Gwent",
        "De Cymru",
        "Dyfed-Powys",
    }
    names = {a.code: a.name_in("cy") for a in welsh}
    assert names["W06000015"] == "Caerdydd" and names["W06000001"] == "Ynys Môn" and names["W06000022"] == "Casnewydd"
    assert registry.area("W06000015").name_in("en") == "Cardiff"  # type: ignore[union-attr]


def _cardiff(language: Language) -> list[str]:
    engine = make_engine()
    conv = Conversation(State.ASK_LOCATION, language=language)
    turn = engine.handle(conv, Text("CF10 1EP"))
    texts = [render(m, language, markup="plain").text for m in turn.messages]
    while more := [a for a in actions(turn) if a.startswith("more:")]:
        turn = engine.handle(turn.conversation, Choice(more[0]))
        texts += [render(m, language, markup="plain").text for m in turn.messages]
    return texts


def test_a_welsh_speaker_in_cardiff_reads_no_unmarked_english_service_text() -> None:
    text = "\n".join(_cardiff(Language.CY))
    assert "(Caerdydd, De Cymru)" in text
    assert "Free hate crime support" not in text and "Open 24 hours" not in text
    # A local entry from the starter directory may have no Welsh yet: its English is marked as English.
    marker = re.escape(catalogue(Language.CY)["card_in_english"])
    assert english_sentences(re.sub(rf"[^\n]*{marker}", "", text)) == []


def test_an_easy_read_reader_in_cardiff_gets_the_easy_summaries() -> None:
    text = "\n".join(_cardiff(Language.EASY))
    wales = next(s for s in SHIPPED if s.id == "wales-hate-support-centre")
    assert wales.translations["easy"]["summary"] in text and wales.description not in text
    assert "(Cardiff, South Wales)" in text


def test_the_danger_screen_is_welsh_all_through() -> None:
    turn = make_engine().handle(Conversation(State.WELCOME, language=Language.CY), Choice("danger"))
    text = "\n".join(render(m, Language.CY, markup="plain").text for m in turn.messages)
    assert "999" in text and english_sentences(text) == []
    assert catalogue(Language.CY)["card_in_english"] not in text


# Brackets inside brackets ("(Police (True Vision))", "(Free (yn Saesneg))"), empty or doubled ones.
_BRACKET_GLITCH = re.compile(r"\(\(|\)\)|\(\s*\)|\([^()]*\([^()]*\)[^()]*\)")


@pytest.mark.parametrize("language", list(Language), ids=lambda lang: lang.value)
def test_no_shipped_card_renders_brackets_inside_brackets(language: Language) -> None:
    """Organisations with brackets of their own ("Police (True Vision)") and untranslated notes read cleanly."""
    glitches = []
    for service in load_shipped_directory().services:
        for stripped in (service, replace(service, translations={})):  # translated, and before its translation
            for line in _rendered(stripped, language).splitlines():
                if _BRACKET_GLITCH.search(line) or line.count("(") != line.count(")"):
                    glitches.append(f"{service.id}: {line}")
    assert glitches == []


@pytest.mark.parametrize(
    ("typed", "english", "welsh"),
    [
        ("Cardiff", "Cardiff (South Wales, Wales)", "Caerdydd (De Cymru, Cymru)"),
        ("Wrexham", "Wrexham (North Wales, Wales)", "Wrecsam (Gogledd Cymru, Cymru)"),
        ("Hope", "Hope, Flintshire (North Wales, Wales)", "Hope, Sir y Fflint (Gogledd Cymru, Cymru)"),
        ("Leeds", "Leeds (West Yorkshire, England)", "Leeds (West Yorkshire, Lloegr)"),
    ],
)
def test_a_place_typed_in_the_welsh_chat_is_named_in_welsh_where_the_areas_data_has_a_welsh_name(
    typed: str, english: str, welsh: str
) -> None:
    engine = make_engine()
    for language, expected in ((Language.EN, english), (Language.CY, welsh)):
        turn = engine.handle(Conversation(State.ASK_LOCATION, language=language), Text(typed))
        assert turn.messages[0].vars["place"] == expected


def test_the_places_to_choose_from_and_a_shared_location_are_named_in_welsh() -> None:
    engine = make_engine()
    turn = engine.handle(Conversation(State.ASK_LOCATION, language=Language.CY), Text("Newport"))
    labels = [
        render_label(row[0], Language.CY) for row in turn.messages[0].buttons if row[0].label_key == "place_choice"
    ]
    assert labels[0] == "Casnewydd (Cymru)" and "Newport, Isle of Wight (Lloegr)" in labels
    picked = engine.handle(turn.conversation, Choice(turn.messages[0].buttons[0][0].action or ""))
    assert (picked.messages[0].vars["place"], picked.messages[0].vars["area"]) == ("Casnewydd", "(Gwent)")
    shared = engine.handle(Conversation(State.ASK_LOCATION, language=Language.CY), SharedLocation(51.4816, -3.1791))
    assert (shared.messages[0].vars["place"], shared.messages[0].vars["area"]) == ("Caerdydd", "(De Cymru)")
