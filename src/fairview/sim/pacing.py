"""A fast, seedable day-level simulation of budget pacing, without HTTP or storage.

Requests arrive minute by minute with an intraday shape (an evening peak) and a
random volume per day; each request has `slots` ad slots and is eligible for
each campaign with the campaign's targeting share. Eligible campaigns pass
through `Pacer.admit` (or always, unpaced), then a rotation picks among them,
as the Decider does. A delivery is billable with the campaign's focused-view or
viewable rate and settles after a random lag (seconds to hours); settlement
charges like the ledger (`unit_charge`, nothing past the daily or total
budget: the rest is unbilled over-delivery) and the catalog stops a campaign
whose settled spend reached a cap. Every simulated minute the pacer is updated
from settled spend plus the in-flight estimate.

Pure: randomness only from `seed`, no clock, no I/O.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from fairview.domain import BillingModel, CampaignRecord, unit_charge
from fairview.serve.pacing import (
    DAY_MS,
    HOUR_MS,
    Pacer,
    expected_fraction,
    in_flight_estimate,
    pacing_goal,
    prior_charge,
)

START_MS = 20_514 * DAY_MS
"""Monday 2026-03-02 00:00 UTC."""
MINUTE_MS = 60_000

EVENING_PEAK = (
    0.45, 0.3, 0.2, 0.15, 0.15, 0.2, 0.35, 0.6, 0.8, 0.85, 0.9, 0.95,
    1.05, 1.1, 1.0, 0.95, 1.0, 1.15, 1.4, 1.75, 2.0, 2.0, 1.6, 0.95,
)  # fmt: skip
"""Relative requests per UTC hour of a short-video platform: quiet nights, an evening peak."""

LAG_MIX = ((0.75, 5.0, 90.0), (0.21, 90.0, 1_200.0), (0.04, 1_200.0, 6 * 3_600.0))
"""Settlement lag: (share, low s, high s), log-uniform within each part."""

REACHABLE_MARGIN = 1.5
"""A goal is reachable when the full-rate expected spend of its day is at least this x goal."""


@dataclass(frozen=True, slots=True)
class SimCampaign:
    id: str
    model: BillingModel
    bid: int
    budget_total: int
    budget_daily: int | None
    eligible_share: float  # share of requests its targeting matches
    billable_rate: float  # focused-view rate (cpfv) or viewable rate (cpm)
    starts_ms: int = START_MS
    ends_ms: int = START_MS + 365 * DAY_MS

    def record(self) -> CampaignRecord:
        return CampaignRecord(
            self.id,
            "adv",
            self.id,
            self.model,
            self.bid,
            self.budget_total,
            self.budget_daily,
            self.starts_ms,
            self.ends_ms,
            "active",
            0,
            START_MS,
        )

    def full_rate_spend(self, requests: float) -> float:
        """Expected spend if every eligible request among `requests` served it."""
        price = self.bid if self.model is BillingModel.CPFV else self.bid / 1000
        return requests * self.eligible_share * self.billable_rate * price


@dataclass(frozen=True, slots=True)
class Traffic:
    requests_per_day: int
    shape: tuple[float, ...] = EVENING_PEAK
    day_volume_sd: float = 0.1  # log-normal day-to-day volume
    hour_noise_sd: float = 0.1  # log-normal hour-to-hour deviation from the shape
    slots: int = 2


@dataclass(frozen=True, slots=True)
class CampaignDay:
    campaign_id: str
    day: int  # 0 = the first simulated day
    goal: int
    delivered: int  # billed minor units of deliveries issued that day
    unbilled: int  # over-delivery the caps refused
    cap: int | None
    full_rate: float  # expected spend at probability 1 on nominal traffic
    hourly: tuple[int, ...]  # billed spend by UTC hour of issue
    window_ms: tuple[int, int]  # the day cut to the flight

    @property
    def ratio(self) -> float:
        return self.delivered / self.goal if self.goal else math.nan

    @property
    def reachable(self) -> bool:
        return self.goal > 0 and self.full_rate >= REACHABLE_MARGIN * self.goal


@dataclass(frozen=True, slots=True)
class SimResult:
    days: tuple[CampaignDay, ...]
    spent_total: dict[str, int]


@dataclass(slots=True)
class _Ledger:
    """Settled money of one campaign, charged as fairview.storage.settlement does."""

    campaign: SimCampaign
    spent: int = 0
    units: int = 0
    settled: int = 0
    settled_amount: int = 0  # billed + unbilled, for the in-flight estimate
    day_spent: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    unbilled: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    hourly: dict[int, list[int]] = field(default_factory=dict)
    pending: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def settle(self, day: int, hour: int, billable: bool) -> None:
        self.pending[day] -= 1
        self.settled += 1
        if not billable:
            return
        c = self.campaign
        amount = unit_charge(c.model, c.bid, self.units)
        self.settled_amount += amount
        fits = self.spent + amount <= c.budget_total and (
            c.budget_daily is None or self.day_spent[day] + amount <= c.budget_daily
        )
        if not fits:
            self.unbilled[day] += amount
            return
        self.spent += amount
        self.units += 1
        self.day_spent[day] += amount
        self.hourly.setdefault(day, [0] * 24)[hour] += amount

    def open(self, day: int, now_ms: int) -> bool:
        """The catalog's test: in flight, total and today's settled spend below the caps."""
        c = self.campaign
        return (
            c.starts_ms <= now_ms < c.ends_ms
            and self.spent < c.budget_total
            and (c.budget_daily is None or self.day_spent[day] < c.budget_daily)
        )


def simulate(
    campaigns: list[SimCampaign], traffic: Traffic, days: int, seed: int, pacer: Pacer | None
) -> SimResult:
    """Serve `days` days of traffic from START_MS through `pacer`, or unpaced when None.

    Unpaced is the baseline: a campaign serves whenever eligible until the catalog
    sees its settled spend reach a cap.
    """
    world = _World(campaigns, traffic, seed, pacer)
    for day in range(days):
        world.run_day(day)
    world.drain()
    return SimResult(world.report(days), {c.id: world.ledgers[c.id].spent for c in campaigns})


class _World:
    def __init__(
        self, campaigns: list[SimCampaign], traffic: Traffic, seed: int, pacer: Pacer | None
    ) -> None:
        self.campaigns, self.traffic, self.pacer = campaigns, traffic, pacer
        self.records = [c.record() for c in campaigns]
        self.ledgers = {c.id: _Ledger(c) for c in campaigns}
        self.np_rng = np.random.default_rng(seed)
        self.rng = random.Random(seed)
        self.queue: dict[int, list[tuple[str, int, int, bool]]] = defaultdict(list)
        self.goals: dict[tuple[str, int], int] = {}
        self.turn = 0
        self.minute = 0  # minutes since START_MS

    def run_day(self, day: int) -> None:
        volume = self.traffic.requests_per_day * self.np_rng.lognormal(
            0, self.traffic.day_volume_sd
        )
        weights = np.asarray(self.traffic.shape) * self.np_rng.lognormal(
            0, self.traffic.hour_noise_sd, 24
        )
        per_minute = volume * weights / weights.sum() / 60
        for m in range(1440):
            self.minute = day * 1440 + m
            now = START_MS + self.minute * MINUTE_MS
            self._settle(self.minute)
            self._update_pacer(day, now)
            self._serve(day, m // 60, now, int(self.np_rng.poisson(per_minute[m // 60])))

    def _settle(self, minute: int) -> None:
        for cid, day, hour, billable in self.queue.pop(minute, ()):
            self.ledgers[cid].settle(day, hour, billable)

    def drain(self) -> None:
        while self.queue:
            self._settle(min(self.queue))

    def _update_pacer(self, day: int, now: int) -> None:
        spent_today, in_flight, goals = {}, {}, []
        for record in self.records:
            ledger = self.ledgers[record.id]
            spent_today[record.id] = ledger.day_spent[day]
            goal = pacing_goal(record, ledger.spent - ledger.day_spent[day], now)
            if record.starts_ms <= now < record.ends_ms:
                self.goals[record.id, day] = goal.daily_goal_minor
            goals.append(goal)
            prior = prior_charge(record.billing_model, record.bid)
            in_flight[record.id] = in_flight_estimate(
                ledger.pending[day], ledger.settled, ledger.settled_amount, prior
            )
        if self.pacer is not None:
            self.pacer.update(now, goals, spent_today, in_flight)

    def _serve(self, day: int, hour: int, now: int, requests: int) -> None:
        open_ = [c for c in self.campaigns if self.ledgers[c.id].open(day, now)]
        if not open_ or not requests:
            return
        shares = np.array([c.eligible_share for c in open_])
        eligible = (self.np_rng.random((requests, len(open_))) < shares).tolist()
        pacer, rng, slots = self.pacer, self.rng, self.traffic.slots
        for row in eligible:
            chosen = [
                c
                for c, ok in zip(open_, row, strict=True)
                if ok and (pacer is None or pacer.admit(c.id, rng))
            ]
            if chosen:
                self.turn += 1
                start = self.turn % len(chosen)
                for i in range(min(slots, len(chosen))):
                    self._deliver(chosen[(start + i) % len(chosen)], day, hour)

    def _deliver(self, campaign: SimCampaign, day: int, hour: int) -> None:
        billable = self.rng.random() < campaign.billable_rate
        self.ledgers[campaign.id].pending[day] += 1
        after = 1 + int(_lag_s(self.rng) // 60)
        self.queue[self.minute + after].append((campaign.id, day, hour, billable))

    def report(self, days: int) -> tuple[CampaignDay, ...]:
        out = []
        for c in self.campaigns:
            ledger = self.ledgers[c.id]
            for day in range(days):
                goal = self.goals.get((c.id, day), 0)
                if goal == 0 and not ledger.day_spent.get(day):
                    continue
                out.append(
                    CampaignDay(
                        c.id,
                        day,
                        goal,
                        ledger.day_spent.get(day, 0),
                        ledger.unbilled.get(day, 0),
                        c.budget_daily,
                        c.full_rate_spend(self._nominal_requests(c, day)),
                        tuple(ledger.hourly.get(day, [0] * 24)),
                        _window(c, day),
                    )
                )
        return tuple(out)

    def _nominal_requests(self, c: SimCampaign, day: int) -> float:
        start = START_MS + day * DAY_MS
        lo, hi = _window(c, day)
        if hi <= lo:
            return 0.0
        share = expected_fraction(hi, start, start + DAY_MS, self.traffic.shape)
        share -= expected_fraction(lo, start, start + DAY_MS, self.traffic.shape)
        return self.traffic.requests_per_day * share


def _window(c: SimCampaign, day: int) -> tuple[int, int]:
    start = START_MS + day * DAY_MS
    return max(start, c.starts_ms), min(start + DAY_MS, c.ends_ms)


def _lag_s(rng: random.Random) -> float:
    u = rng.random()
    for share, low, high in LAG_MIX:
        if u < share:
            return low * math.exp(math.log(high / low) * rng.random())
        u -= share
    return LAG_MIX[-1][2]


def spend_curve_error(day: CampaignDay, shape: tuple[float, ...]) -> float:
    """Largest gap, over the day's hours, between the cumulative share of the day's goal
    spent and the share of traffic expected (the even spread)."""
    if day.goal <= 0:
        return math.nan
    start = START_MS + day.day * DAY_MS
    spent, worst = 0, 0.0
    for hour in range(24):
        spent += day.hourly[hour]
        even = expected_fraction(start + (hour + 1) * HOUR_MS, *day.window_ms, shape)
        worst = max(worst, abs(spent / day.goal - even))
    return worst


def exhausted_hour(day: CampaignDay, share: float = 0.95) -> int | None:
    """The UTC hour (1–24, end of hour) by which `share` of the day's goal was spent."""
    spent = 0
    for hour in range(24):
        spent += day.hourly[hour]
        if day.goal > 0 and spent >= share * day.goal:
            return hour + 1
    return None


def standard_campaigns(days: int) -> list[SimCampaign]:
    """The evaluation mix for `Traffic(60_000)`: cpfv and cpm, daily- and total-limited,
    a short flight ending mid-day, and two goals the traffic cannot meet."""
    cpfv, cpm = BillingModel.CPFV, BillingModel.CPM_VIEWABLE
    end = START_MS + days * DAY_MS
    return [
        SimCampaign("cpfv-daily", cpfv, 6, 10**9, 12_000, 0.5, 0.35),
        SimCampaign("cpfv-tight", cpfv, 10, 10**9, 20_000, 0.3, 0.25),
        SimCampaign("cpm-daily", cpm, 900, 10**9, 6_000, 0.6, 0.7),
        SimCampaign("cpm-total", cpm, 1_500, 5_000 * days, None, 0.4, 0.6, ends_ms=end),
        SimCampaign(
            "cpfv-short",
            cpfv,
            8,
            9_000,
            5_000,
            0.25,
            0.45,
            starts_ms=START_MS + DAY_MS,
            ends_ms=START_MS + DAY_MS * 7 // 2,
        ),
        SimCampaign("cpfv-unreachable", cpfv, 4, 10**9, 20_000, 0.2, 0.2),
        SimCampaign("cpm-unreachable", cpm, 500, 10**9, 10_000, 0.3, 0.5),
    ]
