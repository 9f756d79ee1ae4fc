"""Shared fixtures: a database engine parametrized over SQLite and PostgreSQL, and the shared ONS data.

PostgreSQL: ``SIGNPOST_TEST_POSTGRES_URL`` (default: the local server, trust auth) is the admin URL; one
scratch database is created and migrated per test session, and emptied before each test. Where no server
answers, PostgreSQL tests skip with the reason, unless ``SIGNPOST_REQUIRE_POSTGRES=1`` (as in CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel

from services_db.db import make_engine, migrate
from signpost import wiring

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("SIGNPOST_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("SIGNPOST_REQUIRE_POSTGRES") == "1"
GEOGRAPHY_DIR = Path(os.environ.get("SIGNPOST_SHARED_GEOGRAPHY", ROOT.parent / "shared" / "data" / "geography"))


@pytest.fixture(scope="session")
def geography_dir() -> Path:
    """The real ONS files in ../shared/data/geography (tests, benchmarks and CI only)."""
    if not (GEOGRAPHY_DIR / "pfa_dec2023_buc.geojson").exists():
        pytest.skip(f"real ONS geography not found at {GEOGRAPHY_DIR} (set SIGNPOST_SHARED_GEOGRAPHY)")
    return GEOGRAPHY_DIR


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _postgres_database() -> Iterator[str]:
    admin = make_engine(PG_ADMIN_URL)
    name = f"signpost_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required but not reachable at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL} (set SIGNPOST_TEST_POSTGRES_URL): {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    yield url
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _empty_postgres(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        exists = conn.execute(text("SELECT to_regclass('apscheduler_jobs')")).scalar()
        if exists:
            conn.execute(text("TRUNCATE apscheduler_jobs"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: the same test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "signpost.sqlite3"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        eng = make_engine(f"sqlite:///{path}")
    else:
        eng = make_engine(request.getfixturevalue("_postgres_database"))
        _empty_postgres(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path, _sqlite_template: Path) -> Iterator[Engine]:
    """SQLite only, for tests that are about the embedded default rather than storage parity."""
    path = tmp_path / "signpost.sqlite3"
    shutil.copyfile(_sqlite_template, path)
    eng = make_engine(f"sqlite:///{path}")
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh embedded data directory for `signpost ...` commands (SQLite; settings read anew; wide output)."""
    monkeypatch.setenv("SIGNPOST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SIGNPOST_TOKEN", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    wiring.settings.cache_clear()
    yield tmp_path / "data"
    wiring.settings.cache_clear()


@pytest.fixture
def cli_database(engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Engine]:
    """The test database (SQLite or PostgreSQL) as the one `signpost ...` commands open."""
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("SIGNPOST_DATA_DIR", str(tmp_path / "data"))
    wiring.settings.cache_clear()
    yield engine
    wiring.settings.cache_clear()
