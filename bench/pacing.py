"""Budget pacing in simulation: the PI pacer against no pacing, same traffic, same seed."""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any

from fairview.serve.pacing import KI, KP, P_MIN, Pacer
from fairview.sim.pacing import (
    CampaignDay,
    SimResult,
    Traffic,
    exhausted_hour,
    simulate,
    spend_curve_error,
    standard_campaigns,
)

COMMAND = ".venv/bin/python bench/pacing.py"


def run(seed: int = 7, days: int = 14, requests_per_day: int = 60_000) -> dict[str, Any]:
    """Simulate `days` days paced and unpaced; figures on the paced run's daily goals."""
    start = time.perf_counter()
    traffic = Traffic(requests_per_day)
    campaigns = standard_campaigns(days)
    paced = simulate(campaigns, traffic, days, seed, Pacer(shape=traffic.shape))
    baseline = simulate(campaigns, traffic, days, seed, None)
    goals = {(d.campaign_id, d.day): d for d in paced.days}
    caps = {c.id: c.budget_total for c in campaigns}
    return {
        "seed": seed,
        "command": f"{COMMAND}  # run(seed={seed}, days={days})",
        "days": days,
        "requests_per_day": requests_per_day,
        "campaigns": len(campaigns),
        "controller": {"kp": KP, "ki_per_s": KI, "p_min": P_MIN, "update_s": 60},
        "paced": _figures(paced, goals, caps, traffic.shape),
        "baseline_unpaced": _figures(baseline, goals, caps, traffic.shape),
        "seconds": round(time.perf_counter() - start, 1),
    }


def _figures(
    result: SimResult,
    goals: dict[tuple[str, int], CampaignDay],
    caps: dict[str, int],
    shape: tuple[float, ...],
) -> dict[str, Any]:
    """Ratios against the paced run's goals, so that both runs face the same targets."""
    reachable, unreachable = [], []
    for day in result.days:
        ref = goals.get((day.campaign_id, day.day))
        if ref is not None and ref.goal > 0:
            same = dataclasses.replace(day, goal=ref.goal, full_rate=ref.full_rate)
            (reachable if ref.reachable else unreachable).append(same)
    for ref in goals.values():  # goal days the run never spent on
        if ref.goal > 0 and not any(
            d.campaign_id == ref.campaign_id and d.day == ref.day for d in result.days
        ):
            empty = dataclasses.replace(ref, delivered=0, unbilled=0, hourly=(0,) * 24)
            (reachable if ref.reachable else unreachable).append(empty)
    errors = [abs(d.ratio - 1) for d in reachable]
    hours = [h for d in reachable if d.cap is not None and (h := exhausted_hour(d)) is not None]
    delivered = sum(d.delivered for d in result.days)
    return {
        "reachable_campaign_days": len(reachable),
        "mean_abs_error": round(statistics.fmean(errors), 4),
        "worst_abs_error": round(max(errors), 4),
        "share_within_5pct": round(sum(e <= 0.05 for e in errors) / len(errors), 3),
        "max_over_cap": _over_cap(result, caps),
        "unbilled_over_delivery_share": round(
            sum(d.unbilled for d in result.days) / max(delivered, 1), 4
        ),
        "mean_spend_curve_error": round(
            statistics.fmean(spend_curve_error(d, shape) for d in reachable), 3
        ),
        "median_hour_95pct_of_daily_goal": float(statistics.median(hours)) if hours else None,
        "unreachable_campaign_days": len(unreachable),
        "unreachable_mean_ratio": round(statistics.fmean(d.ratio for d in unreachable), 3)
        if unreachable
        else None,
    }


def _over_cap(result: SimResult, caps: dict[str, int]) -> int:
    daily = [d.delivered - d.cap for d in result.days if d.cap is not None]
    total = [spent - caps[cid] for cid, spent in result.spent_total.items()]
    return max(0, *daily, *total)


if __name__ == "__main__":
    import orjson

    print(orjson.dumps(run(), option=orjson.OPT_INDENT_2).decode())
