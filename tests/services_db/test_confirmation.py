"""Unconfirmed entries and structured eligibility through every path: the record, validation, the three file
formats, storage on SQLite and PostgreSQL, the diff and the audit trail."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from mapping.areas import AreaRegistry
from mapping.types import Confirmation, ServiceRecord
from services_db import repository
from services_db.convert import LATER_FIELD_DEFAULTS, content_hash, record_from_dict, record_to_dict
from services_db.diff import RemovalScope, canonical, diff_directory
from services_db.formats import FileFormat, read_services, write_services
from services_db.importer import apply_import, locator_place_check, plan_import
from services_db.validation import RawService, ValidationContext, validate_services
from tests.services_db.bad_files import GOOD_ROW
from tests.services_db.factories import area_service, make_service

SUFFIX = {FileFormat.CSV: "csv", FileFormat.GEOJSON: "geojson", FileFormat.ORUK: "json"}


@pytest.fixture(scope="module")
def context() -> ValidationContext:
    registry = AreaRegistry.default()
    return ValidationContext(
        is_known_area=registry.is_known,
        commissioner_codes=frozenset({c.code for c in registry.commissioners()} | {"national"}),
        local_strand_keys=frozenset({"alternative_subculture"}),
        place_check=locator_place_check(),
        today=date(2026, 1, 1),
    )


def _validate(context: ValidationContext, row: dict[str, Any]) -> Any:
    return validate_services([RawService(row=2, fields={**GOOD_ROW, **row})], file="test.csv", context=context)


def _messages(result: Any, field: str) -> list[str]:
    return [p.message for p in result.problems if p.field == field]


def _unconfirmed(service_id: str = "test-unconfirmed", **overrides: Any) -> ServiceRecord:
    values: dict[str, Any] = {
        "confirmation": Confirmation.UNCONFIRMED,
        "verified_on": None,
        "page_date": date(2025, 6, 1),
        "communities": ("gypsy_roma_traveller",),
        "min_age": 16,
        "max_age": 25,
        "residents_only": True,
        "commissioner_code": "pcc-E23000010",
        **overrides,
    }
    return area_service("E08000035", service_id=service_id, **values)


def test_a_confirmed_record_needs_a_check_date() -> None:
    with pytest.raises(ValueError, match="no verified_on"):
        make_service(verified_on=None)
    assert _unconfirmed().verified_on is None


def test_the_record_refuses_unknown_communities_and_upside_down_ages() -> None:
    with pytest.raises(ValueError, match="unknown communities"):
        make_service(communities=("travellers",))
    with pytest.raises(ValueError, match="min_age"):
        make_service(min_age=30, max_age=20)


def test_validation_refuses_a_confirmed_row_without_verified_on(context: ValidationContext) -> None:
    result = _validate(context, {"verified_on": ""})
    assert not result.ok
    assert any("unconfirmed" in m for m in _messages(result, "verified_on"))
    blank_confirmation = _validate(context, {"verified_on": "", "confirmation": "confirmed"})
    assert _messages(blank_confirmation, "verified_on")


def test_validation_accepts_an_unconfirmed_row_without_verified_on(context: ValidationContext) -> None:
    result = _validate(context, {"verified_on": "", "confirmation": "unconfirmed", "page_date": "01/06/2025"})
    assert result.ok, [str(p) for p in result.problems]
    record = result.records[0]
    assert record.confirmation is Confirmation.UNCONFIRMED and record.verified_on is None
    assert record.page_date == date(2025, 6, 1)


def test_an_unconfirmed_row_with_a_check_date_is_a_warning(context: ValidationContext) -> None:
    result = _validate(context, {"confirmation": "unconfirmed"})
    assert result.ok and [w.field for w in result.warnings] == ["confirmation"]


def test_validation_of_eligibility_fields(context: ValidationContext) -> None:
    good = _validate(context, {"communities": "Gypsy Roma Traveller; jewish", "min_age": "16", "residents_only": "Yes"})
    assert good.ok, [str(p) for p in good.problems]
    record = good.records[0]
    assert record.communities == ("gypsy_roma_traveller", "jewish")
    assert (record.min_age, record.max_age, record.residents_only) == (16, None, True)
    bad = _validate(
        context,
        {
            "communities": "travellers",
            "min_age": "12.5",
            "max_age": "300",
            "residents_only": "sometimes",
            "confirmation": "maybe",
            "page_date": "2027-01-01",
        },
    )
    fields = {p.field for p in bad.problems}
    assert {"communities", "min_age", "max_age", "residents_only", "confirmation", "page_date"} <= fields
    assert "gypsy_roma_traveller" in _messages(bad, "communities")[0]
    upside_down = _validate(context, {"min_age": "30", "max_age": "18"})
    assert "swap" in _messages(upside_down, "max_age")[0]


@pytest.mark.parametrize("fmt", list(FileFormat))
def test_every_format_carries_the_new_fields(fmt: FileFormat, context: ValidationContext) -> None:
    records = [make_service("test-confirmed", page_date=date(2025, 1, 2)), _unconfirmed()]
    text = write_services(records, fmt)
    parsed = read_services(text.encode(), name=f"x.{SUFFIX[fmt]}", fmt=fmt)
    assert not parsed.problems
    result = validate_services(parsed.services, file="x", context=context)
    assert result.ok, [str(p) for p in result.problems]
    assert [canonical(r) for r in result.records] == [canonical(r) for r in records]


def test_open_referral_uk_ages_come_from_its_standard_eligibility_field() -> None:
    text = write_services([_unconfirmed()], FileFormat.ORUK)
    service = json.loads(text)["content"][0]
    assert service["eligibilitys"][0]["minimum_age"] == 16 and service["assured_date"] is None
    del service["x_signpost"]
    parsed = read_services(json.dumps([service]).encode(), name="feed.json", fmt=FileFormat.ORUK)
    assert (parsed.services[0].fields["min_age"], parsed.services[0].fields["max_age"]) == (16, 25)


def test_hashes_of_records_without_the_new_fields_did_not_change() -> None:
    """A database seeded before these fields existed still sees its seeded rows as untouched."""
    record = make_service("test-old")
    old_shape = {
        k: v
        for k, v in record_to_dict(record).items()
        if k not in ("version", "updated_at") and k not in LATER_FIELD_DEFAULTS
    }
    old_hash = hashlib.sha256(json.dumps(old_shape, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert content_hash(record) == old_hash
    assert content_hash(replace(record, communities=("jewish",))) != old_hash


def test_the_plain_form_round_trips_and_reads_old_audit_entries() -> None:
    record = _unconfirmed()
    assert record_from_dict(record_to_dict(record)) == record
    old = {k: v for k, v in record_to_dict(make_service("test-x")).items() if k not in LATER_FIELD_DEFAULTS}
    assert record_from_dict(old).confirmation is Confirmation.CONFIRMED


def test_the_diff_names_the_new_fields() -> None:
    before = _unconfirmed()
    after = replace(before, confirmation=Confirmation.CONFIRMED, verified_on=date(2026, 1, 1), communities=())
    changes = diff_directory([before], [after], scope=RemovalScope())
    columns = {f.column for f in changes.changed[0].fields}
    assert {"confirmation", "verified_on", "communities"} <= columns


def test_storage_keeps_every_new_field_and_audits_a_correction(session: Session, tmp_path: Path) -> None:
    repository.upsert_commissioners(session=session, commissioners=AreaRegistry.default().commissioners())
    record = _unconfirmed()
    stored = repository.create_service(session=session, record=record, actor="test")
    assert replace(stored, updated_at=None, version=1) == record
    loaded = repository.get_service(session=session, service_id=record.id)
    assert loaded == stored
    corrected = replace(record, confirmation=Confirmation.CONFIRMED, verified_on=date(2026, 1, 1), max_age=None)
    path = tmp_path / "correction.csv"
    path.write_text(write_services([corrected], FileFormat.CSV), encoding="utf-8")
    plan = plan_import(session=session, path=path)
    assert plan.ok, [str(p) for p in plan.problems]
    apply_import(session=session, plan=plan, actor="editor")
    entries = repository.history(session=session, service_id=record.id)
    assert [e.action for e in entries] == ["create", "update"]
    assert entries[-1].before is not None and entries[-1].before.confirmation is Confirmation.UNCONFIRMED
    assert entries[-1].after is not None and entries[-1].after.verified_on == date(2026, 1, 1)
    assert {"confirmation", "verified_on", "max_age"} <= set(entries[-1].changed_fields)
