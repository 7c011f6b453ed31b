"""Differentially private reports: noise scale, accuracy, suppression, budget, exact totals.

PipelineDP's noise comes from a native library that cannot be seeded, so the
statistical tests use enough runs that a correct mechanism fails them with
probability well under 1 %, while a mechanism off by the tolerance fails
almost surely.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date, timedelta
from functools import cache

import numpy as np
import opendp.prelude as dp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fairview.errors import FairviewError
from fairview.report import (
    ALL,
    DEFAULT_CONFIG,
    DeliveryRow,
    DpConfig,
    Grain,
    Metric,
    Partition,
    PrivacyBudget,
    dp_report,
    exact_totals,
    privacy_unit_for,
)

DAY = date(2026, 5, 1)
CELL = Partition(DAY, "DE", "c1")
LN20 = math.log(20)

# Generous selection, default-like reach: small cells are released, so many runs stay fast.
NOISE_CONFIG = DpConfig(epsilon=5.0, selection_share=0.9, reach_share=0.06)  # reach ε = 0.3
NOISE_VIEWERS = 150
NOISE_RUNS = 1200


def _rows(
    n: int, *, cohort: str | None = "c1", prefix: str = "viewer-secret-", **kw: int
) -> list[DeliveryRow]:
    return [DeliveryRow(f"{prefix}{i}", DAY, "DE", cohort, **kw) for i in range(n)]


def _laplace_b(config: DpConfig, share: float, max_value: int = 1) -> float:
    """The Laplace scale the stated ε implies: L0 · L∞ / ε_metric."""
    return config.max_partitions_contributed * max_value / (config.epsilon * share)


@cache
def _noise_samples() -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]:
    """Reach and deliveries of one cell over NOISE_RUNS reports, plus (reach, its ci_high)."""
    rows = _rows(NOISE_VIEWERS, delivered=2)
    reach: list[float] = []
    deliveries: list[float] = []
    half: list[tuple[float, float]] = []
    for _ in range(NOISE_RUNS):
        report = dp_report(rows, NOISE_CONFIG)
        r, d = report.cell(CELL, Metric.REACH), report.cell(CELL, Metric.DELIVERIES)
        assert r is not None and d is not None, "the noise cell must be released every run"
        reach.append(r.value)
        deliveries.append(d.value)
        half.append((r.value, r.ci_high))
    return np.array(reach), np.array(deliveries), half


def test_empirical_noise_matches_stated_epsilon() -> None:
    reach, deliveries, half = _noise_samples()
    b_reach = _laplace_b(NOISE_CONFIG, NOISE_CONFIG.reach_share)
    b_sum = _laplace_b(
        NOISE_CONFIG, NOISE_CONFIG.sum_share, NOISE_CONFIG.max_deliveries_per_partition
    )
    # Laplace(b) has std √2·b. The sample std of n draws has a relative standard error of
    # √(5 / 4n) ≈ 3.2 % at n = 1,200 (Laplace kurtosis 6), so ±13 % is 4 σ: a wrong scale
    # (e.g. ε off by a third) fails, a correct one fails about once in 15,000 runs.
    assert reach.std() == pytest.approx(math.sqrt(2) * b_reach, rel=0.13)
    assert deliveries.std() == pytest.approx(math.sqrt(2) * b_sum, rel=0.13)
    assert abs(reach.mean() - NOISE_VIEWERS) < 4 * reach.std() / math.sqrt(NOISE_RUNS)
    assert abs(deliveries.mean() - 2 * NOISE_VIEWERS) < 4 * deliveries.std() / math.sqrt(NOISE_RUNS)
    # The stated interval is the Laplace 95 % half-width for the stated ε, its upper bound
    # raised to 0 in the rare run whose noisy value lies below minus that half-width.
    expected = [max(0.0, value + b_reach * LN20) for value, _ in half]
    assert [high for _, high in half] == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_opendp_laplace_gives_the_same_noise_scale() -> None:
    reach, _, _ = _noise_samples()
    eps = NOISE_CONFIG.epsilon * NOISE_CONFIG.reach_share
    dp.enable_features("contrib")
    space = (dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance())

    def count(scale: float) -> dp.Measurement:
        return dp.t.make_count(*space) >> dp.m.then_laplace(scale)

    # One viewer adds or removes up to L0 rows across partitions: d_in = L0.
    scale = dp.binary_search_param(count, d_in=NOISE_CONFIG.max_partitions_contributed, d_out=eps)
    assert scale == pytest.approx(_laplace_b(NOISE_CONFIG, NOISE_CONFIG.reach_share), rel=1e-6)
    measurement = count(scale)
    data = [f"viewer-secret-{i}" for i in range(NOISE_VIEWERS)]
    # OpenDP is fast: its 10,000 draws pin its std to ±1.5 %, leaving PipelineDP's ±3 % spread.
    opendp_reach = np.array([measurement(data) for _ in range(10_000)], dtype=float)
    # 4 σ of the two sample stds' combined relative error (3.2 % and 1.1 %).
    assert reach.std() == pytest.approx(opendp_reach.std(), rel=0.14)


def test_relative_error_under_5_percent_for_1000_viewers_at_default_epsilon() -> None:
    rows = _rows(1000, delivered=1, focused=1, spend=20)
    errors, covered = [], 0
    for _ in range(200):
        cell = dp_report(rows).cell(CELL, Metric.REACH)
        assert cell is not None
        errors.append(abs(cell.value - 1000) / 1000)
        covered += cell.ci_low <= 1000 <= cell.ci_high
    assert np.percentile(errors, 95) <= 0.05
    assert covered >= 0.88 * 200  # the 95 % interval, with room for 200 draws


def test_partition_under_pre_threshold_is_never_released() -> None:
    # ε so large that DP selection alone would release 99 viewers: pre_threshold must hold.
    config = DpConfig(epsilon=50.0)
    rows = _rows(99, cohort="small") + _rows(150, cohort="large", prefix="other-")
    small, large = Partition(DAY, "DE", "small"), Partition(DAY, "DE", "large")
    released_large = 0
    for _ in range(1000):
        partitions = dp_report(rows, config).partitions()
        assert small not in partitions
        released_large += large in partitions
    assert released_large > 900


def test_default_config_suppresses_small_cells_entirely() -> None:
    report = dp_report(_rows(99), DEFAULT_CONFIG)
    assert report.cells == ()


def test_budget_refuses_reports_beyond_the_period() -> None:
    ledger = PrivacyBudget()
    for i in range(9):
        ledger.charge(
            "adv-1", DAY + timedelta(days=i), DEFAULT_CONFIG.epsilon, DEFAULT_CONFIG.delta
        )
    with pytest.raises(FairviewError) as info:
        ledger.charge("adv-1", DAY + timedelta(days=9), 1.0, 1e-9)
    err = info.value
    assert (err.code, err.status) == ("privacy_budget_exhausted", 429)
    assert "retry on 2026-05-31" in err.detail
    assert err.to_json()["retry_on"] == "2026-05-31"
    assert len(ledger.charges) == 9  # a refusal spends nothing
    ledger.charge("adv-2", DAY, 1.0, 1e-9)  # budgets are per advertiser
    ledger.charge("adv-1", DAY + timedelta(days=30), 1.0, 1e-9)  # the window slides


def test_budget_refuses_more_than_a_whole_period_and_delta_overruns() -> None:
    ledger = PrivacyBudget(epsilon_per_period=2.0, delta_per_period=2e-9)
    with pytest.raises(FairviewError, match="smaller epsilon") as info:
        ledger.charge("adv", DAY, 2.5, 0)
    assert info.value.extra["retry_on"] is None
    ledger.charge("adv", DAY, 0.1, 2e-9)
    with pytest.raises(FairviewError, match="needs delta 1e-09"):
        ledger.charge("adv", DAY, 0.1, 1e-9)
    assert ledger.remaining("adv", DAY) == pytest.approx(1.9)


@given(st.lists(st.tuples(st.integers(0, 90), st.floats(0.05, 3.0)), max_size=40))
def test_budget_never_exceeds_any_window(charges: list[tuple[int, float]]) -> None:
    ledger = PrivacyBudget()
    for offset, eps in sorted(charges):
        day = DAY + timedelta(days=offset)
        after = ledger.spent("adv", day)[0] + eps
        if after < 9.0 - 1e-9:
            ledger.charge("adv", day, eps, 1e-10)
        elif after > 9.0 + 1e-9:
            with pytest.raises(FairviewError, match="needs epsilon"):
                ledger.charge("adv", day, eps, 1e-10)
    for offset in range(0, 91):
        assert ledger.spent("adv", DAY + timedelta(days=offset))[0] <= 9.0 + 1e-9


@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 10_000)), max_size=50))
def test_exact_totals_are_plain_sums(values: list[tuple[int, int]]) -> None:
    rows = [DeliveryRow(f"u{i % 3}", DAY, "DE", None, 1, f, s) for i, (f, s) in enumerate(values)]
    totals = exact_totals(rows)
    assert totals.deliveries == len(values)
    assert totals.focused_views == sum(f for f, _ in values)
    assert totals.spend == sum(s for _, s in values)


def test_no_output_contains_a_privacy_unit() -> None:
    rows = _rows(1200, delivered=2, focused=1, spend=30)
    ledger = PrivacyBudget(epsilon_per_period=1.0)
    ledger.charge("adv", DAY, 1.0, 1e-9)
    with pytest.raises(FairviewError) as info:
        ledger.charge("adv", DAY, 1.0, 1e-9)
    outputs = [dp_report(rows, grain=g) for g in Grain]
    assert all(r.cells for r in outputs)
    text = (
        repr(outputs) + repr([dataclasses.asdict(r) for r in outputs]) + repr(info.value.to_json())
    )
    assert "viewer-secret" not in text


def test_rollups_merge_regions_and_cohorts() -> None:
    rows = _rows(600, cohort="a") + [DeliveryRow(f"fr-{i}", DAY, "FR", None) for i in range(600)]
    by_day = dp_report(rows, grain=Grain.DAY)
    assert by_day.partitions() == {Partition(DAY, ALL, ALL)}
    cell = by_day.cell(Partition(DAY, ALL, ALL), Metric.REACH)
    # P(|Laplace(b)| > 20 b) = e^-20: never, unless the roll-up lost viewers.
    assert cell is not None and abs(cell.value - 1200) < 20 * _laplace_b(DEFAULT_CONFIG, 0.4)
    assert set(Metric) == {c.metric for c in by_day.cells}
    by_region = dp_report(rows, grain=Grain.DAY_REGION).partitions()
    assert by_region <= {Partition(DAY, "DE", ALL), Partition(DAY, "FR", ALL)}


def test_deliveries_without_pseudonym_are_their_own_units() -> None:
    assert privacy_unit_for(None, "d-1") != privacy_unit_for(None, "d-2")
    assert privacy_unit_for("p", "d-1") == privacy_unit_for("p", "d-2")
    assert privacy_unit_for("d-1", "x") != privacy_unit_for(None, "d-1")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"epsilon": 0},
        {"delta": 1},
        {"selection_share": 0.5, "reach_share": 0.5},
        {"reach_share": 0},
        {"pre_threshold": 0},
    ],
)
def test_config_refuses_meaningless_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        DpConfig(**kwargs)  # type: ignore[arg-type]


def test_an_empty_period_releases_nothing() -> None:
    report = dp_report([])
    assert report.cells == () and report.epsilon == DEFAULT_CONFIG.epsilon


def test_an_interval_never_goes_below_zero_even_when_the_noise_does() -> None:
    from fairview.report.dp import _cell

    class Tup:
        sum = -5000.0
        sum_noise_stddev = 1000.0

    cell = _cell(CELL, Metric.SPEND, Tup())
    assert (cell.ci_low, cell.ci_high) == (0.0, 0.0) and cell.value == -5000.0
