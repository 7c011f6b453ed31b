"""A small asyncio HTTP/1.1 load generator (uvloop) shared by the HTTP benchmarks.

Rather than a general-purpose client, so that the load generator takes as little of the
shared two cores as it can. Two ways to load:

- `post_for`, closed loop: each connection sends its next request when the previous
  answer arrives, as fast as the server goes. It measures capacity; its latencies are
  those of a saturated server.
- `post_at_rate`, open loop: requests are scheduled at a fixed rate whatever the
  server does, and each latency runs from the request's *scheduled* time, so a stall
  counts against every request it delays (no "coordinated omission", as in wrk2). It
  measures the latency at a stated throughput, which is how a target such as
  "2,000 decisions/s at p99 ≤ 10 ms" is stated.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import uvloop


@dataclass
class Load:
    """What one run of `post_for` saw: answers, latencies, wall time, CPU idle."""

    answers: list[Any] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    cpu_idle_pct: int = 0

    late: int = 0
    """Open loop: requests sent more than 1 ms after their scheduled time."""

    def p(self, q: float) -> float | None:
        ordered = sorted(self.latencies)
        return round(1000 * ordered[int(len(ordered) * q)], 2) if ordered else None


def post_for(
    port: int,
    path: str,
    bodies: Sequence[bytes],
    seconds: float,
    connections: int,
    *,
    cycle: bool = False,
    keep: Callable[[Any], Any] = lambda answer: answer,
) -> Load:
    """POST `bodies` (each once, or round and round with `cycle`) on keep-alive
    connections for `seconds`; `keep` reduces each JSON answer to what is counted."""
    with _no_gc_pauses():
        return uvloop.run(_post_for(port, path.encode(), bodies, seconds, connections, cycle, keep))


async def _post_for(
    port: int,
    path: bytes,
    bodies: Sequence[bytes],
    seconds: float,
    connections: int,
    cycle: bool,
    keep: Callable[[Any], Any],
) -> Load:
    cursor = iter(range(10**12 if cycle else len(bodies)))
    load = Load()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in cursor:
            if time.perf_counter() >= deadline:
                break
            start = time.perf_counter()
            answer = await _exchange(reader, writer, path, bodies[i % len(bodies)])
            load.latencies.append(time.perf_counter() - start)
            load.answers.append(keep(answer))
        writer.close()

    began, before = time.perf_counter(), cpu_ticks()
    await asyncio.gather(*(worker() for _ in range(connections)))
    load.elapsed_s, after = time.perf_counter() - began, cpu_ticks()
    busy, idle = after[0] - before[0], after[1] - before[1]
    load.cpu_idle_pct = round(100 * idle / max(1, busy + idle))
    return load


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: bytes, body: bytes
) -> Any:
    """One keep-alive POST and its JSON answer."""
    writer.write(
        b"POST %s HTTP/1.1\r\nhost: bench\r\ncontent-type: "
        b"application/json\r\ncontent-length: %d\r\n\r\n%s" % (path, len(body), body)
    )
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    return orjson.loads(await reader.readexactly(length))


def post_at_rate(
    port: int,
    path: str,
    bodies: Sequence[bytes],
    rate_per_s: float,
    seconds: float,
    connections: int,
    *,
    keep: Callable[[Any], Any] = lambda answer: answer,
) -> Load:
    """POST `bodies` round and round at `rate_per_s` for `seconds` (open loop).

    Request i is due at start + i / rate. A free connection takes the next request,
    waits until it is due, and sends it; its latency is measured from when it was due.
    `connections` bounds the requests in flight: too few, and requests wait for a
    connection (which the latency then shows).
    """
    with _no_gc_pauses():
        return uvloop.run(
            _post_at_rate(port, path.encode(), bodies, rate_per_s, seconds, connections, keep)
        )


@contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """No cyclic garbage collection in the load generator while it measures: a full
    collection over the answers it keeps stalls its event loop for tens of ms, which
    would be counted as the server's latency. (Nothing it allocates forms cycles.)"""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def _post_at_rate(
    port: int,
    path: bytes,
    bodies: Sequence[bytes],
    rate_per_s: float,
    seconds: float,
    connections: int,
    keep: Callable[[Any], Any],
) -> Load:
    total = int(rate_per_s * seconds)
    cursor = iter(range(total))
    load = Load()
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    began = time.perf_counter() + 0.05

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for i in cursor:
            due = began + i / rate_per_s
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -0.001:
                load.late += 1
            answer = await _exchange(reader, writer, path, bodies[i % len(bodies)])
            load.latencies.append(time.perf_counter() - due)
            load.answers.append(keep(answer))
        writer.close()

    before = cpu_ticks()
    await asyncio.gather(*(worker(r, w) for r, w in streams))
    load.elapsed_s, after = time.perf_counter() - began, cpu_ticks()
    busy, idle = after[0] - before[0], after[1] - before[1]
    load.cpu_idle_pct = round(100 * idle / max(1, busy + idle))
    return load


def cpu_ticks() -> tuple[int, int]:
    """(busy, idle) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, idle
