"""deliveries: one index on (viewer_key, issued_ms) instead of viewer_key alone

A viewer's newest deliveries (the privacy centre's recent ads) are read from the
index in order instead of sorted in memory; lookups by viewer alone (export,
erasure) use its leading column.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 02:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_viewer_key")
        batch_op.create_index(
            "ix_deliveries_viewer_issued", ["viewer_key", "issued_ms"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_viewer_issued")
        batch_op.create_index("ix_deliveries_viewer_key", ["viewer_key"], unique=False)
