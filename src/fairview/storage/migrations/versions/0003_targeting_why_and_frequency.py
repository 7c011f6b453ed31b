"""campaign targeting and payer, delivery explanations, frequency-cap events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("targeting", sa.Text(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("payer", sa.String(length=200), nullable=True))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("why", sa.Text(), nullable=False, server_default="{}"))
    op.create_table(
        "frequency_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("viewer_key", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.String(length=40), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frequency_events")),
    )
    with op.batch_alter_table("frequency_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_frequency_events_viewer", ["viewer_key", "campaign_id", "at_ms"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_frequency_events_at_ms"), ["at_ms"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("frequency_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_frequency_events_at_ms"))
        batch_op.drop_index("ix_frequency_events_viewer")
    op.drop_table("frequency_events")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("why")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("payer")
        batch_op.drop_column("targeting")
