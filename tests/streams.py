"""A small builder of one delivery's event stream, as a well-behaved player sends it.

    Stream(duration_s=15).play(6).swipe_away().events

emits `first_frame` at seq 0, then a `heartbeat` every 250 ms of wall time while
playing (the last step shorter when the segment is not a multiple of 250 ms),
then the named events at the current playhead. Time is kept in whole
milliseconds, so media positions are exact to the millisecond.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

from fairview.attention.events import Event, EventType, InteractionKind

HEARTBEAT_MS = 250


class Stream:
    """One delivery's events; every method appends and returns the stream."""

    def __init__(
        self,
        duration_s: float | None = 15.0,
        *,
        delivery: str = "d1",
        vis: bool | None = True,
        muted: bool = False,
        rate: float = 1.0,
    ) -> None:
        self.delivery = delivery
        self.events: list[Event] = []
        self.mono_ms = 0
        self.media_ms = 0
        self.vis = vis
        self.muted = muted
        self.rate = rate
        self._emit(EventType.FIRST_FRAME, duration_s=duration_s)

    @property
    def media_s(self) -> float:
        return self.media_ms / 1000.0

    def _emit(
        self,
        type_: EventType,
        *,
        trusted: bool = False,
        kind: str | None = None,
        from_s: float | None = None,
        to_s: float | None = None,
        duration_s: float | None = None,
    ) -> Stream:
        event = Event(
            delivery=self.delivery,
            seq=len(self.events),
            type=type_.value,
            mono_ms=float(self.mono_ms),
            media_s=self.media_s,
            rate=self.rate,
            muted=self.muted,
            vis=self.vis,
            trusted=trusted,
            kind=kind,
            from_s=from_s,
            to_s=to_s,
            duration_s=duration_s,
        )
        self.events.append(event)
        return self

    def play(self, seconds: float) -> Stream:
        """Play for `seconds` of wall time; the playhead moves `rate` times as far."""
        remaining = round(seconds * 1000)
        while remaining > 0:
            step = min(HEARTBEAT_MS, remaining)
            remaining -= step
            self.mono_ms += step
            self.media_ms += round(self.rate * step)
            self._emit(EventType.HEARTBEAT)
        return self

    def wait(self, seconds: float) -> Stream:
        """Let wall time pass with no event and no playhead movement (paused, stalled)."""
        self.mono_ms += round(seconds * 1000)
        return self

    def pause(self) -> Stream:
        return self._emit(EventType.PAUSE)

    def resume(self) -> Stream:
        return self._emit(EventType.PLAY)

    def heartbeat(self) -> Stream:
        return self._emit(EventType.HEARTBEAT)

    def seek(self, to_s: float) -> Stream:
        from_s = self.media_s
        self.media_ms = round(to_s * 1000)
        return self._emit(EventType.SEEK, from_s=from_s, to_s=self.media_s)

    def loop(self) -> Stream:
        from_s = self.media_s
        self.media_ms = 0
        return self._emit(EventType.LOOP, from_s=from_s, to_s=0.0)

    def set_rate(self, rate: float) -> Stream:
        self.rate = rate
        return self._emit(EventType.RATE)

    def mute(self) -> Stream:
        self.muted = True
        return self._emit(EventType.MUTE)

    def unmute(self) -> Stream:
        self.muted = False
        return self._emit(EventType.UNMUTE)

    def vis_on(self) -> Stream:
        self.vis = True
        return self._emit(EventType.VIS_ON)

    def vis_off(self) -> Stream:
        self.vis = False
        return self._emit(EventType.VIS_OFF)

    def bg(self) -> Stream:
        self.vis = False
        return self._emit(EventType.BG)

    def fg(self) -> Stream:
        self.vis = True
        return self._emit(EventType.FG)

    def ended(self) -> Stream:
        return self._emit(EventType.ENDED)

    def interaction(self, kind: str = InteractionKind.LIKE, *, trusted: bool = True) -> Stream:
        return self._emit(EventType.INTERACTION, kind=str(kind), trusted=trusted)

    def like(self) -> Stream:
        return self.interaction(InteractionKind.LIKE)

    def neg_feedback(self) -> Stream:
        return self._emit(EventType.NEG_FEEDBACK, trusted=True)

    def swipe_away(self) -> Stream:
        return self._emit(EventType.SWIPE_AWAY, trusted=True)

    def close(self) -> Stream:
        return self._emit(EventType.CLOSE, trusted=True)

    def received(self, recv_ms: Callable[[float], float]) -> list[Event]:
        """The events with `recv_ms` set from each event's `mono_ms`."""
        return [replace(e, recv_ms=recv_ms(e.mono_ms)) for e in self.events]


def shuffled(events: list[Event], seed: int = 0) -> list[Event]:
    """The same events in a different arrival order."""
    out = list(events)
    random.Random(seed).shuffle(out)
    return out
