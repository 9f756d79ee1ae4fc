"""Turn the engine's :class:`~bot.engine.engine.Outgoing` into text and a keyboard, in HTML or plain text.

Catalogue texts may use ``<b>`` and ``<i>`` only; every value filled in (directory entries, place names, the
person's own note) is escaped for HTML, so nothing from the directory or a person can inject markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.content import Catalogue, catalogue
from bot.engine.engine import Button, Outgoing, ServiceCard, StrandNames
from bot.engine.model import Language
from mapping.types import Channel, ChannelKind, MatchReason, Nation, channel_key

__all__ = [
    "MAX_MESSAGE",
    "TELEGRAM_LIMIT",
    "KeyboardRow",
    "Markup",
    "Rendered",
    "render",
    "render_label",
    "render_parts",
    "render_turn",
    "split_text",
]

Markup = Literal["html", "plain"]
KeyboardRow = tuple[tuple[str, str | None, str | None], ...]

MAX_MESSAGE = 1000  # characters: a longer message is sent in parts, so each reads on a phone without a long scroll
TELEGRAM_LIMIT = 4096  # Telegram's limit for one message, in characters
# The person's own note is returned as one message to keep or forward, so it is not split (up to the limit).
KEEP_WHOLE = frozenset({"note_result"})

_TAGS = re.compile(r"</?(?:b|i)>")
_DAYS = re.compile(r"\b(mon|tue|wed|thu|fri|sat|sun)\b")


@dataclass(frozen=True)
class Rendered:
    """A message ready for an adapter: text, inline keyboard rows of (label, action, url), location request."""

    text: str
    keyboard: tuple[KeyboardRow, ...]
    request_location_label: str | None
    remove_keyboard: bool = False


_ANY_TIME = frozenset({ChannelKind.WEB, ChannelKind.WEB_FORM, ChannelKind.EMAIL, ChannelKind.APP})


def render(message: Outgoing, language: Language, *, markup: Markup) -> Rendered:
    """Render ``message`` in ``language``.

    Parameters
    ----------
    message
        What the engine wants said.
    language
        Which catalogue to use.
    markup
        ``"html"`` for Telegram's HTML parse mode (values escaped), ``"plain"`` for terminals.
    """
    cat = catalogue(language)
    values = {name: _value(value, cat, markup) for name, value in message.vars.items()}
    text = _template(cat, message.key, markup).format_map(_Strict(values, message.key))
    keyboard = tuple(
        tuple((render_label(button, language), button.action, button.url) for button in row) for row in message.buttons
    )
    location_label = cat["btn_share_location"] if message.request_location else None
    return Rendered(_fit(text.strip()), keyboard, location_label, message.remove_keyboard)


def render_parts(message: Outgoing, language: Language, *, markup: Markup) -> tuple[Rendered, ...]:
    """:func:`render`, split into messages of at most :data:`MAX_MESSAGE` characters at blank lines (between
    service cards), then at line ends; the keyboard and location request go with the last part."""
    whole = render(message, language, markup=markup)
    texts = split_text(whole.text, TELEGRAM_LIMIT if message.key in KEEP_WHOLE else MAX_MESSAGE)
    if len(texts) == 1:
        return (whole,)
    first = [Rendered(texts[0], (), None, whole.remove_keyboard)]
    middle = [Rendered(text, (), None) for text in texts[1:-1]]
    return (*first, *middle, Rendered(texts[-1], whole.keyboard, whole.request_location_label))


def render_turn(
    messages: Sequence[Outgoing], language: Language, *, markup: Markup, first_alone: bool = False
) -> tuple[Rendered, ...]:
    """A turn's messages packed into as few as fit: consecutive messages share one (a blank line between them)
    up to :data:`MAX_MESSAGE` characters, split between paragraphs beyond that. A keyboard or a location request
    ends a message (it goes on the last part); a message kept whole (the person's note) goes on its own, and so
    does the first one with ``first_alone``. The first part says ``remove_keyboard`` when any message asked.

    Each message sent is a round trip to Telegram, so a turn is usually one message with its keyboard."""
    out: list[Rendered] = []
    texts: list[str] = []

    def flush(keyboard: tuple[KeyboardRow, ...] = (), location: str | None = None, limit: int = MAX_MESSAGE) -> None:
        if texts:
            parts = split_text("\n\n".join(texts), limit)
            out.extend(Rendered(text, (), None) for text in parts[:-1])
            out.append(Rendered(parts[-1], keyboard, location))
            texts.clear()

    for index, message in enumerate(messages):
        rendered = render(message, language, markup=markup)
        if message.key in KEEP_WHOLE:
            flush()
            texts.append(rendered.text)
            flush(rendered.keyboard, rendered.request_location_label, TELEGRAM_LIMIT)
            continue
        texts.append(rendered.text)
        if rendered.keyboard or rendered.request_location_label or (first_alone and index == 0):
            flush(rendered.keyboard, rendered.request_location_label)
    flush()
    if out and any(message.remove_keyboard for message in messages):
        out[0] = Rendered(out[0].text, out[0].keyboard, out[0].request_location_label, remove_keyboard=True)
    return tuple(out)


def split_text(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split at blank lines, then lines, so that no HTML tag (always within one line) is cut in two."""
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current = ""
    for paragraph in text.split("\n\n"):
        for piece in _split_paragraph(paragraph, limit):
            candidate = f"{current}\n\n{piece}" if current else piece
            if len(candidate) <= limit:
                current = candidate
            else:
                chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return chunks


def _split_paragraph(paragraph: str, limit: int) -> list[str]:
    if len(paragraph) <= limit:
        return [paragraph]
    pieces: list[str] = []
    current = ""
    for line in paragraph.split("\n"):
        while len(line) > limit:  # a single line longer than a message: cut it (rare: directory text)
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
        else:
            pieces.append(current)
            current = line
    if current:
        pieces.append(current)
    return pieces


def render_label(button: Button, language: Language) -> str:
    """A button's label (button labels are never parsed as markup, so nothing is escaped)."""
    text = _TAGS.sub("", catalogue(language)[button.label_key])
    return text.format_map(_Strict(dict(button.label_vars), button.label_key)).strip()


def _fit(text: str) -> str:
    """Keep a message inside Telegram's limit, cutting at a line end so no tag or entity is split."""
    if len(text) <= TELEGRAM_LIMIT:
        return text
    cut = text.rfind("\n", 0, TELEGRAM_LIMIT - 2)
    return text[: cut if cut > 0 else TELEGRAM_LIMIT - 2].rstrip() + "\n…"


class _Strict(dict[str, str]):
    def __init__(self, values: Mapping[str, str], key: str) -> None:
        super().__init__(values)
        self._key = key

    def __missing__(self, name: str) -> str:
        raise KeyError(f"catalogue key {self._key!r} needs {{{name}}}, which the engine did not give")


def _template(cat: Catalogue, key: str, markup: Markup) -> str:
    text = cat[key]
    return text if markup == "html" else _TAGS.sub("", text)


def _escape(text: str, markup: Markup) -> str:
    return html.escape(text, quote=False) if markup == "html" else text


def _value(value: object, cat: Catalogue, markup: Markup) -> str:
    if isinstance(value, StrandNames):
        names = [cat[f"name_{strand.value}"] for strand in value.strands]
        names += [_escape(label, markup) for label in value.local]
        # "; " because one name ("race, ethnicity or nationality") has commas of its own.
        return "; ".join(names) if names else cat["name_none"]
    if isinstance(value, tuple) and all(isinstance(v, ServiceCard) for v in value):
        if not value:
            return _template(cat, "card_none", markup)
        return "\n\n".join(_card(card, cat, markup) for card in value)
    if isinstance(value, ServiceCard):
        return _card(value, cat, markup)
    if value is None:
        return _template(cat, "not_given", markup)
    if isinstance(value, float):
        return f"{value:g}"
    return _escape(str(value), markup)


def _line(cat: Catalogue, key: str, markup: Markup, **values: str) -> str:
    escaped = {name: _escape(v, markup) for name, v in values.items()}
    return _template(cat, key, markup).format_map(_Strict(escaped, key))


def _card(card: ServiceCard, cat: Catalogue, markup: Markup) -> str:
    text = _Translated(card, cat, markup)
    lines = [_line(cat, "card_name", markup, name=text.name("name", card.name))]
    if card.organisation and card.organisation != card.name:
        lines.append(_line(cat, "card_organisation", markup, organisation=text.name("organisation", card.organisation)))
    if card.description:
        lines.append(text("description", card.description))
    why = _why(card, cat, markup)
    if why:
        lines.append(why)
    if card.nation is Nation.WALES:
        lines.append(_template(cat, "card_wales_only", markup))
    elif card.nation is Nation.ENGLAND:
        lines.append(_template(cat, "card_england_only", markup))
    for channel in card.channels:
        if channel.kind is ChannelKind.IN_PERSON and not channel.value:
            continue
        line = _line(cat, f"channel_{channel.kind.value}", markup, value=channel.value)
        if channel.note:
            note, marker = text.note(channel)
            line += " " + _template(cat, "channel_note", markup).format(note=note) + marker
        lines.append(line)
    lines += _hours_lines(card, cat, markup, text)
    if card.languages:
        names = (_language_name(code, cat) for code in card.languages)
        lines.append(_line(cat, "card_languages", markup, languages=", ".join(names)))
    if card.eligibility:
        lines.append(_filled(cat, "card_eligibility", markup, eligibility=text("eligibility", card.eligibility)))
    if card.unconfirmed:
        lines.append(_template(cat, "card_unconfirmed", markup))
    if card.caveat:
        lines.append(_filled(cat, "card_caveat", markup, caveat=text("caveat", card.caveat)))
    if card.checked_on is not None:
        lines.append(_line(cat, "card_checked", markup, date=card.checked_on.strftime("%d/%m/%Y")))
    return "\n".join(line for line in lines if line)


def _hours_lines(card: ServiceCard, cat: Catalogue, markup: Markup, text: _Translated) -> list[str]:
    if card.always_open:
        return [_template(cat, "card_always_open", markup)]  # its note only repeats "24/7"
    lines: list[str] = []
    if card.hours or card.hours_note:
        hours = _escape(_DAYS.sub(lambda m: cat[f"day_{m[1]}"], card.hours), markup)
        if card.hours_note:
            # The "(in English)" marker goes after the brackets, never inside them: "(Free) (in English)".
            note, marker = text.bracketed("hours_note", card.hours_note)
            hours = f"{hours} ({note}){marker}" if hours else note + marker
        hours = _filled(cat, "card_hours", markup, hours=hours)
        # Open or closed now first: it is what a person needs before they call.
        if card.open_now is True:
            hours = _template(cat, "card_open_now", markup) + " " + hours
        elif card.open_now is False:
            hours = _template(cat, "card_closed_now", markup) + " " + hours
        lines.append(hours)
        if card.bank_holidays:
            lines.append(_filled(cat, "card_bank_holidays", markup, note=text("bank_holidays", card.bank_holidays)))
        if card.bank_holiday_today:
            lines.append(_template(cat, "card_bank_holiday_today", markup))
    elif not (card.channels and all(c.kind in _ANY_TIME for c in card.channels)):
        # (an online form, a website or an address to write to has no opening hours to know)
        lines.append(_template(cat, "card_hours_unknown", markup))
    return lines


def _filled(cat: Catalogue, key: str, markup: Markup, **values: str) -> str:
    """A catalogue line filled with values that are already escaped."""
    return _template(cat, key, markup).format_map(_Strict(values, key))


class _Translated:
    """A card's directory text in the reader's language (escaped): the Welsh or Easy Read version when the
    directory has one, else the English with a short "(in English)" marker, so a fallback is never silent.
    Names (of the service, of its organisation) stay as they are when untranslated: a name is a name."""

    def __init__(self, card: ServiceCard, cat: Catalogue, markup: Markup) -> None:
        self._cat, self._markup = cat, markup
        language = cat.language.value
        self._fields = card.translations.get(language, {}) if cat.language is not Language.EN else None

    def __call__(self, field_name: str, english: str) -> str:
        if self._fields is None:
            return _escape(english, self._markup)
        key = "summary" if field_name == "description" and self._cat.language is Language.EASY else field_name
        translated = self._fields.get(key)
        if translated:
            return _escape(str(translated), self._markup)
        return _escape(english, self._markup) + " " + _template(self._cat, "card_in_english", self._markup)

    def bracketed(self, field_name: str, english: str) -> tuple[str, str]:
        """Text to show in brackets, and the marker (" (in English)") to put after them, or ""."""
        if self._fields is None:
            return _escape(english, self._markup), ""
        translated = self._fields.get(field_name)
        if translated:
            return _escape(str(translated), self._markup), ""
        return _escape(english, self._markup), " " + _template(self._cat, "card_in_english", self._markup)

    def name(self, field_name: str, english: str) -> str:
        translated = self._fields.get(field_name) if self._fields is not None else None
        return str(translated) if translated else english  # escaped by _line

    def note(self, channel: Channel) -> tuple[str, str]:
        """A channel's note (shown in brackets) and the marker to put after the brackets, as :meth:`bracketed`."""
        notes = self._fields.get("notes", {}) if self._fields is not None else {}
        translated = notes.get(channel_key(channel)) if notes else None
        if translated or self._fields is None:
            return _escape(str(translated or channel.note), self._markup), ""
        return _escape(channel.note, self._markup), " " + _template(self._cat, "card_in_english", self._markup)


def _language_name(code: str, cat: Catalogue) -> str:
    """A language code ("cy", "bsl") named in the reader's language; other values as the directory has them."""
    key = f"language_name_{code.strip().lower()}"
    return cat.entries.get(key, code)


def _why(card: ServiceCard, cat: Catalogue, markup: Markup) -> str:
    parts: list[str] = []
    if card.reason is MatchReason.COVERS:
        parts.append(_template(cat, "card_why_covers", markup))
    elif card.reason is MatchReason.NATIONAL:
        parts.append(_template(cat, "card_why_national", markup))
    elif card.reason is MatchReason.NEAREST_OUTSIDE:
        if card.distance_km is not None:
            parts.append(_line(cat, "card_why_nearest_km", markup, km=f"{card.distance_km:g}"))
        else:
            parts.append(_template(cat, "card_why_nearest", markup))
    if card.specialist and card.strands:
        names = ", ".join(cat[f"name_{strand.value}"] for strand in sorted(card.strands))
        parts.append(_line(cat, "card_specialist", markup, strands=names))
    return " ".join(parts)
