"""The migrations build exactly the schema that models.py describes, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

from services_db import models  # noqa: F401


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
