"""A small asyncio HTTP/1.1 load generator (uvloop) shared by the HTTP benchmarks.

Rather than a general-purpose client, so that the load generator takes as little of the
shared two cores as it can.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
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
            body = bodies[i % len(bodies)]
            start = time.perf_counter()
            writer.write(
                b"POST %s HTTP/1.1\r\nhost: bench\r\ncontent-type: "
                b"application/json\r\ncontent-length: %d\r\n\r\n%s" % (path, len(body), body)
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            answer = orjson.loads(await reader.readexactly(length))
            load.latencies.append(time.perf_counter() - start)
            load.answers.append(keep(answer))
        writer.close()

    began, before = time.perf_counter(), cpu_ticks()
    await asyncio.gather(*(worker() for _ in range(connections)))
    load.elapsed_s, after = time.perf_counter() - began, cpu_ticks()
    busy, idle = after[0] - before[0], after[1] - before[1]
    load.cpu_idle_pct = round(100 * idle / max(1, busy + idle))
    return load


def cpu_ticks() -> tuple[int, int]:
    """(busy, idle) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, idle
