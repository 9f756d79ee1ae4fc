"""Reading the directory without the ORM (services_db.reading): the same records as the repository, on SQLite
and PostgreSQL, a Core table that cannot drift from models.Service, and the check that lets a read skip the
migration and the seed only when neither would change anything."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from mapping.types import ChannelKind, Confirmation, ServiceStatus
from services_db import reading
from services_db import repository as repo
from services_db.convert import record_to_dict
from services_db.db import make_engine, migrate
from services_db.models import Service
from services_db.seed import NationalDirectory, load_shipped_directory, seed
from tests.services_db.factories import make_service

# Columns of models.Service that no ServiceRecord is made from: the Core table leaves them out on purpose.
NOT_READ = {"geometry_wkb", "min_lon", "min_lat", "max_lon", "max_lat", "coverage_type", "updated_by"}
SHIPPED = load_shipped_directory()


def test_the_core_table_is_the_models_service_table_less_what_records_do_not_carry() -> None:
    orm = Service.__table__.columns  # type: ignore[attr-defined]
    assert {c.name for c in reading.SERVICE.columns} == {c.name for c in orm} - NOT_READ
    for column in reading.SERVICE.columns:
        model = orm[column.name]
        for dialect in (sqlite.dialect(), postgresql.dialect()):
            assert column.type.compile(dialect=dialect) == model.type.compile(dialect=dialect), column.name
        assert (column.nullable, column.primary_key) == (model.nullable, model.primary_key), column.name


@pytest.fixture
def seeded(engine: Engine) -> Iterator[Engine]:
    """The shipped directory, seeded, plus one user service edited twice (a later version, a user's time)."""
    with Session(engine, expire_on_commit=False) as session:
        seed(session=session, now=datetime(2025, 3, 1, 9, 30, tzinfo=UTC))
        made = repo.create_service(session=session, record=make_service("test-user"), actor="editor")
        repo.update_service(
            session=session,
            record=replace(made, description="Changed by a person", min_age=16),
            actor="editor",
            expected_version=1,
        )
    yield engine


def test_reads_give_the_repositorys_records_for_every_service(seeded: Engine) -> None:
    with Session(seeded, expire_on_commit=False) as session:
        ids = [s.id for s in SHIPPED.services] + ["test-user"]
        expected = {i: repo.get_service(session=session, service_id=i) for i in ids}
    # Every kind of field is among them: hours, several phones, strands, unconfirmed entries, Welsh text.
    records = [r for r in expected.values() if r is not None]
    assert len(records) == len(ids)
    assert any(r.hours.to_text() for r in records) and any(r.strands for r in records)
    assert any(sum(c.kind is ChannelKind.PHONE for c in r.channels) > 1 for r in records)
    assert any(r.confirmation is Confirmation.UNCONFIRMED for r in records)
    assert any("cy" in r.translations for r in records) and any(r.caveat for r in records)
    with seeded.connect() as connection:
        if seeded.dialect.name == "postgresql":  # times come back in the session's zone: still printed as UTC
            connection.execute(text("SET TIME ZONE 'Asia/Tokyo'"))
        for service_id, record in expected.items():
            read = reading.get_service(connection=connection, service_id=service_id)
            assert read == record and read is not None and record is not None
            assert record_to_dict(read) == record_to_dict(record), service_id
        listed = reading.list_services(connection=connection)
        assert reading.get_service(connection=connection, service_id="nope") is None
    assert [record_to_dict(r) for r in listed] == [record_to_dict(expected[i]) for i in sorted(ids)]  # type: ignore[arg-type]


def test_lists_filter_as_the_repository_does(seeded: Engine) -> None:
    from mapping.types import ServiceKind

    with Session(seeded, expire_on_commit=False) as session:
        repo.close_service(session=session, service_id="test-user", actor="editor")
    with seeded.connect() as connection:
        closed = reading.list_services(connection=connection, status=ServiceStatus.CLOSED)
        helplines = reading.list_services(connection=connection, kinds=[ServiceKind.HELPLINE])
        national = reading.list_services(connection=connection, commissioner_code="national")
    assert [r.id for r in closed] == ["test-user"]
    assert helplines and {r.kind for r in helplines} == {ServiceKind.HELPLINE}
    assert national and {r.commissioner_code for r in national} == {"national"}


# --- when a read may skip the migration and the seed ------------------------------------------------------


def test_a_seeded_directory_at_the_newest_schema_is_current(seeded: Engine) -> None:
    assert reading.directory_is_current(seeded)


def test_a_brand_new_directory_is_not_current_until_seeded(engine: Engine) -> None:
    assert not reading.directory_is_current(engine)  # migrated but empty: the first start seeds it
    with Session(engine, expire_on_commit=False) as session:
        seed(session=session)
    assert reading.directory_is_current(engine)


def test_a_directory_kept_without_the_shipped_entries_is_current(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        repo.create_service(session=session, record=make_service("test-own"), actor="editor")
    assert reading.directory_is_current(engine)  # used, never seeded: nothing would be applied


def test_shipped_changes_not_yet_applied_make_it_not_current(seeded: Engine) -> None:
    galop = Service.__table__.c.id == "galop"  # type: ignore[attr-defined]
    with seeded.begin() as connection:
        connection.execute(update(Service.__table__).where(galop).values(seed_hash="0" * 64))  # type: ignore[attr-defined]
    assert not reading.directory_is_current(seeded)


def test_a_seeded_entry_no_longer_shipped_and_still_open_makes_it_not_current(seeded: Engine) -> None:
    retired = make_service("test-no-longer-shipped")
    with Session(seeded, expire_on_commit=False) as session:
        seed(session=session, directory=NationalDirectory(SHIPPED.commissioners, (*SHIPPED.services, retired)))
    assert not reading.directory_is_current(seeded)  # the next start closes it
    with Session(seeded, expire_on_commit=False) as session:
        seed(session=session)
    assert reading.directory_is_current(seeded)


def test_an_older_schema_is_not_current(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    migrate(engine, "0009")
    assert not reading.directory_is_current(engine)
    engine.dispose()
