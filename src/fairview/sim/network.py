"""From an SDK's event stream to the HTTP batches the collector receives.

The SDK queues events and flushes a batch when the oldest queued event is
`flush_ms` old, when `max_events` are queued, or at once on `bg` and on a
terminal event (sendBeacon on page hide). The network then loses some batches
(the SDK retries the same events, same seqs, after a back-off), delivers some
twice, holds some back so they overtake each other, and parks a few in an
offline queue that is only sent minutes later. Honest traffic therefore
delivers every event at least once, in no particular order.

Send times are on the server clock, in ms: `Batch.send_at_ms` is when the
driver should post the batch (transit is already included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fairview.attention.events import TERMINAL_TYPES, EventType
from fairview.sim.timeline import WireEvent

_FLUSH_NOW = TERMINAL_TYPES | {EventType.BG, EventType.NEG_FEEDBACK}
_MAX_ATTEMPTS = 6


@dataclass(frozen=True, slots=True)
class Batch:
    """One HTTP post of events for one delivery; treat `events` as read-only."""

    send_at_ms: int
    events: list[WireEvent]


@dataclass(frozen=True, slots=True)
class NetworkProfile:
    """How the SDK batches and how often the network misbehaves, per batch."""

    flush_ms: int = 2000
    max_events: int = 20
    loss: float = 0.03
    duplicate: float = 0.02
    reorder: float = 0.05
    late: float = 0.01
    late_min_ms: int = 60_000
    late_max_ms: int = 1_800_000


HONEST_NETWORK = NetworkProfile()
CLEAN_NETWORK = NetworkProfile(loss=0.0, duplicate=0.0, reorder=0.0, late=0.0)
"""A perfect network: what a bot on a data-centre line gets."""


def sdk_flushes(
    events: Sequence[WireEvent], produced_at_ms: Sequence[int], profile: NetworkProfile
) -> list[tuple[int, list[WireEvent]]]:
    """Group events into SDK flushes `(flush time, events)` in emission order.

    `produced_at_ms[i]` is when event i happened, on the server clock.
    """
    flushes: list[tuple[int, list[WireEvent]]] = []
    queue: list[WireEvent] = []
    deadline = 0
    for event, at in zip(events, produced_at_ms, strict=True):
        if queue and at > deadline:
            flushes.append((deadline, queue))
            queue = []
        if not queue:
            deadline = at + profile.flush_ms
        queue.append(event)
        if len(queue) >= profile.max_events or event["type"] in _FLUSH_NOW:
            flushes.append((at, queue))
            queue = []
    if queue:
        flushes.append((deadline, queue))
    return flushes


def send(
    rng: np.random.Generator,
    events: Sequence[WireEvent],
    produced_at_ms: Sequence[int],
    profile: NetworkProfile = HONEST_NETWORK,
) -> list[Batch]:
    """Batch a stream and push it through the network; batches in arrival order."""
    arrivals: list[Batch] = []
    for flushed_at, batch in sdk_flushes(events, produced_at_ms, profile):
        arrivals += _deliver(rng, flushed_at, batch, profile)
    return sorted(arrivals, key=lambda b: b.send_at_ms)


def _deliver(
    rng: np.random.Generator, at: int, events: list[WireEvent], profile: NetworkProfile
) -> list[Batch]:
    """Every copy of one flush that reaches the server."""
    attempt = 0
    while attempt < _MAX_ATTEMPTS - 1 and rng.random() < profile.loss:
        attempt += 1
        at += 2000 * 2**attempt + int(rng.integers(0, 1000))
    arrive = at + 20 + int(rng.exponential(80))
    if rng.random() < profile.reorder:
        arrive += int(rng.integers(1000, 5000))
    if rng.random() < profile.late:
        arrive += int(rng.integers(profile.late_min_ms, profile.late_max_ms))
    copies = [Batch(arrive, events)]
    if rng.random() < profile.duplicate:
        copies.append(Batch(arrive + int(rng.integers(50, 3000)), events))
    return copies
