"""VAST pings as collector events, and what the attention rule makes of them."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairview.attention import Event, EventColumns, Verdict, qualify, qualify_columns
from fairview.collect.pings import (
    MAX_PLAYHEAD_MS,
    NON_EVENT_PINGS,
    VAST_EVENTS,
    parse_playhead,
    ping_event,
)
from fairview.collect.schema import parse_event
from fairview.errors import FairviewError
from fairview.serve.vast import TRACKER_EVENTS, Disclosure, VastAd, render, timecode

D = 15_000
IN_ORDER = [
    ("impression", 0),
    ("start", 0),
    ("firstQuartile", 3_750),
    ("progress", 6_000),
    ("midpoint", 7_500),
    ("thirdQuartile", 11_250),
    ("complete", 15_000),
]
USER_CONTROL = ["resume", "unmute", "mute", "clickthrough", "pause", "skip", "closeLinear"]


def events(pings: Sequence[tuple[str, int | None]], duration_ms: int = D) -> list[Event]:
    """The rule's events for `pings`, each first accepted by the collector's own schema."""
    out = []
    for name, at_ms in pings:
        raw = ping_event(name, None if at_ms is None else timecode(at_ms), duration_ms)
        e = parse_event(raw)
        out.append(
            Event(
                delivery="dlv-1",
                seq=e.seq,
                type=e.type.value,
                mono_ms=e.mono_ms,
                media_s=e.media_s,
                vis=e.vis,
                trusted=e.trusted,
                kind=None if e.kind is None else e.kind.value,
                duration_s=e.duration_s,
            )
        )
    return out


def judge(pings: Sequence[tuple[str, int | None]], duration_ms: int = D) -> Verdict:
    """The reference verdict, checked against the compiled settlement path."""
    evs = events(pings, duration_ms)
    verdict = qualify(evs)
    assert qualify_columns(EventColumns.from_events(evs)).to_verdicts() == [verdict]
    return verdict


def test_the_mapping_covers_every_ping_the_renderer_emits() -> None:
    ad = VastAd(
        delivery_id="d", campaign_id="c", creative_id="cr", title="t", duration_ms=D,
        media_url="https://cdn.example/a.mp4", media_type="video/mp4", width=1, height=1,
        click_through="https://x.example/", token="tok", ping_base="https://a.example/ping",
        disclosure=Disclosure("a", "p", (), "https://a.example/why"),
    )  # fmt: skip
    rendered = set(re.findall(rb"https://a\.example/ping\?e=(\w+)", render([ad])))
    assert {e.decode() for e in rendered} == VAST_EVENTS | NON_EVENT_PINGS == TRACKER_EVENTS
    assert not VAST_EVENTS & NON_EVENT_PINGS


def test_seq_table_with_nominal_playheads() -> None:
    got = {name: ping_event(name, None, D) for name, _ in IN_ORDER}
    assert {name: e["seq"] for name, e in got.items()} == {
        "impression": 0,
        "start": 1,
        "firstQuartile": 3_750 * 16 + 5,
        "progress": 6_000 * 16 + 6,
        "midpoint": 7_500 * 16 + 7,
        "thirdQuartile": 11_250 * 16 + 8,
        "complete": 15_000 * 16 + 12,
    }
    assert got["impression"] == {
        "seq": 0, "type": "first_frame", "mono_ms": 0, "media_s": 0.0, "vis": None,
        "duration_s": 15.0,
    }  # fmt: skip
    assert got["progress"] == {
        "seq": 96_006,
        "type": "heartbeat",
        "mono_ms": 6_000,
        "media_s": 6.0,
        "vis": None,
    }
    assert got["complete"]["type"] == "ended"


def test_user_control_pings() -> None:
    mapped = {name: ping_event(name, "00:00:02.500", D) for name in USER_CONTROL}
    assert {n: (e["type"], e.get("kind")) for n, e in mapped.items()} == {
        "resume": ("play", None),
        "unmute": ("unmute", None),
        "mute": ("mute", None),
        "clickthrough": ("interaction", "clickthrough"),
        "pause": ("pause", None),
        "skip": ("interaction", "skip"),
        "closeLinear": ("close", None),
    }
    assert mapped["clickthrough"]["trusted"] is False
    assert all(e["mono_ms"] == 2_500 and e["media_s"] == 2.5 for e in mapped.values())


@pytest.mark.parametrize("name", USER_CONTROL)
def test_user_control_pings_need_a_playhead(name: str) -> None:
    with pytest.raises(FairviewError) as err:
        ping_event(name, None, D)
    assert (err.value.code, err.value.status, err.value.extra) == (
        "missing_playhead",
        422,
        {"field": "ph"},
    )


@pytest.mark.parametrize(
    ("text", "ms"),
    [("00:00:06", 6_000), ("00:00:06.5", 6_500), ("00:00:06.25", 6_250),
     ("00:00:06.250", 6_250), ("00:10:24.999", MAX_PLAYHEAD_MS)],
)  # fmt: skip
def test_parse_playhead(text: str, ms: int) -> None:
    assert parse_playhead(text) == ms


@pytest.mark.parametrize(
    "text",
    ["[ADPLAYHEAD]", "%5BADPLAYHEAD%5D", "-1", "-2", "", "6", "6.0", "0:00:06", "00:60:00",
     "00:00:60", "00:00:06.2500", "00:00:06.", " 00:00:06", "00:10:25.000", "99:00:00"],
)  # fmt: skip
def test_bad_playheads_are_refused(text: str) -> None:
    with pytest.raises(FairviewError) as err:
        ping_event("midpoint", text, D)
    assert (err.value.code, err.value.status, err.value.extra) == (
        "bad_playhead",
        422,
        {"field": "ph"},
    )
    assert "[ADPLAYHEAD]" in err.value.detail


def test_unreplaced_macro_is_named_in_the_detail() -> None:
    with pytest.raises(FairviewError, match="did not replace the macro"):
        parse_playhead("[ADPLAYHEAD]")


@pytest.mark.parametrize("name", ["first-quartile", "close", "Start", "", "x" * 500])
def test_unknown_pings_are_refused(name: str) -> None:
    with pytest.raises(FairviewError) as err:
        ping_event(name, None, D)
    assert (err.value.code, err.value.status) == ("unknown_vast_event", 422)
    assert len(err.value.detail) < 400


@pytest.mark.parametrize("name", sorted(NON_EVENT_PINGS))
def test_pings_without_an_event_are_refused_by_their_own_code(name: str) -> None:
    with pytest.raises(FairviewError) as err:
        ping_event(name, "00:00:01.000", D)
    assert (err.value.code, err.value.status) == ("not_a_playback_ping", 422)


@pytest.mark.parametrize("duration_ms", [0, -1, MAX_PLAYHEAD_MS + 1])
def test_durations_outside_the_seq_range_are_a_programming_error(duration_ms: int) -> None:
    with pytest.raises(ValueError, match="duration_ms"):
        ping_event("start", None, duration_ms)


_pings = st.tuples(st.sampled_from(sorted(VAST_EVENTS)), st.integers(0, MAX_PLAYHEAD_MS))


@given(st.lists(_pings, min_size=1, max_size=30), st.integers(1, MAX_PLAYHEAD_MS))
def test_events_are_valid_and_seq_order_is_playhead_order(
    pings: list[tuple[str, int]], duration_ms: int
) -> None:
    raws = [ping_event(name, timecode(at), duration_ms) for name, at in pings]
    for raw in raws:
        parse_event(raw)  # the collector accepts it as it is
        assert raw["vis"] is None
    by_seq = sorted(raws, key=lambda r: _int(r["seq"]))
    monos = [_int(r["mono_ms"]) for r in by_seq]
    assert monos == sorted(monos)
    keys = {(r["seq"], r["type"]) for r in raws}
    assert len({r["seq"] for r in raws}) == len(keys)  # one seq, one payload


def _int(x: object) -> int:
    assert isinstance(x, int)
    return x


def test_a_resent_ping_is_an_identical_duplicate() -> None:
    assert ping_event("pause", "00:00:03.100", D) == ping_event("pause", "00:00:03.100", D)
    assert ping_event("midpoint", None, D) == ping_event("midpoint", None, D)


def test_all_pings_in_order_are_valid_but_never_a_focused_view() -> None:
    verdict = judge(IN_ORDER)
    assert (verdict.focused_view, verdict.invalid) == (False, False)
    # §7.4: no visibility data while the playhead got past 2 s: undetermined, not "not".
    assert (verdict.coverage_s, verdict.viewability) == (0.0, "undetermined")
    assert judge([(name, None) for name, _ in IN_ORDER]) == verdict


def test_only_impression_and_start() -> None:
    verdict = judge(IN_ORDER[:2])
    assert (verdict.focused_view, verdict.invalid, verdict.viewability) == (
        False, False, "not_viewable"
    )  # fmt: skip


def test_complete_without_progress_or_quartiles_is_valid_and_not_focused() -> None:
    verdict = judge([IN_ORDER[0], IN_ORDER[1], IN_ORDER[-1]])
    assert (verdict.focused_view, verdict.invalid, verdict.coverage_s) == (False, False, 0.0)


def test_user_control_pings_between_milestones_keep_the_delivery_valid() -> None:
    """Fixed seqs per ping kind would make this delivery invalid (mono_ms decreasing)."""
    pings: list[tuple[str, int | None]] = [
        *IN_ORDER[:2], ("mute", 2_000), ("pause", 3_000), ("resume", 3_000),
        ("unmute", 3_500), *IN_ORDER[2:4], ("clickthrough", 6_500), *IN_ORDER[4:],
        ("closeLinear", 15_000),
    ]  # fmt: skip
    verdict = judge(pings)
    assert (verdict.invalid, verdict.focused_view) == (False, False)


def test_a_click_after_six_seconds_does_not_qualify() -> None:
    verdict = judge([*IN_ORDER[:4], ("clickthrough", 6_100)])
    assert (verdict.focused_view, verdict.qualified_by, verdict.invalid) == (False, None, False)


def test_without_the_impression_ping_the_delivery_is_invalid() -> None:
    verdict = judge(IN_ORDER[1:])
    assert (verdict.invalid_reason, verdict.focused_view) == ("no_first_frame", False)


def test_a_short_ad_played_through_is_not_focused() -> None:
    verdict = judge(
        [("impression", 0), ("start", 0), ("firstQuartile", 1_000), ("midpoint", 2_000),
         ("thirdQuartile", 3_000), ("complete", 4_000)],
        duration_ms=4_000,
    )  # fmt: skip
    assert (verdict.focused_view, verdict.invalid, verdict.viewability) == (
        False, False, "undetermined"
    )  # fmt: skip


def test_a_ping_delivery_shorter_than_two_seconds_is_not_viewable() -> None:
    verdict = judge([("impression", 0), ("start", 0), ("complete", 1_500)], duration_ms=1_500)
    assert verdict.viewability == "not_viewable"


_names = st.sampled_from(sorted(VAST_EVENTS))
_INVALID_FROM_PINGS = {None, "no_first_frame", "interaction_before_first_frame",
                       "ended_without_coverage"}  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(sorted(VAST_EVENTS)), st.none() | st.integers(0, 20_000)))
)
def test_no_ping_sequence_earns_a_focused_view(pings: list[tuple[str, int | None]]) -> None:
    """Any pings, in any order, repeated or lost: coverage 0, never focused or viewable
    (undetermined at best: pings carry no visibility)."""
    pings = [(n, at) for n, at in pings if at is not None or n not in USER_CONTROL]
    if not pings:
        return
    verdict = judge(pings)
    assert not verdict.focused_view
    assert verdict.coverage_s == 0.0
    assert verdict.viewability in ("not_viewable", "undetermined")
    assert verdict.invalid_reason in _INVALID_FROM_PINGS


def test_every_ping_at_one_playhead_is_an_implausible_ended() -> None:
    """The one way pings are seq-adjacent up to `ended`: all fired at the same instant."""
    verdict = judge([(name, 0) for name in sorted(VAST_EVENTS)])
    assert verdict.invalid_reason == "ended_without_coverage"
