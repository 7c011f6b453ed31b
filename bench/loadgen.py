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
        connection = await _Connection.open(port, path)
        for i in cursor:
            if time.perf_counter() >= deadline:
                break
            start = time.perf_counter()
            answer = await connection.post(bodies[i % len(bodies)])
            load.latencies.append(time.perf_counter() - start)
            load.answers.append(keep(orjson.loads(answer)))
        connection.close()

    began, before = time.perf_counter(), cpu_ticks()
    await asyncio.gather(*(worker() for _ in range(connections)))
    load.elapsed_s, after = time.perf_counter() - began, cpu_ticks()
    busy, idle = after[0] - before[0], after[1] - before[1]
    load.cpu_idle_pct = round(100 * idle / max(1, busy + idle))
    return load


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that POSTs to one path, one request at a time.

    A bare protocol rather than asyncio's streams: the answer is cut from the bytes as
    they arrive (status line and headers, then `content-length` bytes), with one future
    per request, which takes the generator about half the CPU per request of
    `StreamReader.readuntil` and `readexactly` (measured against a fixed answer).
    """

    def __init__(self, path: bytes) -> None:
        self._head = b"POST %s HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n" % path
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._waiting: asyncio.Future[bytes] | None = None

    @classmethod
    async def open(cls, port: int, path: bytes) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(lambda: cls(path), "127.0.0.1", port)
        return connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def post(self, body: bytes) -> asyncio.Future[bytes]:
        """Send one request; the future resolves to the answer's body."""
        assert self._transport is not None and self._waiting is None
        self._waiting = asyncio.get_running_loop().create_future()
        self._transport.write(b"%scontent-length: %d\r\n\r\n%s" % (self._head, len(body), body))
        return self._waiting

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        length = 0
        for line in self._buffer[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self._buffer) < end + 4 + length:
            return
        body = self._buffer[end + 4 : end + 4 + length]
        self._buffer = self._buffer[end + 4 + length :]
        waiting, self._waiting = self._waiting, None
        if waiting is not None and not waiting.done():
            waiting.set_result(body)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_exception(exc or ConnectionError("the server closed the connection"))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


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
    pool = [await _Connection.open(port, path) for _ in range(connections)]
    began = time.perf_counter() + 0.05

    async def worker(connection: _Connection) -> None:
        for i in cursor:
            due = began + i / rate_per_s
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -0.001:
                load.late += 1
            answer = await connection.post(bodies[i % len(bodies)])
            load.latencies.append(time.perf_counter() - due)
            load.answers.append(keep(orjson.loads(answer)))
        connection.close()

    before = cpu_ticks()
    await asyncio.gather(*(worker(c) for c in pool))
    load.elapsed_s, after = time.perf_counter() - began, cpu_ticks()
    busy, idle = after[0] - before[0], after[1] - before[1]
    load.cpu_idle_pct = round(100 * idle / max(1, busy + idle))
    return load


def cpu_ticks() -> tuple[int, int]:
    """(busy, idle) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, idle
