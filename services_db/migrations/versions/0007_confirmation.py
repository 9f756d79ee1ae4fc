"""Unconfirmed entries and structured eligibility: confirmation, page_date, communities, ages, residents_only;
verified_on may be empty (only for unconfirmed entries: services_db.validation and ServiceRecord refuse it
otherwise). Also puts back the service_area rows that rebuilding the service table on SQLite (here and in 0005)
cascade-deleted.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with _keeping_service_areas():
        with op.batch_alter_table("service", schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "confirmation",
                    sqlmodel.sql.sqltypes.AutoString(length=16),
                    nullable=False,
                    server_default="confirmed",
                )
            )
            batch_op.add_column(sa.Column("page_date", sa.Date(), nullable=True))
            batch_op.add_column(sa.Column("communities", sa.JSON(), nullable=False, server_default="[]"))
            batch_op.add_column(sa.Column("min_age", sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column("max_age", sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column("residents_only", sa.Boolean(), nullable=False, server_default=sa.false()))
            batch_op.alter_column("verified_on", existing_type=sa.Date(), nullable=True)
            batch_op.create_index(batch_op.f("ix_service_confirmation"), ["confirmation"], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM service_area WHERE service_id IN (SELECT id FROM service WHERE verified_on IS NULL)")
    op.execute("DELETE FROM service WHERE verified_on IS NULL")
    with _keeping_service_areas():
        with op.batch_alter_table("service", schema=None) as batch_op:
            batch_op.drop_index(batch_op.f("ix_service_confirmation"))
            batch_op.alter_column("verified_on", existing_type=sa.Date(), nullable=False)
            batch_op.drop_column("residents_only")
            batch_op.drop_column("max_age")
            batch_op.drop_column("min_age")
            batch_op.drop_column("communities")
            batch_op.drop_column("page_date")
            batch_op.drop_column("confirmation")


# ONS country codes stored for national coverage (as services_db.convert.NATION_AREA_CODES says).
_NATION_CODES = {"england_and_wales": ("E92000001", "W92000004"), "england": ("E92000001",), "wales": ("W92000004",)}


@contextmanager
def _keeping_service_areas() -> Iterator[None]:
    """SQLite rebuilds the service table for these changes, and dropping the old table with foreign keys on
    cascade-deletes every service_area row (0005 did so too): afterwards, put back every service's area codes
    as its coverage names them."""
    yield
    bind = op.get_bind()
    existing = {(str(r[0]), str(r[1])) for r in bind.execute(sa.text("SELECT service_id, area_code FROM service_area"))}
    missing: list[dict[str, str]] = []
    for service_id, coverage in bind.execute(sa.text("SELECT id, coverage FROM service")):
        spec = json.loads(coverage) if isinstance(coverage, str) else coverage or {}
        if spec.get("type") == "areas":
            codes = [str(c).strip().upper() for c in spec.get("area_codes") or []]
        elif spec.get("type") == "national":
            codes = list(_NATION_CODES.get(spec.get("nation") or "england_and_wales", ()))
        else:
            codes = []
        for code in dict.fromkeys(codes):
            if (service_id, code) not in existing:
                missing.append({"service_id": service_id, "area_code": code})
    if missing:
        bind.execute(
            sa.text("INSERT INTO service_area (service_id, area_code) VALUES (:service_id, :area_code)"), missing
        )
