"""The reference test vectors of spec/attention.md §7.7, against both implementations.

Every stream is visible, in the foreground and at 1x unless the test says
otherwise; `Stream` (tests/streams.py) sends a heartbeat every 250 ms of play.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from fairview.attention import Event, Verdict, qualify, qualify_many
from fairview.attention.events import TERMINAL_TYPES, InteractionKind
from fairview.attention.fast import TYPE_CODES

from streams import Stream, shuffled

Judge = Callable[[list[Event]], Verdict]


def _fast(events: list[Event]) -> Verdict:
    (verdict,) = qualify_many(events)
    return verdict


@pytest.fixture(params=["reference", "fast"])
def judge(request: pytest.FixtureRequest) -> Judge:
    return {"reference": qualify, "fast": _fast}[request.param]  # type: ignore[return-value]


def _focused_at(v: Verdict, by: str, at: float) -> None:
    assert v.focused_view, v
    assert v.qualified_by == by
    assert v.qualified_at_media_s == pytest.approx(at)
    assert not v.invalid


def _not_focused(v: Verdict) -> None:
    assert not v.focused_view, v
    assert v.qualified_by is None
    assert v.qualified_at_media_s is None


# 1. D=15: play 0→6.0 → focused at media 6.0; viewable.
def test_v01_six_seconds_is_a_focused_view(judge: Judge) -> None:
    v = judge(Stream(15).play(6).events)
    _focused_at(v, "watch", 6.0)
    assert v.coverage_s == pytest.approx(6.0)
    assert v.viewability == "viewable"


def test_v01_one_millisecond_short_is_not(judge: Judge) -> None:
    v = judge(Stream(15).play(5.999).events)  # the rule reads "at least 6 s"
    _not_focused(v)
    assert v.coverage_s == pytest.approx(5.999)


# 2. D=15: play 0→5.9, swipe → not focused; viewable.
def test_v02_swipe_before_six_seconds(judge: Judge) -> None:
    v = judge(Stream(15).play(5.9).swipe_away().events)
    _not_focused(v)
    assert v.coverage_s == pytest.approx(5.9)
    assert v.viewability == "viewable"


# 3. D=15: 0→3, seek to 10, 10→13 → coverage 6.0 → focused.
def test_v03_forward_seek_keeps_both_sides(judge: Judge) -> None:
    v = judge(Stream(15).play(3).seek(10).play(3).events)
    assert v.coverage_s == pytest.approx(6.0)
    _focused_at(v, "watch", 13.0)


# 4. D=15: 0→3, seek to 0, 0→3 → coverage 3.0 → not focused.
def test_v04_rewatch_adds_nothing(judge: Judge) -> None:
    v = judge(Stream(15).play(3).seek(0).play(3).events)
    assert v.coverage_s == pytest.approx(3.0)
    _not_focused(v)


# 5. D=4: 0→4 + ended → focused. D=4: 0→3.9, swipe, no ended → not focused.
def test_v05_short_ad_completed(judge: Judge) -> None:
    _focused_at(judge(Stream(4).play(4).ended().events), "watch", 4.0)


def test_v05_short_ad_not_completed(judge: Judge) -> None:
    _not_focused(judge(Stream(4).play(3.9).swipe_away().events))


def test_v05_completion_tolerance_is_end_tol(judge: Judge) -> None:
    _focused_at(judge(Stream(4).play(3.75).ended().events), "watch", 4.0)
    _not_focused(judge(Stream(4).play(3.7).ended().events))


def test_v05_loop_marks_completion(judge: Judge) -> None:
    _focused_at(judge(Stream(4).play(4).loop().play(1).events), "watch", 4.0)


def test_v05_completion_reached_after_the_marker(judge: Judge) -> None:
    # 0→2, skip to 3, 3→4, loop, then fill the hole on the second pass
    v = judge(Stream(4).play(2).seek(3).play(1).loop().play(3).events)
    _focused_at(v, "watch", 2.75)  # 3.0 covered; the missing 0.75 s is reached at 2.75


# 6. D=15 at rate 2.0 for 3 s wall (0→6 media) → not focused, not viewable.
def test_v06_double_speed_credits_nothing(judge: Judge) -> None:
    v = judge(Stream(15).set_rate(2.0).play(3).events)
    _not_focused(v)
    assert v.coverage_s == 0.0
    assert v.viewability == "not_viewable"
    assert not v.invalid


# 7. D=15 muted 0→6 → focused; audible_coverage = 0.
def test_v07_muted_counts_but_is_not_audible(judge: Judge) -> None:
    v = judge(Stream(15).mute().play(6).events)
    _focused_at(v, "watch", 6.0)
    assert v.audible_coverage_s == 0.0


def test_v07_audible_coverage_counts_unmuted_part(judge: Judge) -> None:
    v = judge(Stream(15).play(2).mute().play(2).unmute().play(2).events)
    assert v.audible_coverage_s == pytest.approx(4.0)


# 8. D=30: 0→2 visible, bg while playing 2→8, fg 8→12 → coverage 6.0 → focused at 12.
def test_v08_background_playback_is_not_credited(judge: Judge) -> None:
    v = judge(Stream(30).play(2).bg().play(6).fg().play(4).events)
    assert v.coverage_s == pytest.approx(6.0)
    _focused_at(v, "watch", 12.0)


# 9. Like with coverage 0.5 → no; like with coverage 1.2 → focused at that moment.
def test_v09_like_in_the_first_second_does_not_count(judge: Judge) -> None:
    _not_focused(judge(Stream(15).play(0.5).like().play(0.4).events))


def test_v09_like_after_one_second_qualifies(judge: Judge) -> None:
    _focused_at(judge(Stream(15).play(1.2).like().events), "interaction", 1.2)


def test_v09_untrusted_or_hidden_like_does_not_count(judge: Judge) -> None:
    _not_focused(judge(Stream(15).play(2).interaction(InteractionKind.LIKE, trusted=False).events))
    _not_focused(judge(Stream(15).play(2).vis_off().like().events))


def test_v09_like_after_close_does_not_count(judge: Judge) -> None:
    _not_focused(judge(Stream(15).play(2).swipe_away().like().events))


# 10. "Not interested" at coverage 2.0 → not focused.
def test_v10_negative_feedback_never_qualifies(judge: Judge) -> None:
    _not_focused(judge(Stream(15).play(2).neg_feedback().events))
    _not_focused(judge(Stream(15).play(2).interaction(InteractionKind.SKIP).events))


# 11. seq 5 twice, identical → ignored; twice with different media_s → invalid.
def test_v11_identical_duplicate_is_dropped(judge: Judge) -> None:
    events = Stream(15).play(6).events
    assert judge([*events, events[5]]) == judge(events)


def test_v11_retried_duplicate_differs_only_in_receipt(judge: Judge) -> None:
    events = Stream(15).play(6).received(lambda mono: mono + 100)
    retry = replace(events[5], recv_ms=5000.0)
    assert judge([*events, retry]) == judge(events)


def test_v11_conflicting_duplicate_invalidates(judge: Judge) -> None:
    events = Stream(15).play(6).events
    v = judge([*events, replace(events[5], media_s=events[5].media_s + 0.1)])
    assert v.invalid
    assert v.invalid_reason == "conflicting_duplicate"
    _not_focused(v)


# 12. Events shuffled in arrival → same result as ordered.
@pytest.mark.parametrize("seed", range(5))
def test_v12_arrival_order_does_not_matter(judge: Judge, seed: int) -> None:
    events = Stream(15).play(2).pause().wait(1).resume().play(3).seek(10).play(2).like().events
    assert judge(shuffled(events, seed)) == judge(events)


# 13. Last mono_ms = 40 000 but the last receipt is 20 s after S0 → invalid.
def test_v13_more_watch_time_than_real_time_is_invalid(judge: Judge) -> None:
    v = judge(Stream(60).play(40).received(lambda mono: mono / 2))
    assert v.invalid
    assert v.invalid_reason == "clock_inflation"
    _not_focused(v)


def test_v13_receipts_within_clock_tol_are_valid(judge: Judge) -> None:
    v = judge(Stream(60).play(40).received(lambda mono: mono + 300))
    assert not v.invalid
    _focused_at(v, "watch", 6.0)


# 14. Viewability: 0→1.5, pause, 1.5→3.0 → no 2-s run → NotViewable.
#     3 s played at 40 % visible → NotViewable. D=1.5 → NotViewable.
def test_v14_pause_breaks_the_run(judge: Judge) -> None:
    v = judge(Stream(15).play(1.5).pause().wait(1).resume().play(1.5).events)
    assert v.coverage_s == pytest.approx(3.0)
    assert v.viewability == "not_viewable"


def test_v14_under_half_visible_is_not_viewable(judge: Judge) -> None:
    v = judge(Stream(15, vis=False).play(3).events)
    assert v.viewability == "not_viewable"
    assert v.coverage_s == 0.0


def test_v14_creative_shorter_than_two_seconds(judge: Judge) -> None:
    v = judge(Stream(1.5).play(1.5).ended().events)
    assert v.viewability == "not_viewable"


def test_v14_any_two_seconds_not_just_the_first(judge: Judge) -> None:
    v = judge(Stream(15).play(1).pause().wait(1).resume().play(2).events)
    assert v.viewability == "viewable"


def test_v14_seek_breaks_the_run(judge: Judge) -> None:
    assert judge(Stream(15).play(1.5).seek(5).play(1.5).events).viewability == "not_viewable"


def test_v14_missing_visibility_is_undetermined(judge: Judge) -> None:
    v = judge(Stream(15, vis=None).play(3).events)
    assert v.viewability == "undetermined"
    assert v.coverage_s == 0.0  # unknown visibility is never credited
    short = judge(Stream(15, vis=None).play(1.5).events)
    assert short.viewability == "not_viewable"  # could not have completed a run


# Other §7.2 / §7.5 rules.
def test_lost_event_leaves_its_pairs_uncredited(judge: Judge) -> None:
    events = Stream(15).play(6).events
    v = judge(events[:10] + events[11:])
    assert v.coverage_s == pytest.approx(5.5)
    _not_focused(v)


def test_heartbeat_gap_over_one_second_is_not_credited(judge: Judge) -> None:
    s = Stream(15).play(2)
    s.mono_ms += 1500  # the player stalled for 1.5 s, then jumped 1.5 s ahead
    s.media_ms += 1500
    v = judge(s.heartbeat().play(2).events)
    assert v.coverage_s == pytest.approx(4.0)


def test_no_first_frame_is_invalid(judge: Judge) -> None:
    v = judge(Stream(15).play(6).events[1:])
    assert v.invalid_reason == "no_first_frame"
    _not_focused(v)


def test_interaction_before_first_frame_is_invalid(judge: Judge) -> None:
    events = Stream(15).play(6).events
    early = replace(events[0], seq=0, type="interaction", kind="like", trusted=True)
    shifted = [replace(e, seq=e.seq + 1) for e in events]
    v = judge([early, *shifted])
    assert v.invalid_reason == "interaction_before_first_frame"


def test_decreasing_monotonic_clock_is_invalid(judge: Judge) -> None:
    events = Stream(15).play(6).events
    v = judge([*events[:10], replace(events[10], mono_ms=events[9].mono_ms - 1), *events[11:]])
    assert v.invalid_reason == "mono_decreasing"


def test_playhead_faster_than_the_clock_is_invalid(judge: Judge) -> None:
    events = Stream(15).play(6).events
    v = judge([*events[:10], *(replace(e, media_s=e.media_s + 0.4) for e in events[10:])])
    assert v.invalid_reason == "drift_inflation"
    _not_focused(v)


def test_ended_with_under_half_played_is_invalid(judge: Judge) -> None:
    s = Stream(15).play(2).pause()
    s.media_ms = 15_000  # while paused, the playhead jumps to the end with no seek event
    v = judge(s.ended().events)
    assert v.invalid_reason == "ended_without_coverage"


def test_ended_after_a_seek_is_not_suspicious(judge: Judge) -> None:
    v = judge(Stream(15).play(2).seek(14).play(1).ended().events)
    assert not v.invalid


def test_ended_after_background_playback_is_not_suspicious(judge: Judge) -> None:
    v = judge(Stream(15).play(1).bg().play(14).ended().events)
    assert not v.invalid
    assert v.coverage_s == pytest.approx(1.0)


def test_duration_argument_overrides_first_frame() -> None:
    events = Stream(None).play(4).ended().events
    _not_focused(qualify(events))
    _focused_at(qualify(events, duration_s=4.0), "watch", 4.0)
    (fast,) = qualify_many(events, duration_s={"d1": 4.0})
    assert fast == qualify(events, duration_s=4.0)


def test_reference_refuses_mixed_or_empty_input() -> None:
    with pytest.raises(ValueError, match="at least one"):
        qualify([])
    two = Stream(15, delivery="a").events + Stream(15, delivery="b").events
    with pytest.raises(ValueError, match="one delivery"):
        qualify(two)


def test_fast_terminal_types_match_events_module() -> None:
    from fairview.attention import fast

    assert {TYPE_CODES[t] for t in TERMINAL_TYPES} == {fast._ENDED, fast._SWIPE_AWAY, fast._CLOSE}


def test_to_json_rounds_to_milliseconds() -> None:
    v = qualify(Stream(15).play(1.2).like().events)
    out = v.to_json()
    assert list(out) == [
        "delivery",
        "focused_view",
        "qualified_by",
        "qualified_at_media_s",
        "coverage_s",
        "audible_coverage_s",
        "viewability",
        "invalid",
        "invalid_reason",
    ]
    assert out["qualified_at_media_s"] == 1.2
    assert out["coverage_s"] == 1.2
