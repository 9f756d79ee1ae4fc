"""The catalogues: every key everywhere with the same placeholders, no contact details, Easy Read stays easy."""

from __future__ import annotations

import re
import string

import pytest

from bot.content import catalogue, placeholders
from bot.engine import Language, Outgoing
from bot.render import render, render_label
from tests.bot.support import explore, make_engine

LANGUAGES = list(Language)
ENGLISH = catalogue(Language.EN)

# Keys whose text is, by nature, the same in Welsh: names of languages, pure placeholders, symbols, loan words.
SAME_IN_WELSH = {
    "btn_lang_en",
    "btn_lang_cy",
    "btn_lang_easy",
    "btn_help",
    "card_name",
    "card_organisation",
    "card_caveat",
    "channel_note",
    "channel_relay",
    "local_strand",
    "place_choice",
    "term_link",
    "who_sikh",
}


@pytest.fixture(scope="module")
def outgoing() -> list[Outgoing]:
    """Every distinct message the engine sends over a breadth-first walk of the conversation."""
    found: dict[str, Outgoing] = {}
    for _, _, turn in explore(make_engine()):
        for message in turn.messages:
            found.setdefault(repr(message), message)
    return list(found.values())


@pytest.fixture(scope="module")
def used(outgoing: list[Outgoing]) -> tuple[set[str], set[str]]:
    """Message keys and button label keys the engine actually uses."""
    messages = {m.key for m in outgoing}
    labels = {b.label_key for m in outgoing for row in m.buttons for b in row}
    return messages, labels


@pytest.mark.parametrize("language", LANGUAGES, ids=str)
def test_every_catalogue_has_every_key_with_the_same_placeholders(language: Language) -> None:
    other = catalogue(language)
    assert other.keys() == ENGLISH.keys(), (
        f"{language}: missing {ENGLISH.keys() - other.keys()}, extra {other.keys() - ENGLISH.keys()}"
    )
    for key in sorted(ENGLISH.keys()):
        assert placeholders(other[key]) == placeholders(ENGLISH[key]), f"{language}.toml {key}"
        assert other[key].strip(), f"{language}.toml {key} is empty"


def test_the_engine_uses_only_keys_that_exist(used) -> None:  # type: ignore[no-untyped-def]
    messages, labels = used
    assert messages <= ENGLISH.keys(), messages - ENGLISH.keys()
    assert labels <= ENGLISH.keys(), labels - ENGLISH.keys()


@pytest.mark.parametrize("language", LANGUAGES, ids=str)
def test_no_contact_details_in_content(language: Language) -> None:
    """Numbers, links and addresses come from the directory (with its source and date), never from content."""
    for key, text in catalogue(language).entries.items():
        assert not re.search(r"\d[\d ]{2,}\d", text), f"{language}.toml {key} holds a number: {text!r}"
        assert not re.search(r"https?:|www\.|\.(?:uk|org|com|net|cymru|wales)\b|@", text), f"{language}.toml {key}"


@pytest.mark.parametrize("language", LANGUAGES, ids=str)
def test_markup_is_only_balanced_bold_and_italic(language: Language) -> None:
    for key, text in catalogue(language).entries.items():
        tags = re.findall(r"<[^>]*>", text)
        assert all(t in ("<b>", "</b>", "<i>", "</i>") for t in tags), f"{language}.toml {key}: {tags}"
        assert text.count("<b>") == text.count("</b>") and text.count("<i>") == text.count("</i>"), key
        assert "&" not in text, f"{language}.toml {key}: write 'and', not '&' (HTML)"
        for _, _name, spec, conversion in string.Formatter().parse(text):
            assert not spec and not conversion, f"{language}.toml {key}: plain {{name}} placeholders only"


def test_welsh_is_written_not_copied() -> None:
    welsh = catalogue(Language.CY)
    copied = [
        k for k in ENGLISH.keys() - SAME_IN_WELSH if welsh[k] == ENGLISH[k] and re.search(r"[a-z]{3}", ENGLISH[k])
    ]
    assert not copied, f"cy.toml repeats the English text for {copied}"
    assert "Nid yr heddlu ydw i" in welsh["welcome"]


def _sentences(text: str) -> list[str]:
    text = re.sub(r"</?[bi]>", "", text)
    text = re.sub(r"\{[a-z_]+\}", "X", text)
    return [s for s in re.split(r"(?<=[.?!:])\s+|\n+", text) if s.strip()]


def test_easy_read_uses_short_sentences() -> None:
    easy = catalogue(Language.EASY)
    lengths = []
    for key, text in easy.entries.items():
        for sentence in _sentences(text):
            words = len(sentence.split())
            lengths.append(words)
            assert words <= 14, f"easy.toml {key}: {sentence!r} ({words} words): split it"
    english = [len(s.split()) for t in ENGLISH.entries.values() for s in _sentences(t)]
    assert sum(lengths) / len(lengths) < sum(english) / len(english)


@pytest.mark.parametrize("language", LANGUAGES, ids=str)
@pytest.mark.parametrize("markup", ["html", "plain"])
def test_every_message_renders_in_every_language(outgoing: list[Outgoing], language: Language, markup: str) -> None:
    for message in outgoing:
        rendered = render(message, language, markup=markup)  # type: ignore[arg-type]
        assert rendered.text, message.key
        assert len(rendered.text) <= 4096, f"{message.key} is too long for one Telegram message"
        for row in message.buttons:
            for button in row:
                label = render_label(button, language)
                assert label and len(label) <= 100 and "{" not in label
