"""Every change is audited with who, when and the full record before and after; any version can be restored."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from mapping.types import CommissionerKind, RadiusCoverage, ServiceStatus
from services_db import repository as repo
from services_db.convert import record_from_dict, record_to_dict
from services_db.models import AuditEntry
from services_db.models import Commissioner as CommissionerRow
from tests.services_db.factories import area_service, make_commissioner, make_service, phone, with_changes

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_each_change_writes_one_entry_with_full_before_and_after(session: Session) -> None:
    created = repo.create_service(session=session, record=make_service("svc"), actor="alice", now=at(0))
    edited = repo.update_service(
        session=session,
        record=with_changes(created, channels=(phone("020 7946 0999"),), name="New name"),
        actor="bob",
        expected_version=1,
        now=at(5),
    )
    closed = repo.close_service(session=session, service_id="svc", actor="carol", now=at(9))
    entries = repo.history(session=session, service_id="svc")
    assert [(e.action, e.actor, e.version, e.at) for e in entries] == [
        ("create", "alice", 1, at(0)),
        ("update", "bob", 2, at(5)),
        ("close", "carol", 3, at(9)),
    ]
    assert entries[0].before is None and entries[0].after == created
    assert entries[1].before == created and entries[1].after == edited
    assert entries[2].before == edited and entries[2].after == closed
    assert entries[1].changed_fields == ("name", "channels")
    assert entries[2].changed_fields == ("status",)


def test_audit_rows_hold_plain_json_records(session: Session) -> None:
    created = repo.create_service(session=session, record=area_service("E08000035", service_id="svc"), actor="a")
    entry = session.exec(select(AuditEntry).where(AuditEntry.service_id == "svc")).one()
    assert entry.before is None
    assert entry.after == record_to_dict(created)
    assert record_from_dict(entry.after) == created


def test_unchanged_writes_leave_no_entry(session: Session) -> None:
    created = repo.create_service(session=session, record=make_service("svc"), actor="a")
    repo.apply_changes(session=session, upserts=[created], removals=[], actor="importer")
    repo.close_service(session=session, service_id="svc", actor="a")
    repo.close_service(session=session, service_id="svc", actor="a")  # already closed
    assert [e.action for e in repo.history(session=session, service_id="svc")] == ["create", "close"]


def test_verification_is_audited_even_on_the_same_date(session: Session) -> None:
    repo.create_service(session=session, record=make_service("svc"), actor="a")
    repo.set_verified(session=session, service_id="svc", on=date(2025, 3, 1), actor="pcc-team")
    entries = repo.history(session=session, service_id="svc")
    assert [(e.action, e.actor, e.version) for e in entries][-1] == ("verify", "pcc-team", 2)


def test_restore_brings_back_an_earlier_version_as_a_new_version(session: Session) -> None:
    v1 = repo.create_service(session=session, record=make_service("svc", name="First"), actor="a", now=at(0))
    v2 = repo.update_service(
        session=session,
        record=with_changes(v1, name="Second", coverage=RadiusCoverage(53.8, -1.5, 2000)),
        actor="b",
        expected_version=1,
        now=at(1),
    )
    restored = repo.restore(session=session, service_id="svc", version=1, actor="c", now=at(2))
    assert restored == replace(v1, version=3, updated_at=at(2))
    last = repo.history(session=session, service_id="svc")[-1]
    assert (last.action, last.actor, last.detail) == ("restore", "c", "restored version 1")
    assert last.before == v2 and last.after == restored
    # the same restore again (an old button) changes nothing and writes no version
    entries = len(repo.history(session=session, service_id="svc"))
    same = repo.restore(session=session, service_id="svc", version=1, actor="c", now=at(2))
    assert same.version == 3 and len(repo.history(session=session, service_id="svc")) == entries
    # restoring the restored version's own source again is still a recorded change of version
    again = repo.restore(session=session, service_id="svc", version=2, actor="c", now=at(3))
    assert (again.name, again.version) == ("Second", 4)


def test_restore_after_delete_recreates_the_service(session: Session) -> None:
    v1 = repo.create_service(session=session, record=make_service("svc"), actor="a", now=at(0))
    repo.delete_service(session=session, service_id="svc", actor="b", now=at(1))
    assert repo.get_service(session=session, service_id="svc") is None
    history = repo.history(session=session, service_id="svc")
    assert [(e.action, e.version) for e in history] == [("create", 1), ("delete", 2)]
    assert history[-1].before == v1 and history[-1].after is None
    back = repo.restore(session=session, service_id="svc", version=1, actor="c", now=at(2))
    assert back == replace(v1, version=3, updated_at=at(2))
    assert repo.get_service(session=session, service_id="svc") == back


def test_restore_of_a_version_never_recorded_names_the_choices(session: Session) -> None:
    v1 = repo.create_service(session=session, record=make_service("svc"), actor="a")
    repo.update_service(session=session, record=with_changes(v1, name="B"), actor="a", expected_version=1)
    with pytest.raises(repo.VersionNotFound, match="versions you can restore: 1, 2"):
        repo.restore(session=session, service_id="svc", version=9, actor="a")
    with pytest.raises(repo.VersionNotFound, match="none"):
        repo.restore(session=session, service_id="other", version=1, actor="a")


def test_restore_refuses_a_version_whose_commissioner_is_gone(session: Session) -> None:
    repo.upsert_commissioners(
        session=session, commissioners=[make_commissioner("old-pcc", "Old PCC", kind=CommissionerKind.PCC)]
    )
    v1 = repo.create_service(session=session, record=make_service("svc", commissioner_code="old-pcc"), actor="a")
    repo.update_service(session=session, record=with_changes(v1, commissioner_code=None), actor="a", expected_version=1)
    session.delete(session.get(CommissionerRow, "old-pcc"))
    session.commit()
    with pytest.raises(repo.UnknownCommissioner):
        repo.restore(session=session, service_id="svc", version=1, actor="a")
    assert repo.get_service(session=session, service_id="svc").version == 2  # type: ignore[union-attr]


def test_history_of_an_unknown_id_is_empty(session: Session) -> None:
    assert repo.history(session=session, service_id="nobody") == []


def test_apply_changes_audits_each_changed_service_with_the_importer_as_actor(session: Session) -> None:
    repo.create_service(session=session, record=make_service("a"), actor="t")
    repo.apply_changes(
        session=session, upserts=[make_service("b"), make_service("c")], removals=["a"], actor="import:leeds.csv"
    )
    entries = session.exec(select(AuditEntry).where(AuditEntry.actor == "import:leeds.csv")).all()
    assert sorted((e.service_id, e.action) for e in entries) == [("a", "close"), ("b", "create"), ("c", "create")]
    closed = repo.history(session=session, service_id="a")[-1]
    assert closed.before is not None and closed.before.status is ServiceStatus.ACTIVE
    assert closed.after is not None and closed.after.status is ServiceStatus.CLOSED
