"""Settlement: consume the event log, qualify final deliveries, post to the ledger.

Every step is idempotent: the consumer offset moves in the same transaction as
the state it feeds, a delivery is closed at most once (guarded update), and a
ledger entry is unique per (delivery, kind). Re-running, running two workers or
killing one mid-batch therefore leaves the same ledger.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from fairview.attention import fast
from fairview.attention.events import Event
from fairview.attention.verdict import InvalidReason, Verdict
from fairview.clock import Clock
from fairview.storage import Store
from fairview.storage.eventlog import LogEvent
from fairview.storage.settlement import DueDelivery

log = logging.getLogger("fairview.settle")

CONSUMER = "settle"
Qualifier = Callable[[Sequence[DueDelivery], Sequence[LogEvent]], list[Verdict]]


@dataclass(frozen=True, slots=True)
class SettleReport:
    events_consumed: int
    deliveries_settled: int
    charged: int
    over_delivered: int
    unknown_deliveries: int = 0
    """Deliveries found in this run to have events but no stored record a whole
    settlement window after their events arrived (never billed; docs/serving.md)."""


def to_attention_event(e: LogEvent, issued_ms: int) -> Event:
    """The log's row as the rule's input; receipt time becomes ms after issue."""
    return Event(
        delivery=e.delivery_id,
        seq=e.seq,
        type=e.type,
        mono_ms=e.mono_ms,
        media_s=e.media_s,
        rate=e.rate,
        muted=e.muted,
        vis=None if e.vis < 0 else bool(e.vis),
        trusted=e.trusted,
        kind=e.kind,
        from_s=e.from_s,
        to_s=e.to_s,
        duration_s=e.duration_s,
        recv_ms=float(e.received_ms - issued_ms),
    )


def qualify_reference(due: Sequence[DueDelivery], events: Sequence[LogEvent]) -> list[Verdict]:
    """Qualify with the readable reference rule (slow; for checks and small runs)."""
    from fairview.attention.reference import qualify

    by_delivery: dict[str, list[LogEvent]] = defaultdict(list)
    for e in events:
        by_delivery[e.delivery_id].append(e)
    return [
        qualify(
            [to_attention_event(e, d.issued_ms) for e in by_delivery[d.id]],
            duration_s=d.duration_ms / 1000,
        )
        if by_delivery[d.id]
        else _no_events(d.id)
        for d in due
    ]


def _no_events(delivery: str) -> Verdict:
    """A delivery whose player never sent an event: no impression, as the rule says (§7.5)."""
    return Verdict(
        delivery,
        focused_view=False,
        qualified_by=None,
        qualified_at_media_s=None,
        coverage_s=0.0,
        audible_coverage_s=0.0,
        viewability="not_viewable",
        invalid=True,
        invalid_reason=InvalidReason.NO_FIRST_FRAME.value,
    )


def _with_conflicts(due: Sequence[DueDelivery], verdicts: list[Verdict]) -> list[Verdict]:
    """A conflicting duplicate seen by the collector invalidates the delivery (§7.5)."""
    return [
        replace(
            v,
            focused_view=False,
            qualified_by=None,
            qualified_at_media_s=None,
            invalid=True,
            invalid_reason=InvalidReason.CONFLICTING_DUPLICATE.value,
        )
        if d.conflict
        else v
        for d, v in zip(due, verdicts, strict=True)
    ]


class Settler:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        window_ms: int,
        qualifier: Qualifier | None = None,
        batch: int = 2000,
    ) -> None:
        self._store = store
        self._clock = clock
        self._window_ms = window_ms
        self._qualify = qualifier or default_qualifier()
        self._batch = batch

    def consume(self) -> int:
        """Fold every new log event into settlement state; returns how many."""
        total = 0
        while True:
            n = self._store.settlement.consume(
                CONSUMER,
                self._store.events.read_after,
                5 * self._batch,
                now_ms=self._clock.now_ms(),
            )
            if n == 0:
                return total
            total += n

    def settle_due(self) -> tuple[int, int, int]:
        """Qualify and post every delivery that is final now."""
        settled = charged = over = 0
        while True:
            due = self._store.settlement.due(self._clock.now_ms(), self._window_ms, self._batch)
            if not due:
                return settled, charged, over
            events = self._store.events.events_for(d.id for d in due)
            verdicts = _with_conflicts(due, self._qualify(due, events))
            posted = self._store.settlement.post(
                list(zip(due, verdicts, strict=True)), self._clock.now_ms()
            )
            settled, charged, over = (
                settled + posted.settled,
                charged + posted.charged,
                over + posted.over_delivered,
            )
            if posted.settled == 0:  # another worker is closing these; let it
                return settled, charged, over

    def run_once(self) -> SettleReport:
        consumed = self.consume()
        unknown = self.resolve_unmatched()
        settled, charged, over = self.settle_due()
        return SettleReport(consumed, settled, charged, over, unknown)

    def resolve_unmatched(self) -> int:
        """Events consumed before their delivery was stored get their progress now;
        deliveries still missing a window later are counted, and logged, as unknown."""
        unknown = 0
        while True:
            found = self._store.settlement.resolve_unmatched(self._clock.now_ms(), self._window_ms)
            unknown += found
            if found == 0:
                break
        if unknown:
            log.warning(
                "%d deliveries have events but no stored record a settlement window later: "
                "their server was stopped or lost power before committing them, or they "
                "were erased; their events are not billed",
                unknown,
            )
        return unknown


def qualify_fast(due: Sequence[DueDelivery], events: Sequence[LogEvent]) -> list[Verdict]:
    """Qualify with the compiled fast path: all deliveries in one columnar pass."""
    cols = log_columns(due, events)
    durations = np.array([d.duration_ms / 1000 for d in due], dtype=np.float64)
    return fast.qualify_columns(cols, duration_s=durations).to_verdicts()


def log_columns(due: Sequence[DueDelivery], events: Sequence[LogEvent]) -> fast.EventColumns:
    """The log's rows as the kernel's columns, without a Python object per event.

    Deliveries are numbered in `due` order (so every due delivery has a verdict row,
    events or not); receipt times become ms after each delivery's issue.
    """
    index = {d.id: i for i, d in enumerate(due)}
    issued = np.array([d.issued_ms for d in due], dtype=np.float64)
    c = list(zip(*events, strict=True)) if events else [()] * len(LogEvent._fields)
    delivery = np.fromiter((index[d] for d in c[0]), dtype=np.int32, count=len(events))
    kinds = fast.KIND_CODES
    return fast.EventColumns(
        delivery_ids=tuple(index),
        delivery=delivery,
        seq=np.asarray(c[1], dtype=np.int64),
        type=np.fromiter((fast.TYPE_CODES[t] for t in c[2]), dtype=np.int8, count=len(events)),
        mono_ms=np.asarray(c[3], dtype=np.float64),
        media_s=np.asarray(c[4], dtype=np.float64),
        rate=np.asarray(c[5], dtype=np.float64),
        muted=np.asarray(c[6], dtype=np.int8),
        vis=np.asarray(c[7], dtype=np.int8),
        trusted=np.asarray(c[8], dtype=np.int8),
        kind=np.fromiter(
            (-1 if k is None else kinds[k] for k in c[9]), dtype=np.int16, count=len(events)
        ),
        from_s=np.asarray(c[10], dtype=np.float64),
        to_s=np.asarray(c[11], dtype=np.float64),
        duration_s=np.asarray(c[12], dtype=np.float64),
        recv_ms=np.asarray(c[13], dtype=np.float64) - issued[delivery],
    )


def default_qualifier() -> Qualifier:
    return qualify_fast
