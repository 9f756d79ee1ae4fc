"""Reading the directory with SQLAlchemy Core alone, for commands that only read (``signpost services show``).

Building the ORM models (sqlmodel, pydantic, twenty table classes) costs a command more than its own work, so
a read-only command asks :func:`directory_is_current` whether the database needs a migration or the shipped
directory applied; when it needs neither (the usual case) it reads rows here, through :data:`SERVICE`, a Core
declaration of the columns a ``ServiceRecord`` is made from. ``tests/services_db/test_reading.py`` keeps it
equal to ``models.Service`` and the records equal to the repository's.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    select,
    text,
)

from mapping.types import ServiceKind, ServiceRecord, ServiceStatus
from services_db.convert import row_to_record
from services_db.db import schema_is_current
from services_db.shipped import SEED_ORIGIN, shipped_changed, shipped_hashes

__all__ = [
    "SERVICE",
    "directory_in_use",
    "directory_is_current",
    "get_service",
    "list_services",
    "seeded_rows",
]

# The service table's columns that records are read from (models.Service has these and the stored geometry,
# its bounding box, coverage_type and updated_by, which no ServiceRecord carries). Types as the ORM's: sqlmodel's
# AutoString is a String, its UTCDateTime a DateTime with time zone (row_to_record makes the value UTC).
SERVICE = Table(
    "service",
    MetaData(),
    Column("id", String(80), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("organisation", String(200), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("description", String(), nullable=False),
    Column("strands", JSON, nullable=False),
    Column("local_strands", JSON, nullable=False),
    Column("commissioner_code", String(), nullable=True),
    Column("channels", JSON, nullable=False),
    Column("languages", JSON, nullable=False),
    Column("hours", JSON, nullable=False),
    Column("eligibility", String(), nullable=False),
    Column("coverage", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("source_url", String(500), nullable=False),
    Column("verified_on", Date, nullable=True),
    Column("caveat", String(), nullable=False),
    Column("translations", JSON, nullable=False),
    Column("confirmation", String(16), nullable=False),
    Column("page_date", Date, nullable=True),
    Column("communities", JSON, nullable=False),
    Column("min_age", Integer, nullable=True),
    Column("max_age", Integer, nullable=True),
    Column("residents_only", Boolean, nullable=False),
    Column("origin", String(16), nullable=False),
    Column("seed_hash", String(64), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
)


def get_service(*, connection: Connection, service_id: str) -> ServiceRecord | None:
    """The service with ``service_id``, or ``None`` (as ``repository.get_service``)."""
    row = connection.execute(select(SERVICE).where(SERVICE.c.id == service_id)).first()
    return row_to_record(row) if row is not None else None


def list_services(
    *,
    connection: Connection,
    status: ServiceStatus | None = None,
    kinds: Collection[ServiceKind] | None = None,
    commissioner_code: str | None = None,
) -> list[ServiceRecord]:
    """Services in the directory, ordered by id (``repository.list_services`` reads through this)."""
    query = select(SERVICE)
    if status is not None:
        query = query.where(SERVICE.c.status == ServiceStatus(status).value)
    if kinds:
        query = query.where(SERVICE.c.kind.in_([ServiceKind(k).value for k in kinds]))
    if commissioner_code is not None:
        query = query.where(SERVICE.c.commissioner_code == commissioner_code)
    return [row_to_record(row) for row in connection.execute(query.order_by(SERVICE.c.id))]


def directory_in_use(*, connection: Connection) -> bool:
    """Whether the directory was ever used (it has services or history): a directory that was not is seeded."""
    used = "SELECT EXISTS (SELECT 1 FROM service) OR EXISTS (SELECT 1 FROM audit_entry)"
    return bool(connection.execute(text(used)).scalar())


def seeded_rows(*, connection: Connection) -> list[tuple[str, str | None, str]]:
    """``(id, seed_hash, status)`` of every row the shipped directory seeded."""
    query = select(SERVICE.c.id, SERVICE.c.seed_hash, SERVICE.c.status).where(SERVICE.c.origin == SEED_ORIGIN)
    return [(row.id, row.seed_hash, row.status) for row in connection.execute(query)]


def directory_is_current(engine: Engine) -> bool:
    """Whether the database needs neither a migration nor the shipped directory applied, which is what
    ``signpost.wiring.database`` checks (with the ORM) on every start: then a read can skip both."""
    if not schema_is_current(engine):
        return False
    with engine.connect() as connection:
        if not directory_in_use(connection=connection):
            return False  # brand-new: to be seeded
        return not shipped_changed(seeded_rows(connection=connection), shipped_hashes())
