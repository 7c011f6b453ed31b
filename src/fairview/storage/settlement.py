"""Settlement state and the ledger: verdicts in, exactly one charge per billable delivery.

Budgets move only together with a ledger insert, in the same transaction, and
never past the budget: what a budget cannot pay is recorded as unbilled
over-delivery. Every write is guarded so that re-runs, concurrent workers and a
worker killed mid-batch leave the same ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, bindparam, case, or_, select, update

from fairview.attention.events import TERMINAL_TYPES
from fairview.attention.verdict import Verdict
from fairview.clock import day_of
from fairview.domain import BillingModel, unit_charge
from fairview.storage.dialect import add_to_counter, insert_ignore
from fairview.storage.engine import writer
from fairview.storage.eventlog import LogHead
from fairview.storage.schema import (
    Campaign,
    CampaignDaySpend,
    ConsumerOffset,
    Delivery,
    LedgerEntry,
    Settlement,
    table_of,
)


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery whose events are complete (or whose window has passed)."""

    id: str
    campaign_id: str
    billing_model: BillingModel
    duration_ms: int
    issued_ms: int
    conflict: bool


@dataclass(frozen=True, slots=True)
class Posted:
    settled: int
    charged: int
    over_delivered: int


class SettlementStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = writer(engine)

    def consume(self, consumer: str, read: Callable[[int, int], list[LogHead]], limit: int) -> int:
        """Advance `consumer` over up to `limit` log events, updating settlement state.

        Offset and state move in one transaction; a concurrent consumer that moved
        first makes this call consume nothing (returns 0), never twice.
        """
        with self._write.begin() as conn:
            offset = _locked_offset(conn, consumer)
            heads = read(offset, limit)
            if not heads:
                return 0
            conn.execute(_PROGRESS, _progress_params(heads))
            moved = conn.execute(
                update(ConsumerOffset)
                .where(ConsumerOffset.consumer == consumer, ConsumerOffset.pos == offset)
                .values(pos=heads[-1].pos)
            )
            if moved.rowcount != 1:
                conn.rollback()
                return 0
        return len(heads)

    def offset(self, consumer: str) -> int:
        with self._engine.connect() as conn:
            pos = conn.execute(
                select(ConsumerOffset.pos).where(ConsumerOffset.consumer == consumer)
            ).scalar()
        return int(pos or 0)

    def due(self, now_ms: int, window_ms: int, limit: int) -> list[DueDelivery]:
        """Unsettled deliveries that are final: terminal with no gap, or past the window."""
        complete = and_(Settlement.terminal, Settlement.event_count == Settlement.max_seq + 1)
        query = (
            select(
                Delivery.id,
                Delivery.campaign_id,
                Campaign.billing_model,
                Delivery.duration_ms,
                Delivery.issued_ms,
                Delivery.conflict,
            )
            .join(Settlement, Settlement.delivery_id == Delivery.id)
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(
                Settlement.settled_ms.is_(None),
                or_(complete, Settlement.issued_ms <= now_ms - window_ms),
            )
            .order_by(Settlement.issued_ms, Delivery.id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [
                DueDelivery(r[0], r[1], BillingModel(r[2]), r[3], r[4], bool(r[5]))
                for r in conn.execute(query)
            ]

    def spend_by_campaign(self) -> dict[str, int]:
        with self._engine.connect() as conn:
            return {r[0]: int(r[1]) for r in conn.execute(select(Campaign.id, Campaign.spent))}

    def ledger(self) -> list[dict[str, object]]:
        """Every ledger entry, oldest first (for reports and tests; not for hot paths)."""
        table = table_of(LedgerEntry)
        with self._engine.connect() as conn:
            rows = conn.execute(select(table).order_by(table.c.id))
            return [dict(r._mapping) for r in rows]

    def verdicts(self) -> dict[str, dict[str, object]]:
        """Settled verdicts by delivery id."""
        table = table_of(Settlement)
        with self._engine.connect() as conn:
            rows = conn.execute(select(table).where(table.c.settled_ms.is_not(None)))
            return {r.delivery_id: dict(r._mapping) for r in rows}

    def pending_count(self) -> int:
        with self._engine.connect() as conn:
            return len(
                conn.execute(
                    select(Settlement.delivery_id).where(Settlement.settled_ms.is_(None))
                ).all()
            )

    def post(self, verdicts: Sequence[tuple[DueDelivery, Verdict]], now_ms: int) -> Posted:
        """Record verdicts and charge billable deliveries, all in one transaction."""
        settled = charged = over = 0
        with self._write.begin() as conn:
            for due, verdict in verdicts:
                if not _close(conn, due.id, verdict, now_ms):
                    continue
                settled += 1
                kind = _billable_kind(due.billing_model, verdict)
                if kind is None:
                    continue
                billed = _charge(conn, due, kind, now_ms)
                if billed is True:
                    charged += 1
                elif billed is False:
                    over += 1
        return Posted(settled, charged, over)


_PROGRESS = (
    update(Settlement)
    .where(Settlement.delivery_id == bindparam("d"))
    .values(
        event_count=Settlement.event_count + bindparam("n"),
        max_seq=case(
            (Settlement.max_seq < bindparam("m"), bindparam("m")), else_=Settlement.max_seq
        ),
        terminal=or_(Settlement.terminal, bindparam("t")),
    )
    .execution_options(synchronize_session=False)
)


def _progress_params(heads: Sequence[LogHead]) -> list[dict[str, object]]:
    agg: dict[str, list[int]] = {}
    for head in heads:
        n, m, t = agg.get(head.delivery_id, (0, -1, 0))
        agg[head.delivery_id] = [n + 1, max(m, head.seq), t or head.type in TERMINAL_TYPES]
    return [{"d": d, "n": n, "m": m, "t": bool(t)} for d, (n, m, t) in agg.items()]


def _locked_offset(conn: Connection, consumer: str) -> int:
    conn.execute(insert_ignore(conn, table_of(ConsumerOffset)).values(consumer=consumer, pos=0))
    query = select(ConsumerOffset.pos).where(ConsumerOffset.consumer == consumer)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return int(conn.execute(query).scalar_one())


def _close(conn: Connection, delivery_id: str, v: Verdict, now_ms: int) -> bool:
    result = conn.execute(
        update(Settlement)
        .where(Settlement.delivery_id == delivery_id, Settlement.settled_ms.is_(None))
        .values(
            settled_ms=now_ms,
            focused_view=v.focused_view,
            qualified_by=v.qualified_by,
            qualified_at_media_s=v.qualified_at_media_s,
            coverage_s=v.coverage_s,
            audible_coverage_s=v.audible_coverage_s,
            viewability=v.viewability,
            invalid=v.invalid,
            invalid_reason=v.invalid_reason,
        )
    )
    return result.rowcount == 1


def _billable_kind(model: BillingModel, v: Verdict) -> str | None:
    if v.invalid:
        return None
    if model is BillingModel.CPFV and v.focused_view:
        return "focused_view"
    if model is BillingModel.CPM_VIEWABLE and v.viewability == "viewable":
        return "viewable_impression"
    return None


def _charge(conn: Connection, due: DueDelivery, kind: str, now_ms: int) -> bool | None:
    """Insert the ledger entry and move budgets; None if the entry already existed."""
    day = day_of(due.issued_ms)
    query = select(
        Campaign.bid,
        Campaign.spent,
        Campaign.billed_units,
        Campaign.budget_total,
        Campaign.budget_daily,
    ).where(Campaign.id == due.campaign_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    bid, spent, units, total, daily = conn.execute(query).one()
    day_spent = (
        conn.execute(
            select(CampaignDaySpend.spent).where(
                CampaignDaySpend.campaign_id == due.campaign_id, CampaignDaySpend.day == day
            )
        ).scalar()
        or 0
    )
    amount = unit_charge(due.billing_model, bid, units)
    fits = spent + amount <= total and (daily is None or day_spent + amount <= daily)
    entry = {
        "delivery_id": due.id,
        "campaign_id": due.campaign_id,
        "kind": kind,
        "amount": amount if fits else 0,
        "unbilled_amount": 0 if fits else amount,
        "day": day,
        "created_ms": now_ms,
    }
    table = table_of(LedgerEntry)
    inserted = conn.execute(insert_ignore(conn, table).values(**entry).returning(table.c.id))
    if inserted.first() is None:
        return None
    if not fits:
        return False
    conn.execute(
        update(Campaign)
        .where(Campaign.id == due.campaign_id)
        .values(spent=Campaign.spent + amount, billed_units=Campaign.billed_units + 1)
    )
    add_to_counter(
        conn,
        table_of(CampaignDaySpend),
        {"campaign_id": due.campaign_id, "day": day},
        "spent",
        amount,
    )
    return True
