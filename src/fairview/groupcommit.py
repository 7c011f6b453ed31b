"""Group commit: one writer thread stores many callers' jobs in one transaction.

Each caller waits until its job is durably committed, so an answer always means
"on disk"; grouping concurrent callers amortises the commit (as datasette does
with its single write thread). The collector's event appends and the decider's
delivery records both go through one of these.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger("fairview.groupcommit")

J = TypeVar("J")
R = TypeVar("R")
_STOP = None


@dataclass(frozen=True, slots=True)
class _Awaiting(Generic[R]):
    """A caller on an event loop, waiting for its job's result."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[R]


_Waiter = Future[R] | _Awaiting[R]


class GroupCommit(Generic[J, R]):
    """Commit jobs in groups; `commit(jobs)` returns one result per job, in order.

    When `commit` raises, every job of the group fails with `failure()`: nothing of
    the group was stored, and each caller is told so.
    """

    def __init__(
        self,
        commit: Callable[[list[J]], Sequence[R]],
        *,
        weight: Callable[[J], int] = lambda _: 1,
        max_group: int = 5000,
        failure: Callable[[], Exception],
        name: str = "fairview-writer",
    ) -> None:
        self._commit_jobs = commit
        self._weight = weight
        self._max = max_group
        self._failure = failure
        self._name = name
        self._queue: queue.SimpleQueue[tuple[J, _Waiter[R]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: J) -> Future[R]:
        """Queue a job; the future resolves once it is committed."""
        self._ensure_started()
        future: Future[R] = Future()
        self._queue.put((job, future))
        return future

    def run(self, job: J) -> R:
        """Submit and wait (for synchronous callers)."""
        return self.submit(job).result()

    async def run_async(self, job: J) -> R:
        """Submit and wait on an event loop. The writer wakes each loop once per group
        (one `call_soon_threadsafe` for all of that loop's callers), not once per job."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.put((job, _Awaiting(loop, future)))
        return await future

    def close(self) -> None:
        with self._lock:
            if self._thread is None:
                return
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            group = [item]
            size = self._weight(item[0])
            stop = False
            while size < self._max:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                group.append(more)
                size += self._weight(more[0])
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[tuple[J, _Waiter[R]]]) -> None:
        try:
            results: Sequence[R | None] = self._commit_jobs([job for job, _ in group])
            failed = False
        except Exception:  # every waiting caller learns that nothing was stored
            log.exception("%s: a group of %d jobs was not stored", self._name, len(group))
            results, failed = [None] * len(group), True
        on_loops: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[R], R | None]]] = {}
        for (_, waiter), result in zip(group, results, strict=True):
            if isinstance(waiter, _Awaiting):
                on_loops.setdefault(waiter.loop, []).append((waiter.future, result))
            elif failed:
                waiter.set_exception(self._failure())
            else:
                waiter.set_result(result)  # type: ignore[arg-type]
        for loop, waiting in on_loops.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(self._settle, waiting, failed)

    def _settle(self, waiting: list[tuple[asyncio.Future[R], R | None]], failed: bool) -> None:
        """On a caller's loop: hand each waiting caller its result."""
        for future, result in waiting:
            if future.cancelled():
                continue
            if failed:
                future.set_exception(self._failure())
            else:
                future.set_result(result)  # type: ignore[arg-type]
