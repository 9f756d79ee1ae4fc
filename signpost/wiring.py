"""Composition root: builds settings, database and indexes, and hands them to what needs them. No logic."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine
from sqlmodel import Session

from services_db.db import make_engine, migrate
from services_db.seed import seed_if_new
from signpost.config import Settings


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()


def database(config: Settings | None = None, *, seed_new: bool = True) -> Engine:
    """The configured database, migrated to the current schema; a brand-new one is seeded with the national
    directory (``seed_new=False`` leaves it empty)."""
    config = config or settings()
    engine = make_engine(config.effective_database_url)
    migrate(engine)
    if seed_new:
        with Session(engine, expire_on_commit=False) as session:
            seed_if_new(session=session)
    return engine
