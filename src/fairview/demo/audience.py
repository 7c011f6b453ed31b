"""The demo's audience phase: organic views, the cohort job, a cohort campaign, viewer
controls and a differentially private report, all through the real API (the job runs
in-process on the same store, as `fairview jobs cohorts` would)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np

from fairview.audience.job import HistoryView, run_cohort_job
from fairview.clock import ShiftedClock
from fairview.consent.tcf_encode import encode
from fairview.consent.tcf_model import TCModel
from fairview.demo.driver import iso, ok
from fairview.demo.model import HOUR_MS, Run
from fairview.pseudonym import Pseudonymiser
from fairview.settings import Settings
from fairview.sim import Scenario
from fairview.sim.platform import TOPICS
from fairview.storage import Store
from fairview.tokens import ViewerTokens

# The Privacy Sandbox Topics v2 id (allowlisted) of each simulated topic.
INTEREST_TOPICS = {
    "sports": 299,
    "music": 23,
    "cooking": 173,
    "gaming": 180,
    "travel": 332,
    "tech": 126,
    "fashion": 96,
    "comedy": 46,
    "education": 227,
    "pets": 265,
}
SENSITIVE_VIDEOS = (
    ("Pride month: my coming out story", ("#lgbtq", "#pride")),
    ("Pride parade highlights", ("#lgbtq",)),
)
VIEWS_PER_USER = 20
CONSENT_SHARE = 0.7
MINOR_SHARE = 0.1
SENSITIVE_SHARE = 0.1


def consent_string(settings: Settings, now_ms: int) -> str:
    """A TC string in which the viewer consented to every purpose for fairview's vendor id."""
    vendor = frozenset({settings.tcf_vendor_id})
    created = datetime.fromtimestamp(now_ms // 100 / 10, tz=UTC)
    return encode(
        TCModel(
            created=created,
            last_updated=created,
            cmp_id=300,
            cmp_version=1,
            vendor_list_version=150,
            purpose_consents=frozenset(range(1, 12)),
            purpose_legitimate_interests=frozenset({2, 7, 9, 10}),
            vendor_consents=vendor,
            vendor_legitimate_interests=vendor,
            vendors_disclosed=vendor,
            publisher_country_code="DE",
        )
    )


def audience_phase(
    http: httpx.Client,
    store: Store,
    scenario: Scenario,
    settings: Settings,
    clock: ShiftedClock,
    run: Run,
    seed: int,
) -> dict[str, Any]:
    """Views → profiles → cohorts → a cohort campaign → decisions, pause, report."""
    rng = np.random.default_rng(seed + 1000)
    admin = {"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"}
    tc = consent_string(settings, clock.now_ms())
    users = [u for u in scenario.platform.users if u.fraud is None]
    signals: dict[str, dict[str, Any]] = {}
    views: list[dict[str, Any]] = []
    history: list[HistoryView] = []
    for user in users:
        draw = rng.random(3)
        age = 15 if draw[0] < MINOR_SHARE else 30
        consented = draw[1] < CONSENT_SHARE
        signals[user.user_ref] = {"region": "EU-DE", "age": age} | (
            {"tc_string": tc} if consented else {}
        )
        tastes = rng.choice(len(TOPICS), size=3, replace=False, p=_popularity())
        for i in range(VIEWS_PER_USER):
            topic = TOPICS[int(tastes[min(int(rng.integers(0, 4)), 2)])]
            video: dict[str, Any] = {
                "id": f"{topic}-{int(rng.integers(0, 40))}",
                "topics": [INTEREST_TOPICS[topic]],
                "duration_s": 30,
            }
            if i == 0 and draw[2] < SENSITIVE_SHARE:
                k = int(rng.integers(0, len(SENSITIVE_VIDEOS)))
                title, tags = SENSITIVE_VIDEOS[k]
                video = {"id": f"sensitive-{k}", "title": title, "hashtags": list(tags)}
            views.append(
                {"user_ref": user.user_ref, "video": video,
                 "watched_s": float(rng.uniform(5, 30)), **signals[user.user_ref]}
            )  # fmt: skip
            history.append(HistoryView(user.user_ref, video["id"]))
    reasons: Counter[str] = Counter()
    for start in range(0, len(views), 500):
        answer = ok(http.post("/v1/views", json={"views": views[start : start + 500]},
                              headers=admin))  # fmt: skip
        reasons.update(r["reason"] for r in answer["results"])

    k_min = max(10, len(users) // 8)
    job = run_cohort_job(
        store,
        Pseudonymiser(settings.pseudonym_pepper.get_secret_value()),
        now_ms=clock.now_ms(),
        history=history,
        k_min=k_min,
        clusters=max(2, len(users) // 80),
        seed=seed,
    )
    out: dict[str, Any] = {
        "views_posted": len(views),
        "views_by_reason": dict(sorted(reasons.items())),
        "cohort_run": {
            "status": job.run.status,
            "k_min": k_min,
            "profiled_viewers": job.run.viewers,
            "cohorts": len(job.cohorts),
            "served": len(job.served),
            "blocked": sum(not c.served for c in job.cohorts),
            "notes": list(job.notes),
        },
    }
    advertiser = {"Authorization": f"Bearer {run.advertiser_key}"}
    listed = ok(http.get("/v1/cohorts", headers=advertiser))
    out["cohorts_listed_to_advertisers"] = len(listed)
    if listed:
        out["cohort_campaign"] = _cohort_campaign(http, store, settings, clock, signals,
                                                  advertiser, listed[0])  # fmt: skip
    out["dp_report"] = _dp_report(http, advertiser, clock.now_ms())
    run.consenting_adults = [
        ref for ref, s in signals.items() if "tc_string" in s and s["age"] >= 18
    ]
    return out


def _popularity() -> np.ndarray[Any, np.dtype[np.float64]]:
    weights = 1.0 / np.arange(1, len(TOPICS) + 1)
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def _cohort_campaign(
    http: httpx.Client,
    store: Store,
    settings: Settings,
    clock: ShiftedClock,
    signals: dict[str, dict[str, Any]],
    advertiser: dict[str, str],
    cohort: dict[str, Any],
) -> dict[str, Any]:
    """Target the first served cohort; its consenting members get it, and a pause stops it."""
    now = clock.now_ms()
    body = {
        "name": f"Interest: {', '.join(cohort['topics'])}",
        "billing_model": "cpfv",
        "bid": 40,
        "budget_total": 1_000_000,
        "starts_at": iso(now - HOUR_MS),
        "ends_at": iso(now + 24 * HOUR_MS),
        "targeting": {"cohorts": [cohort["id"]]},
    }
    campaign = ok(http.post("/v1/campaigns", json=body, headers=advertiser))
    ok(http.post(f"/v1/campaigns/{campaign['id']}/creatives", headers=advertiser,
                 json={"name": "interest spot", "duration_s": 15,
                       "media_url": "https://cdn.example/interest.mp4"}))  # fmt: skip
    pseudonyms = Pseudonymiser(settings.pseudonym_pepper.get_secret_value())
    members = [
        ref for ref in sorted(signals)
        if store.cohorts.cohort_of(pseudonyms.viewer_key(ref)) == cohort["id"]
    ]  # fmt: skip
    personalised = 0
    shown_to = []
    for ref in members:
        ads = _decide(http, ref, signals[ref])
        if any(a["campaign"] == campaign["id"] for a in ads):
            shown_to.append(ref)
        personalised += any(a["disclosure"]["parameters"][0].startswith("Chosen with your interest")
                            for a in ads)  # fmt: skip
    result: dict[str, Any] = {
        "members": len(members),
        "members_shown_it": len(shown_to),
        "personalised_disclosures": personalised,
    }
    if shown_to:
        ref = shown_to[0]
        token = ViewerTokens(settings.viewer_token_key.get_secret_value()).sign(ref, now + HOUR_MS)
        me = {"Authorization": f"Bearer {token}"}
        interests = ok(http.get("/v1/me/interests", headers=me))
        ok(http.put("/v1/me/personalisation", json={"paused": True}, headers=me))
        paused = any(_shown(http, ref, signals[ref], campaign["id"]) for _ in range(3))
        ok(http.put("/v1/me/personalisation", json={"paused": False}, headers=me))
        resumed = any(_shown(http, ref, signals[ref], campaign["id"]) for _ in range(3))
        result |= {
            "viewer_interests": [i["name"] for i in interests["interests"]],
            "viewer_cohort_label": (interests["cohort"] or {}).get("topics"),
            "shown_while_paused": paused,
            "shown_after_resume": resumed,
        }
    return result


def _decide(http: httpx.Client, ref: str, signals: dict[str, Any]) -> list[dict[str, Any]]:
    body = {"placement": "feed", "user_ref": ref, "count": 5, **signals}
    ads: list[dict[str, Any]] = ok(http.post("/v1/decisions", json=body))["ads"]
    return ads


def _shown(http: httpx.Client, ref: str, signals: dict[str, Any], campaign: str) -> bool:
    return any(a["campaign"] == campaign for a in _decide(http, ref, signals))


def _cell(cell: dict[str, Any]) -> dict[str, Any]:
    deliveries = cell["deliveries"]
    return {
        "day": cell["day"],
        "reach": round(cell["reach"]["value"]),
        "deliveries": round(deliveries["value"]),
        "deliveries_95ci": [round(deliveries["ci_low"]), round(deliveries["ci_high"])],
    }


def _dp_report(http: httpx.Client, advertiser: dict[str, str], now_ms: int) -> dict[str, Any]:
    """The first advertiser's report over the demo's days (they may cross midnight UTC).

    A demo population is tiny: at the default ε = 1 a cell needs about 470 viewers to
    be released, so the demo asks for ε = 3, the most one report may spend."""
    params: dict[str, str | float] = {
        "from": iso(now_ms - 24 * HOUR_MS)[:10],
        "to": iso(now_ms)[:10],
        "grain": "day",
        "epsilon": 3.0,
    }
    report = ok(http.get("/v1/reports/delivery", params=params, headers=advertiser))
    return {
        "cells_released": len(report["cells"]),
        "cells": [_cell(c) for c in report["cells"]],
        "epsilon_spent": report["privacy"]["epsilon"],
        "epsilon_remaining": report["privacy"]["epsilon_remaining"],
        "exact_totals": report["totals"],
    }
