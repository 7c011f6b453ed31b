"""Drive the simulated platform through the HTTP API in simulated-time order."""

from __future__ import annotations

import heapq
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.console import Console

from fairview.audience.taxonomy import content_taxonomy
from fairview.clock import ShiftedClock
from fairview.demo.model import HOUR_MS, Run
from fairview.demo.report import progress_bar
from fairview.settings import Settings
from fairview.settle.worker import Settler
from fairview.sim import Batch, Scenario
from fairview.sim.platform import IAB_TOPICS
from fairview.tokens import ViewerTokens
from fairview.web.player import DEMO_AD_DURATION_S, DEMO_PLACEMENT, demo_ad_url

WHY_SAMPLE = 50  # deliveries whose "why this ad" the demo checks


def buy(
    http: httpx.Client, scenario: Scenario, settings: Settings, clock: ShiftedClock, run: Run
) -> None:
    """Create every simulated advertiser, campaign and creative through the API."""
    admin = {"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"}
    now = clock.now_ms()
    flight = {"starts_at": iso(now - HOUR_MS), "ends_at": iso(now + 30 * 24 * HOUR_MS)}
    for adv in scenario.platform.advertisers:
        key = ok(http.post("/v1/advertisers", json={"name": adv.name}, headers=admin))["api_key"]
        run.advertiser_key = run.advertiser_key or key
        auth = {"Authorization": f"Bearer {key}"}
        for k, spec in enumerate(adv.campaigns):
            body = {
                "name": spec.name,
                "billing_model": spec.billing_model,
                "bid": spec.bid_minor,
                "budget_total": spec.total_budget_minor,
                "budget_daily": min(spec.daily_budget_minor, spec.total_budget_minor),
                "targeting": {"placements": [FEED]},  # never on the demo player's placement
                **flight,
            }
            if k % 2 == 0:  # every other campaign targets its topics contextually
                body["targeting"] = {
                    "placements": [FEED],
                    "topics": [IAB_TOPICS[t] for t in spec.topics],
                }
            campaign = ok(http.post("/v1/campaigns", json=body, headers=auth))
            if k % 2 == 0:
                run.topic_targeted.add(campaign["id"])
            run.campaign_names[campaign["id"]] = f"{adv.name} / {spec.name}"
            for creative in spec.creatives:
                r = http.post(
                    f"/v1/campaigns/{campaign['id']}/creatives",
                    headers=auth,
                    json={
                        "name": creative.name,
                        "duration_s": creative.duration_s,
                        "media_url": creative.media_url,
                    },
                )
                if r.status_code == 422:
                    run.refused_creatives.append(
                        f"{creative.name}: {r.json()['errors'][0]['detail']}"
                    )
                else:
                    ok(r)


def buy_demo_player(
    http: httpx.Client, settings: Settings, now_ms: int, base_url: str
) -> dict[str, Any]:
    """Through the API: the demo player's own advertiser, campaign and creative.

    A cpfv campaign that targets only the demo player's placement (so it never competes
    with the simulated platform's campaigns, which target the feed), with the clip that
    fairview serves itself as creative. Returns the campaign.
    """
    admin = {"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"}
    key = ok(http.post("/v1/advertisers", json={"name": DEMO_ADVERTISER}, headers=admin))
    auth = {"Authorization": f"Bearer {key['api_key']}"}
    body = {
        "name": "Demo player",
        "billing_model": "cpfv",
        "bid": 5,  # 0.05 per focused view
        "budget_total": 1_000_000,
        "starts_at": iso(now_ms - HOUR_MS),
        "ends_at": iso(now_ms + 365 * 24 * HOUR_MS),
        "targeting": {"placements": [DEMO_PLACEMENT]},
    }
    campaign: dict[str, Any] = ok(http.post("/v1/campaigns", json=body, headers=auth))
    creative = {
        "name": "fairview demo ad",
        "duration_s": DEMO_AD_DURATION_S,
        "media_url": demo_ad_url(base_url),
    }
    ok(http.post(f"/v1/campaigns/{campaign['id']}/creatives", json=creative, headers=auth))
    return campaign


DEMO_ADVERTISER = "fairview demo"
FEED = "feed"
"""The placement of the simulated platform's feed: every simulated request and campaign."""


def drive(
    base_url: str,
    scenario: Scenario,
    clock: ShiftedClock,
    settler: Settler,
    run: Run,
    console: Console,
) -> None:
    """Replay requests and their event batches in simulated-time order.

    Everything due within a few simulated seconds is sent concurrently (never
    early), as many players would, which also lets the collector group its
    durable commits.
    """
    queue: list[tuple[int, int, str, Any]] = [
        (r.at_ms, i, "request", r) for i, r in enumerate(scenario.requests)
    ]
    heapq.heapify(queue)
    tie = len(queue)
    next_settle = queue[0][0] + _SETTLE_EVERY_MS if queue else 0
    clients = _ThreadClients(base_url)
    with progress_bar(console) as progress, ThreadPoolExecutor(_IN_FLIGHT) as pool:
        task = progress.add_task("ad requests", total=len(queue))
        while queue:
            window_end = queue[0][0] + _WINDOW_MS
            due = []
            while queue and queue[0][0] < window_end:
                due.append(heapq.heappop(queue))
            clock.advance_to(due[-1][0])
            if due[-1][0] >= next_settle:
                settler.run_once()
                next_settle = due[-1][0] + _SETTLE_EVERY_MS
            requests = [item for _, _, kind, item in due if kind == "request"]
            batches = [item for _, _, kind, item in due if kind == "batch"]
            posted = [pool.submit(_post_batch, clients, token, batch) for token, batch in batches]
            decided = [pool.submit(_request, clients, scenario, clock, r, run) for r in requests]
            run.events_posted += sum(sent.result() for sent in posted)
            for decision in decided:
                for token, batch in decision.result():
                    tie += 1
                    heapq.heappush(queue, (batch.send_at_ms, tie, "batch", (token, batch)))
            progress.advance(task, len(requests))
    clients.close()


_WINDOW_MS = 5_000
_SETTLE_EVERY_MS = 2 * 60_000
_IN_FLIGHT = 16


class _ThreadClients:
    """One keep-alive HTTP client per worker thread."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._local = threading.local()
        self._all: list[httpx.Client] = []
        self._lock = threading.Lock()

    def get(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(base_url=self._base_url, timeout=60)
            self._local.client = client
            with self._lock:
                self._all.append(client)
        return client

    def close(self) -> None:
        for client in self._all:
            client.close()


def _post_batch(clients: _ThreadClients, token: str, batch: Batch) -> int:
    ok(clients.get().post("/v1/events", json={"token": token, "events": batch.events}))
    return len(batch.events)


def _request(
    clients: _ThreadClients, scenario: Scenario, clock: ShiftedClock, request: Any, run: Run
) -> list[tuple[str, Batch]]:
    user = request.user
    body = {
        "placement": FEED,
        "user_ref": user.user_ref,
        "region": user.region,
        "device": user.device,
        "topics": [IAB_TOPICS[request.video.topic]],
    }
    ads = ok(clients.get().post("/v1/decisions", json=body))["ads"]
    if not ads:
        run.no_fill += 1
        return []
    ad = ads[0]
    run.shown[ad["delivery"]] = (user.user_ref, ad["campaign"], IAB_TOPICS[request.video.topic])
    playback = scenario.play(
        request,
        delivery=ad["delivery"],
        duration_s=ad["creative"]["duration_s"],
        issued_at_ms=clock.now_ms(),
    )
    run.playbacks[ad["delivery"]] = playback
    token = _tamper(ad["token"]) if playback.tamper_token else ad["token"]
    return [(token, batch) for batch in playback.batches]


def _tamper(token: str) -> str:
    head, body, signature = token.split(".")
    return f"{head}.{body}.{signature[::-1]}"


def check_why(http: httpx.Client, settings: Settings, run: Run, now_ms: int) -> dict[str, int]:
    """Ask "why this ad" for a sample of deliveries, as their viewers would, and compare
    the answer with what the decision was given (the video's topic, the targeting)."""
    viewers = ViewerTokens(settings.viewer_token_key.get_secret_value())
    taxonomy = content_taxonomy()
    checked = consistent = 0
    for delivery, (user_ref, campaign, topic) in sorted(run.shown.items())[:WHY_SAMPLE]:
        token = viewers.sign(user_ref, now_ms + HOUR_MS)
        r = http.get(f"/v1/deliveries/{delivery}/why", headers={"Authorization": f"Bearer {token}"})
        checked += 1
        if r.status_code != 200:
            continue
        why = r.json()
        found = taxonomy.get(topic)
        label = found.label if found else topic
        expected = [f"placement: {FEED}"]
        if campaign in run.topic_targeted:
            expected.append(f"content topic: {label}")
        consistent += why["content_topics"] == [label] and why["matched_targeting"] == expected
    return {"checked": checked, "consistent": consistent}


def ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    return response.json()


def iso(ms: int) -> str:

    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
