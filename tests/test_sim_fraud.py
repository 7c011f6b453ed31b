"""fairview.sim.fraud: invalid traffic and its labels."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fairview.attention.events import EventType
from fairview.sim.fraud import FRAUD_SHARES, RULE_VISIBLE, Forgery, FraudKind, forge

DURATIONS = [1500, 4500, 9000, 15_000, 30_000]


def _forge(kind: str, seed: int, duration_ms: int = 15_000, delivery: str = "d") -> Forgery:
    return forge(
        np.random.default_rng(seed),
        kind,
        delivery=delivery,
        duration_ms=duration_ms,
        issued_at_ms=50_000,
    )


def test_shares_name_every_kind() -> None:
    assert set(FRAUD_SHARES) == set(FraudKind)
    assert sum(FRAUD_SHARES.values()) == pytest.approx(1.0)
    assert set(FraudKind) > RULE_VISIBLE


@pytest.mark.parametrize("kind", list(FraudKind))
@pytest.mark.parametrize("duration_ms", DURATIONS)
def test_every_forgery_is_delivered(kind: str, duration_ms: int) -> None:
    forgery = _forge(kind, 1, duration_ms)
    seqs = {int(e["seq"]) for b in forgery.batches for e in b.events}
    assert seqs == set(range(len(forgery.events)))
    assert forgery.first_frame_at_ms > 50_000


def test_farm_streams_are_identical() -> None:
    one = _forge(FraudKind.BOT_FARM, 77, delivery="a")
    two = _forge(FraudKind.BOT_FARM, 77, delivery="b")
    strip = [{k: v for k, v in e.items() if k != "delivery"} for e in one.events]
    assert strip == [{k: v for k, v in e.items() if k != "delivery"} for e in two.events]
    assert [b.send_at_ms for b in one.batches] == [b.send_at_ms for b in two.batches]


def test_preframe_bots_tap_before_the_first_frame() -> None:
    events = _forge(FraudKind.BOT_PREFRAME, 2).events
    assert [e["type"] for e in events[:2]] == [EventType.INTERACTION, EventType.FIRST_FRAME]


@pytest.mark.parametrize("seed", range(12))
def test_impossible_streams_break_a_law(seed: int) -> None:
    events = _forge(FraudKind.BOT_IMPOSSIBLE, seed).events
    monos = [int(e["mono_ms"]) for e in events]
    leaps = any(
        float(b["media_s"]) - float(a["media_s"]) > (int(b["mono_ms"]) - int(a["mono_ms"])) / 1000
        for a, b in itertools.pairwise(events)
        if b["type"] == EventType.ENDED
    )
    assert leaps or monos != sorted(monos)


@pytest.mark.parametrize("duration_ms", DURATIONS)
def test_inflated_clocks_outrun_real_time_by_far(duration_ms: int) -> None:
    forgery = _forge(FraudKind.CLOCK_INFLATION, 3, duration_ms)
    last_mono = max(int(e["mono_ms"]) for e in forgery.events)
    last_receipt = max(b.send_at_ms for b in forgery.batches) - 50_000
    assert last_mono - last_receipt > 10_000


def test_conflicting_duplicates_differ_in_media_only() -> None:
    forgery = _forge(FraudKind.CONFLICTING_DUPLICATE, 4)
    copies: dict[int, set[float]] = {}
    for batch in forgery.batches:
        for event in batch.events:
            copies.setdefault(int(event["seq"]), set()).add(float(event["media_s"]))
    assert sorted(len(c) for c in copies.values())[-1] == 2
    assert sum(len(c) == 2 for c in copies.values()) == 1


def test_forged_tokens_look_honest() -> None:
    forgery = _forge(FraudKind.FORGED_TOKEN, 5)
    assert forgery.events[0]["type"] == EventType.FIRST_FRAME
    assert forgery.events[-1]["type"] in (EventType.SWIPE_AWAY, EventType.CLOSE)
