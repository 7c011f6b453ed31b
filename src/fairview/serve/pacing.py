"""Budget pacing: one throttle probability per campaign, steered by a PI loop.

Pure: time, spend and the random source are passed in. Each campaign's budget
is turned into a goal for the current UTC day (`daily_goal`); at least every
`UPDATE_INTERVAL_S` the `Pacer` compares the share of that goal already spent
(settled ledger spend plus the expected cost of deliveries not settled yet) with
the share of the day's traffic expected so far, and a PI controller moves the
campaign's probability of taking part in a decision (`admit`). Goals are paced;
caps are not: the ledger and the catalog still refuse to spend past a budget.
See docs/pacing.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from fairview.domain import BillingModel, CampaignRecord

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
UPDATE_INTERVAL_S = 60
"""The pacer must be updated at least this often (the controller is tuned for it)."""

KP = 90.0
"""Proportional gain on ln(probability): 1 % of the goal behind plan multiplies p by e^0.9."""
KI = 180.0 / 3_600
"""Integral gain per second: 1 % behind plan for an hour multiplies p by e^1.8 more.

With the error in shares of the goal and time in days, the linearised loop is
e'' + KP·e' + KI_day·e = 0 (KI_day = KI·86,400 = 4,320): a natural frequency of
66 per day (a time constant of about 22 minutes) and a damping ratio of 0.68.
"""
P_MIN = 1e-4
"""Lowest probability the controller sets while a goal is open (a goal 10,000 x below supply)."""
PRIOR_WEIGHT = 50
"""Settled deliveries the prior charge rate is worth in `in_flight_estimate`."""


class Uniform(Protocol):
    """A random source: `random.Random` or `numpy.random.Generator`."""

    def random(self) -> float: ...


@dataclass(frozen=True, slots=True)
class PacingGoal:
    """What a campaign should spend, in minor units, over `[day_start_ms, day_end_ms)`.

    The window is today's UTC day cut to the campaign's flight.
    """

    campaign_id: str
    daily_goal_minor: int
    day_start_ms: int
    day_end_ms: int


def daily_goal(campaign: CampaignRecord, spent_before_today: int, now_ms: int) -> int:
    """Minor units the campaign should spend on the UTC day of `now_ms`.

    goal = min(budget_daily, ceil(remaining / days_left), remaining), where
    remaining = budget_total − spent_before_today (settled spend of earlier days)
    and days_left counts UTC days from today to the flight's last day, both
    included (a partial first or last day counts as one). The last day therefore
    gets the whole remainder, and whatever earlier days did not spend is spread
    over the days left, never past `budget_daily`. 0 outside the flight or when
    the campaign is not active.
    """
    if campaign.status != "active" or not campaign.starts_ms <= now_ms < campaign.ends_ms:
        return 0
    remaining = max(0, campaign.budget_total - spent_before_today)
    days_left = (campaign.ends_ms - 1) // DAY_MS - now_ms // DAY_MS + 1
    goal = min(-(-remaining // days_left), remaining)
    return goal if campaign.budget_daily is None else min(goal, campaign.budget_daily)


def pacing_goal(campaign: CampaignRecord, spent_before_today: int, now_ms: int) -> PacingGoal:
    """Today's `daily_goal` with today's window cut to the flight."""
    day_start = now_ms // DAY_MS * DAY_MS
    return PacingGoal(
        campaign.id,
        daily_goal(campaign, spent_before_today, now_ms),
        max(day_start, campaign.starts_ms),
        min(day_start + DAY_MS, campaign.ends_ms),
    )


def prior_charge(model: BillingModel, bid: int) -> float:
    """Expected minor units per delivery before any has settled.

    Assumes a 30 % focused-view rate (cpfv) and a 60 % viewable rate (cpm).
    """
    return bid * 0.3 if model is BillingModel.CPFV else bid * 0.6 / 1000


def in_flight_estimate(pending: int, settled: int, settled_amount: int, prior: float) -> int:
    """Expected cost of `pending` issued-but-unsettled deliveries of today.

    The charge per delivery is the campaign's observed one (`settled_amount`,
    billed plus unbilled, over `settled` deliveries), shrunk towards `prior` as
    if `PRIOR_WEIGHT` deliveries had settled at the prior rate.
    """
    rate = (settled_amount + prior * PRIOR_WEIGHT) / (settled + PRIOR_WEIGHT)
    return round(pending * rate)


def expected_fraction(
    now_ms: int, start_ms: int, end_ms: int, shape: Sequence[float] | None = None
) -> float:
    """Share of the traffic of `[start_ms, end_ms)` expected before `now_ms`, in [0, 1].

    `shape` holds 24 non-negative weights, the relative traffic of each UTC hour
    (None: uniform). The window must lie within one UTC day (end may be the
    next midnight).
    """
    if end_ms <= start_ms:
        return 1.0
    day = start_ms // DAY_MS * DAY_MS
    total = _cumulative(end_ms - day, shape) - _cumulative(start_ms - day, shape)
    if total <= 0:
        return 1.0
    done = _cumulative(min(max(now_ms, start_ms), end_ms) - day, shape)
    return min(1.0, max(0.0, (done - _cumulative(start_ms - day, shape)) / total))


def _cumulative(ms_into_day: int, shape: Sequence[float] | None) -> float:
    hours = ms_into_day / HOUR_MS
    if shape is None:
        return hours
    whole = min(int(hours), 23)
    return math.fsum(shape[:whole]) + shape[whole] * (hours - whole)


class PiController:
    """u = kp·e + ki·∫e dt, clamped to [lo, hi], with anti-windup.

    The integral term is kept within [lo, hi] and stops integrating while the
    output is saturated in the direction of the error, so a long saturation
    (an unreachable goal, a hard stop) does not leave a debt that delays the
    recovery once the error changes sign.
    """

    def __init__(self, kp: float, ki: float, lo: float, hi: float, initial: float) -> None:
        if lo >= hi:
            raise ValueError("lo must be below hi")
        self.kp, self.ki, self.lo, self.hi = kp, ki, lo, hi
        self._integral = _clamp(initial, lo, hi)
        self._output = self._integral

    @property
    def output(self) -> float:
        return self._output

    def update(self, error: float, dt_s: float) -> float:
        """Feed the error measured now, `dt_s` seconds after the previous one."""
        proportional = self.kp * error
        integral = _clamp(self._integral + self.ki * error * dt_s, self.lo, self.hi)
        raw = proportional + integral
        if (raw > self.hi and error > 0) or (raw < self.lo and error < 0):
            integral = self._integral  # conditional integration: the anti-windup
        self._integral = integral
        self._output = _clamp(proportional + integral, self.lo, self.hi)
        return self._output


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, x))


@dataclass(slots=True)
class _Campaign:
    controller: PiController
    last_ms: int | None = None
    probability: float = 1.0


class Pacer:
    """Per-campaign throttle probabilities; not thread-safe (update from one thread).

    The controller works on ln(probability), so its gains act on relative
    changes and suit a campaign that needs 1 % of its traffic as well as one
    that needs 90 %. A campaign the pacer has no goal for is not paced
    (probability 1). A campaign whose settled spend today reached its goal gets
    0: the hard stop, which lasts until the next day because settled spend never
    falls and the day's goal never rises (unless the advertiser raises a budget).
    One whose settled plus in-flight spend reached its goal gets 0 until the
    projection falls below the goal again.
    """

    def __init__(
        self,
        *,
        kp: float = KP,
        ki: float = KI,
        p_min: float = P_MIN,
        shape: Sequence[float] | None = None,
    ) -> None:
        if shape is not None and (len(shape) != 24 or min(shape) < 0 or sum(shape) <= 0):
            raise ValueError("shape needs 24 non-negative hourly weights, not all zero")
        self._kp, self._ki, self._lo = kp, ki, math.log(p_min)
        self._shape = None if shape is None else tuple(shape)
        self._campaigns: dict[str, _Campaign] = {}

    def update(
        self,
        now_ms: int,
        goals: Iterable[PacingGoal],
        spent_today: Mapping[str, int],
        in_flight: Mapping[str, int],
    ) -> None:
        """Re-evaluate each goal's campaign from its settled and in-flight spend of today."""
        for goal in goals:
            state = self._campaigns.get(goal.campaign_id)
            if state is None:
                controller = PiController(self._kp, self._ki, self._lo, 0.0, 0.0)
                state = self._campaigns[goal.campaign_id] = _Campaign(controller)
            spent = spent_today.get(goal.campaign_id, 0)
            self._step(state, goal, now_ms, spent, in_flight.get(goal.campaign_id, 0))

    def _step(
        self, state: _Campaign, goal: PacingGoal, now_ms: int, spent: int, flight: int
    ) -> None:
        if spent >= goal.daily_goal_minor:  # the hard stop; the controller waits, frozen
            state.probability, state.last_ms = 0.0, None
            return
        dt_s = 0.0 if state.last_ms is None else max(0, now_ms - state.last_ms) / 1000
        state.last_ms = now_ms
        projected = spent + flight
        target = expected_fraction(now_ms, goal.day_start_ms, goal.day_end_ms, self._shape)
        u = state.controller.update(target - projected / goal.daily_goal_minor, dt_s)
        state.probability = 0.0 if projected >= goal.daily_goal_minor else math.exp(u)

    def probability(self, campaign_id: str) -> float:
        state = self._campaigns.get(campaign_id)
        return 1.0 if state is None else state.probability

    def admit(self, campaign_id: str, rng: Uniform) -> bool:
        """Whether the campaign takes part in this decision; draws from `rng` only if 0 < p < 1."""
        p = self.probability(campaign_id)
        return p >= 1.0 or (p > 0.0 and rng.random() < p)
