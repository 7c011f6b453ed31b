"""The viewer's export (`GET /v1/me/data`) streams in bounded memory.

A SQLite store holds one viewer with 100,000 playback events (1,000 deliveries
of 100 events, each with its settlement), a baseline viewer with 1,000 events
(10 deliveries) and a background of 200 other viewers (100,000 events more).
Each export runs through the real application in process: an ASGI call with
the viewer's token, whose body chunks are counted and dropped as they arrive,
as a client reading the download would. Peak memory is measured with
tracemalloc over the request alone (everything allocated while serving it);
time is the best of three runs without tracemalloc. Memory must not grow
with history: the 100,000-event export's peak is compared with the
1,000-event baseline's (and a 10,000-event one), measured in the same run,
and with the same export built whole in memory first. The streamed peak
saws up and down with the garbage collector (about 0.2 MiB), so the target
allows the large export up to 3× the small one's peak for 100× the history.

Run: `.venv/bin/python bench/export.py` (prints JSON).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from fairview.api.app import create_app
from fairview.clock import ShiftedClock
from fairview.domain import BillingModel, DeliveryRecord
from fairview.pseudonym import Pseudonymiser
from fairview.rights.export import open_export
from fairview.rights.requests import Kind
from fairview.settings import Settings
from fairview.storage import Store, open_store
from fairview.storage.catalog import CampaignSpec, CreativeSpec
from fairview.storage.eventlog import LogEvent
from fairview.tokens import ViewerTokens

T0 = 1_790_000_000_000
DAY_MS = 86_400_000
EVENTS_PER_DELIVERY = 100
SIZES = {"baseline": 1_000, "medium": 10_000, "large": 100_000}
BACKGROUND_VIEWERS, BACKGROUND_DELIVERIES = 200, 5


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'export.sqlite3'}"
        settings = Settings(env="test", database_url=url)  # type: ignore[arg-type]
        store = open_store(url, synchronous="NORMAL")
        started = time.perf_counter()
        viewers = _fill(store, settings)
        fill_s = time.perf_counter() - started
        app = create_app(settings, store=store, clock=ShiftedClock(T0))
        tokens = ViewerTokens(settings.viewer_token_key.get_secret_value())
        token = {name: tokens.sign(ref, T0 + DAY_MS) for name, ref in viewers.items()}
        _export(app, tokens.sign("warm-up", T0 + DAY_MS))  # imports and caches, untimed
        out: dict[str, Any] = {"fill_s": round(fill_s, 1)}
        for name, events in SIZES.items():
            out[name] = _measure(app, store, token[name], events)
        out["buffered_large_peak_kib"] = _buffered_peak(store, viewers["large"], settings)
        store.close()
    base, medium, large = out["baseline"], out["medium"], out["large"]
    out["history_ratio"] = round(SIZES["large"] / SIZES["baseline"])
    out["memory_ratio"] = round(large["peak_kib"] / base["peak_kib"], 2)
    out["memory_ratio_vs_medium"] = round(large["peak_kib"] / medium["peak_kib"], 2)
    out["peak_share_of_response"] = round(large["peak_kib"] * 1024 / large["bytes"], 3)
    out["chunk_kib"] = 64
    out["background_events"] = BACKGROUND_VIEWERS * BACKGROUND_DELIVERIES * EVENTS_PER_DELIVERY
    out["target_memory_ratio"] = 3.0
    return out


def _buffered_peak(store: Store, user_ref: str, settings: Settings) -> int:
    """The same export built whole in memory first (as a plain JSON response would be)."""
    viewer = Pseudonymiser(settings.pseudonym_pepper.get_secret_value()).viewer_key(user_ref)
    tracemalloc.start()
    tracemalloc.reset_peak()
    body = b"".join(open_export(store, viewer, Kind.ACCESS, ShiftedClock(T0))[1])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del body
    return round(peak / 1024)


def _measure(app: Any, store: Store, token: str, events: int) -> dict[str, Any]:
    best = min(_timed(lambda: _export(app, token)) for _ in range(3))
    tracemalloc.start()
    tracemalloc.reset_peak()
    size, request_id = _export(app, token)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    request = store.rights.get(request_id)
    assert request is not None and request.status == "completed"
    assert request.detail["rows"]["events"] == events, request.detail
    return {
        "events": events,
        "bytes": size,
        "seconds": round(best, 3),
        "events_per_s": round(events / best),
        "mib_per_s": round(size / best / 2**20, 1),
        "peak_kib": round(peak / 1024),
    }


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _export(app: Any, token: str) -> tuple[int, str]:
    """GET /v1/me/data through the ASGI app; returns (bytes received, request id)."""
    return asyncio.run(_asgi_get(app, "/v1/me/data", token))


async def _asgi_get(app: Any, path: str, token: str) -> tuple[int, str]:
    done = asyncio.Event()
    sent = {"size": 0, "status": 0, "request": ""}
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
            headers = dict(message.get("headers", []))
            sent["request"] = headers.get(b"x-rights-request", b"").decode()
        elif message["type"] == "http.response.body":
            sent["size"] += len(message.get("body", b""))  # counted, then dropped
            if not message.get("more_body", False):
                done.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }
    await app(scope, receive, send)
    assert sent["status"] == 200, sent
    return int(sent["size"]), str(sent["request"])


def _fill(store: Store, settings: Settings) -> dict[str, str]:
    """The viewers of the workload; returns their user references by name."""
    advertiser = store.catalog.create_advertiser("Bench", "EUR", T0)[0]
    spec = CampaignSpec("bench", BillingModel.CPFV, 10, 10**9, None, T0 - DAY_MS, T0 + DAY_MS)
    camp = store.catalog.create_campaign(advertiser.id, spec, T0)
    creative = store.catalog.add_creative(
        camp.id, CreativeSpec("spot", 15_000, "https://cdn.example/a.mp4"), T0
    )
    keys = Pseudonymiser(settings.pseudonym_pepper.get_secret_value())
    refs = {name: f"bench-{name}" for name in SIZES}
    plan = [(refs[name], n // EVENTS_PER_DELIVERY) for name, n in SIZES.items()]
    plan += [(f"bench-other-{i}", BACKGROUND_DELIVERIES) for i in range(BACKGROUND_VIEWERS)]
    for ref, deliveries in plan:
        viewer = keys.viewer_key(ref)
        for start in range(0, deliveries, 100):
            batch = [
                DeliveryRecord(
                    f"dl_{viewer[:12]}_{n}", camp.id, creative.id, "feed", viewer, "EU-DE",
                    "mobile", "personalised", 15_000, T0 + n, {"mode": "personalised"},
                )
                for n in range(start, min(start + 100, deliveries))
            ]  # fmt: skip
            store.deliveries.record_many(batch)
            store.events.append([e for d in batch for e in _events(d.id)], [])
    return refs


def _events(delivery_id: str) -> list[LogEvent]:
    return [
        LogEvent(
            delivery_id, seq, "heartbeat", seq * 250.0, seq * 0.25, 1.0, False, 1, False,
            None, None, None, None, T0 + 20_000,
        )
        for seq in range(EVENTS_PER_DELIVERY)
    ]  # fmt: skip


if __name__ == "__main__":
    print(orjson.dumps(run(), option=orjson.OPT_INDENT_2).decode())
