"""unmatched_events: settlement progress of events whose delivery was not stored yet

With `FAIRVIEW_DELIVERY_COMMIT=behind` a decision answers before its delivery is
committed, so an event can be consumed before its delivery's settlement row exists, and
a crash of the whole server can lose a delivery whose events then arrive. The settlement
consumer keeps such events' progress here until the delivery arrives, or counts the
delivery as unknown once the settlement window has passed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 09:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unmatched_events",
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("pos", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("max_seq", sa.BigInteger(), nullable=False),
        sa.Column("terminal", sa.Boolean(), nullable=False),
        sa.Column("seen_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", "pos", name=op.f("pk_unmatched_events")),
    )
    op.create_index(
        op.f("ix_unmatched_events_seen_ms"), "unmatched_events", ["seen_ms"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_unmatched_events_seen_ms"), table_name="unmatched_events")
    op.drop_table("unmatched_events")
