"""Group commit: one writer thread appends many requests' events in one transaction.

Each request waits until its events are durably committed, so an acknowledgement
always means "on disk"; grouping concurrent requests amortises the commit cost
(as datasette does with its single write thread).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from fairview.errors import FairviewError
from fairview.storage.eventlog import EventLog, LogEvent, Outcome, Refusal

log = logging.getLogger("fairview.collect")

_Job = tuple[Sequence[LogEvent], Sequence[Refusal], Future[list[Outcome]]]
_STOP = None


class GroupCommitWriter:
    def __init__(self, log: EventLog, *, max_group_events: int = 5000) -> None:
        self._log = log
        self._max = max_group_events
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(
        self, events: Sequence[LogEvent], refusals: Sequence[Refusal]
    ) -> Future[list[Outcome]]:
        """Queue an append; the future resolves once it is committed."""
        self._ensure_started()
        future: Future[list[Outcome]] = Future()
        self._queue.put((events, refusals, future))
        return future

    async def append(
        self, events: Sequence[LogEvent], refusals: Sequence[Refusal]
    ) -> list[Outcome]:
        return await asyncio.wrap_future(self.submit(events, refusals))

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
                self._thread = threading.Thread(
                    target=self._run, name="fairview-writer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            group = [job]
            size = len(job[0])
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
                size += len(more[0])
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[_Job]) -> None:
        events = [e for job in group for e in job[0]]
        refusals = [r for job in group for r in job[1]]
        try:
            outcomes = self._log.append(events, refusals)
        except Exception:  # every waiting request learns that nothing was stored
            log.exception("event log append failed; %d events not stored", len(events))
            for _, _, future in group:
                future.set_exception(
                    FairviewError(
                        "store_unavailable",
                        "The event log could not store this batch; nothing "
                        "from it was kept. Retry the same batch later (it is safe to resend).",
                        status=503,
                    )
                )
            return
        start = 0
        for job_events, _, future in group:
            future.set_result(outcomes[start : start + len(job_events)])
            start += len(job_events)
