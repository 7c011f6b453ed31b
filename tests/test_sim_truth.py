"""fairview.sim.truth on hand-played timelines (the §7.7 vectors, told as actions)."""

from __future__ import annotations

from fairview.attention.events import EventType, InteractionKind
from fairview.sim.timeline import Recorder
from fairview.sim.truth import Truth, ambiguities, honest_truth, invalid_truth


def _rec(duration_s: float, *, muted: bool = False, measured: bool = True) -> Recorder:
    rec = Recorder("d", round(duration_s * 1000), muted=muted, in_view=True, measured=measured)
    rec.start()
    return rec


def _done(rec: Recorder) -> Truth:
    rec.advance(rec.t + 100)
    rec.leave(EventType.SWIPE_AWAY)
    return honest_truth(rec.timeline())


def test_six_seconds_is_a_focused_view() -> None:
    rec = _rec(15)
    rec.advance(6100)
    truth = _done(rec)
    assert (truth.focused_view, truth.qualified_by, truth.viewable) == (True, "watch", True)


def test_under_six_seconds_is_not() -> None:
    rec = _rec(15)
    rec.advance(5900)
    rec.leave(EventType.SWIPE_AWAY)
    truth = honest_truth(rec.timeline())
    assert (truth.focused_view, truth.viewable, truth.coverage_s) == (False, True, 5.9)


def test_seek_forward_then_watch_adds_up() -> None:
    rec = _rec(15)
    rec.advance(3000)
    rec.seek(10_000)
    rec.advance(6100)
    assert _done(rec).focused_view


def test_rewatching_adds_nothing() -> None:
    rec = _rec(15)
    rec.advance(3000)
    rec.seek(0)
    rec.advance(6000)
    truth = _done(rec)
    assert not truth.focused_view
    assert truth.coverage_s == 3.1


def test_short_ads_need_the_end() -> None:
    rec = _rec(4)
    rec.advance(4000)
    rec.reach_end(loop=False)
    assert _done(rec).qualified_by == "watch"
    rec = _rec(4)
    rec.advance(3900)
    assert not _done(rec).focused_view


def test_double_speed_is_not_watching() -> None:
    rec = _rec(15)
    rec.set_rate(2.0)
    rec.advance(3000)
    truth = _done(rec)
    assert (truth.focused_view, truth.viewable) == (False, False)


def test_muted_counts_but_is_not_audible() -> None:
    rec = _rec(15, muted=True)
    rec.advance(6100)
    truth = _done(rec)
    assert truth.focused_view
    assert truth.audible_coverage_s == 0.0


def test_background_time_is_not_credited() -> None:
    rec = _rec(30)
    rec.advance(2000)
    rec.set_foreground(False)
    rec.advance(8000)
    rec.set_foreground(True)
    rec.advance(12_100)
    truth = _done(rec)
    assert truth.qualified_by == "watch"
    assert truth.coverage_s == 6.2


def test_interactions_need_a_second_of_coverage() -> None:
    rec = _rec(15)
    rec.advance(500)
    rec.interaction(InteractionKind.LIKE, trusted=True)
    rec.advance(1200)
    assert not ambiguities(rec.timeline())
    rec.interaction(InteractionKind.LIKE, trusted=True)
    assert _done(rec).qualified_by == "interaction"


def test_negative_feedback_and_untrusted_taps_never_qualify() -> None:
    rec = _rec(15)
    rec.advance(2000)
    rec.neg_feedback()
    rec.interaction(InteractionKind.SHARE, trusted=False)
    rec.interaction(InteractionKind.FULLSCREEN, trusted=True)
    assert not _done(rec).focused_view


def test_a_pause_breaks_the_viewable_run() -> None:
    rec = _rec(15)
    rec.advance(1500)
    rec.pause()
    rec.advance(2500)
    rec.resume()
    rec.advance(4000)
    assert _done(rec).viewable is False


def test_unmeasured_visibility_is_undetermined_once_a_run_was_possible() -> None:
    rec = _rec(15, measured=False)
    rec.advance(2500)
    assert _done(rec).viewable is None
    rec = _rec(15, measured=False)
    rec.advance(1500)
    assert _done(rec).viewable is False


def test_thresholds_within_a_few_ms_are_ambiguous() -> None:
    rec = _rec(15)
    rec.advance(6002)
    assert "coverage ends at the watch threshold" in ambiguities(rec.timeline())


def test_invalid_truth_is_never_billable() -> None:
    truth = invalid_truth("bot_farm")
    assert truth.invalid
    assert not truth.focused_view
    assert truth.invalid_kind == "bot_farm"
