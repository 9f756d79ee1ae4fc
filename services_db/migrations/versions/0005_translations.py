"""Welsh and Easy Read text for each service: one JSON column keyed by language.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.add_column(sa.Column("translations", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.drop_column("translations")
