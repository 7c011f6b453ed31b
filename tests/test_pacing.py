"""Budget pacing: the daily goal, the PI controller, the pacer, and the simulation bar."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairview.domain import BillingModel, CampaignRecord
from fairview.serve.pacing import (
    KP,
    P_MIN,
    Pacer,
    PacingGoal,
    PiController,
    daily_goal,
    expected_fraction,
    in_flight_estimate,
    pacing_goal,
)
from fairview.sim.pacing import (
    EVENING_PEAK,
    SimCampaign,
    Traffic,
    simulate,
    spend_curve_error,
    standard_campaigns,
)

DAY_MS = 86_400_000
D0 = 20_000 * DAY_MS  # a UTC midnight
NOON = D0 + DAY_MS // 2


def _campaign(
    *, total: int = 10_000, daily: int | None = None, days: int = 10, status: str = "active"
) -> CampaignRecord:
    return CampaignRecord(
        "c1", "a1", "c", BillingModel.CPFV, 10, total, daily, D0, D0 + days * DAY_MS, status, 0, D0
    )


# daily_goal


def test_goal_spreads_the_total_over_the_flight_rounding_up() -> None:
    assert daily_goal(_campaign(total=10_001, days=10), 0, NOON) == 1_001


def test_goal_is_capped_by_the_daily_budget() -> None:
    assert daily_goal(_campaign(total=10_000, daily=700, days=10), 0, NOON) == 700


def test_goal_on_the_last_day_is_the_whole_remainder() -> None:
    last_day = D0 + 9 * DAY_MS + 1
    assert daily_goal(_campaign(total=10_000, days=10), 6_500, last_day) == 3_500


def test_goal_counts_a_partial_last_day_as_a_day() -> None:
    camp = replace(_campaign(total=3_000), ends_ms=D0 + DAY_MS * 5 // 2)  # ends day 3 at noon
    assert daily_goal(camp, 0, D0) == 1_000
    assert daily_goal(camp, 2_000, D0 + 2 * DAY_MS) == 1_000


def test_goal_spreads_what_earlier_days_missed() -> None:
    camp = _campaign(total=10_000, daily=2_000, days=10)
    assert daily_goal(camp, 1_000, D0 + 5 * DAY_MS) == 1_800  # 9,000 over 5 days


def test_no_goal_outside_the_flight_when_paused_or_spent() -> None:
    camp = _campaign(total=10_000, days=10)
    assert daily_goal(camp, 0, D0 - 1) == 0
    assert daily_goal(camp, 0, D0 + 10 * DAY_MS) == 0
    assert daily_goal(_campaign(status="paused"), 0, NOON) == 0
    assert daily_goal(camp, 10_000, NOON) == 0
    assert daily_goal(camp, 12_000, NOON) == 0


def test_pacing_goal_cuts_the_window_to_the_flight() -> None:
    camp = replace(_campaign(), starts_ms=NOON)
    assert pacing_goal(camp, 0, NOON + 1) == PacingGoal("c1", 1_000, NOON, D0 + DAY_MS)


@settings(max_examples=300, deadline=None)
@given(
    total=st.integers(0, 10**7),
    daily=st.none() | st.integers(1, 10**6),
    days=st.integers(1, 60),
)
def test_spending_each_goal_never_passes_a_budget(total: int, daily: int | None, days: int) -> None:
    camp = _campaign(total=total, daily=daily, days=days)
    spent = 0
    for day in range(days):
        goal = daily_goal(camp, spent, D0 + day * DAY_MS + 1)
        assert 0 <= goal <= total - spent
        assert daily is None or goal <= daily
        spent += goal
    # Goals add up to the total whenever the daily budget allows it at all.
    assert spent == (total if daily is None else min(total, daily * days))


# expected_fraction and in-flight


@settings(max_examples=300, deadline=None)
@given(
    a=st.integers(0, DAY_MS),
    b=st.integers(0, DAY_MS),
    start=st.integers(0, DAY_MS // 2),
    shaped=st.booleans(),
)
def test_expected_fraction_runs_from_0_to_1_and_never_falls(
    a: int, b: int, start: int, shaped: bool
) -> None:
    shape = EVENING_PEAK if shaped else None
    lo, hi = D0 + start, D0 + DAY_MS
    earlier, later = sorted((D0 + a, D0 + b))
    assert expected_fraction(lo, lo, hi, shape) == 0.0
    assert expected_fraction(hi, lo, hi, shape) == pytest.approx(1.0)
    f1, f2 = expected_fraction(earlier, lo, hi, shape), expected_fraction(later, lo, hi, shape)
    assert 0.0 <= f1 <= f2 <= 1.0


def test_expected_fraction_follows_the_shape() -> None:
    assert expected_fraction(NOON, D0, D0 + DAY_MS) == 0.5
    shape = [0.0] * 12 + [1.0] * 12  # all traffic in the afternoon
    assert expected_fraction(NOON, D0, D0 + DAY_MS, shape) == 0.0
    assert expected_fraction(NOON + 3 * 3_600_000, D0, D0 + DAY_MS, shape) == 0.25


def test_in_flight_uses_the_prior_then_the_observed_rate() -> None:
    assert in_flight_estimate(100, 0, 0, prior=3.0) == 300
    assert in_flight_estimate(100, 100_000, 500_000, prior=3.0) == 500
    assert in_flight_estimate(0, 10, 50, prior=3.0) == 0


# PiController


def test_controller_output_stays_within_its_clamps() -> None:
    pi = PiController(kp=5.0, ki=1.0, lo=-2.0, hi=0.0, initial=-1.0)
    assert pi.update(10.0, 60) == 0.0
    assert pi.update(-10.0, 60) == -2.0
    with pytest.raises(ValueError, match="lo must be below hi"):
        PiController(1.0, 1.0, 0.0, 0.0, 0.0)


def test_anti_windup_recovers_at_once_after_a_long_saturation() -> None:
    pi = PiController(kp=KP, ki=0.05, lo=math.log(P_MIN), hi=0.0, initial=0.0)
    for _ in range(12 * 60):  # twelve hours far behind: the output is pinned at hi
        assert pi.update(0.5, 60) == 0.0
    # Now ahead of plan: without anti-windup ~1,000 of integral would hold p at 1 for hours.
    assert pi.update(-0.01, 60) == pytest.approx(-0.01 * KP - 0.05 * 0.01 * 60)


def test_controller_integrates_a_steady_error() -> None:
    pi = PiController(kp=0.0, ki=0.01, lo=-10.0, hi=0.0, initial=-5.0)
    assert pi.update(1.0, 100) == pytest.approx(-4.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e3, 1e3), st.floats(0, 3_600)), max_size=50))
def test_controller_never_leaves_its_range(steps: list[tuple[float, float]]) -> None:
    pi = PiController(kp=KP, ki=0.05, lo=math.log(P_MIN), hi=0.0, initial=0.0)
    for error, dt in steps:
        assert math.log(P_MIN) <= pi.update(error, dt) <= 0.0


# Pacer


def _goal(goal: int = 1_000) -> PacingGoal:
    return PacingGoal("c1", goal, D0, D0 + DAY_MS)


def test_unknown_campaigns_are_not_paced() -> None:
    assert Pacer().probability("nobody") == 1.0
    assert Pacer().admit("nobody", _NoDraws())


def test_probability_is_zero_at_the_goal_and_stays_until_the_next_day() -> None:
    pacer = Pacer()
    pacer.update(NOON, [_goal()], {"c1": 1_000}, {})
    assert pacer.probability("c1") == 0.0
    assert not pacer.admit("c1", _NoDraws())
    pacer.update(NOON + 60_000, [_goal()], {"c1": 1_000}, {})
    assert pacer.probability("c1") == 0.0
    tomorrow = PacingGoal("c1", 1_000, D0 + DAY_MS, D0 + 2 * DAY_MS)
    pacer.update(D0 + DAY_MS, [tomorrow], {"c1": 0}, {})
    assert pacer.probability("c1") == 1.0  # the frozen controller resumes where it was


def test_in_flight_spend_stops_a_campaign_before_settlement_catches_up() -> None:
    pacer = Pacer()
    pacer.update(NOON, [_goal()], {"c1": 600}, {"c1": 400})
    assert pacer.probability("c1") == 0.0
    pacer.update(NOON + 60_000, [_goal()], {"c1": 600}, {"c1": 100})  # fewer views than feared
    assert pacer.probability("c1") > 0.0


def test_ahead_of_plan_lowers_and_behind_raises_the_probability() -> None:
    pacer = Pacer()
    for minute in range(30):  # a quarter of the day gone, half the goal spent
        pacer.update(D0 + DAY_MS // 4 + minute * 60_000, [_goal()], {"c1": 500}, {})
    low = pacer.probability("c1")
    assert P_MIN <= low < 0.01
    for minute in range(30):  # then no spend until the afternoon
        pacer.update(NOON + minute * 60_000, [_goal()], {"c1": 500}, {})
    assert pacer.probability("c1") == 1.0


def test_admit_draws_with_the_probability() -> None:
    pacer = Pacer()
    pacer.update(D0 + DAY_MS // 4, [_goal()], {"c1": 260}, {})
    p = pacer.probability("c1")
    assert 0.2 < p < 0.8
    rng = random.Random(3)
    share = sum(pacer.admit("c1", rng) for _ in range(20_000)) / 20_000
    assert share == pytest.approx(p, abs=0.02)


def test_shape_must_have_24_hours() -> None:
    with pytest.raises(ValueError, match="24"):
        Pacer(shape=[1.0] * 23)


class _NoDraws:
    def random(self) -> float:
        raise AssertionError("admit drew a number it did not need")


# Simulation


def test_paced_spend_lands_within_5_percent_of_reachable_goals_and_never_over_cap() -> None:
    days, traffic = 4, Traffic(60_000)
    campaigns = standard_campaigns(days)
    result = simulate(campaigns, traffic, days, 11, Pacer(shape=traffic.shape))
    reachable = [d for d in result.days if d.reachable]
    assert len(reachable) >= 15
    assert all(abs(d.ratio - 1) <= 0.05 for d in reachable), [
        (d.campaign_id, d.day, round(d.ratio, 3)) for d in reachable
    ]
    assert all(d.cap is None or d.delivered <= d.cap for d in result.days)
    assert all(result.spent_total[c.id] <= c.budget_total for c in campaigns)
    assert max(spend_curve_error(d, EVENING_PEAK) for d in reachable if d.day > 0) < 0.1
    unreachable = [d for d in result.days if not d.reachable and d.goal > 0]
    assert unreachable and all(d.ratio < 0.95 for d in unreachable)


def test_without_pacing_daily_budgets_run_out_by_the_afternoon() -> None:
    traffic = Traffic(60_000)
    campaigns = standard_campaigns(1)[:1]
    result = simulate(campaigns, traffic, 1, 11, None)
    (day,) = result.days
    assert day.delivered == day.cap
    assert spend_curve_error(day, EVENING_PEAK) > 0.5


def test_simulation_is_deterministic_for_a_seed() -> None:
    campaign = SimCampaign("c", BillingModel.CPM_VIEWABLE, 900, 10**9, 500, 0.5, 0.7)
    traffic = Traffic(5_000)

    def once() -> object:
        return simulate([campaign], traffic, 1, 5, Pacer(shape=traffic.shape)).days

    assert once() == once()
