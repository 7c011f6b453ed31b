"""audience, cohorts, audit log and privacy budget

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 22:56:03.736403
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_log_hash")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at_ms"), ["at_ms"], unique=False)

    op.create_table(
        "cohort_members",
        sa.Column("viewer_key", sa.String(length=64), nullable=False),
        sa.Column("cohort_id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("viewer_key", name=op.f("pk_cohort_members")),
    )
    with op.batch_alter_table("cohort_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cohort_members_cohort_id"), ["cohort_id"], unique=False
        )

    op.create_table(
        "cohort_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("k_min", sa.Integer(), nullable=False),
        sa.Column("viewers", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohort_runs")),
    )
    with op.batch_alter_table("cohort_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cohort_runs_created_ms"), ["created_ms"], unique=False)

    op.create_table(
        "interest_blocks",
        sa.Column("viewer_key", sa.String(length=64), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("blocked_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("viewer_key", "topic_id", name=op.f("pk_interest_blocks")),
    )
    op.create_table(
        "interest_watch",
        sa.Column("viewer_key", sa.String(length=64), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("viewer_key", "epoch", "topic_id", name=op.f("pk_interest_watch")),
    )
    with op.batch_alter_table("interest_watch", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_interest_watch_updated_ms"), ["updated_ms"], unique=False
        )

    op.create_table(
        "privacy_charges",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("advertiser_id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("delta", sa.Float(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("report", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_charges")),
    )
    with op.batch_alter_table("privacy_charges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_privacy_charges_advertiser", ["advertiser_id", "day"], unique=False
        )

    op.create_table(
        "videos",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("topics", sa.String(length=200), nullable=False),
        sa.Column("sensitive", sa.String(length=400), nullable=False),
        sa.Column("method", sa.String(length=40), nullable=False),
        sa.Column("classified_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_videos")),
    )
    op.create_table(
        "viewer_settings",
        sa.Column("viewer_key", sa.String(length=64), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("viewer_key", name=op.f("pk_viewer_settings")),
    )
    op.create_table(
        "cohorts",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("topics", sa.String(length=200), nullable=False),
        sa.Column("served", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("max_gap", sa.Float(), nullable=False),
        sa.Column("max_lift", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["cohort_runs.id"], name=op.f("fk_cohorts_run_id_cohort_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "id", name=op.f("pk_cohorts")),
    )


def downgrade() -> None:
    op.drop_table("cohorts")
    op.drop_table("viewer_settings")
    op.drop_table("videos")
    with op.batch_alter_table("privacy_charges", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_charges_advertiser")

    op.drop_table("privacy_charges")
    with op.batch_alter_table("interest_watch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interest_watch_updated_ms"))

    op.drop_table("interest_watch")
    op.drop_table("interest_blocks")
    with op.batch_alter_table("cohort_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cohort_runs_created_ms"))

    op.drop_table("cohort_runs")
    with op.batch_alter_table("cohort_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cohort_members_cohort_id"))

    op.drop_table("cohort_members")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at_ms"))

    op.drop_table("audit_log")
