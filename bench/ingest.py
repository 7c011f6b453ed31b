"""HTTP ingestion throughput: batches of 100 events against one event per request.

The server is `fairview serve --workers 2` (one process per core, SQLite in WAL
with synchronous=FULL: every acknowledged event is on disk). The load
generator runs in this process on keep-alive connections from several threads;
both share the machine's two cores.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from fairview.tokens import DeliveryClaims, TokenSigner

from workload import streams

KEY = "bench-signing-key-" + "x" * 32


def run(
    seconds: float = 8.0, connections: int = 8, workers: int = 1, database_url: str | None = None
) -> dict[str, Any]:
    # Long attentive views give deliveries of 100+ events, so batches are full.
    wire = [s for s in streams(5, 20_000, duration_s=30.0) if len(s) >= 100][:4_000]
    with tempfile.TemporaryDirectory() as tmp, _Server(Path(tmp), workers, database_url) as port:
        batched = _load(port, _bodies(wire, 100, "b"), seconds, connections)
        single = _load(port, _bodies(wire, 1, "s"), seconds, connections)
    return {
        "batch_100": batched,
        "single_event": single,
        "speedup": round(batched["accepted_events_per_s"] / single["accepted_events_per_s"], 1),
        "connections": connections,
        "seconds_each": seconds,
        "server_workers": workers,
        "target_accepted_events_per_s": 50_000,
        "durability": "SQLite WAL, synchronous=FULL",
    }


def _bodies(wire: list[list[dict[str, Any]]], size: int, tag: str) -> list[bytes]:
    """Request bodies of `size` events; each delivery gets a genuine token, seqs stay unique."""
    signer = TokenSigner(KEY, 10**12)
    now = int(time.time() * 1000)
    bodies = []
    for n, stream in enumerate(wire):
        token = signer.sign(
            DeliveryClaims(f"dl_{tag}_{n}", "cmp", "crv", 15_000, now, "non_personalised")
        )
        events = [{k: v for k, v in e.items() if k != "delivery"} for e in stream]
        for start in range(0, len(events) - size + 1, size):
            bodies.append(orjson.dumps({"token": token, "events": events[start : start + size]}))
    return bodies


def _load(port: int, bodies: list[bytes], seconds: float, connections: int) -> dict[str, Any]:
    lock = threading.Lock()
    cursor = [0]
    totals = {"requests": 0, "accepted": 0, "events": 0}
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        local = {"requests": 0, "accepted": 0, "events": 0}
        mine: list[float] = []
        while time.perf_counter() < deadline:
            with lock:
                i = cursor[0]
                cursor[0] += 1
            if i >= len(bodies):
                break
            start = time.perf_counter()
            conn.request(
                "POST", "/v1/events", body=bodies[i], headers={"content-type": "application/json"}
            )
            answer = orjson.loads(conn.getresponse().read())
            mine.append(time.perf_counter() - start)
            local["requests"] += 1
            local["accepted"] += answer["accepted"]
            local["events"] += len(answer["results"])
        conn.close()
        with lock:
            for k, v in local.items():
                totals[k] += v
            latencies.extend(mine)

    began = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": totals["requests"],
        "events_sent": totals["events"],
        "accepted": totals["accepted"],
        "accepted_events_per_s": round(totals["accepted"] / elapsed),
        "requests_per_s": round(totals["requests"] / elapsed),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 2) if latencies else None,
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 2) if latencies else None,
    }


class _Server:
    def __init__(self, tmp: Path, workers: int, database_url: str | None) -> None:
        self.tmp = tmp
        self.workers = workers
        self.url = database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"

    def __enter__(self) -> int:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        sock.close()
        env = {
            **os.environ,
            "FAIRVIEW_DATABASE_URL": f"sqlite:///{self.tmp / 'bench.sqlite3'}",
            "FAIRVIEW_TOKEN_SIGNING_KEY": KEY,
            "FAIRVIEW_SQLITE_SYNCHRONOUS": "FULL",
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fairview",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(self.workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return port
            except OSError:
                time.sleep(0.1)
        self.proc.kill()
        raise RuntimeError("bench server did not start")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=15)
