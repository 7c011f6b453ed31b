"""The true timeline of one playback, and the player SDK that reports it.

A `Recorder` is driven by a viewer model (`player`) or a fraud script (`fraud`)
one action at a time. It keeps two records of the same playback:

- the wire events the SDK sends (spec/attention.md §7.1): a heartbeat every
  250 ms while playing, and one event at every state change carrying the exact
  playhead at that moment;
- the true timeline: constant-state `Segment`s and point-like `Instant`s, from
  which `truth` derives what really happened without reading any event.

All times are integer milliseconds since the first frame; playheads are integer
milliseconds too, so every value on the wire is exact at ms precision.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fairview.attention.events import EventType

HEARTBEAT_MS = 250

WireEvent = dict[str, str | int | float | bool]
"""One event as it travels on the wire: §7.1 field names, None fields omitted."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A wall-time span `[t0, t1)` in which the player state did not change.

    While `advancing` the playhead moved from `m0` to `m1` at `rate`.
    """

    t0: int
    t1: int
    m0: int
    m1: int
    advancing: bool
    rate: float
    vis: bool | None
    muted: bool

    @property
    def credited(self) -> bool:
        """Playback a careful human observer would credit: visible, 1x, moving."""
        return self.advancing and self.rate == 1.0 and self.vis is True


@dataclass(frozen=True, slots=True)
class Instant:
    """A point-like happening: an interaction, a loop wrap, the end, leaving."""

    t: int
    what: str
    vis: bool | None
    kind: str | None = None
    trusted: bool = False


@dataclass(frozen=True, slots=True)
class Timeline:
    """What the viewer really did during one delivery."""

    duration_ms: int
    segments: tuple[Segment, ...]
    instants: tuple[Instant, ...]


class Recorder:
    """Player state plus the SDK: every mutator emits the event a real SDK would."""

    def __init__(
        self, delivery: str, duration_ms: int, *, muted: bool, in_view: bool, measured: bool
    ) -> None:
        self.delivery = delivery
        self.duration_ms = duration_ms
        self.t = 0
        self.media = 0
        self.playing = False
        self.stalled = False
        self.ended = False
        self.closed = False
        self.rate = 1.0
        self.muted = muted
        self.in_view = in_view
        self.fg = True
        self.measured = measured
        self.loops = 0
        self.events: list[WireEvent] = []
        self._segments: list[Segment] = []
        self._instants: list[Instant] = []
        self._seg_t0 = 0
        self._seg_m0 = 0
        self._last_event_t = 0

    @property
    def vis(self) -> bool | None:
        """§7.1 `vis`: in view and in the foreground.

        None when the player cannot measure pixels, unless it knows the app is in
        the background: then the ad is certainly not visible.
        """
        if not self.fg:
            return False
        return self.in_view if self.measured else None

    @property
    def advancing(self) -> bool:
        return self.playing and not self.stalled

    def start(self) -> None:
        """First frame, the initial visibility report, then playback starts."""
        self._emit(EventType.FIRST_FRAME, duration_s=self.duration_ms / 1000)
        if self.vis:
            self._emit(EventType.VIS_ON)
        self._change(playing=True)
        self._emit(EventType.PLAY)

    def advance(self, to_t: int) -> None:
        """Let time pass until `to_t`, sending heartbeats while playing."""
        if self.playing:
            nxt = self._last_event_t + HEARTBEAT_MS
            while nxt < to_t:
                self._move(nxt)
                self._emit(EventType.HEARTBEAT)
                nxt = self._last_event_t + HEARTBEAT_MS
        self._move(to_t)

    def pause(self, *, trusted: bool = True) -> None:
        self._change(playing=False)
        self._emit(EventType.PAUSE, trusted=trusted)

    def resume(self) -> None:
        self._change(playing=True)
        self._emit(EventType.PLAY, trusted=True)

    def seek(self, to_ms: int) -> None:
        """Jump the playhead; while playing, a heartbeat first closes the played span."""
        if self.playing:
            self._emit(EventType.HEARTBEAT)
        from_ms = self.media
        self._change(media=to_ms)
        self._instants.append(Instant(self.t, EventType.SEEK, self.vis))
        self._emit(EventType.SEEK, trusted=True, from_s=from_ms / 1000, to_s=to_ms / 1000)

    def set_rate(self, rate: float) -> None:
        self._change(rate=rate)
        self._emit(EventType.RATE, trusted=True)

    def set_muted(self, muted: bool) -> None:
        self._change(muted=muted)
        self._emit(EventType.MUTE if muted else EventType.UNMUTE, trusted=True)

    def set_in_view(self, in_view: bool) -> None:
        self._change(in_view=in_view)
        if self.measured:
            self._emit(EventType.VIS_ON if in_view else EventType.VIS_OFF)

    def set_foreground(self, fg: bool) -> None:
        self._change(fg=fg)
        self._emit(EventType.FG if fg else EventType.BG)

    def set_stalled(self, stalled: bool) -> None:
        """Rebuffering: the SDK stamps a heartbeat when the playhead stops and restarts."""
        self._change(stalled=stalled)
        if self.playing:
            self._emit(EventType.HEARTBEAT)

    def interaction(self, kind: str, *, trusted: bool) -> None:
        self._instants.append(Instant(self.t, EventType.INTERACTION, self.vis, kind, trusted))
        self._emit(EventType.INTERACTION, trusted=trusted, kind=kind)

    def neg_feedback(self) -> None:
        self._instants.append(Instant(self.t, EventType.NEG_FEEDBACK, self.vis, trusted=True))
        self._emit(EventType.NEG_FEEDBACK, trusted=True)

    def reach_end(self, *, loop: bool) -> None:
        """The playhead is at the end: wrap to 0 (`loop`) or stop (`ended`)."""
        if loop:
            self._emit(EventType.HEARTBEAT)
            self.loops += 1
            self._change(media=0)
            self._instants.append(Instant(self.t, EventType.LOOP, self.vis))
            self._emit(EventType.LOOP)
        else:
            self._change(playing=False, ended=True)
            self._instants.append(Instant(self.t, EventType.ENDED, self.vis))
            self._emit(EventType.ENDED)

    def leave(self, how: str) -> None:
        """The viewer leaves (`swipe_away` or `close`); nothing follows."""
        self._change(playing=False, closed=True)
        self._instants.append(Instant(self.t, how, self.vis, trusted=True))
        self._emit(how, trusted=True)

    def teleport(self, to_ms: int) -> None:
        """Move the playhead without any event: only forged streams do this."""
        self._change(media=to_ms)

    def timeline(self) -> Timeline:
        self._close_segment()
        return Timeline(self.duration_ms, tuple(self._segments), tuple(self._instants))

    def _move(self, t: int) -> None:
        if self.advancing:
            moved = round((t - self.t) * self.rate)
            self.media = min(self.duration_ms, self.media + moved)
        self.t = t

    def _change(self, **state: object) -> None:
        self._close_segment()
        for name, value in state.items():
            setattr(self, name, value)
        self._seg_t0, self._seg_m0 = self.t, self.media

    def _close_segment(self) -> None:
        if self.t <= self._seg_t0:
            return
        seg = Segment(
            self._seg_t0,
            self.t,
            self._seg_m0,
            self.media,
            self.advancing,
            self.rate,
            self.vis,
            self.muted,
        )
        prev = self._segments[-1] if self._segments else None
        if prev is not None and _same_state(prev, seg):
            seg = replace(prev, t1=seg.t1, m1=seg.m1)
            self._segments[-1] = seg
        else:
            self._segments.append(seg)
        self._seg_t0, self._seg_m0 = self.t, self.media

    def _emit(self, type_: str, **extra: str | float | bool) -> None:
        event: WireEvent = {
            "delivery": self.delivery,
            "seq": len(self.events),
            "type": str(type_),
            "mono_ms": self.t,
            "media_s": self.media / 1000,
            "rate": self.rate,
            "muted": self.muted,
            "trusted": False,
        }
        if self.vis is not None:
            event["vis"] = self.vis
        event.update(extra)
        self.events.append(event)
        self._last_event_t = self.t


def _same_state(a: Segment, b: Segment) -> bool:
    """Two adjacent spans that a mutator split without changing anything real."""
    return (
        a.t1 == b.t0
        and a.m1 == b.m0
        and (a.advancing, a.rate, a.vis, a.muted) == (b.advancing, b.rate, b.vis, b.muted)
    )
