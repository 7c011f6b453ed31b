"""Report inputs: an advertiser's delivery rows for DP reports, and the privacy-budget ledger.

The rows are read in one query (deliveries joined to their campaign and
settlement, spend summed from the ledger per delivery). The budget ledger's
check and insert run in one write transaction that is serialised per
advertiser (SQLite: the single writer; PostgreSQL: a transaction-scoped
advisory lock on the advertiser), so two concurrent reports can never both
pass the check and overspend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, and_, case, func, insert, select

from fairview.report.budget import (
    DEFAULT_DELTA_PER_PERIOD,
    DEFAULT_EPSILON_PER_PERIOD,
    PERIOD_DAYS,
    BudgetCharge,
    PrivacyBudget,
)
from fairview.report.dp import DeliveryRow, privacy_unit_for
from fairview.storage.engine import writer
from fairview.storage.schema import (
    Campaign,
    Delivery,
    LedgerEntry,
    PrivacyCharge,
    ReportRelease,
    Settlement,
)

# The first key of PostgreSQL's two-key advisory locks (a key space apart from the
# one-key locks of `dialect.serialise_appends`): "privacy budget".
_BUDGET_LOCK_SPACE = 72217002
_REPORT_LABEL_MAX = 200  # privacy_charges.report is String(200)
_EPOCH = date(1970, 1, 1)
_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    """An advertiser's privacy budget: (ε, δ) per sliding window of `period_days`."""

    epsilon_per_period: float = DEFAULT_EPSILON_PER_PERIOD
    delta_per_period: float = DEFAULT_DELTA_PER_PERIOD
    period_days: int = PERIOD_DAYS

    def ledger(self, charges: Sequence[BudgetCharge] = ()) -> PrivacyBudget:
        return PrivacyBudget(
            epsilon_per_period=self.epsilon_per_period,
            delta_per_period=self.delta_per_period,
            period_days=self.period_days,
            charges=charges,
        )

    def window_start(self, day: date) -> date:
        """The first day of the period that ends on `day`."""
        return day - timedelta(days=self.period_days - 1)


DEFAULT_LIMITS = BudgetLimits()


@dataclass(frozen=True, slots=True)
class RecordedCharge:
    """A persisted charge, with when it was made and which report it paid for."""

    day: date
    epsilon: float
    delta: float
    at_ms: int
    report: str


@dataclass(frozen=True, slots=True)
class BillingLine:
    """Exact ledger sums of one campaign on one day (contractual, not per viewer)."""

    campaign_id: str
    day: date
    entries: int
    amount: int
    unbilled_amount: int


@dataclass(frozen=True, slots=True)
class Release:
    """A released DP delivery report as stored: its summary and the JSON it answered."""

    id: str
    advertiser_id: str
    created_ms: int
    first_day: date
    last_day: date
    grain: str
    campaigns: list[str] | None
    epsilon: float
    delta: float
    cells: int
    body: bytes


@dataclass(frozen=True, slots=True)
class VerdictTotals:
    """Exact settlement verdicts of one campaign's deliveries (campaign totals only)."""

    deliveries: int
    settled: int
    viewable: int
    focused_views: int
    invalid: int


class ReportStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = writer(engine)

    # -- report inputs -----------------------------------------------------------------

    def delivery_rows(
        self,
        advertiser_id: str,
        campaign_ids: Sequence[str] | None,
        start_ms: int,
        end_ms: int,
    ) -> list[DeliveryRow]:
        """One row per delivery of the advertiser's campaigns issued in [start_ms, end_ms).

        `campaign_ids` narrows to those campaigns (None: all of the advertiser's);
        ids of other advertisers simply match nothing. A delivery is focused when
        its settlement is a valid focused view; its spend is the sum of its
        billed ledger amounts (unbilled over-delivery costs nothing).
        """
        spend = (
            select(func.coalesce(func.sum(LedgerEntry.amount), 0))
            .where(LedgerEntry.delivery_id == Delivery.id)
            .correlate(Delivery)
            .scalar_subquery()
        )
        query = (
            select(
                Delivery.id,
                Delivery.viewer_key,
                Delivery.issued_ms,
                Delivery.region,
                Delivery.why,
                Settlement.focused_view,
                Settlement.invalid,
                spend,
            )
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .outerjoin(Settlement, Settlement.delivery_id == Delivery.id)
            .where(
                Campaign.advertiser_id == advertiser_id,
                Delivery.issued_ms >= start_ms,
                Delivery.issued_ms < end_ms,
            )
        )
        if campaign_ids is not None:
            query = query.where(Delivery.campaign_id.in_(list(campaign_ids)))
        with self._engine.connect() as conn:
            result = conn.execute(query)
            return [_row(*r) for r in result]

    def billing(self, advertiser_id: str, first_day: date, last_day: date) -> list[BillingLine]:
        """Exact ledger sums per campaign and day in [first_day, last_day], by campaign, day."""
        query = (
            select(
                LedgerEntry.campaign_id,
                LedgerEntry.day,
                func.count(),
                func.sum(LedgerEntry.amount),
                func.sum(LedgerEntry.unbilled_amount),
            )
            .join(Campaign, Campaign.id == LedgerEntry.campaign_id)
            .where(
                Campaign.advertiser_id == advertiser_id,
                LedgerEntry.day >= first_day.isoformat(),
                LedgerEntry.day <= last_day.isoformat(),
            )
            .group_by(LedgerEntry.campaign_id, LedgerEntry.day)
            .order_by(LedgerEntry.campaign_id, LedgerEntry.day)
        )
        with self._engine.connect() as conn:
            return [
                BillingLine(cid, date.fromisoformat(day), int(n), int(amount), int(unbilled))
                for cid, day, n, amount, unbilled in conn.execute(query)
            ]

    def verdict_totals(self, campaign_id: str) -> VerdictTotals:
        """One campaign's deliveries and their verdicts, summed (one aggregate query).

        Viewable and focused count only valid verdicts, as billing does.
        """
        valid = func.coalesce(Settlement.invalid, False).is_(False)
        query = (
            select(
                func.count(Delivery.id),
                func.count(Settlement.settled_ms),
                func.sum(case((and_(Settlement.viewability == "viewable", valid), 1), else_=0)),
                func.sum(case((and_(Settlement.focused_view.is_(True), valid), 1), else_=0)),
                func.sum(case((Settlement.invalid.is_(True), 1), else_=0)),
            )
            .select_from(Delivery)
            .outerjoin(Settlement, Settlement.delivery_id == Delivery.id)
            .where(Delivery.campaign_id == campaign_id)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).one()
        return VerdictTotals(*(int(v or 0) for v in row))

    # -- released reports --------------------------------------------------------------

    def save_release(self, release: Release) -> None:
        """Keep a released report (its noisy numbers may be shown again at no cost)."""
        with self._write.begin() as conn:
            conn.execute(
                insert(ReportRelease).values(
                    id=release.id,
                    advertiser_id=release.advertiser_id,
                    created_ms=release.created_ms,
                    first_day=release.first_day.isoformat(),
                    last_day=release.last_day.isoformat(),
                    grain=release.grain,
                    campaigns=orjson.dumps(release.campaigns).decode(),
                    epsilon=release.epsilon,
                    delta=release.delta,
                    cells=release.cells,
                    body=release.body.decode(),
                )
            )

    def releases(
        self,
        advertiser_id: str,
        *,
        campaigns: Sequence[str] | None = None,
        limit: int = 100,
        with_body: bool = False,
    ) -> list[Release]:
        """The advertiser's releases, newest first; `campaigns`: exactly that campaign list."""
        columns = [c for c in ReportRelease.__table__.columns if with_body or c.name != "body"]
        query = (
            select(*columns)
            .where(ReportRelease.advertiser_id == advertiser_id)
            .order_by(ReportRelease.created_ms.desc(), ReportRelease.id.desc())
            .limit(limit)
        )
        if campaigns is not None:
            query = query.where(ReportRelease.campaigns == orjson.dumps(list(campaigns)).decode())
        with self._engine.connect() as conn:
            return [_release(row._mapping) for row in conn.execute(query)]

    def release(self, advertiser_id: str, release_id: str) -> Release | None:
        """One of the advertiser's releases with its body; another's answers like none."""
        query = select(*ReportRelease.__table__.columns).where(
            ReportRelease.advertiser_id == advertiser_id, ReportRelease.id == release_id
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _release(row._mapping)

    # -- the privacy budget ------------------------------------------------------------

    def charges(self, advertiser_id: str, since_day: date) -> list[BudgetCharge]:
        """The advertiser's charges on `since_day` or later, oldest first."""
        with self._engine.connect() as conn:
            return _budget_charges(conn, advertiser_id, since_day)

    def history(self, advertiser_id: str, since_day: date) -> list[RecordedCharge]:
        """Like `charges`, with the time and report label of each."""
        query = (
            select(
                PrivacyCharge.day,
                PrivacyCharge.epsilon,
                PrivacyCharge.delta,
                PrivacyCharge.at_ms,
                PrivacyCharge.report,
            )
            .where(
                PrivacyCharge.advertiser_id == advertiser_id,
                PrivacyCharge.day >= since_day.isoformat(),
            )
            .order_by(PrivacyCharge.day, PrivacyCharge.id)
        )
        with self._engine.connect() as conn:
            return [
                RecordedCharge(date.fromisoformat(d), float(e), float(dl), int(at), report)
                for d, e, dl, at, report in conn.execute(query)
            ]

    def budget(
        self, advertiser_id: str, day: date, limits: BudgetLimits = DEFAULT_LIMITS
    ) -> PrivacyBudget:
        """The advertiser's ledger over the period ending on `day` (a snapshot)."""
        return limits.ledger(self.charges(advertiser_id, limits.window_start(day)))

    def charge(
        self,
        advertiser_id: str,
        day: date,
        epsilon: float,
        delta: float,
        *,
        report: str,
        at_ms: int,
        limits: BudgetLimits = DEFAULT_LIMITS,
    ) -> PrivacyBudget:
        """Charge one report to the advertiser's budget, or refuse it.

        Check and insert share one write transaction, serialised per advertiser,
        so concurrent charges are judged one after the other. Raises
        `FairviewError("privacy_budget_exhausted", status=429)` (from
        `PrivacyBudget.charge`) and then records nothing. Returns the ledger of
        the period ending on `day`, this charge included.
        """
        with self._write.begin() as conn:
            _lock_advertiser(conn, advertiser_id)
            ledger = limits.ledger(_budget_charges(conn, advertiser_id, limits.window_start(day)))
            ledger.charge(advertiser_id, day, epsilon, delta)  # raises before the insert
            conn.execute(
                insert(PrivacyCharge).values(
                    advertiser_id=advertiser_id,
                    day=day.isoformat(),
                    epsilon=epsilon,
                    delta=delta,
                    at_ms=at_ms,
                    report=report[:_REPORT_LABEL_MAX],
                )
            )
        return ledger


def _release(m: Any) -> Release:
    return Release(
        id=m["id"],
        advertiser_id=m["advertiser_id"],
        created_ms=int(m["created_ms"]),
        first_day=date.fromisoformat(m["first_day"]),
        last_day=date.fromisoformat(m["last_day"]),
        grain=m["grain"],
        campaigns=orjson.loads(m["campaigns"]),
        epsilon=float(m["epsilon"]),
        delta=float(m["delta"]),
        cells=int(m["cells"]),
        body=str(m.get("body", "")).encode(),
    )


def _row(
    delivery_id: str,
    viewer_key: str | None,
    issued_ms: int,
    region: str,
    why: str,
    focused_view: bool | None,
    invalid: bool | None,
    spend: Any,
) -> DeliveryRow:
    return DeliveryRow(
        privacy_unit=privacy_unit_for(viewer_key, delivery_id),
        day=_EPOCH + timedelta(days=issued_ms // _DAY_MS),
        region=region,
        cohort=_cohort(why),
        delivered=1,
        focused=1 if focused_view and not invalid else 0,
        spend=int(spend or 0),
    )


def _cohort(why: str) -> str | None:
    """The interest cohort the decision used, from the delivery's "why" JSON."""
    if '"cohort"' not in why:  # most deliveries: skip the parse
        return None
    try:
        value = orjson.loads(why).get("cohort")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return None if value is None else str(value)


def _budget_charges(conn: Connection, advertiser_id: str, since_day: date) -> list[BudgetCharge]:
    query = (
        select(PrivacyCharge.day, PrivacyCharge.epsilon, PrivacyCharge.delta)
        .where(
            and_(
                PrivacyCharge.advertiser_id == advertiser_id,
                PrivacyCharge.day >= since_day.isoformat(),
            )
        )
        .order_by(PrivacyCharge.day, PrivacyCharge.id)
    )
    return [
        BudgetCharge(advertiser_id, date.fromisoformat(d), float(e), float(dl))
        for d, e, dl in conn.execute(query)
    ]


def _lock_advertiser(conn: Connection, advertiser_id: str) -> None:
    """Serialise budget charges of one advertiser until the transaction ends.

    SQLite already has a single writer (BEGIN IMMEDIATE); PostgreSQL takes a
    transaction-scoped advisory lock keyed by the advertiser.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_BUDGET_LOCK_SPACE, advertiser_id)
        )
