"""`make bench`: measure, then write bench/results.json and docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).parent))

import consent
import ingest
import settlement

ROOT = Path(__file__).parents[1]


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def main() -> None:
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print("settlement …", flush=True)
    settle = settlement.run()
    print(settle, flush=True)
    settle["end_to_end"] = settlement.run_end_to_end()
    print(settle["end_to_end"], flush=True)
    print("consent …", flush=True)
    consent_figures = consent.run()
    print(consent_figures, flush=True)
    print("ingestion …", flush=True)
    ingestion = ingest.run()
    print(ingestion, flush=True)
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        or "uncommitted"
    )
    results = {
        "date": started,
        "commit": commit,
        "machine": machine(),
        "command": "make bench",
        "settlement": settle,
        "ingestion": ingestion,
        "consent": consent_figures,
    }
    (ROOT / "bench" / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    (ROOT / "docs" / "benchmarks.md").write_text(render(results))
    print("wrote bench/results.json and docs/benchmarks.md")


def render(r: dict[str, Any]) -> str:
    m, s, i, c = r["machine"], r["settlement"], r["ingestion"], r["consent"]
    e = s["end_to_end"]
    b, one = i["batch_100"], i["single_event"]
    return f"""# Benchmarks

Measured by `make bench` on {r["date"]} (commit {r["commit"]}); every figure below comes from
that one run, and each is compared with a baseline measured in the same run.
Machine: {m["cpu"]}, {m["cores"]} cores, {m["memory_gib"]} GiB, Python {m["python"]}, {m["os"]}.

## Settlement: focused-view rule, events per second on one core

Workload: {s["deliveries"]:,} simulated deliveries ({s["events"]:,} events: honest archetypes and
invalid traffic from `fairview.sim`, heartbeats every 250 ms).

| implementation | events/s | note |
|---|---:|---|
| fast path (`fairview.attention.fast`, numba) | {s["fast_events_per_s"]:,} | kernel only, best of 5 |
| fast path including building the columns | {s["fast_with_column_build_events_per_s"]:,} | from `Event` objects |
| reference (`fairview.attention.reference`) | {s["reference_events_per_s"]:,} | baseline, {s["reference_events"]:,} events |

The fast path is {s["speedup"]}× the reference. Target: ≥ {s["target_fast_events_per_s"]:,} events/s per core.

End to end, `Settler.run_once` on a filled SQLite store ({e["deliveries"]:,} deliveries,
{e["events"]:,} events): read the log, qualify, record verdicts, post the ledger.

| qualifier | events/s | deliveries settled |
|---|---:|---:|
| fast path | {e["fast_events_per_s"]:,} | {e["fast_settled"]:,} |
| reference (baseline) | {e["reference_events_per_s"]:,} | {e["reference_settled"]:,} |

End to end the fast path is {e["speedup"]}× the reference: most of the time is the store
(reading events, writing verdicts and ledger entries), not the rule.

## HTTP ingestion: `POST /v1/events`, durable commit before acknowledgement

`fairview serve --workers {i["server_workers"]}` (one process per core; writers queue on one OS
file lock and group their commits) against an asyncio load generator in another process on
the same two cores: {i["connections"]} keep-alive connections, {i["seconds_each"]} s per trial,
median of {len(i["trials"]["batch_100"])} trials; {i["durability"]}.

| request shape | accepted events/s | requests/s | p50 ms | p99 ms |
|---|---:|---:|---:|---:|
| batches of 100 events | {b["accepted_events_per_s"]:,} | {b["requests_per_s"]:,} | {b["p50_ms"]} | {b["p99_ms"]} |
| one event per request (baseline) | {one["accepted_events_per_s"]:,} | {one["requests_per_s"]:,} | {one["p50_ms"]} | {one["p99_ms"]} |

Batching is {i["speedup"]}× one event per request. Every trial, accepted events/s: batches
{i["trials"]["batch_100"]}, single events {i["trials"]["single_event"]}.
Target: ≥ {i["target_accepted_events_per_s"]:,} accepted events/s on this machine.

## Consent: TC string decoding and the policy

On the 1,024-string golden corpus (best of 5 rounds):

| | figure | baseline or target |
|---|---:|---|
| `fairview.consent.decode` | {c["decode_per_s"]:,} strings/s | `iab-tcf` 0.2.2 (PyPI), same strings: {c["iab_tcf_decode_per_s"]:,} strings/s, so {c["speedup"]}× (target ≥ {c["target_speedup"]}×) |
| policy decision (`decide`) | {c["policy_us_per_request"]} µs per request | target < {c["target_policy_us"]} µs |
| signals read (cached TC string) + decision | {c["signals_and_policy_us_per_request"]} µs per request | |

Reproduce: `make bench` (writes this page and `bench/results.json`).
"""


if __name__ == "__main__":
    main()
