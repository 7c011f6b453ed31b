"""The collector's durable append: event batches of concurrent requests, one transaction.

Each request waits until its events are committed (`fairview.groupcommit`), so an
acknowledgement always means "on disk".
"""

from __future__ import annotations

from collections.abc import Sequence

from fairview.errors import FairviewError
from fairview.groupcommit import GroupCommit
from fairview.storage.eventlog import EventLog, LogEvent, Outcome, Refusal

_Job = tuple[Sequence[LogEvent], Sequence[Refusal]]


def _unavailable() -> FairviewError:
    return FairviewError(
        "store_unavailable",
        "The event log could not store this batch; nothing "
        "from it was kept. Retry the same batch later (it is safe to resend).",
        status=503,
    )


class GroupCommitWriter:
    def __init__(self, log: EventLog, *, max_group_events: int = 5000) -> None:
        self._log = log
        self._group: GroupCommit[_Job, list[Outcome]] = GroupCommit(
            self._append,
            weight=lambda job: len(job[0]),
            max_group=max_group_events,
            failure=_unavailable,
            name="fairview-event-writer",
        )

    async def append(
        self, events: Sequence[LogEvent], refusals: Sequence[Refusal]
    ) -> list[Outcome]:
        return await self._group.run_async((events, refusals))

    def close(self) -> None:
        self._group.close()

    def _append(self, jobs: list[_Job]) -> list[list[Outcome]]:
        events = [e for job in jobs for e in job[0]]
        refusals = [r for job in jobs for r in job[1]]
        outcomes = self._log.append(events, refusals)
        out, start = [], 0
        for job_events, _ in jobs:
            out.append(outcomes[start : start + len(job_events)])
            start += len(job_events)
        return out
