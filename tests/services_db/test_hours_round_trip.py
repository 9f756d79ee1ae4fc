"""Opening hours written by people come back as they were written, through every format, the database and the
bot's cards: a closing time of midnight stays "00:00" (never "23:59"), overnight hours ("fri 22:00-02:00") are
read and said as written and count as open on the morning after, and bank-holiday notes travel with the hours."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time

import pytest
from sqlmodel import Session

from bot.content import catalogue
from bot.engine import Conversation, Language, Outgoing
from bot.render import render
from mapping.types import DAY_NAMES, END_OF_DAY, OpeningHours, OpeningInterval, parse_intervals
from services_db import repository
from services_db.formats import read_services, write_services
from tests.bot.support import Clock, make_engine
from tests.services_db.factories import hours, make_service

HOURS = [
    "mon-fri 18:00-00:00",
    "mon-fri 09:00-17:00; sat 10:00-13:00",
    "sun 00:00-00:00",
    "24/7",
    "mon 09:30-12:15",
    "fri-sat 22:00-02:00",
    "mon-fri 09:00-12:30, 13:30-17:00; sat 10:00-13:00",
    "thu 18:00-00:00; fri 20:00-04:00",
]
FORMATS = ["csv", "geojson", "oruk"]
_DAYS = re.compile(r"\b(mon|tue|wed|thu|fri|sat|sun)\b")


@pytest.mark.parametrize("text", HOURS)
def test_parse_format_parse_gives_back_the_same(text: str) -> None:
    parsed = OpeningHours.parse(text)
    written = parsed.to_text()
    assert written == text
    assert OpeningHours.parse(written) == parsed
    if text != "24/7":
        assert parse_intervals(written) == parse_intervals(text)


def test_midnight_and_overnight_are_what_was_written() -> None:
    (midnight,) = parse_intervals("sat 18:00-00:00")
    assert (midnight.closes, midnight.overnight, midnight.to_text()) == (END_OF_DAY, False, "sat 18:00-00:00")
    (late,) = parse_intervals("fri 22:00-02:00")
    assert (late.day, late.opens, late.closes, late.overnight) == (4, time(22), time(2), True)
    assert late.to_text() == "fri 22:00-02:00"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("fri 10:00-10:00", "open and close at the same time"),
        ("fri 25:00-02:00", "cannot read hours"),
        ("funday 10:00-12:00", "unknown day"),
        ("10:00-12:00", "cannot read hours"),  # times with no day before them
        ("mon 09:00-17:00 extra", "cannot read hours"),
    ],
)
def test_unreadable_hours_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        OpeningHours.parse(text)


@pytest.mark.parametrize(
    ("at", "open_now"),
    [
        (datetime(2026, 11, 27, 21, 59), False),  # Friday, before opening
        (datetime(2026, 11, 27, 22, 0), True),
        (datetime(2026, 11, 27, 23, 59, 59), True),
        (datetime(2026, 11, 28, 0, 0), True),  # Saturday: still Friday night's hours
        (datetime(2026, 11, 28, 1, 0), True),
        (datetime(2026, 11, 28, 2, 0), False),  # closed at 02:00
        (datetime(2026, 11, 28, 12, 0), False),
        (datetime(2026, 11, 29, 1, 0), False),  # Sunday morning: there were no Saturday night hours
        (datetime(2026, 11, 23, 1, 0), True),  # Monday 01:00: Sunday night's hours, across the week's end
    ],
)
def test_overnight_hours_are_open_on_the_morning_after(at: datetime, open_now: bool) -> None:
    assert OpeningHours.parse("fri 22:00-02:00; sun 23:00-03:00").is_open(at) is open_now


def test_open_until_midnight_is_open_in_the_last_second_and_closed_after() -> None:
    late = OpeningHours.parse("sat 18:00-00:00")
    assert late.is_open(datetime(2026, 11, 28, 23, 59, 59)) is True
    assert late.is_open(datetime(2026, 11, 29, 0, 0)) is False


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("text", ["mon-fri 18:00-00:00", "fri-sat 22:00-02:00", "mon 09:00-12:00, 13:00-17:00"])
def test_hours_survive_export_import_export(fmt: str, text: str) -> None:
    record = make_service("test-hours", hours=hours(text, bank_holidays="closed", note="ring first"))
    exported = write_services([record], fmt)
    assert "23:59" not in exported
    fields = read_services(exported.encode(), name=f"d.{'json' if fmt == 'oruk' else fmt}").services[0].fields
    written = fields["hours"]
    if isinstance(written, dict):
        back = OpeningHours.from_dict(written)
    else:
        back = OpeningHours.parse(written, bank_holidays=fields["bank_holidays"], note=fields["hours_note"])
    assert back == record.hours and back.to_text() == text and back.bank_holidays == "closed"
    assert write_services([make_service("test-hours", hours=back)], fmt) == exported


@pytest.mark.parametrize("text", ["fri 18:00-00:00", "fri 22:00-02:00"])
def test_oruk_standard_schedules_say_the_hours_as_written(text: str) -> None:
    record = make_service("test-hours", hours=hours(text))
    service = json.loads(write_services([record], "oruk"))["content"][0]
    assert service["regular_schedules"][0]["closes_at"] == text[-5:]
    del service["x_signpost"]  # as another publisher's feed: only the standard fields
    fields = read_services(json.dumps({"content": [service]}).encode(), name="feed.json").services[0].fields
    assert fields["hours"] == text


@pytest.mark.parametrize("text", ["mon-fri 18:00-00:00", "fri 22:00-02:00"])
def test_hours_survive_the_database(session: Session, text: str) -> None:
    record = make_service("test-hours", hours=hours(text, bank_holidays="closed on bank holidays"))
    repository.create_service(session=session, record=record, actor="test")
    stored = repository.get_service(session=session, service_id="test-hours")
    assert stored is not None and stored.hours == record.hours and stored.hours.to_text() == text
    assert "23:59" not in json.dumps(stored.hours.to_dict())


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("text", ["fri 22:00-02:00", "mon-fri 09:00-12:30, 13:30-17:00; sat 18:00-00:00"])
def test_the_card_says_the_hours_in_each_language_and_they_read_back(language: Language, text: str) -> None:
    engine = make_engine(Clock(datetime(2026, 11, 28, 1, 0, tzinfo=UTC)))  # Saturday 01:00
    record = make_service("test-hours", hours=hours(text))
    card = engine._card(record, Conversation.new(language), None)
    assert card.hours == text
    shown = render(Outgoing("danger", {"services": (card,)}), language, markup="plain").text
    cat = catalogue(language)
    labels = {cat[f"day_{day}"]: day for day in DAY_NAMES}
    said = _DAYS.sub(lambda m: cat[f"day_{m[1]}"], text)  # the days in the reader's language
    assert said in shown
    back = re.sub("|".join(rf"\b{re.escape(label)}\b" for label in labels), lambda m: labels[m[0]], said)
    assert OpeningHours.parse(back) == record.hours


def test_the_card_is_open_at_one_in_the_morning_after_a_late_friday() -> None:
    record = make_service("test-hours", hours=hours("fri 22:00-02:00"))
    assert record.confirmed
    saturday = make_engine(Clock(datetime(2026, 11, 28, 1, 0, tzinfo=UTC)))
    later = make_engine(Clock(datetime(2026, 11, 28, 3, 0, tzinfo=UTC)))
    assert saturday._card(record, Conversation.new(), None).open_now is True
    assert later._card(record, Conversation.new(), None).open_now is False


def test_the_interval_type_is_the_one_the_formats_use() -> None:
    assert OpeningInterval(4, time(22), time(2)).to_text() == "fri 22:00-02:00"
