"""An honest viewer watching one ad in a feed, as a discrete-event simulation.

`watch` plays one delivery for one viewer and returns the SDK's event stream
together with the true timeline. The viewer model draws, from the archetype's
`Profile`, when the viewer leaves and when every other action happens (pause,
seek, 2x, scrolling half out of view, backgrounding, mute toggles, taps,
"not interested", rebuffering); short ads loop in the feed.

Every action happens on its own millisecond, so each state change is one event
with an exact playhead. A session whose outcome sits within a few ms of a §7
threshold (see `truth.ambiguities`) is drawn again from the same generator, so
the result stays a pure function of the generator's state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from fairview.attention.events import EventType, InteractionKind
from fairview.sim.behaviour import (
    FIRST_SECOND_WEIGHTS,
    INTERACTION_WEIGHTS,
    PROFILES,
    Archetype,
    Profile,
)
from fairview.sim.timeline import Recorder, Timeline, WireEvent
from fairview.sim.truth import ambiguities

_MAX_DRAWS = 40
_MAX_LOOPS = 4
_LOOP_BELOW_MS = 8000
_MIN_SEEK_MS = 1000


@dataclass(frozen=True, slots=True)
class PlayerRun:
    """The SDK's events (seq order, as emitted) and what really happened."""

    events: list[WireEvent]
    timeline: Timeline


def watch(
    rng: np.random.Generator,
    *,
    delivery: str,
    duration_ms: int,
    archetype: str,
    device: str,
    measures_visibility: bool = True,
) -> PlayerRun:
    """Simulate one honest playback of a `duration_ms` creative.

    Refuses durations under 500 ms. The outcome is unambiguous for the §7 rule
    unless the duration itself sits on a threshold (e.g. D = 6.000 s), in which
    case a plain full watch is returned and truth reads the threshold exactly.
    """
    if duration_ms < 500:
        raise ValueError(f"creative duration {duration_ms} ms is too short to simulate")
    profile = PROFILES[Archetype(archetype)]
    for _ in range(_MAX_DRAWS):
        viewer = _Viewer(rng, profile, delivery, duration_ms, device, measures_visibility)
        viewer.run()
        run = PlayerRun(viewer.rec.events, viewer.rec.timeline())
        if not ambiguities(run.timeline):
            return run
    return plain_watch(delivery, duration_ms, measured=measures_visibility)


def first_frame_delay_ms(rng: np.random.Generator) -> int:
    """From the server issuing a delivery to its first rendered frame: request,
    download and buffering; median about 0.65 s, at most 8 s."""
    return min(8000, 150 + round(500 * math.exp(0.6 * rng.standard_normal())))


def plain_watch(delivery: str, duration_ms: int, *, measured: bool = True) -> PlayerRun:
    """A visible, unmuted, uninterrupted watch to the end, then a swipe."""
    rec = Recorder(delivery, duration_ms, muted=False, in_view=True, measured=measured)
    rec.start()
    rec.advance(duration_ms)
    rec.reach_end(loop=False)
    rec.advance(duration_ms + 400)
    rec.leave(EventType.SWIPE_AWAY)
    return PlayerRun(rec.events, rec.timeline())


class _Viewer:
    """One draw of a viewer's session; `run` drives the recorder to the exit."""

    def __init__(
        self,
        rng: np.random.Generator,
        profile: Profile,
        delivery: str,
        duration_ms: int,
        device: str,
        measured: bool,
    ) -> None:
        self.rng = rng
        self.p = profile
        self.device = device
        tv = device == "tv"
        in_view = tv or rng.random() < 0.85
        muted = rng.random() < (0.05 if tv else profile.start_muted)
        self.rec = Recorder(delivery, duration_ms, muted=muted, in_view=in_view, measured=measured)
        self.loops_allowed = not tv and duration_ms < _LOOP_BELOW_MS and rng.random() < 0.8
        self.timers: dict[str, int] = {}
        self.exit_t = 0
        closes = {"tv": 1.0, "desktop": 0.4}.get(device, 0.08)
        self.exit_how = str(EventType.CLOSE if _hit(rng, closes) else EventType.SWIPE_AWAY)

    def run(self) -> None:
        rec = self.rec
        rec.start()
        self.exit_t = self._draw_exit()
        if not rec.in_view:
            self.timers["scroll_in"] = self._uniform(150, 1200)
        if _hit(self.rng, self.p.first_second_tap) and rec.measured:
            self.timers["tap"] = self._uniform(80, 900)
        while not rec.closed:
            name, when = self._next()
            rec.advance(when)
            self.timers.pop(name, None)
            self._apply(name)

    def _draw_exit(self) -> int:
        median = (
            self.p.early_median_s if _hit(self.rng, self.p.early_exit) else self.p.late_median_s
        )
        seconds = median * math.exp(self.p.exit_sigma * self.rng.standard_normal())
        return max(250, round(seconds * 1000))

    def _next(self) -> tuple[str, int]:
        rec = self.rec
        floor = rec.t + 1
        options: list[tuple[int, int, str]] = [(max(self.exit_t, floor), 2, "exit")]
        if rec.advancing:
            left = math.ceil((rec.duration_ms - rec.media) / rec.rate)
            options.append((rec.t + left, 0, "end"))
        options += [(max(t, floor), 1, name) for name, t in self.timers.items()]
        rates = self._hazards()
        total = sum(rates.values())
        if total > 0:
            wait = 1 + math.floor(self.rng.exponential(1000 / total))
            names = list(rates)
            pick = self.rng.choice(len(names), p=np.array(list(rates.values())) / total)
            options.append((rec.t + wait, 3, names[int(pick)]))
        when, _, name = min(options)
        return name, when

    def _hazards(self) -> Mapping[str, float]:
        rec, p = self.rec, self.p
        if rec.ended or rec.stalled or not rec.fg:
            return {}
        if not rec.playing:
            return {"seek": p.seek * 0.5, "interact": p.interact * 0.3}
        tv = self.device == "tv"
        rates = {
            "pause": p.pause,
            "seek": p.seek,
            "speed": p.speed,
            "mute": p.mute_toggle,
            "interact": p.interact * (0.2 if tv else 1.0),
            "neg": 0.0 if tv else p.neg_feedback,
            "stall": p.stall,
        }
        if rec.in_view and not tv:
            rates["scroll"] = p.scroll if rec.measured else 0.0
            rates["background"] = p.background
        return rates

    def _apply(self, name: str) -> None:
        getattr(self, f"_do_{name}")()

    def _do_exit(self) -> None:
        rec = self.rec
        rec.leave(self.exit_how if rec.fg else EventType.CLOSE)

    def _do_end(self) -> None:
        rec = self.rec
        loop = self.loops_allowed and rec.loops < _MAX_LOOPS
        rec.reach_end(loop=loop)
        if not loop:
            self._leave_within(200, 2500)
        elif rec.loops >= _MAX_LOOPS:
            self._leave_within(100, 1500)

    def _do_pause(self) -> None:
        self.rec.pause()
        if _hit(self.rng, 0.85):
            self.timers["resume"] = self.rec.t + self._lognormal_ms(1500)

    def _do_resume(self) -> None:
        rec = self.rec
        if not rec.playing and not rec.ended and rec.fg:
            rec.resume()

    def _do_seek(self) -> None:
        rec = self.rec
        d, m = rec.duration_ms, rec.media
        if _hit(self.rng, 0.6) and d - 300 - m > _MIN_SEEK_MS:
            rec.seek(m + self._uniform(_MIN_SEEK_MS, min(8000, d - 300 - m)))
        elif m > _MIN_SEEK_MS:
            rec.seek(m - self._uniform(_MIN_SEEK_MS, min(5000, m)))

    def _do_speed(self) -> None:
        rec = self.rec
        if rec.rate == 1.0:
            rec.set_rate(2.0)
            if _hit(self.rng, 0.6):
                self.timers["speed_back"] = rec.t + self._uniform(1000, 6000)
        else:
            rec.set_rate(1.0)

    def _do_speed_back(self) -> None:
        if self.rec.rate != 1.0:
            self.rec.set_rate(1.0)

    def _do_mute(self) -> None:
        self.rec.set_muted(not self.rec.muted)

    def _do_scroll(self) -> None:
        self.rec.set_in_view(False)
        if _hit(self.rng, 0.8):
            self.timers["scroll_in"] = self.rec.t + self._uniform(300, 3000)

    def _do_scroll_in(self) -> None:
        if not self.rec.in_view:
            self.rec.set_in_view(True)

    def _do_background(self) -> None:
        rec = self.rec
        if not (rec.fg and rec.in_view) or rec.ended:
            return
        rec.set_foreground(False)
        if rec.playing and not _hit(self.rng, self.p.bg_keeps_playing):
            rec.pause(trusted=False)
            self.timers.pop("resume", None)
        if _hit(self.rng, 0.75):
            self.timers["fg"] = rec.t + self._lognormal_ms(4000)

    def _do_fg(self) -> None:
        rec = self.rec
        rec.set_foreground(True)
        if not rec.playing and not rec.ended:
            self.timers["resume"] = rec.t + self._uniform(200, 1500)

    def _do_interact(self) -> None:
        kind = self._pick(INTERACTION_WEIGHTS)
        self._tap(kind, trusted=not _hit(self.rng, self.p.untrusted))

    def _do_tap(self) -> None:
        if not self.rec.ended:
            self._tap(self._pick(FIRST_SECOND_WEIGHTS), trusted=True)

    def _tap(self, kind: str, *, trusted: bool) -> None:
        rec = self.rec
        rec.interaction(kind, trusted=trusted)
        if kind == InteractionKind.CLICKTHROUGH and trusted:
            self.timers["background"] = rec.t + self._uniform(200, 700)
        elif kind == InteractionKind.SKIP:
            self._leave_within(100, 400)

    def _do_neg(self) -> None:
        self.rec.neg_feedback()
        self.exit_how = str(EventType.CLOSE)
        self._leave_within(300, 1200)

    def _do_stall(self) -> None:
        self.rec.set_stalled(True)
        self.timers["unstall"] = self.rec.t + self._uniform(150, 1500)

    def _do_unstall(self) -> None:
        self.rec.set_stalled(False)

    def _leave_within(self, lo: int, hi: int) -> None:
        self.exit_t = min(self.exit_t, self.rec.t + self._uniform(lo, hi))

    def _uniform(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def _lognormal_ms(self, median_ms: float) -> int:
        return max(100, round(median_ms * math.exp(0.7 * self.rng.standard_normal())))

    def _pick(self, weights: Mapping[str, float]) -> str:
        names = list(weights)
        probs = np.array([weights[n] for n in names])
        return names[int(self.rng.choice(len(names), p=probs / probs.sum()))]


def _hit(rng: np.random.Generator, p: float) -> bool:
    """One Bernoulli draw; always consumes exactly one number from `rng`."""
    return bool(rng.random() < p)
