"""campaign_day_counts: pacing's per-campaign, per-day counts, filled from what is stored

Pacing read its in-flight deliveries and charge rates by counting deliveries and the
ledger, a read that grew with every ad served (about a second per server process and
minute at 150,000 deliveries). The decision and settlement transactions now keep these
counts; this fills them from the deliveries, settlements and ledger already stored.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 05:00:00.000000
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


def upgrade() -> None:
    counts = op.create_table(
        "campaign_day_counts",
        sa.Column("campaign_id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("issued", sa.BigInteger(), nullable=False),
        sa.Column("settled", sa.BigInteger(), nullable=False),
        sa.Column("settled_amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_day_counts_campaign_id_campaigns"),
        ),
        sa.PrimaryKeyConstraint("campaign_id", "day", name=op.f("pk_campaign_day_counts")),
    )
    conn = op.get_bind()
    found: dict[tuple[str, str], list[int]] = {}
    deliveries = conn.execute(
        sa.text(
            "SELECT d.campaign_id, d.issued_ms, s.settled_ms FROM deliveries d "
            "LEFT JOIN settlements s ON s.delivery_id = d.id"
        )
    )
    for campaign_id, issued_ms, settled_ms in deliveries:
        row = found.setdefault((campaign_id, _day(issued_ms)), [0, 0, 0])
        row[0] += 1
        row[1] += settled_ms is not None
    charges = conn.execute(
        sa.text(
            "SELECT campaign_id, day, SUM(amount + unbilled_amount) FROM ledger "
            "GROUP BY campaign_id, day"
        )
    )
    for campaign_id, day, amount in charges:
        found.setdefault((campaign_id, day), [0, 0, 0])[2] += int(amount or 0)
    rows = [
        {"campaign_id": c, "day": d, "issued": n, "settled": s, "settled_amount": a}
        for (c, d), (n, s, a) in sorted(found.items())
    ]
    for start in range(0, len(rows), 5000):
        op.bulk_insert(counts, rows[start : start + 5000])


def downgrade() -> None:
    op.drop_table("campaign_day_counts")
