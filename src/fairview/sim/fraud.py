"""Invalid traffic, each delivery labelled with the kind of fraud it is.

Kinds, and whether the per-delivery rule (§7.5) can see them from events alone:

- `bot_farm`: many deliveries replay one identical scripted stream (a like,
  then 6–9 s of watching). Each stream looks valid; only aggregate analytics
  (SIVT, "farms of identical sequences") can catch it.
- `bot_preframe`: an interaction arrives before `first_frame` (impossible).
- `bot_impossible`: the playhead leaps to the end without a seek (while
  playing: drift; while paused: an `ended` with under half the ad played), or
  `mono_ms` runs backwards.
- `clock_inflation`: `mono_ms` runs 5–8x faster than real time, so the last
  `mono_ms` exceeds the real time since issue by well over `CLOCK_TOL` (5 s).
- `conflicting_duplicate`: an otherwise honest stream in which one seq is sent
  again with a different `media_s`.
- `forged_token`: an honest-looking stream whose delivery token the driver
  must tamper with; the server has to reject the events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from fairview.attention.events import EventType, InteractionKind
from fairview.sim.network import CLEAN_NETWORK, HONEST_NETWORK, Batch, send
from fairview.sim.player import first_frame_delay_ms, watch
from fairview.sim.timeline import Recorder, WireEvent


class FraudKind(StrEnum):
    BOT_FARM = "bot_farm"
    BOT_PREFRAME = "bot_preframe"
    BOT_IMPOSSIBLE = "bot_impossible"
    CLOCK_INFLATION = "clock_inflation"
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
    FORGED_TOKEN = "forged_token"


FRAUD_SHARES: Mapping[str, float] = {
    FraudKind.BOT_FARM: 0.30,
    FraudKind.BOT_PREFRAME: 0.15,
    FraudKind.BOT_IMPOSSIBLE: 0.15,
    FraudKind.CLOCK_INFLATION: 0.15,
    FraudKind.CONFLICTING_DUPLICATE: 0.15,
    FraudKind.FORGED_TOKEN: 0.10,
}
"""Default mix within invalid traffic (sums to 1)."""

RULE_VISIBLE: frozenset[str] = frozenset(
    {
        FraudKind.BOT_PREFRAME,
        FraudKind.BOT_IMPOSSIBLE,
        FraudKind.CLOCK_INFLATION,
        FraudKind.CONFLICTING_DUPLICATE,
    }
)
"""Kinds the per-delivery rule must flag from the events alone."""

_MIN_INFLATION_MS = 10_000


@dataclass(frozen=True, slots=True)
class Forgery:
    """A fraudulent delivery's events (seq order) and the batches that carry them."""

    events: list[WireEvent]
    batches: list[Batch]
    first_frame_at_ms: int


def forge(
    rng: np.random.Generator, kind: str, *, delivery: str, duration_ms: int, issued_at_ms: int
) -> Forgery:
    """Produce one fraudulent delivery of `kind` (a `FraudKind` value)."""
    if kind == FraudKind.CLOCK_INFLATION:
        return _clock_inflation(rng, delivery, duration_ms, issued_at_ms)
    if kind in (FraudKind.CONFLICTING_DUPLICATE, FraudKind.FORGED_TOKEN):
        return _honest_looking(rng, kind, delivery, duration_ms, issued_at_ms)
    scripts = {
        FraudKind.BOT_FARM: _farm,
        FraudKind.BOT_PREFRAME: _preframe,
        FraudKind.BOT_IMPOSSIBLE: _impossible,
    }
    events = scripts[FraudKind(kind)](rng, delivery, duration_ms)
    first_frame = issued_at_ms + 120
    produced = [first_frame + int(e["mono_ms"]) for e in events]
    return Forgery(events, send(rng, events, produced, CLEAN_NETWORK), first_frame)


def _farm(rng: np.random.Generator, delivery: str, d: int) -> list[WireEvent]:
    rec = Recorder(delivery, d, muted=True, in_view=True, measured=True)
    like_at, leave_at = int(rng.integers(1200, 3000)), int(rng.integers(6300, 9000))
    rec.start()
    _play_to(rec, like_at)
    rec.interaction(InteractionKind.LIKE, trusted=True)
    _play_to(rec, leave_at)
    rec.leave(EventType.SWIPE_AWAY)
    return rec.events


def _preframe(rng: np.random.Generator, delivery: str, d: int) -> list[WireEvent]:
    rec = Recorder(delivery, d, muted=True, in_view=True, measured=True)
    rec.interaction(InteractionKind.LIKE, trusted=True)
    rec.start()
    _play_to(rec, int(rng.integers(2000, 7000)))
    rec.leave(EventType.SWIPE_AWAY)
    return rec.events


def _impossible(rng: np.random.Generator, delivery: str, d: int) -> list[WireEvent]:
    """A stream no player produces: the playhead leaps to the end, or time runs back."""
    rec = Recorder(delivery, d, muted=False, in_view=True, measured=True)
    rec.start()
    variant = int(rng.integers(3)) if d >= 3000 else 2
    if variant < 2:
        _play_to(rec, int(rng.integers(500, d // 2 - 500)))
        if variant == 1:
            rec.pause()  # paused, so the leap is no drift: only the `ended` check sees it
        rec.advance(rec.t + 250)
        rec.teleport(d)
        rec.reach_end(loop=False)
        rec.advance(rec.t + 300)
        rec.leave(EventType.SWIPE_AWAY)
        return rec.events
    cut = int(rng.integers(2000, 4000))
    _play_to(rec, cut + int(rng.integers(1000, 4000)))
    rec.leave(EventType.SWIPE_AWAY)
    for event in rec.events:
        if int(event["mono_ms"]) >= cut:
            event["mono_ms"] = int(event["mono_ms"]) - 1500
    return rec.events


def _clock_inflation(rng: np.random.Generator, delivery: str, d: int, issued_at_ms: int) -> Forgery:
    rec = Recorder(delivery, d, muted=False, in_view=True, measured=True)
    rec.start()
    if d >= 20_000:
        _play_to(rec, d, loop=False)
    else:
        _play_to(rec, int(rng.integers(20_000, 30_000)))
    rec.advance(rec.t + 500)
    rec.leave(EventType.SWIPE_AWAY)
    first_frame = issued_at_ms + int(rng.integers(100, 300))
    speed = float(rng.uniform(5.0, 8.0))
    while True:
        produced = [first_frame + round(int(e["mono_ms"]) / speed) for e in rec.events]
        batches = send(rng, rec.events, produced, CLEAN_NETWORK)
        real = max(b.send_at_ms for b in batches) - issued_at_ms
        if rec.t - real >= _MIN_INFLATION_MS:
            return Forgery(rec.events, batches, first_frame)
        speed *= 2


def _honest_looking(
    rng: np.random.Generator, kind: str, delivery: str, d: int, issued_at_ms: int
) -> Forgery:
    run = watch(rng, delivery=delivery, duration_ms=d, archetype="attentive", device="mobile")
    first_frame = issued_at_ms + first_frame_delay_ms(rng)
    produced = [first_frame + int(e["mono_ms"]) for e in run.events]
    batches = send(rng, run.events, produced, HONEST_NETWORK)
    if kind == FraudKind.CONFLICTING_DUPLICATE:
        original = run.events[int(rng.integers(1, len(run.events)))]
        twin = dict(original)
        twin["media_s"] = (
            round(float(original["media_s"]) * 1000) + int(rng.integers(500, 3000))
        ) / 1000
        at = produced[int(original["seq"])] + int(rng.integers(100, 5000))
        batches = sorted([*batches, Batch(at, [twin])], key=lambda b: b.send_at_ms)
    return Forgery(run.events, batches, first_frame)


def _play_to(rec: Recorder, t: int, *, loop: bool = True) -> None:
    """Play on until `t`, looping at the end (or stopping there if not `loop`)."""
    while rec.t < t and rec.advancing:
        end_t = rec.t + rec.duration_ms - rec.media
        if end_t > t:
            break
        rec.advance(end_t)
        rec.reach_end(loop=loop)
    rec.advance(max(t, rec.t))
