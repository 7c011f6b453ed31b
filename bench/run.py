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
the same two cores, on keep-alive connections, {i["seconds_each"]} s per trial, median of
{len(i["trials"]["batch_100"])} trials, fresh deliveries in every trial; {i["durability"]}.

| connections | request shape | accepted events/s | requests/s | p50 ms | p99 ms | CPU idle |
|---:|---|---:|---:|---:|---:|---:|
{_ingestion_rows(i)}

With {i["connections"]} connections, batching is {i["speedup"]}× one event per request.
Target: ≥ {i["target_accepted_events_per_s"]:,} accepted events/s on this machine, judged at
{i["connections"]} connections: with fewer requests in flight the server waits on commits and
the other worker's file lock while part of the CPU is idle (last column), so the load generator,
not the server, sets the pace. Every trial, accepted events/s:
{_ingestion_trials(i)}.

## Consent: TC string decoding and the policy

On the 1,024-string golden corpus (best of 5 rounds). A decoded id set is a bitmap
(`fairview.consent.idset.IdSet`: membership is one byte lookup), so decoding does not
build one Python object per vendor; the second row adds listing every id.

| | figure | baseline or target |
|---|---:|---|
| `fairview.consent.decode` | {c["decode_per_s"]:,} strings/s | `iab-tcf` 0.2.2 (PyPI), same strings: {c["iab_tcf_decode_per_s"]:,} strings/s, so {c["speedup"]}× (target ≥ {c["target_speedup"]}×) |
| decode and list every id (`TCModel.to_json`) | {c["decode_and_json_per_s"]:,} strings/s | {round(c["decode_and_json_per_s"] / c["iab_tcf_decode_per_s"], 2)}× `iab-tcf` |
| policy decision (`decide`) | {c["policy_us_per_request"]} µs per request | target < {c["target_policy_us"]} µs |
| signals read (cached TC string) + decision | {c["signals_and_policy_us_per_request"]} µs per request | |

Reproduce: `make bench` (writes this page and `bench/results.json`).
"""


def _ingestion_rows(i: dict[str, Any]) -> str:
    rows = []
    for level, figures in i["by_connections"].items():
        for shape, label in (
            ("batch_100", "batches of 100 events"),
            ("single_event", "one event per request"),
        ):
            f = figures[shape]
            rows.append(
                f"| {level} | {label} | {f['accepted_events_per_s']:,} | {f['requests_per_s']:,} "
                f"| {f['p50_ms']} | {f['p99_ms']} | {f['cpu_idle_pct']} % |"
            )
    return "\n".join(rows)


def _ingestion_trials(i: dict[str, Any]) -> str:
    return "; ".join(
        f"{level} connections: batches {f['trials']['batch_100']}, single events {f['trials']['single_event']}"
        for level, f in i["by_connections"].items()
    )


if __name__ == "__main__":
    main()
