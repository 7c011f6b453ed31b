"""Properties of the §7 rule over random event streams.

A stream is a random walk of player actions (tests/streams.py), then damaged the
way networks and players damage it: lost events, retries, conflicting copies,
clock and playhead glitches, shuffled arrival.
"""

from __future__ import annotations

import math
import random
from dataclasses import fields, replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairview.attention import Event, Verdict, qualify, qualify_many
from fairview.attention.events import InteractionKind

from streams import Stream

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_KINDS = [k.value for k in InteractionKind] + ["wink"]


def _act(s: Stream, rng: random.Random) -> None:
    """One random player action."""
    choice = rng.randrange(-10, 17)
    if choice < 5:
        s.play(rng.choice([0.1, 0.25, 0.6, 1.0, 2.0, 3.3]))
    elif choice == 5:
        s.pause().wait(rng.choice([0.0, 0.5, 2.0])).resume()
    elif choice == 6:
        s.seek(rng.choice([0.0, 1.0, 2.5, 5.0, 9.0, 14.0, 40.0]))
    elif choice == 7:
        s.set_rate(rng.choice([1.0, 1.0, 2.0, 0.5, 1.005]))
    elif choice == 8:
        s.mute() if rng.random() < 0.5 else s.unmute()
    elif choice == 9:
        s.vis_off() if rng.random() < 0.5 else s.vis_on()
    elif choice == 10:
        s.bg() if rng.random() < 0.5 else s.fg()
    elif choice == 11:
        s.loop() if rng.random() < 0.5 else s.ended()
    elif choice == 12:
        s.interaction(rng.choice(_KINDS), trusted=rng.random() < 0.8)
    elif choice == 13:
        s.neg_feedback() if rng.random() < 0.5 else s.swipe_away()
    elif choice == 14:
        s.vis = rng.choice([True, False, None])  # the next events report it
        s.heartbeat()
    elif choice == 15:
        s.wait(rng.choice([0.3, 1.5]))  # stalled: time passes, the playhead does not
    elif rng.random() < 0.3:
        s.media_ms += rng.choice([-500, 300, 2000])  # the playhead glitches
        s.heartbeat()


def _damage(events: list[Event], rng: random.Random) -> list[Event]:
    out = [e for e in events if rng.random() > 0.05]  # lost events
    out += [e for e in events if rng.random() < 0.05]  # exact retries
    if rng.random() < 0.05 and events:  # a conflicting copy
        e = rng.choice(events)
        out.append(replace(e, media_s=e.media_s + 0.5))
    if rng.random() < 0.05 and out:  # the monotonic clock goes back
        i = rng.randrange(len(out))
        out[i] = replace(out[i], mono_ms=out[i].mono_ms - 400)
    if rng.random() < 0.3:
        lag = rng.choice([-30_000.0, 0.0, 500.0, 2_000.0])
        out = [replace(e, recv_ms=e.mono_ms + lag) if rng.random() < 0.7 else e for e in out]
    rng.shuffle(out)
    return out


@st.composite
def deliveries(draw: st.DrawFn, delivery: str = "d1") -> list[Event]:
    rng = random.Random(draw(st.integers(0, 2**32)))
    s = Stream(
        rng.choice([None, 1.5, 4.0, 5.9, 6.0, 15.0, 30.0]),
        delivery=delivery,
        vis=rng.choice([True, True, True, True, False, None]),
        muted=rng.random() < 0.3,
    )
    for _ in range(rng.randrange(0, 40)):
        _act(s, rng)
    return _damage(s.events, rng) or s.events


def _assert_same(a: Verdict, b: Verdict) -> None:
    for f in fields(Verdict):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, float) and isinstance(y, float):
            assert math.isclose(x, y, abs_tol=1e-6), (f.name, a, b)
        else:
            assert x == y, (f.name, a, b)


@SETTINGS
@given(deliveries())
def test_reference_and_fast_agree_on_every_field(events: list[Event]) -> None:
    (fast,) = qualify_many(events)
    _assert_same(qualify(events), fast)


@SETTINGS
@given(st.lists(deliveries(), min_size=2, max_size=5), st.randoms(use_true_random=False))
def test_a_batch_judges_each_delivery_alone(streams: list[list[Event]], rng: random.Random) -> None:
    batch = [replace(e, delivery=f"d{i}") for i, s in enumerate(streams) for e in s]
    rng.shuffle(batch)  # deliveries interleaved, as a collector receives them
    verdicts = {v.delivery: v for v in qualify_many(batch)}
    assert len(verdicts) == len(streams)  # one verdict, so at most one focused view, each
    for i, s in enumerate(streams):
        _assert_same(qualify([replace(e, delivery=f"d{i}") for e in s]), verdicts[f"d{i}"])


@SETTINGS
@given(deliveries(), st.randoms(use_true_random=False))
def test_arrival_order_never_changes_the_verdict(events: list[Event], rng: random.Random) -> None:
    again = list(events)
    rng.shuffle(again)
    assert qualify(again) == qualify(events)
    assert qualify_many(again) == qualify_many(events)


@SETTINGS
@given(deliveries(), st.randoms(use_true_random=False))
def test_exact_duplicates_never_change_the_verdict(events: list[Event], rng: random.Random) -> None:
    copies = [rng.choice(events) for _ in range(rng.randrange(1, 6))]
    assert qualify([*events, *copies]) == qualify(events)
    assert qualify_many([*events, *copies]) == qualify_many(events)


@SETTINGS
@given(deliveries())
def test_verdict_invariants(events: list[Event]) -> None:
    v = qualify(events)
    durations = [e.duration_s for e in events if e.type == "first_frame" and e.duration_s]
    if durations and len(set(durations)) == 1:
        assert v.coverage_s <= durations[0] + 1e-9
        if v.qualified_at_media_s is not None:
            assert 0.0 <= v.qualified_at_media_s <= durations[0] + 1e-9
    assert 0.0 <= v.audible_coverage_s <= v.coverage_s + 1e-9
    assert not (v.focused_view and v.invalid)
    assert (v.qualified_by is not None) == v.focused_view
    assert v.invalid == (v.invalid_reason is not None)
    assert v.viewability in {"viewable", "not_viewable", "undetermined"}


@SETTINGS
@given(deliveries())
def test_sound_changes_only_audible_coverage(events: list[Event]) -> None:
    silent = [replace(e, muted=True, type="heartbeat" if e.type == "unmute" else e.type)
              for e in events]  # fmt: skip
    loud = qualify([replace(e, muted=False) for e in silent])
    quiet = qualify(silent)
    assert quiet.audible_coverage_s == 0.0
    assert replace(quiet, audible_coverage_s=loud.audible_coverage_s) == loud
