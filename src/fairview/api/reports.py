"""Advertiser reports over HTTP: differentially private cells, the privacy budget, billing.

`GET /v1/reports/delivery` charges the advertiser's privacy budget first, then
computes reach, deliveries, focused views and spend per day, region and cohort
with `fairview.report.dp_report`; its exact totals sit apart, labelled exact.
`GET /v1/reports/budget` shows what is spent and left; `GET /v1/reports/billing`
gives the contractual ledger sums per campaign and day (no noise, no budget).
No response carries anything per viewer. See docs/reports.md, "HTTP API".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from fairview.api.deps import AdvertiserDep, ServicesDep
from fairview.api.responses import JSONBytes
from fairview.domain import AdvertiserRecord
from fairview.errors import FairviewError, NotFound
from fairview.report.dp import (
    CONFIDENCE,
    DEFAULT_CONFIG,
    DpCell,
    DpConfig,
    Grain,
    Metric,
    Partition,
    Report,
    dp_report,
    exact_totals,
)
from fairview.storage.catalog import new_id
from fairview.storage.reports import DEFAULT_LIMITS, BudgetLimits, Release

router = APIRouter(prefix="/v1")

EPSILON_PER_REPORT = DEFAULT_CONFIG.epsilon
"""ε a report costs unless the request asks for another (docs/reports.md, Defaults)."""
EPSILON_PER_REPORT_MAX = 3.0
"""The most one report may spend: a third of the period's ε, so no single request
can use up the whole period."""
DELTA_PER_REPORT = DEFAULT_CONFIG.delta
MAX_REPORT_DAYS = 93
"""The longest period of a DP report (a quarter), which bounds its size and cost."""
MAX_BILLING_DAYS = 366
MAX_CAMPAIGNS = 100
BUDGET_LIMITS: BudgetLimits = DEFAULT_LIMITS

_EPOCH = date(1970, 1, 1)
_DAY_MS = 86_400_000


# -- response shapes ----------------------------------------------------------------------


class PeriodOut(BaseModel):
    first_day: date = Field(serialization_alias="from", description="First day (UTC).")
    last_day: date = Field(serialization_alias="to", description="Last day (UTC), included.")
    days: int


class EstimateOut(BaseModel):
    """A noisy value and the 95 % interval of its noise (clamping bias not included)."""

    value: float
    ci_low: float
    ci_high: float


class CellOut(BaseModel):
    """One released partition. "*" marks a rolled-up dimension; cohort null: no cohort."""

    day: date
    region: str
    cohort: str | None
    reach: EstimateOut
    deliveries: EstimateOut
    focused_views: EstimateOut
    spend: EstimateOut


class PrivacyOut(BaseModel):
    """What this report cost and what the advertiser's period has left after it."""

    epsilon: float = Field(description="ε this report spent.")
    delta: float = Field(description="δ this report spent.")
    epsilon_spent_in_period: float
    delta_spent_in_period: float
    epsilon_remaining: float
    delta_remaining: float
    epsilon_per_period: float
    delta_per_period: float
    period_days: int


class BoundsOut(BaseModel):
    """Per viewer and partition, contributions are clamped to these."""

    reach: int
    deliveries: int
    focused_views: int
    spend: int
    max_partitions_contributed: int


class ConfigOut(BaseModel):
    noise: str
    confidence: float
    pre_threshold: int
    partition_selection: str
    bounds: BoundsOut
    budget_shares: dict[str, float]


class ExactTotalsOut(BaseModel):
    """Exact contractual totals over every delivery in the report (no noise, no split)."""

    exact: Literal[True] = True
    deliveries: int
    focused_views: int
    spend: int
    currency: str


class DeliveryReportOut(BaseModel):
    release_id: str = Field(
        description="This release, kept as released: GET /v1/reports/releases/{release_id} "
        "shows it again without spending budget."
    )
    released_at: datetime
    period: PeriodOut
    grain: Grain
    campaigns: list[str] | None = Field(description="The campaigns asked for; null: all.")
    privacy: PrivacyOut
    config: ConfigOut
    cells: list[CellOut] = Field(
        description="Differentially private; partitions that were not released are absent."
    )
    totals: ExactTotalsOut


class ChargeOut(BaseModel):
    day: date
    at: datetime
    epsilon: float
    delta: float
    report: str


class BudgetOut(BaseModel):
    day: date = Field(description="Today (UTC): the period ends on this day.")
    period: PeriodOut
    period_days: int
    epsilon_per_period: float
    delta_per_period: float
    epsilon_spent: float
    delta_spent: float
    epsilon_remaining: float
    delta_remaining: float
    epsilon_per_report: float = Field(description="What a report costs by default.")
    epsilon_per_report_max: float
    delta_per_report: float
    charges: list[ChargeOut]


class BillingLineOut(BaseModel):
    campaign_id: str
    day: date
    entries: int = Field(description="Ledger entries (billable deliveries).")
    amount: int = Field(description="Billed, in minor units.")
    unbilled_amount: int = Field(description="Over budget, not billed, in minor units.")


class BillingTotalsOut(BaseModel):
    entries: int
    amount: int
    unbilled_amount: int


class BillingOut(BaseModel):
    exact: Literal[True] = True
    period: PeriodOut
    currency: str
    lines: list[BillingLineOut]
    totals: BillingTotalsOut


class ReleaseOut(BaseModel):
    """A stored release (its cells: GET /v1/reports/releases/{id})."""

    id: str
    released_at: datetime
    period: PeriodOut
    grain: str
    campaigns: list[str] | None
    epsilon: float
    delta: float
    cells: int


class VerdictsOut(BaseModel):
    """Exact attention verdicts of one campaign over its whole life (campaign totals)."""

    exact: Literal[True] = True
    campaign_id: str
    deliveries: int
    settled: int = Field(description="Deliveries whose verdict is final.")
    viewable: int = Field(description="Valid MRC-viewable deliveries.")
    focused_views: int = Field(description="Valid focused views.")
    invalid: int = Field(description="Deliveries judged invalid traffic.")
    viewability_rate: float | None = Field(description="viewable / settled; null: none settled.")
    focused_view_rate: float | None = Field(description="focused_views / settled.")


# -- parameters ---------------------------------------------------------------------------

_From = Annotated[str, Query(alias="from", description="First day, YYYY-MM-DD (UTC).")]
_To = Annotated[str, Query(alias="to", description="Last day, YYYY-MM-DD (UTC), included.")]


@router.get(
    "/reports/delivery",
    response_model=DeliveryReportOut,
    responses={
        404: {"description": "campaign_not_found"},
        429: {"description": "privacy_budget_exhausted (with a Retry-After header)"},
    },
)
def delivery_report(
    advertiser: AdvertiserDep,
    services: ServicesDep,
    first: _From,
    last: _To,
    grain: Grain = Grain.DAY_REGION_COHORT,
    campaign: Annotated[
        list[str] | None,
        Query(max_length=MAX_CAMPAIGNS, description="Only these campaigns (repeatable)."),
    ] = None,
    epsilon: Annotated[
        float,
        Query(
            gt=0,
            le=EPSILON_PER_REPORT_MAX,
            allow_inf_nan=False,
            description=f"ε this report spends, in (0, {EPSILON_PER_REPORT_MAX:g}].",
        ),
    ] = EPSILON_PER_REPORT,
) -> Any:
    """Reach, deliveries, focused views and spend per cell, differentially private.

    The report is charged to the privacy budget before it is computed, and is
    charged even when nothing is released: that nothing is itself information.
    """
    period = _period(first, last, MAX_REPORT_DAYS)
    campaigns = _own_campaigns(services, advertiser, campaign)
    now_ms = services.clock.now_ms()
    today = _day(now_ms)
    label = _label(grain, period, campaigns)
    try:
        ledger = services.store.reports.charge(
            advertiser.id,
            today,
            epsilon,
            DELTA_PER_REPORT,
            report=label,
            at_ms=now_ms,
            limits=BUDGET_LIMITS,
        )
    except FairviewError as exc:
        if exc.code != "privacy_budget_exhausted":
            raise
        return _exhausted(exc, now_ms)
    config = DpConfig(epsilon=epsilon, delta=DELTA_PER_REPORT)
    rows = services.store.reports.delivery_rows(
        advertiser.id, campaigns, _ms(period.first_day), _ms(period.last_day + timedelta(days=1))
    )
    # No rows, no partition: PipelineDP refuses an empty collection, so skip it.
    report = (
        dp_report(rows, config, grain=grain) if rows else Report(grain, epsilon, config.delta, ())
    )
    totals = exact_totals(rows)
    eps_spent, delta_spent = ledger.spent(advertiser.id, today)
    out = DeliveryReportOut(
        release_id=new_id("rel"),
        released_at=datetime.fromtimestamp(now_ms / 1000, UTC),
        period=period,
        grain=grain,
        campaigns=campaigns,
        privacy=PrivacyOut(
            epsilon=epsilon,
            delta=config.delta,
            epsilon_spent_in_period=eps_spent,
            delta_spent_in_period=delta_spent,
            epsilon_remaining=ledger.remaining(advertiser.id, today),
            delta_remaining=max(0.0, ledger.delta_per_period - delta_spent),
            epsilon_per_period=ledger.epsilon_per_period,
            delta_per_period=ledger.delta_per_period,
            period_days=ledger.period_days,
        ),
        config=_config_out(config),
        cells=_cells(report.cells),
        totals=ExactTotalsOut(
            deliveries=totals.deliveries,
            focused_views=totals.focused_views,
            spend=totals.spend,
            currency=advertiser.currency,
        ),
    )
    # Released output is post-processing: keeping it costs nothing and lets it be
    # shown again without a new charge (and without new noise to average).
    services.store.reports.save_release(
        Release(
            id=out.release_id,
            advertiser_id=advertiser.id,
            created_ms=now_ms,
            first_day=period.first_day,
            last_day=period.last_day,
            grain=grain.value,
            campaigns=campaigns,
            epsilon=epsilon,
            delta=config.delta,
            cells=len(out.cells),
            body=orjson.dumps(out.model_dump(mode="json", by_alias=True)),
        )
    )
    return out


MAX_RELEASES_LISTED = 100


@router.get("/reports/releases", response_model=list[ReleaseOut])
def list_releases(
    advertiser: AdvertiserDep,
    services: ServicesDep,
    campaign: Annotated[
        list[str] | None,
        Query(
            max_length=MAX_CAMPAIGNS,
            description="Only releases of exactly these campaigns (repeatable).",
        ),
    ] = None,
) -> list[ReleaseOut]:
    """The advertiser's released DP reports, newest first (at most 100); no budget spent."""
    campaigns = _own_campaigns(services, advertiser, campaign)
    found = services.store.reports.releases(
        advertiser.id, campaigns=campaigns, limit=MAX_RELEASES_LISTED
    )
    return [
        ReleaseOut(
            id=r.id,
            released_at=datetime.fromtimestamp(r.created_ms / 1000, UTC),
            period=PeriodOut(
                first_day=r.first_day,
                last_day=r.last_day,
                days=(r.last_day - r.first_day).days + 1,
            ),
            grain=r.grain,
            campaigns=r.campaigns,
            epsilon=r.epsilon,
            delta=r.delta,
            cells=r.cells,
        )
        for r in found
    ]


@router.get(
    "/reports/releases/{release_id}",
    response_model=DeliveryReportOut,
    responses={404: {"description": "release_not_found"}},
)
def get_release(release_id: str, advertiser: AdvertiserDep, services: ServicesDep) -> Any:
    """A released report exactly as it was released: the same numbers, no budget spent."""
    return JSONBytes(release_body(services, advertiser, release_id))


def release_body(
    services: ServicesDep, advertiser: AdvertiserRecord, release_id: str
) -> dict[str, Any]:
    """The stored JSON of one of the advertiser's releases (another's is like none)."""
    found = services.store.reports.release(advertiser.id, release_id[:40])
    if found is None:
        raise NotFound(
            "release_not_found",
            f"No released report '{release_id[:60]}' in your account; "
            "list them with GET /v1/reports/releases.",
        )
    body: dict[str, Any] = orjson.loads(found.body)
    return body


@router.get(
    "/reports/verdicts",
    response_model=VerdictsOut,
    responses={404: {"description": "campaign_not_found"}},
)
def campaign_verdicts(
    advertiser: AdvertiserDep,
    services: ServicesDep,
    campaign: Annotated[str, Query(max_length=60, description="The campaign id.")],
) -> VerdictsOut:
    """Viewability and focused-view rate of one campaign: exact totals, no budget.

    Like the delivery report's exact totals and the billing ledger, these are
    contractual campaign totals (what cpm_viewable and cpfv bill on), never per
    segment, so they carry no noise.
    """
    (campaign_id,) = _own_campaigns(services, advertiser, [campaign]) or [campaign]
    t = services.store.reports.verdict_totals(campaign_id)
    return VerdictsOut(
        campaign_id=campaign_id,
        deliveries=t.deliveries,
        settled=t.settled,
        viewable=t.viewable,
        focused_views=t.focused_views,
        invalid=t.invalid,
        viewability_rate=t.viewable / t.settled if t.settled else None,
        focused_view_rate=t.focused_views / t.settled if t.settled else None,
    )


@router.get("/reports/budget", response_model=BudgetOut)
def privacy_budget(advertiser: AdvertiserDep, services: ServicesDep) -> BudgetOut:
    """The advertiser's privacy budget in the period ending today, with every charge in it."""
    today = _day(services.clock.now_ms())
    start = BUDGET_LIMITS.window_start(today)
    history = services.store.reports.history(advertiser.id, start)
    eps = sum(c.epsilon for c in history if c.day <= today)
    delta = sum(c.delta for c in history if c.day <= today)
    return BudgetOut(
        day=today,
        period=PeriodOut(first_day=start, last_day=today, days=BUDGET_LIMITS.period_days),
        period_days=BUDGET_LIMITS.period_days,
        epsilon_per_period=BUDGET_LIMITS.epsilon_per_period,
        delta_per_period=BUDGET_LIMITS.delta_per_period,
        epsilon_spent=eps,
        delta_spent=delta,
        epsilon_remaining=max(0.0, BUDGET_LIMITS.epsilon_per_period - eps),
        delta_remaining=max(0.0, BUDGET_LIMITS.delta_per_period - delta),
        epsilon_per_report=EPSILON_PER_REPORT,
        epsilon_per_report_max=EPSILON_PER_REPORT_MAX,
        delta_per_report=DELTA_PER_REPORT,
        charges=[
            ChargeOut(
                day=c.day,
                at=datetime.fromtimestamp(c.at_ms / 1000, UTC),
                epsilon=c.epsilon,
                delta=c.delta,
                report=c.report,
            )
            for c in history
            if c.day <= today
        ],
    )


@router.get("/reports/billing", response_model=BillingOut)
def billing_report(
    advertiser: AdvertiserDep, services: ServicesDep, first: _From, last: _To
) -> BillingOut:
    """Exact ledger sums per campaign and day: contractual, not per viewer, no budget."""
    period = _period(first, last, MAX_BILLING_DAYS)
    lines = services.store.reports.billing(advertiser.id, period.first_day, period.last_day)
    return BillingOut(
        period=period,
        currency=advertiser.currency,
        lines=[
            BillingLineOut(
                campaign_id=line.campaign_id,
                day=line.day,
                entries=line.entries,
                amount=line.amount,
                unbilled_amount=line.unbilled_amount,
            )
            for line in lines
        ],
        totals=BillingTotalsOut(
            entries=sum(line.entries for line in lines),
            amount=sum(line.amount for line in lines),
            unbilled_amount=sum(line.unbilled_amount for line in lines),
        ),
    )


# -- helpers ------------------------------------------------------------------------------


def _invalid(field: str, code: str, message: str) -> RequestValidationError:
    """A 422 in the project's validation format, with a stable `code`."""
    return RequestValidationError(
        [{"type": code, "loc": ("query", field), "msg": message, "input": None}]
    )


def _parse_day(field: str, text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise _invalid(
            field, "not_date", f"'{text[:20]}' is not a calendar day; write it as YYYY-MM-DD"
        ) from None


def _period(first: str, last: str, max_days: int) -> PeriodOut:
    first_day, last_day = _parse_day("from", first), _parse_day("to", last)
    if first_day > last_day:
        raise _invalid("to", "before_from", f"'to' ({last_day}) is before 'from' ({first_day})")
    days = (last_day - first_day).days + 1
    if days > max_days:
        raise _invalid(
            "to",
            "period_too_long",
            f"the period spans {days} days, at most {max_days} are allowed; "
            "split it into shorter periods",
        )
    return PeriodOut(first_day=first_day, last_day=last_day, days=days)


def _own_campaigns(
    services: ServicesDep, advertiser: AdvertiserRecord, asked: Sequence[str] | None
) -> list[str] | None:
    """The asked campaigns, deduplicated; another advertiser's answers like a missing one."""
    if asked is None:
        return None
    own = {c.id for c in services.store.catalog.campaigns(advertiser.id)}
    wanted = list(dict.fromkeys(asked))
    for campaign_id in wanted:
        if campaign_id not in own:
            raise NotFound(
                "campaign_not_found", f"No campaign '{campaign_id[:60]}' in your account."
            )
    return wanted


def _exhausted(exc: FairviewError, now_ms: int) -> JSONBytes:
    """The 429 with a Retry-After header when there is a day the report fits again."""
    headers = {}
    retry_on = exc.extra.get("retry_on")
    if isinstance(retry_on, str):
        wait_ms = _ms(date.fromisoformat(retry_on)) - now_ms
        headers["Retry-After"] = str(max(1, math.ceil(wait_ms / 1000)))
    return JSONBytes(exc.to_json(), status_code=exc.status, headers=headers)


def _label(grain: Grain, period: PeriodOut, campaigns: list[str] | None) -> str:
    which = "all campaigns" if campaigns is None else f"{len(campaigns)} campaign(s)"
    return f"delivery {grain.value} {period.first_day}..{period.last_day}, {which}"


def _config_out(config: DpConfig) -> ConfigOut:
    return ConfigOut(
        noise="laplace",
        confidence=CONFIDENCE,
        pre_threshold=config.pre_threshold,
        partition_selection="truncated_geometric",
        bounds=BoundsOut(
            reach=1,
            deliveries=config.max_deliveries_per_partition,
            focused_views=config.max_focused_per_partition,
            spend=config.max_spend_per_partition,
            max_partitions_contributed=config.max_partitions_contributed,
        ),
        budget_shares={
            "partition_selection": config.selection_share,
            "reach": config.reach_share,
            "deliveries": config.sum_share,
            "focused_views": config.sum_share,
            "spend": config.sum_share,
        },
    )


def _cells(released: Sequence[DpCell]) -> list[CellOut]:
    """One entry per partition, in the report's order (day, region, cohort)."""
    by_partition: dict[Partition, dict[Metric, EstimateOut]] = {}
    for c in released:
        by_partition.setdefault(c.partition, {})[c.metric] = EstimateOut(
            value=c.value, ci_low=c.ci_low, ci_high=c.ci_high
        )
    return [
        CellOut(
            day=p.day,
            region=p.region,
            cohort=p.cohort,
            reach=m[Metric.REACH],
            deliveries=m[Metric.DELIVERIES],
            focused_views=m[Metric.FOCUSED_VIEWS],
            spend=m[Metric.SPEND],
        )
        for p, m in by_partition.items()
    ]


def _day(ms: int) -> date:
    return _EPOCH + timedelta(days=ms // _DAY_MS)


def _ms(day: date) -> int:
    return (day - _EPOCH).days * _DAY_MS
