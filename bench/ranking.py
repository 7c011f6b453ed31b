"""Ranking by expected value against ranking by bid alone, side by side in the simulator.

1. History: one simulated day of requests on a platform; each request gets an ad
   chosen at random among the eligible campaigns (a random creative of it). Every
   delivery is played, then qualified by the real §7 rule (the compiled fast
   path) on the events as the collector received them; the attention model
   trains on those verdicts.
2. Evaluation: fresh requests (derived from the same seed) on the same platform.
   Each request is served once by `BidOnlyRanker` and once by
   `ExpectedValueRanker`; both playbacks use the request's own seed, so the same
   (request, creative) pair plays out identically under both rankers (paired).

Eligible: the campaign's topics include the video's topic (contextual targeting);
requests with no eligible campaign are skipped by both. Budgets and frequency
caps are ignored (the same for both rankers).

Realised advertiser value of a delivery: what the advertiser said the outcome is
worth, i.e. its bid for the event it pays for when that event really happened
per the rule: the cpfv bid for a valid focused view, the cpm_viewable bid / 1000
for a valid viewable impression, 0 otherwise. Reported per 1,000 deliveries, in
minor units (euro cents). It equals what the advertiser is charged, before budgets.

Optional creative appeal (`appeal` > 0; off by default, the simulator itself is
unchanged): the default simulator's viewers react to a creative only through its
duration. With `appeal = a`, each creative gets a fixed appeal u ~ Uniform(-a, a);
for a (request, creative) pair a fixed draw x ~ U(0, 1) makes a skipper or muted
scroller watch as an attentive viewer when x < u, or an attentive viewer watch as
a skipper when x < -u. Both draws depend only on the seed, the request and the
creative, so the comparison stays paired.

Run: `.venv/bin/python bench/ranking.py [SEED] [APPEAL]` (defaults 11 and 0; the
figures in docs/ranking.md use 0 and 0.3).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import orjson

from fairview.attention.events import Event
from fairview.attention.fast import qualify_many
from fairview.domain import BillingModel, CampaignRecord, Candidate, CreativeRecord
from fairview.serve.model import AttentionModel, train
from fairview.serve.ranking import BidOnlyRanker, ExpectedValueRanker, Ranked, Ranker
from fairview.serve.targeting import Context
from fairview.sim import Playback, Scenario, simulate
from fairview.sim.platform import IAB_TOPICS, AdRequest, ad_requests
from fairview.storage.history import HistoryRow

DAY_MS = 86_400_000
PLACEMENT = "feed"
SIM_TOPIC_IDS = IAB_TOPICS
"""The simulator's video topics as IAB Content Taxonomy 3.1 ids (one map, the platform's)."""


@dataclass(frozen=True, slots=True)
class _Offer:
    candidate: Candidate
    topics: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Served:
    request: AdRequest
    ranked: Ranked
    issued_ms: int
    delivery: str


def run(
    seed: int = 11,
    *,
    users: int = 1_500,
    history_per_user: int = 8,
    eval_per_user: int = 8,
    advertisers: int = 10,
    campaigns_per_advertiser: int = 3,
    appeal: float = 0.0,
) -> dict[str, Any]:
    """Train on a random-serving history, then compare both rankers on the same requests."""
    started = time.perf_counter()
    scenario = simulate(
        seed,
        users=users,
        videos=300,
        advertisers=advertisers,
        campaigns_per_advertiser=campaigns_per_advertiser,
        requests_per_user=history_per_user,
        span_ms=DAY_MS,
    )
    offers = _offers(scenario)
    appeal_of = _appeal(offers, appeal, seed)
    history = _history(scenario, offers, np.random.default_rng([seed, 1]), appeal_of)
    t_train = time.perf_counter()
    model = train(history, seed=seed)
    train_s = time.perf_counter() - t_train
    fresh = ad_requests(
        np.random.default_rng([seed, 2]),
        scenario.platform,
        start_ms=DAY_MS,
        per_user=eval_per_user,
        span_ms=DAY_MS,
    )
    rankers: dict[str, Ranker] = {
        "bid_only": BidOnlyRanker(),
        "expected_value": ExpectedValueRanker(model),
    }
    results = {
        name: _evaluate(scenario, offers, fresh, r, appeal_of) for name, r in rankers.items()
    }
    bid, ev = results["bid_only"], results["expected_value"]
    return {
        "seed": seed,
        "appeal": appeal,
        "history_deliveries": len(history),
        "eval_requests_served": bid["deliveries"],
        "campaigns": len(offers),
        "model": {t.value: _brief(r) for t, r in model.reports.items()},
        "train_s": round(train_s, 2),
        "predict_us_per_candidate": _predict_cost(model, offers),
        "bid_only": bid,
        "expected_value": ev,
        "value_lift": round(ev["value_per_1000"] / bid["value_per_1000"] - 1, 4),
        "same_choice_share": _same_share(results),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _offers(scenario: Scenario) -> list[_Offer]:
    """The platform's campaigns as catalog records, ids derived from their position."""
    out = []
    for a, adv in enumerate(scenario.platform.advertisers):
        for k, spec in enumerate(adv.campaigns):
            cid = f"cmp_{a:02d}_{k}"
            campaign = CampaignRecord(
                cid, f"adv_{a:02d}", spec.name, BillingModel(spec.billing_model),
                spec.bid_minor, spec.total_budget_minor, spec.daily_budget_minor,
                0, 10 * DAY_MS, "active", 0, 0,
            )  # fmt: skip
            creatives = tuple(
                CreativeRecord(
                    f"{cid}_cr{j}", cid, c.name, round(c.duration_s * 1000), c.media_url, 0
                )
                for j, c in enumerate(spec.creatives)
            )
            out.append(_Offer(Candidate(campaign, creatives), frozenset(spec.topics)))
    return out


def _eligible(offers: Sequence[_Offer], request: AdRequest) -> list[Candidate]:
    return [o.candidate for o in offers if request.video.topic in o.topics]


def _context(request: AdRequest, issued_ms: int) -> Context:
    topics = (SIM_TOPIC_IDS[request.video.topic],)
    return Context(
        PLACEMENT, request.user.region, None, request.user.device, topics, None, issued_ms
    )


def _appeal(offers: Sequence[_Offer], appeal: float, seed: int) -> dict[str, float]:
    """A fixed appeal in [-appeal, appeal] per creative id (all 0 when appeal is 0)."""
    rng = np.random.default_rng([seed, 3])
    ids = [cr.id for o in offers for cr in o.candidate.creatives]
    return {i: float(rng.uniform(-appeal, appeal)) if appeal else 0.0 for i in ids}


def _viewer(s: _Served, appeal_of: dict[str, float]) -> AdRequest:
    """The request as played: the viewer's archetype possibly swayed by the creative."""
    u = appeal_of[s.ranked.creative.id]
    user = s.request.user
    if u == 0.0 or user.fraud is not None:
        return s.request
    x = np.random.default_rng([s.request.seed, *s.ranked.creative.id.encode()]).random()
    if u > 0 and x < u and user.archetype in ("skipper", "muted-scroller"):
        return replace(s.request, user=replace(user, archetype="attentive"))
    if u < 0 and x < -u and user.archetype == "attentive":
        return replace(s.request, user=replace(user, archetype="skipper"))
    return s.request


def _history(
    scenario: Scenario,
    offers: Sequence[_Offer],
    rng: np.random.Generator,
    appeal_of: dict[str, float],
) -> list[HistoryRow]:
    """Random serving among eligible campaigns, labelled by the §7 rule."""
    served = []
    for i, request in enumerate(scenario.requests):
        eligible = _eligible(offers, request)
        if not eligible:
            continue
        c = eligible[int(rng.integers(len(eligible)))]
        creative = c.creatives[int(rng.integers(len(c.creatives)))]
        issued = request.at_ms + 3
        served.append(_Served(request, Ranked(c, creative, 1.0, 0.0), issued, f"h{i}"))
    verdicts = _qualify(scenario, served, appeal_of)
    return [_row(s, verdicts[s.delivery]) for s in served]


def _row(s: _Served, verdict: tuple[bool, bool]) -> HistoryRow:
    campaign = s.ranked.candidate.campaign
    return HistoryRow(
        s.delivery, campaign.id, campaign.billing_model, campaign.bid,
        s.ranked.creative.duration_ms / 1000, PLACEMENT,
        (SIM_TOPIC_IDS[s.request.video.topic],), s.request.user.device, s.issued_ms, None,
        *verdict,
    )  # fmt: skip


def _qualify(
    scenario: Scenario, served: Sequence[_Served], appeal_of: dict[str, float]
) -> dict[str, tuple[bool, bool]]:
    """(focused view, viewable) per delivery, by the fast path of the real rule."""
    events: list[Event] = []
    rejected: set[str] = set()
    for s in served:
        playback = scenario.play(
            _viewer(s, appeal_of),
            delivery=s.delivery,
            duration_s=s.ranked.creative.duration_ms / 1000,
            issued_at_ms=s.issued_ms,
        )
        if playback.tamper_token:  # the collector refuses a corrupted token: nothing counts
            rejected.add(s.delivery)
            continue
        events += _received(playback, s.issued_ms)
    out = {s.delivery: (False, False) for s in served}
    for v in qualify_many(events):
        if v.delivery not in rejected and not v.invalid:
            out[v.delivery] = (v.focused_view, v.viewability == "viewable")
    return out


def _received(playback: Playback, issued_ms: int) -> list[Event]:
    return [
        Event(**event, recv_ms=batch.send_at_ms - issued_ms)  # type: ignore[arg-type]
        for batch in playback.batches
        for event in batch.events
    ]


def _evaluate(
    scenario: Scenario,
    offers: Sequence[_Offer],
    requests: Sequence[AdRequest],
    ranker: Ranker,
    appeal_of: dict[str, float],
) -> dict[str, Any]:
    served = []
    for i, request in enumerate(requests):
        eligible = _eligible(offers, request)
        if eligible:
            issued = request.at_ms + 3
            best = ranker.order(eligible, _context(request, issued))[0]
            served.append(_Served(request, best, issued, f"e{i}"))
    verdicts = _qualify(scenario, served, appeal_of)
    value = focused = viewable = 0.0
    models: dict[str, int] = {}
    for s in served:
        fv, vw = verdicts[s.delivery]
        c = s.ranked.candidate.campaign
        models[c.billing_model.value] = models.get(c.billing_model.value, 0) + 1
        focused += fv
        viewable += vw
        if c.billing_model is BillingModel.CPFV:
            value += c.bid * fv
        else:
            value += c.bid / 1000 * vw
    n = len(served)
    return {
        "deliveries": n,
        "value_per_1000": round(1000 * value / n, 2),
        "focus_rate": round(focused / n, 4),
        "viewable_rate": round(viewable / n, 4),
        "served_by_billing_model": models,
        "choices": [(s.ranked.candidate.campaign.id, s.ranked.creative.id) for s in served],
    }


def _same_share(results: dict[str, dict[str, Any]]) -> float:
    a, b = results["bid_only"].pop("choices"), results["expected_value"].pop("choices")
    return round(sum(x == y for x, y in zip(a, b, strict=True)) / max(1, len(a)), 4)


def _brief(report: Any) -> dict[str, Any]:
    return {
        "auc": None if report.auc is None else round(report.auc, 4),
        "log_loss": round(report.log_loss, 4),
        "brier": round(report.brier, 4),
        "base_rate": round(report.base_rate, 4),
        "n_test": report.n_test,
    }


def _predict_cost(model: AttentionModel, offers: Sequence[_Offer]) -> float:
    """µs per candidate for a request-sized batch (every creative of 10 campaigns)."""
    from fairview.serve.model import Target

    batch = [
        model.features(
            campaign_id=o.candidate.campaign.id, creative_duration_ms=cr.duration_ms,
            placement=PLACEMENT, topics=("483",), device_class="mobile", cohort=None, now_ms=0,
        )
        for o in offers[:10]
        for cr in o.candidate.creatives
    ]  # fmt: skip
    model.predict(batch, Target.FOCUSED_VIEW)
    rounds = 200
    start = time.perf_counter()
    for _ in range(rounds):
        model.predict(batch, Target.FOCUSED_VIEW)
    return round((time.perf_counter() - start) / rounds / len(batch) * 1e6, 1)


if __name__ == "__main__":
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    appeal = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    print(orjson.dumps(run(seed, appeal=appeal), option=orjson.OPT_INDENT_2).decode())
