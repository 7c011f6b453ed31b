"""Ad decisions: in-process per core, and over HTTP on loopback with a separate load generator.

200 active campaigns with varied targeting (regions, topics, devices, dayparts, brand
safety, caps). In process: `Decider.choose` (consent policy, campaign index,
eligibility, choice, token signing; nothing written) on one core, and the whole
`Decider.decide` (durable delivery record, group-committed) from 64 threads. The
baseline, measured in the same run, rebuilds the campaign set from the store for
every decision (`index_ttl_ms=0`), as the decider did before the index.
Over HTTP: `fairview serve --workers 2` and an asyncio load generator on the same
two cores, `POST /v1/decisions`: closed loop at 8 and 16 connections (capacity), then
open loop at the target's fixed 2,000 decisions/s, latency from each request's
scheduled time (the target as stated; see bench/loadgen.py), with the default
`FAIRVIEW_DELIVERY_COMMIT=behind` and again with `before_answer` (each decision waits for
its delivery's commit). The baseline, in the same run, is uvicorn's own `--workers 2`
(one listening socket shared by both processes, each process committing its own delivery
records before answering, uvicorn's own protocol), how fairview served before.
"""

from __future__ import annotations

import os
import random
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson

from fairview.consent.signals import RawSignals
from fairview.domain import BillingModel, Daypart, DeliveryRecord, FrequencyCap, Targeting
from fairview.pseudonym import Pseudonymiser
from fairview.serve.decide import AdRequest, Decider, delivery_id
from fairview.storage import Store, open_store
from fairview.storage.catalog import CampaignSpec, CreativeSpec
from fairview.tokens import TokenSigner

from ingest import KEY, _Server
from loadgen import post_at_rate, post_for

NOW = int(time.time() * 1000)
COUNTRIES = ["DE", "FR", "IT", "ES", "NL", "GB", "US", "PL"]
REGIONS = ["EU-DE", "EU-FR", "EU-IT", "EU-ES", "EU-NL", "GB", "US-CA", "US-NY", "EU-PL"]
TOPICS = ["653", "210", "483", "596", "680", "1", "52", "239", "432", "422"]
DEVICES = ["mobile", "tablet", "desktop", "tv"]
ADMIN = "development-only-secret-never-use-in-production"
TRIALS = 3
"""HTTP trials per connection count; the median one (by throughput) is reported."""
TARGET_RATE = 2_000
OPEN_LOOP_S = 10.0
SOAK_S = 60.0
"""One longer open-loop run at the target rate, after the trials: the database grows by
120,000 deliveries during it, and the WAL restarts and pacing updates fall inside it."""
OPEN_LOOP_CONNECTIONS = 32


def run(campaigns: int = 200, seconds: float = 5.0, seed: int = 3) -> dict[str, Any]:
    rng = random.Random(seed)
    specs = [_campaign(rng, i) for i in range(campaigns)]
    workloads = {
        "contextual": [_request(rng, viewer=False) for _ in range(20_000)],
        "with_viewer": [_request(rng, viewer=True) for _ in range(20_000)],
    }
    out: dict[str, Any] = {"campaigns": campaigns, "seed": seed}
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/decisions.sqlite3", synchronous="FULL")
        _fill(store, specs)
        for name, requests in workloads.items():
            fast, slow = _decider(store), _decider(store, index_ttl_ms=0)
            out[name] = {
                "choose_per_s": _rate(fast.choose, requests, seconds),
                "baseline_choose_per_s": _rate(slow.choose, requests, seconds / 5),
                "decide_durable_per_s": _threaded(fast, requests, seconds, threads=64),
                "ads_per_decision": round(
                    sum(len(fast.choose(r, NOW).ads) for r in requests[:2000]) / 2000, 2
                ),
            }
            out[name]["speedup"] = round(
                out[name]["choose_per_s"] / out[name]["baseline_choose_per_s"], 1
            )
            fast.close()
            slow.close()
        store.close()
    out["record"] = {
        "baseline": _record_latency(ordered_ids=False, background_checkpoint=False),
        "fairview": _record_latency(ordered_ids=True, background_checkpoint=True),
    }
    out["http"] = _http(specs, workloads["contextual"], seconds)
    out["target_in_process_per_s"] = 20_000
    out["target_http_per_s"] = 2_000
    out["target_http_p99_ms"] = 10.0
    return out


RECORD_PREFILL = 100_000
RECORD_COMMITS = 2_000
RECORD_ROWS = 4


def _record_latency(*, ordered_ids: bool, background_checkpoint: bool) -> dict[str, Any]:
    """One group commit of `RECORD_ROWS` delivery records, as the decider makes it, timed
    `RECORD_COMMITS` times on a file that already holds `RECORD_PREFILL` deliveries
    (SQLite, synchronous=FULL). The baseline is how fairview recorded before this change:
    random delivery ids, and SQLite checkpointing the WAL inside the commit that fills it."""
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(
            f"sqlite:///{tmp}/record.sqlite3",
            synchronous="FULL",
            background_checkpoint=background_checkpoint,
        )
        advertiser, _ = store.catalog.create_advertiser("a", "EUR", NOW)
        spec = CampaignSpec(
            name="c",
            billing_model=BillingModel.CPFV,
            bid=5,
            budget_total=10**12,
            budget_daily=None,
            starts_ms=NOW - 1,
            ends_ms=NOW + 10**9,
            targeting=Targeting(),
        )
        campaign = store.catalog.create_campaign(advertiser.id, spec, NOW)
        creative = store.catalog.add_creative(
            campaign.id, CreativeSpec("s", 6000, "https://cdn.example/a.mp4"), NOW
        )
        clock = [NOW]

        def record(i: int) -> DeliveryRecord:
            clock[0] += 1
            did = delivery_id(clock[0]) if ordered_ids else f"dl_{secrets.token_urlsafe(15)}"
            return DeliveryRecord(
                did, campaign.id, creative.id, "feed", None, "EU-DE", "mobile", "contextual",
                6000, clock[0], {"placement": "feed", "mode": "contextual"},
            )  # fmt: skip

        for _ in range(RECORD_PREFILL // 2000):
            store.deliveries.record_many([record(i) for i in range(2000)], [])
        times = []
        for _ in range(RECORD_COMMITS):
            rows = [record(i) for i in range(RECORD_ROWS)]
            began = time.perf_counter()
            store.deliveries.record_many(rows, [])
            times.append(time.perf_counter() - began)
        store.close()
    times.sort()
    return {
        "p50_ms": round(1000 * times[len(times) // 2], 3),
        "p99_ms": round(1000 * times[int(len(times) * 0.99)], 3),
        "max_ms": round(1000 * times[-1], 3),
        "mean_ms": round(1000 * sum(times) / len(times), 3),
        "rows_per_commit": RECORD_ROWS,
        "commits": RECORD_COMMITS,
        "prefill": RECORD_PREFILL,
    }


def _campaign(rng: random.Random, i: int) -> tuple[CampaignSpec, list[float]]:
    targeting = Targeting(
        regions=tuple(rng.sample(COUNTRIES, rng.randint(1, 4))) if rng.random() < 0.7 else (),
        devices=tuple(rng.sample(DEVICES, 2)) if rng.random() < 0.2 else (),
        topics=tuple(rng.sample(TOPICS, rng.randint(1, 3))) if rng.random() < 0.3 else (),
        blocked_topics=("v9i3On",) if rng.random() < 0.3 else (),
        dayparts=(Daypart((0, 1, 2, 3, 4, 5, 6), 6, 23),) if rng.random() < 0.1 else (),
        frequency_cap=FrequencyCap(3, 7) if rng.random() < 0.3 else None,
    )
    cpfv = rng.random() < 0.6
    spec = CampaignSpec(
        name=f"campaign {i}",
        billing_model=BillingModel.CPFV if cpfv else BillingModel.CPM_VIEWABLE,
        bid=rng.randint(3, 15) if cpfv else rng.randint(400, 1500),
        budget_total=10**12,
        budget_daily=None,
        starts_ms=NOW - 86_400_000,
        ends_ms=NOW + 30 * 86_400_000,
        targeting=targeting,
    )
    return spec, [rng.choice([6.0, 9.0, 15.0, 21.0, 30.0]) for _ in range(rng.randint(1, 3))]


def _request(rng: random.Random, *, viewer: bool) -> AdRequest:
    region = rng.choice(REGIONS)
    topics = tuple(rng.sample(TOPICS, rng.randint(0, 2)))
    return AdRequest(
        placement="feed",
        user_ref=f"user-{rng.randrange(50_000)}" if viewer else None,
        region=region,
        device_class=rng.choice(DEVICES),
        count=1,
        signals=RawSignals(region=region, age=30 if viewer else None),
        language=None,
        topics=topics,
    )


def _fill(store: Store, specs: list[tuple[CampaignSpec, list[float]]]) -> None:
    for i, (spec, durations) in enumerate(specs):
        advertiser, _ = store.catalog.create_advertiser(f"Advertiser {i}", "EUR", NOW)
        campaign = store.catalog.create_campaign(advertiser.id, spec, NOW)
        for k, d in enumerate(durations):
            store.catalog.add_creative(
                campaign.id,
                CreativeSpec(f"spot {k}", int(d * 1000), f"https://cdn.example/{i}-{k}.mp4"),
                NOW,
            )


def _decider(store: Store, index_ttl_ms: int = 1000) -> Decider:
    return Decider(
        store,
        TokenSigner(KEY, 86_400_000),
        Pseudonymiser("bench-pepper-" + "p" * 32),
        index_ttl_ms=index_ttl_ms,
    )


def _rate(fn: Any, requests: list[AdRequest], seconds: float) -> int:
    fn(requests[0], NOW)  # warm the index and caches
    done, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        for r in requests[done % len(requests) : done % len(requests) + 500]:
            fn(r, NOW)
        done += 500
    return round(done / (time.perf_counter() - began))


def _threaded(decider: Decider, requests: list[AdRequest], seconds: float, threads: int) -> int:
    sys.setswitchinterval(0.0002)
    deadline = time.perf_counter() + seconds
    counts = [0] * threads

    def worker(k: int) -> None:
        i = k
        while time.perf_counter() < deadline:
            decider.decide(requests[i % len(requests)], NOW)
            counts[k] += 1
            i += threads

    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    sys.setswitchinterval(0.005)
    return round(sum(counts) / (time.perf_counter() - began))


def _http(
    specs: list[tuple[CampaignSpec, list[float]]], requests: list[AdRequest], seconds: float
) -> dict[str, Any]:
    bodies = [
        orjson.dumps(
            {
                "placement": r.placement,
                "region": r.region,
                "device": r.device_class,
                "topics": list(r.topics),
            }
        )
        for r in requests
    ]
    results = _http_run(specs, bodies, seconds, shared_socket=False)
    # the same server, each decision answering only once its delivery is committed
    results["before_answer"] = _http_run(
        specs, bodies, seconds, shared_socket=False, commit="before_answer", closed_loop=False
    )
    results["baseline_shared_socket"] = _http_run(specs, bodies, seconds, shared_socket=True)
    return results


def _http_run(
    specs: list[tuple[CampaignSpec, list[float]]],
    bodies: list[bytes],
    seconds: float,
    *,
    shared_socket: bool,
    commit: str = "behind",
    closed_loop: bool = True,
) -> dict[str, Any]:
    """One server (a fresh database), the same sequence of loads for either kind;
    `commit` is its FAIRVIEW_DELIVERY_COMMIT (`fairview serve` only)."""
    os.sync()  # what earlier benchmarks wrote is flushed now, not during this one's fsyncs
    time.sleep(2)
    results: dict[str, Any] = {"commit": commit}
    env = {"FAIRVIEW_DELIVERY_COMMIT": commit}
    with (
        tempfile.TemporaryDirectory() as tmp,
        _Server(Path(tmp), 2, None, shared_socket=shared_socket, env=env) as port,
    ):
        _create_over_http(f"http://127.0.0.1:{port}", specs)
        time.sleep(1.2)  # both workers' campaign indexes refresh
        for connections in (8, 16) if closed_loop else ():
            trials = [_load(port, bodies, seconds, connections) for _ in range(TRIALS)]
            median = sorted(trials, key=lambda t: t["decisions_per_s"])[TRIALS // 2]
            results[str(connections)] = {
                **median,
                "trials": [[t["decisions_per_s"], t["p99_ms"]] for t in trials],
            }
        trials = [_open_loop(port, bodies) for _ in range(TRIALS)]
        median = sorted(trials, key=lambda t: t["p99_ms"])[TRIALS // 2]
        results["open_loop"] = {
            **median,
            "trials": [[t["decisions_per_s"], t["p99_ms"]] for t in trials],
        }
        if closed_loop and not shared_socket:
            results["soak"] = _open_loop(port, bodies, seconds=SOAK_S)
    return results


def _open_loop(port: int, bodies: list[bytes], seconds: float = OPEN_LOOP_S) -> dict[str, Any]:
    load = post_at_rate(
        port,
        "/v1/decisions",
        bodies,
        TARGET_RATE,
        seconds,
        OPEN_LOOP_CONNECTIONS,
        keep=lambda answer: len(answer.get("ads", ())),
    )
    return {
        "offered_per_s": TARGET_RATE,
        "decisions_per_s": round(len(load.answers) / load.elapsed_s),
        "requests": len(load.answers),
        "ads_served": sum(load.answers),
        "p50_ms": load.p(0.5),
        "p99_ms": load.p(0.99),
        "p999_ms": load.p(0.999),
        "late_sends": load.late,
        "cpu_idle_pct": load.cpu_idle_pct,
        "connections": OPEN_LOOP_CONNECTIONS,
        "seconds": seconds,
    }


def _create_over_http(base: str, specs: list[tuple[CampaignSpec, list[float]]]) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        for i, (spec, durations) in enumerate(specs):
            r = client.post(
                "/v1/advertisers",
                json={"name": f"Advertiser {i}"},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
            auth = {"Authorization": f"Bearer {r.json()['api_key']}"}
            t = spec.targeting.to_json()
            body = {
                "name": spec.name,
                "billing_model": spec.billing_model.value,
                "bid": spec.bid,
                "budget_total": spec.budget_total,
                "starts_at": "2020-01-01T00:00:00Z",
                "ends_at": "2099-01-01T00:00:00Z",
                "targeting": t,
            }
            cid = client.post("/v1/campaigns", json=body, headers=auth).json()["id"]
            for k, d in enumerate(durations):
                client.post(
                    f"/v1/campaigns/{cid}/creatives",
                    json={
                        "name": f"spot {k}",
                        "duration_s": d,
                        "media_url": "https://cdn.example/a.mp4",
                    },
                    headers=auth,
                )


def _load(port: int, bodies: list[bytes], seconds: float, connections: int) -> dict[str, Any]:
    load = post_for(
        port,
        "/v1/decisions",
        bodies,
        seconds,
        connections,
        cycle=True,
        keep=lambda answer: len(answer.get("ads", ())),
    )
    return {
        "decisions_per_s": round(len(load.answers) / load.elapsed_s),
        "ads_served": sum(load.answers),
        "p50_ms": load.p(0.5),
        "p99_ms": load.p(0.99),
        "cpu_idle_pct": load.cpu_idle_pct,
        "connections": connections,
    }


if __name__ == "__main__":
    print(orjson.dumps(run(), option=orjson.OPT_INDENT_2).decode())
