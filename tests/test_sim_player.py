"""fairview.sim.player: honest viewers and the §7.1 stream their SDK sends."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairview.attention.events import TERMINAL_TYPES, EventType
from fairview.sim.behaviour import PROFILES, Archetype
from fairview.sim.player import PlayerRun, plain_watch, watch
from fairview.sim.timeline import HEARTBEAT_MS, WireEvent
from fairview.sim.truth import ambiguities, honest_truth

WIRE_FIELDS = {
    "delivery",
    "seq",
    "type",
    "mono_ms",
    "media_s",
    "rate",
    "muted",
    "vis",
    "trusted",
    "kind",
    "from_s",
    "to_s",
    "duration_s",
}
_PLAYS = {EventType.PLAY, EventType.HEARTBEAT, EventType.LOOP}
_STOPS = {EventType.PAUSE, EventType.ENDED} | TERMINAL_TYPES


def _run(seed: int, duration_ms: int = 15_000, archetype: str = "attentive") -> PlayerRun:
    return watch(
        np.random.default_rng(seed),
        delivery="d1",
        duration_ms=duration_ms,
        archetype=archetype,
        device="mobile",
    )


def assert_well_formed(events: list[WireEvent], duration_ms: int) -> None:
    """The §7.1 contract of an honest SDK stream."""
    assert [e["seq"] for e in events] == list(range(len(events)))
    first, last = events[0], events[-1]
    assert first["type"] == EventType.FIRST_FRAME
    assert first["mono_ms"] == 0
    assert first["duration_s"] == duration_ms / 1000
    assert last["type"] in (EventType.SWIPE_AWAY, EventType.CLOSE)
    assert sum(e["type"] in (EventType.SWIPE_AWAY, EventType.CLOSE) for e in events) == 1
    playing = False
    for prev, event in itertools.pairwise(events):
        assert set(event) <= WIRE_FIELDS
        assert None not in event.values()
        assert event["delivery"] == "d1"
        assert int(event["mono_ms"]) >= int(prev["mono_ms"])
        if playing:
            assert int(event["mono_ms"]) - int(prev["mono_ms"]) <= HEARTBEAT_MS
        assert 0.0 <= float(event["media_s"]) <= duration_ms / 1000
        assert event["media_s"] == round(float(event["media_s"]), 3)
        if event["type"] == EventType.SEEK:
            assert event["to_s"] == event["media_s"]
        if event["type"] == EventType.INTERACTION:
            assert "kind" in event
        if event["type"] in _PLAYS:
            playing = True
        elif event["type"] in _STOPS:
            playing = False


@pytest.mark.parametrize("archetype", list(Archetype))
@pytest.mark.parametrize("duration_ms", [1500, 4500, 15_000, 30_000])
def test_streams_are_well_formed(archetype: str, duration_ms: int) -> None:
    for seed in range(25):
        run = _run(seed, duration_ms, archetype)
        assert_well_formed(run.events, duration_ms)
        assert not ambiguities(run.timeline)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    duration_ms=st.integers(500, 45_000),
    archetype=st.sampled_from(list(Archetype)),
    device=st.sampled_from(["mobile", "desktop", "tv"]),
    measured=st.booleans(),
)
def test_any_session_is_well_formed(
    seed: int, duration_ms: int, archetype: str, device: str, measured: bool
) -> None:
    run = watch(
        np.random.default_rng(seed),
        delivery="d1",
        duration_ms=duration_ms,
        archetype=archetype,
        device=device,
        measures_visibility=measured,
    )
    assert_well_formed(run.events, duration_ms)
    if not measured:
        assert all(e.get("vis") is not True for e in run.events)
        assert honest_truth(run.timeline).coverage_s == 0.0


def test_same_seed_same_stream() -> None:
    assert _run(9).events == _run(9).events
    assert _run(9).timeline == _run(9).timeline
    assert _run(9).events != _run(10).events


def test_every_behaviour_appears() -> None:
    types: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for archetype in Archetype:
        for seed in range(60):
            for event in _run(seed, (4500, 15_000)[seed % 2], archetype).events:
                types[str(event["type"])] += 1
                if "kind" in event:
                    kinds[str(event["kind"])] += 1
                if event.get("trusted") is False and event["type"] == EventType.INTERACTION:
                    kinds["untrusted"] += 1
                if event["rate"] != 1.0:
                    kinds["2x"] += 1
    assert set(types) == {t.value for t in EventType}
    assert {"like", "share", "clickthrough", "skip", "untrusted", "2x"} <= set(kinds)


def test_early_and_late_exits_both_common() -> None:
    exits = [_run(seed, 30_000, "skipper").events[-1]["media_s"] for seed in range(200)]
    early = sum(float(m) < 6.0 for m in exits)
    assert 0.4 < early / len(exits) < 0.9


def test_first_second_taps_do_not_qualify() -> None:
    seen = 0
    for seed in range(300):
        run = _run(seed, 15_000, "interactor")
        taps = [e for e in run.events if e["type"] == EventType.INTERACTION]
        if taps and float(taps[0]["media_s"]) < 1.0 and len(taps) == 1:
            truth = honest_truth(run.timeline)
            assert truth.qualified_by != "interaction"
            seen += 1
    assert seen > 3


def test_plain_watch_without_visibility_is_undetermined() -> None:
    run = plain_watch("d1", 9000, measured=False)
    assert_well_formed(run.events, 9000)
    truth = honest_truth(run.timeline)
    assert (truth.focused_view, truth.viewable) == (False, None)


def test_profiles_cover_every_archetype() -> None:
    assert set(PROFILES) == set(Archetype)


def test_refuses_tiny_creatives() -> None:
    with pytest.raises(ValueError, match="too short"):
        _run(1, 100)
