"""Ground truth per delivery, from what the viewer really did.

`honest_truth` reads only the true `Timeline` (constant-state segments and
instants), never the event stream and never the attention rule. It states the
§7 decisions in timeline terms:

- coverage: the union of playhead spans played visibly at 1x;
- watch (W): coverage ≥ 6 s, or for D < 6 s coverage ≥ D − 250 ms once an
  `ended`/`loop` has happened;
- interaction (I): a trusted tap of a qualifying kind while visible, before
  `ended`, with coverage ≥ 1 s at that moment; whichever of W and I came first;
- viewable: some uninterrupted visible 1x playback spans ≥ 2 s of the ad;
  else unknown (None) if such a span exists when playback of unmeasured
  visibility counts as visible; else False.

`ambiguities` lists the ways a timeline sits within a few ms of a threshold,
where float sums of seconds could tip the rule either way. The honest viewer
model re-draws such sessions, so every honest delivery has one clear answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fairview.attention.events import QUALIFYING_INTERACTIONS, EventType
from fairview.sim.timeline import Instant, Segment, Timeline

T_FOCUS_MS = 6000
T_MIN_INTERACT_MS = 1000
T_VIEWABLE_MS = 2000
END_TOL_MS = 250
MARGIN_MS = 5
"""Honest sessions keep at least this far from every threshold."""

WATCH = "watch"
INTERACTION = "interaction"


@dataclass(frozen=True, slots=True)
class Truth:
    """What really happened in one delivery.

    `qualified_by` is "watch" or "interaction" (None when not focused).
    `viewable` is None when visibility was unknown where it mattered. For invalid traffic
    `invalid_kind` names the fraud and the other fields are False/None/0.
    """

    focused_view: bool
    qualified_by: str | None
    viewable: bool | None
    invalid: bool
    invalid_kind: str | None
    coverage_s: float = 0.0
    audible_coverage_s: float = 0.0


def invalid_truth(kind: str) -> Truth:
    """The truth of a fraudulent delivery: never billable, whatever it claims."""
    return Truth(False, None, None, True, kind)


def honest_truth(tl: Timeline) -> Truth:
    """Decide focused view and viewability from the true timeline."""
    end = tl.segments[-1].t1 if tl.segments else 0
    coverage = coverage_at(tl, end)
    audible = _union(_spans(tl.segments, end, lambda s: s.credited and not s.muted))
    by = _qualified_by(tl)
    return Truth(
        focused_view=by is not None,
        qualified_by=by,
        viewable=_viewable(tl),
        invalid=False,
        invalid_kind=None,
        coverage_s=coverage / 1000,
        audible_coverage_s=audible / 1000,
    )


def coverage_at(tl: Timeline, t: int) -> int:
    """Coverage in ms accrued before wall time `t` (ms since first frame)."""
    return _union(_spans(tl.segments, t, lambda s: s.credited))


def longest_run(tl: Timeline) -> int:
    """The longest uninterrupted visible 1x playback, as playhead ms."""
    return _longest(tl.segments, lambda s: s.credited)


def longest_possible_run(tl: Timeline) -> int:
    """The same, counting playback of unknown visibility as if it were visible."""
    return _longest(tl.segments, lambda s: s.advancing and s.rate == 1.0 and s.vis is not False)


def ambiguities(tl: Timeline) -> list[str]:
    """Why the rule could read this honest timeline differently (empty: none)."""
    found: list[str] = []
    target = _watch_target(tl.duration_ms)
    end = tl.segments[-1].t1 if tl.segments else 0
    if _near(coverage_at(tl, end), target):
        found.append("coverage ends at the watch threshold")
    if _near(longest_run(tl), T_VIEWABLE_MS) or _near(longest_possible_run(tl), T_VIEWABLE_MS):
        found.append("longest run at the viewability threshold")
    for inst in tl.instants:
        cov = coverage_at(tl, inst.t)
        if _is_end(inst) and _near(cov, target):
            found.append("end reached at the completion threshold")
        if _qualifying(inst) and (_near(cov, T_MIN_INTERACT_MS) or _near(cov, target)):
            found.append("interaction at a coverage threshold")
    return found


def _watch_target(duration_ms: int) -> int:
    """(W): 6 s of coverage, or for D < 6 s completion within END_TOL."""
    return T_FOCUS_MS if duration_ms >= T_FOCUS_MS else duration_ms - END_TOL_MS


def _qualified_by(tl: Timeline) -> str | None:
    """Whichever of (W) and (I) came first, or None.

    For D < 6 s, (W) needs an `ended`/`loop` first; it holds from the first moment
    after one at which coverage reaches D − 250 ms (at the end event itself, or
    later while a looping ad fills in what was missed).
    """
    short = tl.duration_ms < T_FOCUS_MS
    target = _watch_target(tl.duration_ms)
    end_seen = closed = False
    for inst in tl.instants:
        end_seen = end_seen or _is_end(inst)
        cov = coverage_at(tl, inst.t)
        if (end_seen or not short) and cov >= target:
            return WATCH
        if not closed and _qualifying(inst) and cov >= T_MIN_INTERACT_MS:
            return INTERACTION
        closed = closed or inst.what == EventType.ENDED
    end = tl.segments[-1].t1 if tl.segments else 0
    if (end_seen or not short) and coverage_at(tl, end) >= target:
        return WATCH
    return None


def _viewable(tl: Timeline) -> bool | None:
    if longest_run(tl) >= T_VIEWABLE_MS:
        return True
    if longest_possible_run(tl) >= T_VIEWABLE_MS:
        return None  # visibility unknown where a run could have completed
    known = any(s.vis is not None for s in tl.segments) or any(
        i.vis is not None for i in tl.instants
    )
    reached = min(max((s.m1 for s in tl.segments), default=0), tl.duration_ms)
    if not known and reached >= T_VIEWABLE_MS:
        return None  # §7.4: no visibility data at all once a run could have completed
    return False


def _is_end(inst: Instant) -> bool:
    return inst.what in (EventType.ENDED, EventType.LOOP)


def _qualifying(inst: Instant) -> bool:
    return (
        inst.what == EventType.INTERACTION
        and inst.trusted
        and inst.vis is True
        and inst.kind in QUALIFYING_INTERACTIONS
    )


def _spans(
    segments: Iterable[Segment], t: int, keep: Callable[[Segment], bool]
) -> list[tuple[int, int]]:
    spans = []
    for seg in segments:
        if seg.t0 >= t:
            break
        if keep(seg):
            spans.append((seg.m0, seg.m0 + min(seg.t1, t) - seg.t0))
    return spans


def _union(spans: list[tuple[int, int]]) -> int:
    total, reach = 0, None
    for lo, hi in sorted(spans):
        if reach is None or lo > reach:
            total += hi - lo
            reach = hi
        elif hi > reach:
            total += hi - reach
            reach = hi
    return total


def _longest(segments: Iterable[Segment], keep: Callable[[Segment], bool]) -> int:
    best, run = 0, 0
    prev: Segment | None = None
    for seg in segments:
        if not keep(seg):
            run, prev = 0, None
            continue
        joined = prev is not None and prev.t1 == seg.t0 and prev.m1 == seg.m0
        run = run + seg.m1 - seg.m0 if joined else seg.m1 - seg.m0
        best = max(best, run)
        prev = seg
    return best


def _near(value: float, threshold: float) -> bool:
    return abs(value - threshold) < MARGIN_MS
