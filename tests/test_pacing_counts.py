"""Pacing's per-campaign, per-day counts agree with counting the deliveries and ledger."""

from __future__ import annotations

from alembic import command
from sqlalchemy import func, select

from fairview.clock import ShiftedClock, day_of
from fairview.settle.worker import Settler
from fairview.storage import Store
from fairview.storage.engine import alembic_config
from fairview.storage.schema import Campaign, Delivery, LedgerEntry, Settlement

from factories import DAY_MS, T0, campaign, delivery, watched


def _recount(store: Store, day_start_ms: int) -> dict[str, tuple[int, int, int]]:
    """(pending today, settled, settled amount) per campaign, counted from the rows
    themselves: how pacing read them before the counts."""
    pending = (
        select(Delivery.campaign_id, func.count())
        .join(Settlement, Settlement.delivery_id == Delivery.id)
        .where(Settlement.settled_ms.is_(None), Delivery.issued_ms >= day_start_ms)
        .group_by(Delivery.campaign_id)
    )
    settled = (
        select(Delivery.campaign_id, func.count())
        .join(Settlement, Settlement.delivery_id == Delivery.id)
        .where(Settlement.settled_ms.is_not(None))
        .group_by(Delivery.campaign_id)
    )
    charged = select(
        LedgerEntry.campaign_id, func.sum(LedgerEntry.amount + LedgerEntry.unbilled_amount)
    ).group_by(LedgerEntry.campaign_id)
    with store.engine.connect() as conn:
        campaigns = conn.execute(select(Campaign.id)).scalars().all()
        found = [dict(conn.execute(q).all()) for q in (pending, settled, charged)]
    return {c: tuple(int(f.get(c) or 0) for f in found) for c in campaigns}


def _traffic(store: Store) -> None:
    """Two campaigns; deliveries yesterday and today, some watched to a focused view,
    settled in part (one campaign's budget runs out, so some charges are unbilled)."""
    tight, creative_a = campaign(store, bid=10, budget=30)
    roomy, creative_b = campaign(store, bid=5, budget=10_000, daily=1_000)
    n = 0
    for camp, creative in ((tight, creative_a), (roomy, creative_b)):
        for issued in (T0 - DAY_MS + 1_000, T0 + 1_000):
            for k in range(6):
                d = delivery(store, camp, creative, n=n, issued_ms=issued + k)
                n += 1
                if k % 2 == 0:
                    store.events.append(watched(d.id, 7.0 if k < 4 else 3.0), [])
    Settler(store, ShiftedClock(T0 + 60_000), window_ms=DAY_MS, batch=5).run_once()
    for camp, creative in ((tight, creative_a), (roomy, creative_b)):
        for k in range(3):  # issued after the settlement ran: still in flight
            delivery(store, camp, creative, n=n, issued_ms=T0 + 90_000 + k)
            n += 1


def test_counts_agree_with_a_recount_of_deliveries_and_ledger(store: Store) -> None:
    _traffic(store)
    day = day_of(T0)
    counted = {
        c: (p.pending_today, p.settled, p.settled_amount)
        for c, p in store.settlement.pacing_inputs(day).items()
    }
    assert counted == _recount(store, T0 - T0 % DAY_MS)
    assert any(pending for pending, _, _ in counted.values())
    assert any(amount for _, _, amount in counted.values())


def test_the_migration_fills_the_counts_from_what_is_stored(store: Store) -> None:
    _traffic(store)
    day = day_of(T0)
    before = store.settlement.pacing_inputs(day)
    config = alembic_config(store.engine)
    command.downgrade(config, "0008")  # the counts are dropped…
    command.upgrade(config, "head")  # …and filled again from the stored rows
    assert store.settlement.pacing_inputs(day) == before
