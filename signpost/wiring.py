"""Composition root: builds settings, database and indexes, and hands them to what needs them. No logic."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine

from services_db.db import make_engine, migrate
from signpost.config import Settings


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()


def database(config: Settings | None = None) -> Engine:
    """The configured database, migrated to the current schema."""
    config = config or settings()
    engine = make_engine(config.effective_database_url)
    migrate(engine)
    return engine
