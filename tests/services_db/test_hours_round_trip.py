"""Opening hours written by people come back as they were written, through every format: a closing time of
midnight stays "00:00" (never "23:59"), and bank-holiday notes travel with the hours."""

from __future__ import annotations

import json

import pytest

from mapping.types import parse_intervals
from services_db.formats import read_services, write_services
from services_db.formats.common import format_hours
from tests.services_db.factories import hours, make_service

HOURS = ["mon-fri 18:00-00:00", "mon-fri 09:00-17:00; sat 10:00-13:00", "sun 00:00-00:00", "24/7", "mon 09:30-12:15"]


@pytest.mark.parametrize("text", HOURS)
def test_format_reads_back_exactly(text: str) -> None:
    written = format_hours(hours(text))
    assert written == text
    if text != "24/7":
        assert format_hours(hours(written)) == written and parse_intervals(written) == parse_intervals(text)


@pytest.mark.parametrize("fmt", ["csv", "geojson", "oruk"])
def test_hours_survive_export_and_import(fmt: str) -> None:
    record = make_service("test-hours", hours=hours("mon-fri 18:00-00:00", bank_holidays="closed", note="ring first"))
    text = write_services([record], fmt)
    assert "23:59" not in text
    fields = read_services(text.encode(), name=f"d.{'json' if fmt == 'oruk' else fmt}").services[0].fields
    written = fields["hours"]
    if isinstance(written, dict):
        assert written["intervals"] == ["mon-fri 18:00-00:00"] and written["bank_holidays"] == "closed"
    else:
        assert written == "mon-fri 18:00-00:00" and fields["bank_holidays"] == "closed"


def test_oruk_standard_schedules_say_midnight_as_00_00() -> None:
    record = make_service("test-hours", hours=hours("fri 18:00-00:00"))
    service = json.loads(write_services([record], "oruk"))["content"][0]
    assert service["regular_schedules"][0]["closes_at"] == "00:00"
    del service["x_signpost"]  # as another publisher's feed: only the standard fields
    fields = read_services(json.dumps({"content": [service]}).encode(), name="feed.json").services[0].fields
    assert fields["hours"] == "fri 18:00-00:00"
