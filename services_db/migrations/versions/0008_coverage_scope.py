"""Coverage snapshots keep two series: local provision, and local with national services merged.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Snapshots taken before this always merged national services in.
    with op.batch_alter_table("coverage_snapshot", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "scope",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="with_national",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("coverage_snapshot", schema=None) as batch_op:
        batch_op.drop_column("scope")
