"""Reference implementation of the focused-view rule, spec/attention.md §7.

Written to be read beside the spec: one delivery at a time, plain Python, every
decision commented with the section it implements. `fast.py` must give the same
verdict for every input; the property tests hold the two together.

How a delivery is read (the ambiguous points are argued in docs/qualify.md):

- Events are sorted by `seq`; exact duplicates are dropped; a `seq` that arrives
  with two different payloads is dropped entirely and makes the delivery invalid.
- Each event describes itself: `vis`, `muted` and `rate` are read from the event
  (the types `vis_on`/`vis_off`/`bg` and `mute`/`unmute` override the field).
  Only "playing", "started" and "closed" are state carried from event to event.
- A pair of consecutive events (seq n, n+1) is credited by the state at its first
  event; it covers the media from the first event's playhead to the second's
  *arrival* playhead, which for a `seek` or `loop` is `from_s`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import pairwise
from typing import TypeGuard

from fairview.attention.events import (
    QUALIFYING_INTERACTIONS,
    TERMINAL_TYPES,
    Event,
    EventType,
)
from fairview.attention.rule import (
    CLOCK_TOL,
    END_TOL,
    ENDED_MIN_FRACTION,
    EPS,
    GAP_MAX,
    RATE_TOL,
    T_FOCUS,
    T_MIN_INTERACT,
    T_VIEWABLE,
    drift_tol,
)
from fairview.attention.verdict import InvalidReason, QualifiedBy, Verdict, Viewability

_KNOWN_TYPES = frozenset(t.value for t in EventType)
_JUMPS = frozenset({EventType.SEEK, EventType.LOOP})
_STARTS_PLAYING = frozenset(
    {EventType.FIRST_FRAME, EventType.PLAY, EventType.HEARTBEAT, EventType.LOOP}
)
_STOPS_PLAYING = frozenset(
    {EventType.PAUSE, EventType.ENDED, EventType.SWIPE_AWAY, EventType.CLOSE}
)
_MARKS_COMPLETION = frozenset({EventType.ENDED, EventType.LOOP})


def qualify(events: Iterable[Event], *, duration_s: float | None = None) -> Verdict:
    """Apply the §7 rule to the events of ONE delivery, in any arrival order.

    `duration_s` overrides the creative duration carried on `first_frame`.
    Raises ValueError for no events, events of several deliveries, an unknown
    event type or a non-positive `duration_s`.
    """
    received = list(events)
    delivery = _one_delivery(received)
    kept, conflicting = _dedupe(received)
    reasons = _integrity_reasons(received, kept)
    if conflicting:
        reasons.add(InvalidReason.CONFLICTING_DUPLICATE)
    walk = _Walk(_duration(kept, duration_s), reasons)
    for i, event in enumerate(kept):
        if i > 0:
            walk.pair(kept[i - 1], event)
        walk.apply(event)
    return walk.verdict(delivery)


def _one_delivery(received: list[Event]) -> str:
    if not received:
        raise ValueError("qualify needs at least one event")
    deliveries = {e.delivery for e in received}
    if len(deliveries) != 1:
        raise ValueError(f"qualify takes one delivery's events, got {len(deliveries)}")
    unknown = {e.type for e in received} - _KNOWN_TYPES
    if unknown:
        raise ValueError(f"unknown event type(s): {sorted(unknown)}")
    return received[0].delivery


def _missing(x: float | None) -> bool:
    return x is None or math.isnan(x)


def _payload(e: Event) -> tuple[object, ...]:
    """Everything the client sent; `recv_ms` is the server's and retries differ in it."""

    def f(x: float | None) -> float | None:
        return None if _missing(x) else x

    return (
        e.type,
        float(e.mono_ms),
        float(e.media_s),
        float(e.rate),
        e.muted,
        e.vis,
        e.trusted,
        e.kind,
        f(e.from_s),
        f(e.to_s),
        f(e.duration_s),
    )


def _dedupe(received: list[Event]) -> tuple[list[Event], bool]:
    """§7.5 Duplicates: identical copies are dropped; a conflicting `seq` is dropped whole.

    Dropping every copy of a conflicting `seq` (it becomes a gap) keeps the result
    independent of which copy arrived first.
    """
    by_seq: dict[int, list[Event]] = {}
    for e in received:
        by_seq.setdefault(e.seq, []).append(e)
    kept: list[Event] = []
    conflicting = False
    for seq in sorted(by_seq):  # §7.5 Ordering: by seq, never by arrival
        copies = by_seq[seq]
        if len({_payload(c) for c in copies}) > 1:
            conflicting = True
        else:
            kept.append(copies[0])
    return kept, conflicting


def _integrity_reasons(received: list[Event], kept: list[Event]) -> set[InvalidReason]:
    """§7.5 clocks and impossible sequences that need no walk through the pairs."""
    reasons: set[InvalidReason] = set()
    if any(b.mono_ms < a.mono_ms for a, b in pairwise(kept)):
        reasons.add(InvalidReason.MONO_DECREASING)
    receipts = [e.recv_ms for e in received if e.recv_ms is not None and not math.isnan(e.recv_ms)]
    # §7.5: nobody watches longer than real time has passed since the ad was issued.
    if receipts and kept:
        last_mono = max(e.mono_ms for e in kept)
        if last_mono / 1000.0 > max(receipts) / 1000.0 + CLOCK_TOL:
            reasons.add(InvalidReason.CLOCK_INFLATION)
    if not any(e.type == EventType.FIRST_FRAME for e in kept):
        reasons.add(InvalidReason.NO_FIRST_FRAME)  # §7.5 GIVT: prefetched, never rendered
    return reasons


def _valid_duration(d: float | None) -> TypeGuard[float]:
    return d is not None and math.isfinite(d) and d > 0.0


def _duration(kept: list[Event], override: float | None) -> float | None:
    if override is not None:
        if not _valid_duration(override):
            raise ValueError(f"duration_s must be a positive number of seconds, got {override}")
        return float(override)
    for e in kept:
        if e.type == EventType.FIRST_FRAME and _valid_duration(e.duration_s):
            return float(e.duration_s)
    return None


def _vis(e: Event) -> bool | None:
    """Visibility at `e`; None when the player could not tell (§7.4 undetermined)."""
    if e.type == EventType.VIS_ON:
        return True
    if e.type in (EventType.VIS_OFF, EventType.BG):  # §7.6: background is never visible
        return False
    return e.vis


def _muted(e: Event) -> bool:
    if e.type == EventType.MUTE:
        return True
    if e.type == EventType.UNMUTE:
        return False
    return e.muted


def _arrival(e: Event) -> float | None:
    """The playhead a pair ending at `e` reaches: before the jump for seek and loop."""
    if e.type in _JUMPS:
        return None if _missing(e.from_s) else e.from_s
    return e.media_s


class _Union:
    """A union of half-open media intervals (§7.2: coverage is a measure of a union)."""

    def __init__(self) -> None:
        self._iv: list[tuple[float, float]] = []
        self.measure = 0.0

    def add(self, a: float, b: float) -> list[tuple[float, float, float]]:
        """Add [a, b) (a < b).

        Returns the pieces not covered before, in media order, each with the
        measure just before it was added: (start, end, measure_before).
        """
        iv = self._iv
        lo = len(iv)
        while lo > 0 and iv[lo - 1][1] >= a:
            lo -= 1
        hi = len(iv) - 1
        while hi >= 0 and iv[hi][0] > b:
            hi -= 1
        pieces: list[tuple[float, float, float]] = []
        cur, start, end = a, a, b
        for s, e in iv[lo : hi + 1]:
            if s > cur:
                pieces.append(self._grow(cur, s))
            cur = max(cur, e)
            start, end = min(start, s), max(end, e)
        if cur < b:
            pieces.append(self._grow(cur, b))
        iv[lo : hi + 1] = [(start, end)]
        return pieces

    def _grow(self, s: float, e: float) -> tuple[float, float, float]:
        before = self.measure
        self.measure += e - s
        return s, e, before


class _Walk:
    """The state carried along one delivery's events in `seq` order."""

    def __init__(self, duration: float | None, reasons: set[InvalidReason]) -> None:
        self.duration = duration
        self.reasons = reasons
        self.started = self.closed = self.playing = False
        self.coverage, self.audible, self.played = _Union(), _Union(), _Union()
        self.run = self.best_run = self.maybe_run = self.best_maybe_run = 0.0
        self.completion_marked = self.ended_seen = self.jumped = self.gapped = False
        self.saw_vis = False  # any event said whether the ad was in view
        self.furthest = 0.0  # the furthest playhead any event reported
        self.qualified_by: QualifiedBy | None = None
        self.qualified_at: float | None = None

    @property
    def open(self) -> bool:
        """From the first `first_frame` until the first ended/swipe_away/close."""
        return self.started and not self.closed

    def pair(self, p: Event, q: Event) -> None:
        """Credit the pair (p, q) under §7.2, using the state at p."""
        b = _arrival(q)
        if q.seq != p.seq + 1:
            # §7.5 Gaps: the missing event could have been a pause or a seek, so the
            # pair is not credited and the player is not taken to be playing.
            self.gapped, self.playing = True, False
        if q.seq != p.seq + 1 or b is None:
            self._end_runs()
            return
        a = p.media_s
        dt = (q.mono_ms - p.mono_ms) / 1000.0
        dm = b - a
        tol = drift_tol(dt)
        if self.open and not self.ended_seen and 0.0 < dm <= max(p.rate, 1.0) * dt + tol:
            self._add(self.played, a, b)  # evidence for the `ended` check, §7.5 GIVT
        vis = _vis(p)
        # §7.2 1 playing, 2 normal speed, 4 no heartbeat gap (5: pairs are seq-adjacent)
        base = self.open and self.playing and abs(p.rate - 1.0) <= RATE_TOL and dt <= GAP_MAX
        media_ok = 0.0 < dm <= dt + tol and dm >= dt - tol  # §7.2.6
        if base and vis is True and dm > dt + tol:
            self.reasons.add(InvalidReason.DRIFT_INFLATION)  # §7.5: would add coverage
        if base and media_ok and vis is True:  # §7.2.3 visible: credited
            length = self._credit(a, b, _muted(p))
            self.run += length
            self.maybe_run += length
        elif base and media_ok and vis is None:  # could have been credited (§7.4)
            self.run = 0.0
            self.maybe_run += self._clipped_length(a, b)
        elif not (base and dt == 0.0 and dm == 0.0 and vis is not False):
            self._end_runs()  # an instant between two events neither credits nor breaks
        self.best_run = max(self.best_run, self.run)
        self.best_maybe_run = max(self.best_maybe_run, self.maybe_run)
        if q.type in _JUMPS:
            self._end_runs()  # §7.4: a seek (or a loop) breaks the run

    def apply(self, e: Event) -> None:
        """Move the carried state past `e` (§7.1 event types)."""
        self.saw_vis = self.saw_vis or _vis(e) is not None
        self.furthest = max(self.furthest, e.media_s)
        if e.type == EventType.FIRST_FRAME:
            self.started = True
        elif e.type == EventType.INTERACTION:
            self._interaction(e)
        elif e.type in _MARKS_COMPLETION and self.open:
            self._completion(e)
        if e.type in _JUMPS:
            self.jumped = True
        if e.type in _STARTS_PLAYING:
            self.playing = True
        elif e.type in _STOPS_PLAYING:
            self.playing = False
        if e.type in TERMINAL_TYPES:
            self.closed = True

    def verdict(self, delivery: str) -> Verdict:
        reason = next((r for r in InvalidReason if r in self.reasons), None)
        focused = self.qualified_by is not None and reason is None
        if self.best_run >= T_VIEWABLE - EPS:
            viewability = Viewability.VIEWABLE
        elif self.best_maybe_run >= T_VIEWABLE - EPS:
            viewability = Viewability.UNDETERMINED  # missing vis could have completed a run
        elif not self.saw_vis and self._reached() >= T_VIEWABLE - EPS:
            # §7.4: NotViewable needs valid visibility data. A session with none at all
            # whose playhead got 2 s in (e.g. VAST pings only, which are too sparse to
            # form pairs) could have completed a run: undetermined.
            viewability = Viewability.UNDETERMINED
        else:
            viewability = Viewability.NOT_VIEWABLE
        return Verdict(
            delivery=delivery,
            focused_view=focused,
            qualified_by=self.qualified_by.value if focused and self.qualified_by else None,
            qualified_at_media_s=self.qualified_at if focused else None,
            coverage_s=self.coverage.measure,
            audible_coverage_s=self.audible.measure,
            viewability=viewability.value,
            invalid=reason is not None,
            invalid_reason=None if reason is None else reason.value,
        )

    def _reached(self) -> float:
        d = self.duration
        return self.furthest if d is None else min(self.furthest, d)

    def _end_runs(self) -> None:
        self.run = self.maybe_run = 0.0

    def _clip(self, a: float, b: float) -> tuple[float, float]:
        """Media outside [0, D] does not exist, so it is never covered."""
        a = max(a, 0.0)
        if self.duration is not None:
            b = min(b, self.duration)
        return a, b

    def _clip_point(self, x: float) -> float:
        if self.duration is not None:
            x = min(x, self.duration)
        return max(x, 0.0)

    def _clipped_length(self, a: float, b: float) -> float:
        a, b = self._clip(a, b)
        return max(b - a, 0.0)

    def _add(self, union: _Union, a: float, b: float) -> list[tuple[float, float, float]]:
        a, b = self._clip(a, b)
        if b <= a:
            return []
        return union.add(a, b)

    def _watch_target(self) -> float | None:
        """§7.3 (W): T_FOCUS, or for D < T_FOCUS completion (D - END_TOL after ended/loop)."""
        d = self.duration
        if d is None or d >= T_FOCUS:
            return T_FOCUS
        return d - END_TOL if self.completion_marked else None

    def _credit(self, a: float, b: float, muted: bool) -> float:
        """Add [a, b) to coverage and, when unmuted, to audible coverage (§7.4)."""
        target = self._watch_target()
        for s, e, before in self._add(self.coverage, a, b):
            if target is not None and before + (e - s) >= target - EPS:
                # "whichever comes first": the playhead where coverage crossed the target
                self._qualify(QualifiedBy.WATCH, min(e, s + max(0.0, target - before)))
        if not muted:
            self._add(self.audible, a, b)
        return self._clipped_length(a, b)

    def _qualify(self, by: QualifiedBy, at_media_s: float) -> None:
        if self.qualified_by is None:  # §7.3: at most one focused view per delivery
            self.qualified_by, self.qualified_at = by, at_media_s

    def _interaction(self, e: Event) -> None:
        """§7.3 (I): trusted, qualifying kind, open, visible, coverage >= T_MIN_INTERACT."""
        if not self.started:
            self.reasons.add(InvalidReason.INTERACTION_BEFORE_FIRST_FRAME)  # §7.5 GIVT
            return
        if (
            self.open
            and e.trusted
            and e.kind in QUALIFYING_INTERACTIONS
            and _vis(e) is True
            and self.coverage.measure >= T_MIN_INTERACT - EPS
        ):
            self._qualify(QualifiedBy.INTERACTION, self._clip_point(e.media_s))

    def _completion(self, e: Event) -> None:
        """`ended`/`loop` mark completion (§7.3 (W), §7.6); `ended` is checked (§7.5)."""
        self.completion_marked = True
        d = self.duration
        covered = self.coverage.measure
        if d is not None and d < T_FOCUS and covered > 0.0 and covered >= d - END_TOL - EPS:
            self._qualify(QualifiedBy.WATCH, d)  # complete: qualifies at the creative's end
        if e.type == EventType.ENDED and not self.ended_seen:
            self.ended_seen = True
            if (
                d is not None
                and not self.jumped
                and not self.gapped
                and self.played.measure < ENDED_MIN_FRACTION * d - EPS
            ):
                self.reasons.add(InvalidReason.ENDED_WITHOUT_COVERAGE)
