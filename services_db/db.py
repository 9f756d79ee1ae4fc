"""Engines, sessions and schema migrations for SQLite (embedded default) and PostgreSQL + PostGIS."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlmodel import Session

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"""^(down_revision|revision)\s*=\s*['"]?([\w-]+|None)['"]?""", re.M)


def restrict(path: Path, mode: int) -> None:
    """Set ``path``'s permission bits to ``mode`` if this user owns it (never fails: best effort on odd systems)."""
    try:
        stat = path.stat()
        if getattr(os, "getuid", None) is not None and stat.st_uid != os.getuid():
            return
        if stat.st_mode & 0o777 != mode:
            path.chmod(mode)
    except OSError:
        return


def private_sqlite_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (0600; a folder created for it 0700).

    The file holds staff accounts, hashed sign-in secrets and the audit trail. SQLite gives its -wal and -shm
    files the database file's permissions. A folder that already exists is left alone here (it may be the
    working directory); the data directory itself is made private by the composition root.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            restrict(file, 0o600)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine; SQLite gets foreign keys on and a busy timeout so that writers queue, not fail."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            private_sqlite_file(Path(url.removeprefix("sqlite:///")))
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if url != "sqlite:///:memory:":
                # Readers never wait for the writer, and a commit is one append, not a journal rewrite + sync.
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # The bot keeps a connection per turn whose reply is on its way (its transaction committed once the reply's
    # first request is written): room for its store threads and the turns in flight.
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=30)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


MIGRATION_LOCK = 0x5167_6E70_6F73_7401  # PostgreSQL advisory lock key: "Signpost" migrations


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (all migrations by default). Safe to call on every start.

    Runs under a database lock held to the end of the transaction (PostgreSQL: an advisory lock; SQLite: an
    exclusive transaction), so two workers starting at once migrate one after the other: the second finds the
    schema current and does nothing.
    """
    if revision == "head" and schema_is_current(engine):
        return  # nothing to do: alembic (a third of a second to import) is not needed
    from alembic import command

    with engine.begin() as connection:
        if is_postgresql(engine):
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        elif engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN EXCLUSIVE")
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@cache
def head_revision() -> str | None:
    """The newest migration: the one revision no other names as its ``down_revision`` (read from the files)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_REVISION.findall(path.read_text(encoding="utf-8")))
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision", "None"))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None  # several heads: let alembic say what is wrong


def schema_is_current(engine: Engine) -> bool:
    """Whether the database is at the newest migration (read from ``alembic_version``, without alembic)."""
    head = head_revision()
    return head is not None and _current_revision(engine) == head


def _current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # a new database: no version table yet
        return None
    return rows[0][0] if len(rows) == 1 else None


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    from sqlmodel import Session  # the ORM loads only for commands that write (reads can do without it)

    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
