"""Settlement throughput: the compiled fast path against the reference rule, same events."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from fairview.attention import fast, reference
from fairview.clock import ShiftedClock
from fairview.domain import BillingModel, DeliveryRecord
from fairview.settle.worker import Settler, qualify_fast, qualify_reference
from fairview.storage import open_store
from fairview.storage.catalog import CampaignSpec, CreativeSpec
from fairview.storage.eventlog import LogEvent

from workload import as_events, streams


def run(
    seed: int = 11, deliveries: int = 40_000, reference_deliveries: int = 2_000
) -> dict[str, Any]:
    events = as_events(streams(seed, deliveries))
    cols = fast.EventColumns.from_events(events)
    fast.qualify_columns(cols)  # compile (or load the cache) outside the timing
    best = min(_timed(lambda: fast.qualify_columns(cols)) for _ in range(5))
    by_delivery: dict[str, list[Any]] = defaultdict(list)
    for e in events:
        by_delivery[e.delivery].append(e)
    subset = list(by_delivery.values())[:reference_deliveries]
    n_ref = sum(len(s) for s in subset)
    ref_time = _timed(lambda: [reference.qualify(s) for s in subset])
    start = time.perf_counter()
    fast.EventColumns.from_events(events)
    build = time.perf_counter() - start
    return {
        "events": len(events),
        "deliveries": len(by_delivery),
        "fast_events_per_s": round(len(events) / best),
        "fast_with_column_build_events_per_s": round(len(events) / (best + build)),
        "reference_events": n_ref,
        "reference_events_per_s": round(n_ref / ref_time),
        "speedup": round((len(events) / best) / (n_ref / ref_time), 1),
        "target_fast_events_per_s": 2_000_000,
    }


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_end_to_end(seed: int = 13, deliveries: int = 5_000) -> dict[str, Any]:
    """`Settler.run_once` on a filled SQLite store: read log, qualify, post ledger.

    The same store (copied file) is settled once with the fast path and once with
    the reference rule, so the two figures differ only in the qualifier.
    """
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "filled.sqlite3"
        n_events = _fill(source, streams(seed, deliveries))
        out: dict[str, Any] = {"deliveries": deliveries, "events": n_events}
        fast.qualify_many(as_events(streams(seed, 3)))  # load the compiled kernel first
        for name, qualifier in (("fast", qualify_fast), ("reference", qualify_reference)):
            copy = Path(tmp) / f"{name}.sqlite3"
            shutil.copy(source, copy)
            store = open_store(f"sqlite:///{copy}", synchronous="FULL")
            settler = Settler(
                store, ShiftedClock(_T0 + 3 * _DAY_MS), window_ms=_DAY_MS, qualifier=qualifier
            )
            elapsed = _timed(settler.run_once)
            out[f"{name}_events_per_s"] = round(n_events / elapsed)
            out[f"{name}_settled"] = len(store.settlement.verdicts())
            store.close()
        out["speedup"] = round(out["fast_events_per_s"] / out["reference_events_per_s"], 1)
    return out


_T0 = 1_790_000_000_000
_DAY_MS = 86_400_000


def _fill(path: Path, wire: list[list[dict[str, object]]]) -> int:
    store = open_store(f"sqlite:///{path}", synchronous="OFF")
    adv, _ = store.catalog.create_advertiser("Bench", "EUR", _T0)
    spec = CampaignSpec("bench", BillingModel.CPFV, 10, 10**12, None, _T0 - _DAY_MS, _T0 + _DAY_MS)
    campaign = store.catalog.create_campaign(adv.id, spec, _T0)
    creative = store.catalog.add_creative(
        campaign.id, CreativeSpec("c", 15_000, "https://x/c.mp4"), _T0
    )
    total = 0
    for n, stream in enumerate(wire):
        d = f"dl_{n}"
        store.deliveries.record(
            DeliveryRecord(
                d,
                campaign.id,
                creative.id,
                "feed",
                None,
                "EU-DE",
                "mobile",
                "non_personalised",
                15_000,
                _T0,
            )
        )
        rows = [
            LogEvent(
                d,
                e["seq"],
                e["type"],
                e["mono_ms"],
                e["media_s"],
                e.get("rate", 1.0),
                e.get("muted", False),
                -1 if e.get("vis") is None else int(e["vis"]),
                e.get("trusted", False),
                e.get("kind"),
                e.get("from_s"),
                e.get("to_s"),
                e.get("duration_s"),
                _T0 + int(e["mono_ms"]) + 1_000,
            )
            for e in stream
        ]
        store.events.append(rows, [])  # type: ignore[arg-type]
        total += len(rows)
    store.close()
    return total
