"""Time as a value passed in: the real clock, and an adjustable one for simulation."""

from __future__ import annotations

import functools
import multiprocessing
import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch (UTC)."""
        ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ShiftedClock:
    """Real time plus an offset that only grows; lets a simulation run faster than life.

    `advance_to(t)` moves the clock forward so that `now_ms() >= t`; afterwards it
    keeps following real time from there. It never goes back. The offset lives in
    shared memory, so a server process forked after creation reads the same time.
    """

    def __init__(self, start_ms: int | None = None) -> None:
        offset = 0 if start_ms is None else start_ms - SystemClock().now_ms()
        self._offset = multiprocessing.get_context("fork").Value("q", offset)
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        return SystemClock().now_ms() + int(self._offset.value)

    def advance_to(self, t_ms: int) -> None:
        with self._lock, self._offset.get_lock():
            now = self.now_ms()
            if t_ms > now:
                self._offset.value += t_ms - now


def day_of(ms: int) -> str:
    """The UTC calendar day of an epoch-ms time, as YYYY-MM-DD."""
    return _day(ms // DAY_MS)


DAY_MS = 86_400_000


@functools.lru_cache(maxsize=64)
def _day(day: int) -> str:
    # Asked on every decision (pacing and counts are per day); formatted once a day.
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
