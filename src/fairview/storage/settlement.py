"""Settlement state and the ledger: verdicts in, exactly one charge per billable delivery.

Budgets move only together with a ledger insert, in the same transaction, and
never past the budget: what a budget cannot pay is recorded as unbilled
over-delivery. Every write is guarded so that re-runs, concurrent workers and a
worker killed mid-batch leave the same ledger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from fairview.attention.events import TERMINAL_TYPES
from fairview.attention.verdict import Verdict
from fairview.clock import day_of
from fairview.domain import BillingModel, unit_charge
from fairview.storage.dialect import insert_ignore, upsert
from fairview.storage.engine import writer
from fairview.storage.eventlog import LogHead
from fairview.storage.schema import (
    Campaign,
    CampaignDayCount,
    CampaignDaySpend,
    ConsumerOffset,
    Delivery,
    LedgerEntry,
    Settlement,
    UnmatchedEvents,
    table_of,
)
from fairview.storage.schema import Counter as CounterRow


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


@dataclass(frozen=True, slots=True)
class PacingInputs:
    spent_today: int
    spent_before_today: int
    pending_today: int  # deliveries issued today, not settled yet
    settled: int  # deliveries settled so far (for the campaign's charge rate)
    settled_amount: int  # what they were charged, billed or not (budget caps aside)


class SettlementStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = writer(engine)

    def consume(
        self,
        consumer: str,
        read: Callable[[int, int], list[LogHead]],
        limit: int,
        *,
        now_ms: int = 0,
    ) -> int:
        """Advance `consumer` over up to `limit` log events, updating settlement state.

        Offset and state move in one transaction; a concurrent consumer that moved
        first makes this call consume nothing (returns 0), never twice. Events whose
        delivery has no settlement row yet keep their progress in `unmatched_events`,
        seen at `now_ms` (`resolve_unmatched`).
        """
        with self._write.begin() as conn:
            offset = _locked_offset(conn, consumer)
            heads = read(offset, limit)
            if not heads:
                return 0
            progress = _progress_params(heads)
            matched = conn.execute(_PROGRESS, progress).rowcount
            if matched != len(progress):
                _keep_unmatched(conn, progress, heads, now_ms)
            moved = conn.execute(
                update(ConsumerOffset)
                .where(ConsumerOffset.consumer == consumer, ConsumerOffset.pos == offset)
                .values(pos=heads[-1].pos)
            )
            if moved.rowcount != 1:
                conn.rollback()
                return 0
        return len(heads)

    def resolve_unmatched(self, now_ms: int, window_ms: int, limit: int = 5000) -> int:
        """Give kept progress to deliveries whose settlement row has arrived since, and
        count as unknown (returned, and added to the `deliveries_unknown` counter) those
        still missing once their events were first seen a whole window ago."""
        with self._write.begin() as conn:
            u = UnmatchedEvents
            rows = conn.execute(
                select(
                    u.delivery_id,
                    func.sum(u.events),
                    func.max(u.max_seq),
                    func.max(case((u.terminal, 1), else_=0)),
                    func.min(u.seen_ms),
                )
                .group_by(u.delivery_id)
                .order_by(func.min(u.seen_ms))
                .limit(limit)
            ).all()
            if not rows:
                return 0
            known = _settlement_rows(conn, [r[0] for r in rows])
            arrived = [
                {"d": d, "n": int(n), "m": int(m), "t": bool(t)}
                for d, n, m, t, _ in rows
                if d in known
            ]
            if arrived:
                conn.execute(_PROGRESS, arrived)
            unknown = [d for d, *_, seen in rows if d not in known and seen <= now_ms - window_ms]
            done = [a["d"] for a in arrived] + unknown
            for start in range(0, len(done), 500):
                conn.execute(delete(u).where(u.delivery_id.in_(done[start : start + 500])))
            if unknown:
                conn.execute(
                    upsert(conn, table_of(CounterRow), ["name"], add=["value"]),
                    {"name": UNKNOWN_DELIVERIES, "value": len(unknown)},
                )
        return len(unknown)

    def unknown_deliveries(self) -> int:
        """Deliveries counted by `resolve_unmatched` so far: events, but no delivery."""
        with self._engine.connect() as conn:
            found = conn.execute(
                select(CounterRow.value).where(CounterRow.name == UNKNOWN_DELIVERIES)
            ).scalar()
        return int(found or 0)

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

    def pacing_inputs(self, day: str) -> dict[str, PacingInputs]:
        """What the pacer reads per campaign: spend today and before, and what is in flight.

        Charges land on the day a delivery was issued, so today's in-flight cost comes
        from today's deliveries that have not settled yet. All of it is read from
        per-campaign, per-day counts (`campaign_day_counts`), never by counting
        deliveries, so the cost does not grow with the traffic.
        """
        counts = CampaignDayCount
        today = select(CampaignDaySpend.campaign_id, CampaignDaySpend.spent).where(
            CampaignDaySpend.day == day
        )
        pending = select(counts.campaign_id, counts.issued - counts.settled).where(
            counts.day == day
        )
        settled = select(
            counts.campaign_id, func.sum(counts.settled), func.sum(counts.settled_amount)
        ).group_by(counts.campaign_id)
        with self._engine.connect() as conn:
            totals = {r[0]: r[1] for r in conn.execute(select(Campaign.id, Campaign.spent))}
            spent_today = {r[0]: r[1] for r in conn.execute(today)}
            in_flight = {r[0]: r[1] for r in conn.execute(pending)}
            n_settled, amounts = {}, {}
            for cid, n, amount in conn.execute(settled):
                n_settled[cid], amounts[cid] = n, amount
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

    def verdict_of(self, delivery_id: str) -> dict[str, object] | None:
        """One delivery's settled verdict, or None while it is pending (or unknown)."""
        table = table_of(Settlement)
        query = select(table).where(
            table.c.delivery_id == delivery_id, table.c.settled_ms.is_not(None)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else dict(row._mapping)

    def ledger_for(self, delivery_id: str) -> list[dict[str, object]]:
        """One delivery's ledger entries (at most one: exactly-once billing), oldest first."""
        table = table_of(LedgerEntry)
        query = select(table).where(table.c.delivery_id == delivery_id).order_by(table.c.id)
        with self._engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def pending_count(self) -> int:
        with self._engine.connect() as conn:
            return len(
                conn.execute(
                    select(Settlement.delivery_id).where(Settlement.settled_ms.is_(None))
                ).all()
            )

    def post(self, verdicts: Sequence[tuple[DueDelivery, Verdict]], now_ms: int) -> Posted:
        """Record verdicts and charge billable deliveries, all in one transaction.

        Only deliveries still open when the transaction holds them are closed and
        charged, so a verdict posted twice, or by two workers, is counted once.
        """
        with self._write.begin() as conn:
            still_open = _open_among(conn, [d.id for d, _ in verdicts])
            mine = [(d, v) for d, v in verdicts if d.id in still_open]
            if mine:
                conn.execute(_CLOSE, [_close_params(d.id, v, now_ms) for d, v in mine])
            billable = [(d, k) for d, v in mine if (k := _billable_kind(d.billing_model, v))]
            charged, over, amounts = _charge_all(conn, billable, now_ms) if billable else (0, 0, {})
            _count_settled(conn, [d for d, _ in mine], amounts)
        return Posted(len(mine), charged, over)


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


UNKNOWN_DELIVERIES = "deliveries_unknown"


def _keep_unmatched(
    conn: Connection, progress: list[dict[str, object]], heads: Sequence[LogHead], now_ms: int
) -> None:
    """Keep the progress of the deliveries in `progress` that have no settlement row."""
    known = _settlement_rows(conn, [str(p["d"]) for p in progress])
    last = {h.delivery_id: h.pos for h in heads}
    kept = [
        {
            "delivery_id": p["d"],
            "pos": last[str(p["d"])],
            "events": p["n"],
            "max_seq": p["m"],
            "terminal": p["t"],
            "seen_ms": now_ms,
        }
        for p in progress
        if p["d"] not in known
    ]
    if kept:
        conn.execute(insert(UnmatchedEvents), kept)


def _settlement_rows(conn: Connection, delivery_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(delivery_ids), 500):
        chunk = delivery_ids[start : start + 500]
        found.update(
            conn.execute(
                select(Settlement.delivery_id).where(Settlement.delivery_id.in_(chunk))
            ).scalars()
        )
    return found


def _locked_offset(conn: Connection, consumer: str) -> int:
    conn.execute(insert_ignore(conn, table_of(ConsumerOffset)).values(consumer=consumer, pos=0))
    query = select(ConsumerOffset.pos).where(ConsumerOffset.consumer == consumer)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return int(conn.execute(query).scalar_one())


def _open_among(conn: Connection, ids: list[str]) -> set[str]:
    """Which of `ids` are unsettled, locked for this transaction (PostgreSQL: FOR UPDATE)."""
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        query = select(Settlement.delivery_id).where(
            Settlement.delivery_id.in_(ids[start : start + 500]), Settlement.settled_ms.is_(None)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        found.update(conn.execute(query).scalars())
    return found


_CLOSE = (
    update(Settlement)
    .where(Settlement.delivery_id == bindparam("p_delivery"), Settlement.settled_ms.is_(None))
    .values(
        settled_ms=bindparam("p_now"),
        focused_view=bindparam("p_focused"),
        qualified_by=bindparam("p_by"),
        qualified_at_media_s=bindparam("p_at"),
        coverage_s=bindparam("p_coverage"),
        audible_coverage_s=bindparam("p_audible"),
        viewability=bindparam("p_viewability"),
        invalid=bindparam("p_invalid"),
        invalid_reason=bindparam("p_reason"),
    )
)


def _close_params(delivery_id: str, v: Verdict, now_ms: int) -> dict[str, object]:
    return {
        "p_delivery": delivery_id,
        "p_now": now_ms,
        "p_focused": v.focused_view,
        "p_by": v.qualified_by,
        "p_at": v.qualified_at_media_s,
        "p_coverage": v.coverage_s,
        "p_audible": v.audible_coverage_s,
        "p_viewability": v.viewability,
        "p_invalid": v.invalid,
        "p_reason": v.invalid_reason,
    }


def _billable_kind(model: BillingModel, v: Verdict) -> str | None:
    if v.invalid:
        return None
    if model is BillingModel.CPFV and v.focused_view:
        return "focused_view"
    if model is BillingModel.CPM_VIEWABLE and v.viewability == "viewable":
        return "viewable_impression"
    return None


@dataclass
class _Budget:
    """A campaign's money while one transaction charges it."""

    model: BillingModel
    bid: int
    spent: int
    units: int
    total: int
    daily: int | None


def _count_settled(
    conn: Connection, settled: list[DueDelivery], amounts: dict[tuple[str, str], int]
) -> None:
    """Add settled deliveries and their charges to the pacing counts (by day of issue)."""
    per_day = Counter((d.campaign_id, day_of(d.issued_ms)) for d in settled)
    rows = [
        {
            "campaign_id": c,
            "day": day,
            "issued": 0,
            "settled": n,
            "settled_amount": amounts.get((c, day), 0),
        }
        for (c, day), n in sorted(per_day.items())  # one lock order for concurrent settlers
    ]
    if rows:
        table = table_of(CampaignDayCount)
        conn.execute(
            upsert(conn, table, ["campaign_id", "day"], add=["settled", "settled_amount"]), rows
        )


def _charge_all(
    conn: Connection, billable: list[tuple[DueDelivery, str]], now_ms: int
) -> tuple[int, int, dict[tuple[str, str], int]]:
    """Ledger entries for `billable`, in order; budgets move with them and never past a cap.

    Returns how many were charged, how many hit a cap, and what was charged (billed plus
    unbilled) per campaign and day of issue.

    Campaign rows are locked for the transaction (SQLite: the write lock; PostgreSQL:
    FOR UPDATE), so reading, computing and writing absolute values is safe.
    """
    budgets = _budgets(conn, sorted({d.campaign_id for d, _ in billable}))
    days = _day_spend(conn, budgets, sorted({day_of(d.issued_ms) for d, _ in billable}))
    entries = []
    charged = over = 0
    amounts: Counter[tuple[str, str]] = Counter()
    for due, kind in billable:
        b, day = budgets[due.campaign_id], day_of(due.issued_ms)
        amount = unit_charge(b.model, b.bid, b.units)
        amounts[(due.campaign_id, day)] += amount  # billed or not, as the ledger keeps it
        spent_today = days.get((due.campaign_id, day), 0)
        fits = b.spent + amount <= b.total and (b.daily is None or spent_today + amount <= b.daily)
        if fits:
            b.spent, b.units = b.spent + amount, b.units + 1
            days[(due.campaign_id, day)] = spent_today + amount
            charged += 1
        else:
            over += 1
        entries.append(
            {
                "delivery_id": due.id,
                "campaign_id": due.campaign_id,
                "kind": kind,
                "amount": amount if fits else 0,
                "unbilled_amount": 0 if fits else amount,
                "day": day,
                "created_ms": now_ms,
            }
        )
    # A plain insert: the unique (delivery, kind) constraint is the last line of defence,
    # and a violation rolls the whole batch back rather than charging anything twice.
    conn.execute(insert(LedgerEntry), entries)
    conn.execute(
        _SET_BUDGET,
        [{"p_id": cid, "p_spent": b.spent, "p_units": b.units} for cid, b in budgets.items()],
    )
    for (cid, day), spent in days.items():
        _set_day_spend(conn, cid, day, spent)
    return charged, over, dict(amounts)


def _budgets(conn: Connection, campaign_ids: list[str]) -> dict[str, _Budget]:
    query = select(
        Campaign.id,
        Campaign.billing_model,
        Campaign.bid,
        Campaign.spent,
        Campaign.billed_units,
        Campaign.budget_total,
        Campaign.budget_daily,
    ).where(Campaign.id.in_(campaign_ids))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {r[0]: _Budget(BillingModel(r[1]), *r[2:]) for r in conn.execute(query)}


def _day_spend(
    conn: Connection, budgets: dict[str, _Budget], days: list[str]
) -> dict[tuple[str, str], int]:
    query = select(
        CampaignDaySpend.campaign_id, CampaignDaySpend.day, CampaignDaySpend.spent
    ).where(CampaignDaySpend.campaign_id.in_(list(budgets)), CampaignDaySpend.day.in_(days))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {(r[0], r[1]): int(r[2]) for r in conn.execute(query)}


_SET_BUDGET = (
    update(Campaign)
    .where(Campaign.id == bindparam("p_id"))
    .values(spent=bindparam("p_spent"), billed_units=bindparam("p_units"))
)


def _set_day_spend(conn: Connection, campaign_id: str, day: str, spent: int) -> None:
    table = table_of(CampaignDaySpend)
    conn.execute(insert_ignore(conn, table).values(campaign_id=campaign_id, day=day, spent=0))
    conn.execute(
        update(CampaignDaySpend)
        .where(CampaignDaySpend.campaign_id == campaign_id, CampaignDaySpend.day == day)
        .values(spent=spent)
    )
