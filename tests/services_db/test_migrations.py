"""The migrations build exactly the schema that models.py describes, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel, select

from mapping.types import Confirmation
from services_db import models  # noqa: F401
from services_db.db import make_engine, migrate
from services_db.models import ServiceArea
from services_db.repository import get_service
from tests.conftest import PG_ADMIN_URL


def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        diff = compare_metadata(context, SQLModel.metadata)
    # PostGIS adds its own tables and our generated geom columns; they are not in the models on purpose.
    diff = [d for d in diff if not _postgis_only(d)]
    assert diff == [], f"models.py and the migrations differ: {diff}"


def _postgis_only(entry: object) -> bool:
    text = repr(entry)
    return "spatial_ref_sys" in text or "'geom'" in text or "ix_service_geom" in text or "ix_area_boundary_geom" in text


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine_at_0004(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A brand-new database migrated only up to 0004 (before unconfirmed entries)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
        migrate(eng, "0004")
        yield eng
        eng.dispose()
        return
    admin = make_engine(PG_ADMIN_URL)
    name = f"signpost_mig_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the same rule as the shared engine fixture
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    eng = make_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    migrate(eng, "0004")
    yield eng
    eng.dispose()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrading_keeps_existing_services_and_their_area_codes(engine_at_0004: Engine) -> None:
    with engine_at_0004.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO service (id, name, organisation, kind, description, strands, local_strands, channels,"
                " languages, hours, eligibility, coverage, status, source_url, verified_on, caveat, coverage_type,"
                " origin, updated_at, updated_by, version) VALUES ('leeds-centre', 'Leeds centre', '',"
                " 'third_party_reporting', '', '[]', '[]', '[]', '[]', '{}', '',"
                ' \'{"type": "areas", "area_codes": ["E08000035"]}\', \'active\', \'https://leeds.gov.uk/x\','
                " '2025-01-06', '', 'areas', 'user', '2025-01-06 10:00:00', 'test', 1)"
            )
        )
        conn.execute(text("INSERT INTO service_area (service_id, area_code) VALUES ('leeds-centre', 'E08000035')"))
    migrate(engine_at_0004)
    with Session(engine_at_0004) as session:
        record = get_service(session=session, service_id="leeds-centre")
        areas = session.exec(select(ServiceArea.area_code).where(ServiceArea.service_id == "leeds-centre")).all()
    assert record is not None
    assert record.confirmation is Confirmation.CONFIRMED and record.verified_on == date(2025, 1, 6)
    assert record.communities == () and record.residents_only is False and record.min_age is None
    assert list(areas) == ["E08000035"]
    with engine_at_0004.begin() as conn:  # verified_on may now be empty (an unconfirmed entry)
        conn.execute(text("UPDATE service SET verified_on = NULL, confirmation = 'unconfirmed'"))
    with Session(engine_at_0004) as session:
        unconfirmed = get_service(session=session, service_id="leeds-centre")
    assert unconfirmed is not None and unconfirmed.verified_on is None
    assert unconfirmed.confirmation is Confirmation.UNCONFIRMED
