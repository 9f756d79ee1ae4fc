"""Stale services (not verified for SIGNPOST_STALE_AFTER_DAYS) and the reminder their editors get."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session

from mapping.areas import AreaRegistry
from mapping.types import ServiceStatus
from services_db import access, repository
from services_db.staleness import (
    DEFAULT_STALE_AFTER_DAYS,
    MAX_LISTED,
    Recipient,
    is_stale,
    reminder_for,
    stale_cutoff,
    stale_reminders,
    stale_services,
)
from tests.services_db.factories import PLACES, area_service, make_commissioner, national_service

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
LEEDS, MANCHESTER = "pcc-E23000010", "pcc-E23000005"


def _days_ago(days: int) -> date:
    return TODAY - timedelta(days=days)


@pytest.fixture
def directory(session: Session) -> Session:
    registry = AreaRegistry.default()
    repository.upsert_commissioners(
        session=session,
        commissioners=[
            registry.commissioner_for("E23000010"),
            registry.commissioner_for("E23000005"),
            make_commissioner("national", "National services", kind="national"),
        ],
    )
    leeds, manchester = PLACES["leeds"][2], PLACES["manchester"][2]
    records = [
        area_service(leeds, service_id="leeds-old", commissioner_code=LEEDS, verified_on=_days_ago(400)),
        area_service(leeds, service_id="leeds-edge", commissioner_code=LEEDS, verified_on=_days_ago(183)),
        area_service(leeds, service_id="leeds-just-over", commissioner_code=LEEDS, verified_on=_days_ago(184)),
        area_service(leeds, service_id="leeds-fresh", commissioner_code=LEEDS, verified_on=_days_ago(10)),
        area_service(
            leeds,
            service_id="leeds-closed",
            commissioner_code=LEEDS,
            verified_on=_days_ago(900),
            status=ServiceStatus.CLOSED,
        ),
        area_service(
            leeds,
            service_id="leeds-suspended",
            commissioner_code=LEEDS,
            verified_on=_days_ago(300),
            status=ServiceStatus.SUSPENDED,
        ),
        area_service(manchester, service_id="manc-old", commissioner_code=MANCHESTER, verified_on=_days_ago(200)),
        national_service(service_id="national-old", commissioner_code="national", verified_on=_days_ago(365)),
    ]
    for record in records:
        repository.create_service(session=session, record=record, actor="setup", now=NOW)
    return session


def test_stale_services_oldest_first_closed_left_out(directory: Session) -> None:
    ids = [r.id for r in stale_services(session=directory, now=NOW)]
    assert ids == ["leeds-old", "national-old", "leeds-suspended", "manc-old", "leeds-just-over"]


def test_the_limit_is_exclusive_and_configurable(directory: Session) -> None:
    assert "leeds-edge" not in {r.id for r in stale_services(session=directory, now=NOW, older_than_days=183)}
    assert "leeds-edge" in {r.id for r in stale_services(session=directory, now=NOW, older_than_days=182)}
    assert [r.id for r in stale_services(session=directory, now=NOW, older_than_days=380)] == ["leeds-old"]
    assert stale_cutoff(NOW, 183) == _days_ago(183)


def test_filter_by_commissioner(directory: Session) -> None:
    ids = [r.id for r in stale_services(session=directory, now=NOW, commissioner_code=MANCHESTER)]
    assert ids == ["manc-old"]


def test_is_stale_agrees_with_the_query(directory: Session) -> None:
    stale = {r.id for r in stale_services(session=directory, now=NOW)}
    for record in repository.list_services(session=directory):
        assert is_stale(record, now=NOW, older_than_days=DEFAULT_STALE_AFTER_DAYS) == (record.id in stale)


def test_a_verified_service_is_no_longer_stale(directory: Session) -> None:
    repository.set_verified(session=directory, service_id="manc-old", on=TODAY, actor="editor", now=NOW)
    assert "manc-old" not in {r.id for r in stale_services(session=directory, now=NOW)}


def test_reminders_per_commissioner_go_to_its_editors_else_admins(directory: Session) -> None:
    editor = access.add_account(
        session=directory, name="Leeds team", role="pcc_editor", commissioner_code=LEEDS, telegram_user_id=11, actor="a"
    )
    gone = access.add_account(
        session=directory, name="Old Leeds", role="pcc_editor", commissioner_code=LEEDS, telegram_user_id=12, actor="a"
    )
    access.revoke_account(session=directory, account_id=gone.id, actor="a", now=NOW)
    admin = access.add_account(session=directory, name="Admin", role="admin", actor="a")
    reminders = {r.commissioner_code: r for r in stale_reminders(session=directory, now=NOW)}
    assert sorted(reminders) == ["national", MANCHESTER, LEEDS]
    leeds = reminders[LEEDS]
    assert leeds.service_ids == ("leeds-old", "leeds-suspended", "leeds-just-over")
    assert leeds.recipients == (Recipient(editor.id, "Leeds team", 11),)
    assert reminders[MANCHESTER].recipients == (Recipient(admin.id, "Admin", None),)  # no Manchester editor
    assert reminders["national"].recipients == (Recipient(admin.id, "Admin", None),)
    assert leeds.commissioner_name == "Mayor of West Yorkshire"
    assert leeds.subject == "3 services to check for Mayor of West Yorkshire"


def test_reminder_text() -> None:
    records = [
        area_service("E08000035", service_id="leeds-a", name="Leeds A", verified_on=date(2025, 1, 10)),
        area_service(
            "E08000035",
            service_id="leeds-b",
            name="Leeds B",
            verified_on=date(2025, 11, 2),
            status=ServiceStatus.SUSPENDED,
        ),
    ]
    reminder = reminder_for(
        commissioner_code=LEEDS, commissioner_name="Mayor of West Yorkshire", services=records, now=NOW
    )
    text = reminder.text
    assert text.startswith(
        "Signpost: 2 services commissioned by Mayor of West Yorkshire were last checked more than 183 days ago."
    )
    assert "- Leeds A [leeds-a]: last checked on 10 January 2025 (507 days ago)" in text
    assert "- Leeds B [leeds-b] (suspended): last checked on 2 November 2025 (211 days ago)" in text
    assert "/verify ID" in text and "In the web console" in text
    assert "<" not in text  # plain text: safe to send without a parse mode
    one = reminder_for(commissioner_code=LEEDS, commissioner_name="X", services=records[:1], now=NOW)
    assert "1 service commissioned by X was last checked" in one.text and one.subject == "1 service to check for X"


def test_a_long_reminder_lists_the_first_and_counts_the_rest() -> None:
    records = [
        area_service("E08000035", service_id=f"s{n:03d}", verified_on=date(2025, 1, 1)) for n in range(MAX_LISTED + 7)
    ]
    reminder = reminder_for(commissioner_code=LEEDS, commissioner_name="X", services=records, now=NOW)
    assert reminder.text.count("\n- Test service s") == MAX_LISTED
    assert "- and 7 more: /myservices lists them all" in reminder.text
    assert len(reminder.service_ids) == MAX_LISTED + 7
