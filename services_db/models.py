"""SQLModel tables: the services directory, its audit trail, and the tables other packages keep.

One module holds every table so that the migrations have one source to be checked against
(``tests/services_db/test_migrations.py`` compares them). Complex parts of a service (channels, hours,
coverage spec) are JSON; what is queried (kind, status, commissioner, area codes, bounding box) is a column.
On PostgreSQL a migration adds a PostGIS ``geom`` column generated from ``geometry_wkb`` with a GiST index.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary
from sqlmodel import Field, SQLModel


class Commissioner(SQLModel, table=True):
    """A commissioning body (PCC, mayor, MOPAC, Common Council, Welsh Government, national)."""

    __tablename__ = "commissioner"

    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    pfa_code: str | None = Field(default=None, max_length=9, index=True)


class ServiceBase(SQLModel):
    name: str = Field(max_length=200)
    organisation: str = Field(default="", max_length=200)
    kind: str = Field(max_length=40, index=True)
    description: str = Field(default="")
    strands: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    local_strands: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    commissioner_code: str | None = Field(default=None, foreign_key="commissioner.code", index=True)
    channels: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    hours: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    eligibility: str = Field(default="")
    coverage: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="active", max_length=16, index=True)
    source_url: str = Field(max_length=500)
    verified_on: date | None = None  # None only for unconfirmed entries (gathered from a public page)
    caveat: str = Field(default="")
    # Welsh and Easy Read text by language (mapping.types.TRANSLATION_FIELDS), migration 0005
    translations: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    confirmation: str = Field(default="confirmed", max_length=16, index=True)
    page_date: date | None = None
    communities: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    min_age: int | None = None
    max_age: int | None = None
    residents_only: bool = Field(default=False)


class Service(ServiceBase, table=True):
    """A row of the directory. ``geometry_wkb`` is the resolved coverage (WGS84) when it could be resolved."""

    __tablename__ = "service"

    id: str = Field(primary_key=True, max_length=80)
    coverage_type: str = Field(max_length=16, index=True)
    geometry_wkb: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    min_lon: float | None = None
    min_lat: float | None = None
    max_lon: float | None = None
    max_lat: float | None = None
    origin: str = Field(default="user", max_length=16)  # "seed" for the shipped national directory
    seed_hash: str | None = Field(default=None, max_length=64)
    updated_at: datetime
    updated_by: str = Field(default="", max_length=120)
    version: int = Field(default=1)


class ServiceArea(SQLModel, table=True):
    """Area codes a service's coverage names (PFA or LAD), for matching by codes without boundaries."""

    __tablename__ = "service_area"
    __table_args__ = (Index("ix_service_area_code", "area_code"),)

    service_id: str = Field(foreign_key="service.id", primary_key=True, ondelete="CASCADE")
    area_code: str = Field(primary_key=True, max_length=9)


class AuditEntry(SQLModel, table=True):
    """Who changed what, when: the full record before and after, so any version can be restored."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(max_length=120)
    action: str = Field(max_length=32, index=True)
    service_id: str | None = Field(default=None, max_length=80, index=True)
    version: int | None = None
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    detail: str = Field(default="")


class AreaBoundary(SQLModel, table=True):
    """An official boundary (PFA or LAD) loaded by ``signpost geography load``; one row per code and vintage."""

    __tablename__ = "area_boundary"

    code: str = Field(primary_key=True, max_length=9)
    level: str = Field(max_length=8, index=True)  # "pfa" or "lad"
    name: str = Field(max_length=200)
    vintage: str = Field(max_length=16)
    geometry_wkb: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    loaded_at: datetime


# --- the bot's enumerated conversation state and anonymous signposting counts (issue 4; migration 0002) ---


class ConversationRecord(SQLModel, table=True):
    """One chat's conversation state: ``Conversation.to_dict()`` only (enumerated values, area codes).

    ``chat_key`` is an HMAC of the Telegram chat id (bot/persistence.py), never the id itself; ``version``
    lets stateless workers detect a concurrent write and retry.
    """

    __tablename__ = "conversation_state"

    chat_key: str = Field(primary_key=True, max_length=64)
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    version: int = Field(default=1)
    updated_at: datetime
    expires_at: datetime = Field(index=True)
    # A guided note being written, sealed (AES-GCM) under a key derived from the chat id, which is not stored:
    # unreadable at rest, gone when the note is given back or abandoned, or after ``note_expires_at``.
    note: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    note_expires_at: datetime | None = None
    # The last few Telegram update ids this conversation took (numbers only): a redelivered update is not run twice.
    recent_updates: list[int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class ChatMessage(SQLModel, table=True):
    """The id of a message in a person's private chat with the bot (theirs or the bot's): numbers only, so that
    "Leave quickly" can delete the chat from their phone. Kept while the conversation is (``chat_key`` as in
    :class:`ConversationRecord`), deleted when they leave or forget."""

    __tablename__ = "chat_message"

    chat_key: str = Field(primary_key=True, max_length=64)
    message_id: int = Field(primary_key=True, sa_type=BigInteger)
    sent_at: datetime = Field(index=True)


class SignpostingCount(SQLModel, table=True):
    """Anonymous count of signpostings per ISO week, area codes, strand and outcome (no user, no text).

    Unknown area codes are stored as ``""``; ``strand`` is a Strand value, ``"unspecified"`` (none chosen)
    or ``"any"`` (every signposting once, whatever the strands).
    """

    __tablename__ = "signposting_count"

    week: str = Field(primary_key=True, max_length=8)
    lad_code: str = Field(primary_key=True, max_length=9)
    pfa_code: str = Field(primary_key=True, max_length=9)
    strand: str = Field(primary_key=True, max_length=32)
    outcome: str = Field(primary_key=True, max_length=16)
    count: int = Field(default=0)


# --- accounts, roles and API tokens for PCC teams, analysts and admins (issue 6; migration 0003) ---


class Account(SQLModel, table=True):
    """A member of staff: a PCC team editor (for one commissioner), an analyst or an admin.

    ``telegram_user_id`` is stored only for registered staff, who consent to it; never for victims.
    A revoked account keeps its row (audit entries name it) but can do nothing.
    """

    __tablename__ = "account"
    __table_args__ = (Index("ix_account_telegram_user_id", "telegram_user_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    role: str = Field(max_length=16, index=True)  # pcc_editor | analyst | admin
    commissioner_code: str | None = Field(default=None, foreign_key="commissioner.code", index=True)
    telegram_user_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime
    created_by: str = Field(default="", max_length=120)
    revoked_at: datetime | None = None


class ApiToken(SQLModel, table=True):
    """A command-line token: only its SHA-256 is stored; ``prefix`` names it in lists without revealing it."""

    __tablename__ = "api_token"
    __table_args__ = (Index("ix_api_token_token_hash", "token_hash", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    token_hash: str = Field(max_length=64)
    prefix: str = Field(max_length=16)
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class PendingUpload(SQLModel, table=True):
    """An upload previewed in the chat app, waiting for the editor's confirm (any bot worker can finish it).

    Holds the Telegram file id (the file is read again on confirm) and a digest of the previewed changes, so a
    directory that changed in between is noticed rather than overwritten.
    """

    __tablename__ = "pending_upload"

    id: str = Field(primary_key=True, max_length=32)
    account_id: int = Field(foreign_key="account.id", index=True)
    file_id: str = Field(max_length=256)
    file_name: str = Field(max_length=255)
    digest: str = Field(max_length=64)
    created_at: datetime
    expires_at: datetime = Field(index=True)


class WebSignIn(SQLModel, table=True):
    """A one-time sign-in code for the web console, sent on Telegram or handed out by an admin.

    Only its SHA-256 is stored; it lasts minutes and works once (``used_at``).
    """

    __tablename__ = "web_sign_in"

    code_hash: str = Field(primary_key=True, max_length=64)
    account_id: int = Field(foreign_key="account.id", index=True)
    created_at: datetime
    expires_at: datetime = Field(index=True)
    used_at: datetime | None = None


class WebSession(SQLModel, table=True):
    """A signed-in web console session: the cookie's SHA-256, a short life, revocable."""

    __tablename__ = "web_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    account_id: int = Field(foreign_key="account.id", index=True)
    created_at: datetime
    expires_at: datetime = Field(index=True)
    revoked_at: datetime | None = None


# --- scheduled jobs: runs, leases, outbox, coverage snapshots (issue 7; migration 0004) ---


class JobRun(SQLModel, table=True):
    """One run of a scheduled job: when, how it ended, what it counted (never personal data)."""

    __tablename__ = "job_run"

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(max_length=64, index=True)
    started_at: datetime = Field(index=True)
    finished_at: datetime | None = None
    outcome: str = Field(default="running", max_length=16)  # running | ok | failed | skipped
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str = Field(default="")
    runner: str = Field(default="", max_length=120)


class JobLease(SQLModel, table=True):
    """At most one process runs a job at a time: it holds the lease until ``expires_at``."""

    __tablename__ = "job_lease"

    job_id: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=120)
    expires_at: datetime


class OutboxMessage(SQLModel, table=True):
    """A message for staff (e.g. a staleness reminder) kept until it is delivered or read with ``signpost outbox``."""

    __tablename__ = "outbox_message"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(index=True)
    commissioner_code: str | None = Field(default=None, max_length=32, index=True)
    recipient: str = Field(default="", max_length=120)  # an account id, or "" for the commissioner's editors
    subject: str = Field(max_length=200)
    body: str
    delivered_at: datetime | None = None
    delivered_via: str = Field(default="", max_length=16)  # telegram | cli


class ReminderSent(SQLModel, table=True):
    """A staleness reminder was sent for this service in this stale period: it is not sent again."""

    __tablename__ = "reminder_sent"

    service_id: str = Field(primary_key=True, max_length=80)
    verified_on: date = Field(primary_key=True)  # the stale period is identified by the last verification
    sent_at: datetime


class CoverageSnapshot(SQLModel, table=True):
    """A dated summary of third-party reporting coverage per area and strand, for coverage over time."""

    __tablename__ = "coverage_snapshot"
    __table_args__ = (Index("ix_coverage_snapshot_area", "area_code", "taken_on"),)

    id: int | None = Field(default=None, primary_key=True)
    taken_on: date = Field(index=True)
    level: str = Field(max_length=8)  # pfa | lad | grid
    area_code: str = Field(max_length=16)
    strand: str = Field(max_length=24)  # a Strand value or "any"
    population: float
    population_covered: float
    method: str = Field(default="", max_length=200)
    # "local": services with a local coverage only (the default view); "with_national": national services merged.
    scope: str = Field(default="local", max_length=16, sa_column_kwargs={"server_default": "with_national"})


class ScheduledImport(SQLModel, table=True):
    """A commissioner's published list (path or URL) fetched on a schedule through the validated import.

    It runs with the rights of the account that registered it: revoke the account and the import stops.
    """

    __tablename__ = "scheduled_import"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)  # the import runs with this editor's rights
    source: str = Field(max_length=500)
    created_at: datetime
    last_run_at: datetime | None = None
    last_outcome: str = Field(default="", max_length=300)


class SchedulerJob(SQLModel, table=True):
    """APScheduler 3's SQLAlchemyJobStore table, declared here so migrations own the schema."""

    __tablename__ = "apscheduler_jobs"

    id: str = Field(primary_key=True, max_length=191)
    next_run_time: float | None = Field(default=None, index=True)
    job_state: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


# --- secrets every bot worker must share (migration 0011) ---


class SecretFingerprint(SQLModel, table=True):
    """A fingerprint of a secret every bot worker on this database must share (``SIGNPOST_CHAT_KEY_SECRET``,
    ``TELEGRAM_WEBHOOK_SECRET``): HMAC-SHA256 of a fixed label under the secret, never the secret itself. The first
    worker records it; a worker started with another value refuses to start (``services_db.shared_secrets``)."""

    __tablename__ = "secret_fingerprint"

    setting: str = Field(primary_key=True, max_length=64)
    fingerprint: str = Field(max_length=64)
    recorded_at: datetime
