"""report releases

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 01:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_releases",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("advertiser_id", sa.String(length=40), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("first_day", sa.String(length=10), nullable=False),
        sa.Column("last_day", sa.String(length=10), nullable=False),
        sa.Column("grain", sa.String(length=30), nullable=False),
        sa.Column("campaigns", sa.Text(), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("delta", sa.Float(), nullable=False),
        sa.Column("cells", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_releases")),
    )
    with op.batch_alter_table("report_releases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_releases_advertiser", ["advertiser_id", "created_ms"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("report_releases", schema=None) as batch_op:
        batch_op.drop_index("ix_report_releases_advertiser")
    op.drop_table("report_releases")
