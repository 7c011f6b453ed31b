"""Differentially private advertiser reports, computed with PipelineDP.

The privacy unit is the viewer: each viewer's rows are bounded across
partitions (`max_partitions_contributed`) and within a partition (clamped
per-metric sums), partitions are selected privately after a hard
`pre_threshold`, and every released number carries Laplace noise. Billing
totals are exact and live in `exact_totals`: they are contractual and
not per-viewer.

One report runs two PipelineDP budget accountants in sequence, so its ε is the
sum of their shares (basic composition):

1. partition selection (truncated geometric, with `pre_threshold`),
   `selection_share` of ε and all of δ;
2. on the released partitions only (now public: post-processing), reach with
   `reach_share` of ε and the three clamped sums with the rest, split evenly.

This module is pure: no database, no clock. Noise comes from PipelineDP's
native library (Google's C++ DP) and cannot be seeded.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

import pipeline_dp  # type: ignore[import-untyped]

ALL = "*"
"""The region or cohort of a rolled-up partition: every value together."""

CONFIDENCE = 0.95
_Z_LAPLACE = math.log(1 / (1 - CONFIDENCE))
"""P(|Laplace(b)| > b·ln(1/α)) = α, so the 95 % half-width is b·ln 20 ≈ 3.0 b."""


class Metric(StrEnum):
    REACH = "reach"
    """Distinct viewers (at most 1 per viewer per partition)."""
    DELIVERIES = "deliveries"
    FOCUSED_VIEWS = "focused_views"
    SPEND = "spend"
    """Minor units of the advertiser's currency."""


class Grain(StrEnum):
    """How finely a report splits: finer grains release smaller, noisier cells."""

    DAY_REGION_COHORT = "day_region_cohort"
    DAY_REGION = "day_region"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One delivery of the advertiser's ads, as the report reads it.

    `privacy_unit` is the viewer pseudonym; a delivery without one gets a
    unique per-delivery id (see `privacy_unit_for`). `spend` is in minor units.
    """

    privacy_unit: str
    day: date
    region: str
    cohort: str | None
    delivered: int = 1
    focused: int = 0
    spend: int = 0


@dataclass(frozen=True, slots=True)
class Partition:
    """A report cell's key; `ALL` marks a rolled-up dimension, cohort None means "no cohort"."""

    day: date
    region: str
    cohort: str | None


@dataclass(frozen=True, slots=True)
class DpCell:
    """A released noisy value with its 95 % confidence interval for the noise alone.

    The interval does not cover the (downward) bias of contribution bounding:
    viewers above the clamps count only up to them.
    """

    partition: Partition
    metric: Metric
    value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True, slots=True)
class DpConfig:
    """Privacy parameters of one report. Defaults are documented in docs/reports.md."""

    epsilon: float = 1.0
    delta: float = 1e-9
    pre_threshold: int = 100
    max_partitions_contributed: int = 5
    max_deliveries_per_partition: int = 3
    max_focused_per_partition: int = 3
    max_spend_per_partition: int = 100
    selection_share: float = 0.3
    reach_share: float = 0.4

    def __post_init__(self) -> None:
        if not (self.epsilon > 0 and 0 < self.delta < 1):
            raise ValueError("epsilon must be > 0 and delta in (0, 1)")
        if self.selection_share <= 0 or self.reach_share <= 0:
            raise ValueError("budget shares must be positive")
        if self.selection_share + self.reach_share >= 1:
            raise ValueError("selection_share + reach_share must leave budget for the sums")
        if min(self.pre_threshold, self.max_partitions_contributed) < 1:
            raise ValueError("pre_threshold and max_partitions_contributed must be ≥ 1")

    @property
    def sum_share(self) -> float:
        """Each of the three sums' share of ε."""
        return (1 - self.selection_share - self.reach_share) / 3


DEFAULT_CONFIG = DpConfig()


@dataclass(frozen=True, slots=True)
class Report:
    """Released cells of one report; suppressed partitions are simply absent."""

    grain: Grain
    epsilon: float
    delta: float
    cells: tuple[DpCell, ...]
    noise: str = "laplace"
    confidence: float = CONFIDENCE

    def cell(self, partition: Partition, metric: Metric) -> DpCell | None:
        """The released cell, or None when the partition was suppressed."""
        for c in self.cells:
            if c.partition == partition and c.metric is metric:
                return c
        return None

    def partitions(self) -> frozenset[Partition]:
        return frozenset(c.partition for c in self.cells)


@dataclass(frozen=True, slots=True)
class ExactTotals:
    """Billing totals over all rows: exact, no noise, no per-segment split."""

    deliveries: int
    focused_views: int
    spend: int


def privacy_unit_for(viewer_pseudonym: str | None, delivery_id: str) -> str:
    """The privacy unit of a delivery: its viewer, or the delivery itself.

    Without a pseudonym we cannot tell which deliveries share a viewer, so each
    one becomes its own unit. That is the conservative choice for the report's
    accuracy, never for privacy: a real viewer behind k such deliveries is
    protected at k·ε at worst, the same as k viewers; merging them under one
    shared id would instead let one "unit" hide many people and be truncated
    to `max_partitions_contributed`. The prefixes keep the two id spaces apart.
    """
    return f"v:{viewer_pseudonym}" if viewer_pseudonym is not None else f"d:{delivery_id}"


def exact_totals(rows: Iterable[DeliveryRow]) -> ExactTotals:
    """Plain sums over every row, for invoices (contractual, not per-viewer)."""
    deliveries = focused = spend = 0
    for r in rows:
        deliveries += r.delivered
        focused += r.focused
        spend += r.spend
    return ExactTotals(deliveries, focused, spend)


@dataclass(frozen=True, slots=True)
class _UnitCell:
    """One viewer's contribution to one partition, before clamping."""

    unit: str
    partition: Partition
    delivered: int
    focused: int
    spend: int


def _partition_of(row: DeliveryRow, grain: Grain) -> Partition:
    if grain is Grain.DAY:
        return Partition(row.day, ALL, ALL)
    if grain is Grain.DAY_REGION:
        return Partition(row.day, row.region, ALL)
    return Partition(row.day, row.region, row.cohort)


def _unit_cells(rows: Iterable[DeliveryRow], grain: Grain) -> list[_UnitCell]:
    sums: defaultdict[tuple[str, Partition], list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        acc = sums[(r.privacy_unit, _partition_of(r, grain))]
        acc[0] += r.delivered
        acc[1] += r.focused
        acc[2] += r.spend
    return [_UnitCell(u, p, d, f, s) for (u, p), (d, f, s) in sums.items()]


def _extractors(value: Callable[[_UnitCell], float]) -> Any:
    return pipeline_dp.DataExtractors(
        privacy_id_extractor=lambda c: c.unit,
        partition_extractor=lambda c: c.partition,
        value_extractor=value,
    )


def _select(cells: Sequence[_UnitCell], config: DpConfig) -> list[Partition]:
    accountant = pipeline_dp.NaiveBudgetAccountant(
        total_epsilon=config.epsilon * config.selection_share, total_delta=config.delta
    )
    engine = pipeline_dp.DPEngine(accountant, pipeline_dp.LocalBackend())
    params = pipeline_dp.SelectPartitionsParams(
        max_partitions_contributed=config.max_partitions_contributed,
        partition_selection_strategy=pipeline_dp.PartitionSelectionStrategy.TRUNCATED_GEOMETRIC,
        pre_threshold=config.pre_threshold,
    )
    selected = engine.select_partitions(cells, params, _extractors(lambda c: 0))
    accountant.compute_budgets()
    return list(selected)


@dataclass(frozen=True, slots=True)
class _Aggregation:
    metric: Metric
    pipeline_metric: Any
    value: Callable[[_UnitCell], float]
    max_value: int
    weight: float


def _aggregations(config: DpConfig) -> list[_Aggregation]:
    s = config.sum_share
    sum_ = pipeline_dp.Metrics.SUM
    return [
        _Aggregation(
            Metric.REACH, pipeline_dp.Metrics.PRIVACY_ID_COUNT, lambda c: 0, 1, config.reach_share
        ),
        _Aggregation(
            Metric.DELIVERIES, sum_, lambda c: c.delivered, config.max_deliveries_per_partition, s
        ),
        _Aggregation(
            Metric.FOCUSED_VIEWS, sum_, lambda c: c.focused, config.max_focused_per_partition, s
        ),
        _Aggregation(Metric.SPEND, sum_, lambda c: c.spend, config.max_spend_per_partition, s),
    ]


def _measure(
    cells: Sequence[_UnitCell], partitions: list[Partition], config: DpConfig
) -> list[DpCell]:
    rest = 1 - config.selection_share
    accountant = pipeline_dp.NaiveBudgetAccountant(
        total_epsilon=config.epsilon * rest, total_delta=0
    )
    engine = pipeline_dp.DPEngine(accountant, pipeline_dp.LocalBackend())
    pending = []
    for agg in _aggregations(config):
        params = pipeline_dp.AggregateParams(
            metrics=[agg.pipeline_metric],
            noise_kind=pipeline_dp.NoiseKind.LAPLACE,
            max_partitions_contributed=config.max_partitions_contributed,
            max_contributions_per_partition=1,
            min_value=0,
            max_value=agg.max_value,
            budget_weight=agg.weight / rest,
            output_noise_stddev=True,
        )
        result = engine.aggregate(cells, params, _extractors(agg.value), partitions)
        pending.append((agg.metric, result))
    accountant.compute_budgets()
    return [_cell(p, metric, tup) for metric, result in pending for p, tup in result]


def _cell(partition: Partition, metric: Metric, metrics_tuple: Any) -> DpCell:
    name = "privacy_id_count" if metric is Metric.REACH else "sum"
    value = float(getattr(metrics_tuple, name))
    half_width = float(getattr(metrics_tuple, f"{name}_noise_stddev")) / math.sqrt(2) * _Z_LAPLACE
    # The true value is ≥ 0, so raising both bounds to at least 0 keeps the coverage (an
    # interval wholly below 0 missed the truth anyway) and keeps ci_low ≤ ci_high.
    low, high = max(0.0, value - half_width), max(0.0, value + half_width)
    return DpCell(partition, metric, value, low, high)


def dp_report(
    rows: Iterable[DeliveryRow],
    config: DpConfig = DEFAULT_CONFIG,
    *,
    grain: Grain = Grain.DAY_REGION_COHORT,
) -> Report:
    """Release reach, deliveries, focused views and spend per partition at (ε, δ) = config.

    Partitions with fewer than `pre_threshold` viewers are never released; the
    DP selection suppresses more (how many depends on ε). Spends exactly
    `config.epsilon`, `config.delta`: charge a `PrivacyBudget` first.
    """
    cells = _unit_cells(rows, grain)
    if not cells:  # nothing to release (PipelineDP refuses an empty collection)
        return Report(grain, config.epsilon, config.delta, ())
    partitions = _select(cells, config)
    released = _measure(cells, partitions, config) if partitions else []
    order = {m: i for i, m in enumerate(Metric)}
    released.sort(
        key=lambda c: (
            c.partition.day,
            c.partition.region,
            c.partition.cohort or "",
            order[c.metric],
        )
    )
    return Report(grain, config.epsilon, config.delta, tuple(released))


@dataclass(frozen=True, slots=True)
class DpCount:
    """A released distinct-unit count with its 95 % interval (noise only)."""

    value: float
    ci_low: float
    ci_high: float


def dp_unit_counts(
    pairs: Iterable[tuple[str, Any]],
    *,
    epsilon: float,
    delta: float,
    pre_threshold: int,
    max_partitions_contributed: int,
    selection_share: float = 0.3,
) -> dict[Any, DpCount]:
    """Distinct privacy units per partition key, released like a report's reach.

    `pairs` are (privacy unit, partition key); keys are any hashable. The same two
    steps as `dp_report` at (ε, δ): DP partition selection after `pre_threshold`,
    then Laplace counts on the selected keys; contributions are bounded to
    `max_partitions_contributed` keys per unit.
    """
    seen = {(unit, key) for unit, key in pairs}
    if not seen:
        return {}
    cells = [_UnitCell(unit, key, 1, 0, 0) for unit, key in seen]
    config = DpConfig(
        epsilon=epsilon,
        delta=delta,
        pre_threshold=pre_threshold,
        max_partitions_contributed=max_partitions_contributed,
        selection_share=selection_share,
        reach_share=1 - selection_share - 1e-9,
    )
    selected = _select(cells, config)
    if not selected:
        return {}
    rest = 1 - selection_share
    accountant = pipeline_dp.NaiveBudgetAccountant(total_epsilon=epsilon * rest, total_delta=0)
    engine = pipeline_dp.DPEngine(accountant, pipeline_dp.LocalBackend())
    params = pipeline_dp.AggregateParams(
        metrics=[pipeline_dp.Metrics.PRIVACY_ID_COUNT],
        noise_kind=pipeline_dp.NoiseKind.LAPLACE,
        max_partitions_contributed=max_partitions_contributed,
        max_contributions_per_partition=1,
        output_noise_stddev=True,
    )
    result = engine.aggregate(cells, params, _extractors(lambda c: 0), selected)
    accountant.compute_budgets()
    out = {}
    for key, tup in result:
        cell = _cell(key, Metric.REACH, tup)
        out[key] = DpCount(cell.value, cell.ci_low, cell.ci_high)
    return out
