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
import time
from pathlib import Path
from typing import Any

import orjson

from fairview.tokens import DeliveryClaims, TokenSigner

from loadgen import post_for
from workload import streams

KEY = "bench-signing-key-" + "x" * 32


def run(
    seconds: float = 5.0,
    connections: tuple[int, ...] = (16, 64),
    workers: int = 2,
    trials: int = 3,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Median of `trials` runs per request shape and per number of client connections.

    Each trial posts fresh deliveries. The figure judged against the target is the one
    at the largest number of connections: with few connections in flight the server
    waits on commits (the CPU is partly idle, see `cpu_idle_pct`), so the offered load,
    not the server, sets the pace.
    """
    # Long attentive views give deliveries of 100+ events, so batches are full.
    wire = [s for s in streams(5, 20_000, duration_s=30.0) if len(s) >= 100]
    wire = (wire * (1 + 12_000 // max(1, len(wire))))[:12_000]  # each copy: its own delivery
    levels: dict[int, dict[str, list[dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory() as tmp, _Server(Path(tmp), workers, database_url) as port:
        for level in connections:
            shapes: dict[str, list[dict[str, Any]]] = {"batch_100": [], "single_event": []}
            for trial in range(trials):
                for shape, size in (("batch_100", 100), ("single_event", 1)):
                    bodies = _bodies(wire, size, f"{shape[0]}{level}x{trial}")
                    shapes[shape].append(_load(port, bodies, seconds, level))
            levels[level] = shapes
    by_connections = {
        str(level): {
            "batch_100": _median(shapes["batch_100"]),
            "single_event": _median(shapes["single_event"]),
            "trials": {k: [t["accepted_events_per_s"] for t in v] for k, v in shapes.items()},
        }
        for level, shapes in levels.items()
    }
    top = by_connections[str(max(connections))]
    batched, single = top["batch_100"], top["single_event"]
    return {
        "batch_100": batched,
        "single_event": single,
        "trials": top["trials"],
        "by_connections": by_connections,
        "speedup": round(batched["accepted_events_per_s"] / single["accepted_events_per_s"], 1),
        "connections": max(connections),
        "seconds_each": seconds,
        "server_workers": workers,
        "target_accepted_events_per_s": 50_000,
        "durability": "SQLite WAL, synchronous=FULL (fsync before every acknowledgement)",
    }


def _median(trials: list[dict[str, Any]]) -> dict[str, Any]:
    ranked = sorted(trials, key=lambda t: t["accepted_events_per_s"])
    return ranked[len(ranked) // 2]


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
    """Post `bodies` over keep-alive connections for `seconds`; count what was accepted."""
    load = post_for(
        port,
        "/v1/events",
        bodies,
        seconds,
        connections,
        keep=lambda answer: (answer["accepted"], len(answer["results"])),
    )
    accepted = sum(a for a, _ in load.answers)
    return {
        "requests": len(load.answers),
        "events_sent": sum(n for _, n in load.answers),
        "accepted": accepted,
        "accepted_events_per_s": round(accepted / load.elapsed_s),
        "requests_per_s": round(len(load.answers) / load.elapsed_s),
        "p50_ms": load.p(0.5),
        "p99_ms": load.p(0.99),
        "cpu_idle_pct": load.cpu_idle_pct,
    }


_UVICORN = ["-m", "uvicorn", "fairview.api.app:app_from_environment", "--factory"]


class _Server:
    """`fairview serve` in a subprocess; `shared_socket` runs uvicorn's own `--workers`
    instead (one listening socket shared by the processes: how fairview served before)."""

    def __init__(
        self,
        tmp: Path,
        workers: int,
        database_url: str | None,
        *,
        shared_socket: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.tmp = tmp
        self.env = env or {}
        self.workers = workers
        self.url = database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
        self.shared_socket = shared_socket

    def __enter__(self) -> int:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        sock.close()
        env = {
            **os.environ,
            "FAIRVIEW_DATABASE_URL": self.url,
            "FAIRVIEW_TOKEN_SIGNING_KEY": KEY,
            "FAIRVIEW_SQLITE_SYNCHRONOUS": "FULL",
            **self.env,
        }
        command = (
            [*_UVICORN, "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
            if self.shared_socket
            else ["-m", "fairview", "serve"]
        )
        if self.shared_socket:  # uvicorn's processes would each migrate, racing
            subprocess.run([sys.executable, "-m", "fairview", "migrate"], env=env, check=True)
        # The server's log goes to a file: a pipe nobody reads would stall the server
        # once its buffer filled.
        self.log = self.tmp / "server.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *command, "--port", str(port), "--workers", str(self.workers)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
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
        raise RuntimeError(f"bench server did not start: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=15)
        errors = [line for line in self.log.read_text().splitlines() if "ERROR" in line]
        if errors:  # the figures of a server that logged errors are not to be trusted
            print("\n".join(["bench server logged errors:", *errors[:20]]), file=sys.stderr)
