"""ad repository reach

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 23:18:13.298919
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repository_reach",
        sa.Column("creative_id", sa.String(length=40), nullable=False),
        sa.Column("region", sa.String(length=20), nullable=False),
        sa.Column("reach", sa.Float(), nullable=False),
        sa.Column("ci_low", sa.Float(), nullable=False),
        sa.Column("ci_high", sa.Float(), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("computed_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("creative_id", "region", name=op.f("pk_repository_reach")),
    )


def downgrade() -> None:
    op.drop_table("repository_reach")
