"""Pacing's per-campaign, per-day counts agree with counting the deliveries and ledger."""

from __future__ import annotations

from alembic import command
from sqlalchemy import func, select

from fairview.clock import ShiftedClock, day_of
from fairview.settle.worker import Settler
from fairview.storage import Store
from fairview.storage.engine import alembic_config
from fairview.storage.schema import Campaign, CampaignDaySpend, Delivery, LedgerEntry, Settlement
from fairview.storage.settlement import PacingInputs

from factories import DAY_MS, T0, campaign, delivery, watched


def _recount(store: Store, day: str, day_start_ms: int) -> dict[str, PacingInputs]:
    """The pacing inputs counted from the rows themselves (how pacing read them before)."""
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
    today = select(CampaignDaySpend.campaign_id, CampaignDaySpend.spent).where(
        CampaignDaySpend.day == day
    )
    with store.engine.connect() as conn:
        totals = dict(conn.execute(select(Campaign.id, Campaign.spent)).all())
        spent_today = dict(conn.execute(today).all())
        in_flight = dict(conn.execute(pending).all())
        n_settled = dict(conn.execute(settled).all())
        amounts = dict(conn.execute(charged).all())
    return {
        cid: PacingInputs(
            spent_today=int(spent_today.get(cid, 0)),
            spent_before_today=int(total) - int(spent_today.get(cid, 0)),
            pending_today=int(in_flight.get(cid, 0)),
            settled=int(n_settled.get(cid, 0)),
            settled_amount=int(amounts.get(cid) or 0),
        )
        for cid, total in totals.items()
    }


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
    counted = store.settlement.pacing_inputs(day)
    assert counted == _recount(store, day, T0 - T0 % DAY_MS)
    assert any(p.pending_today for p in counted.values())
    assert any(p.settled_amount for p in counted.values())


def test_the_migration_fills_the_counts_from_what_is_stored(store: Store) -> None:
    _traffic(store)
    day = day_of(T0)
    before = store.settlement.pacing_inputs(day)
    config = alembic_config(store.engine)
    command.downgrade(config, "0008")  # the counts are dropped…
    command.upgrade(config, "head")  # …and filled again from the stored rows
    assert store.settlement.pacing_inputs(day) == before
