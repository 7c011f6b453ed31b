"""fairview.sim: the façade a driver uses, end to end without a server."""

from __future__ import annotations

import json
from collections import Counter

from fairview.sim import FraudKind, Playback, Scenario, simulate
from fairview.sim.behaviour import Archetype
from fairview.sim.platform import AdRequest


def _play(scenario: Scenario, request: AdRequest, i: int) -> Playback:
    creatives = [c for a in scenario.platform.advertisers for s in a.campaigns for c in s.creatives]
    creative = creatives[i % len(creatives)]
    return scenario.play(
        request, delivery=f"dlv-{i}", duration_s=creative.duration_s, issued_at_ms=request.at_ms
    )


def _dump(playback: Playback) -> str:
    return json.dumps(
        {
            "events": playback.events,
            "batches": [[b.send_at_ms, b.events] for b in playback.batches],
            "truth": repr(playback.truth),
            "tamper": playback.tamper_token,
        },
        sort_keys=True,
    )


def test_same_seed_byte_identical() -> None:
    one, two = simulate(5, users=40), simulate(5, users=40)
    assert one == two
    for i, (a, b) in enumerate(zip(one.requests, two.requests, strict=True)):
        assert _dump(_play(one, a, i)) == _dump(_play(two, b, i))
    assert simulate(6, users=40) != one


def test_play_does_not_depend_on_the_order_of_asking() -> None:
    scenario = simulate(8, users=30)
    forward = [_dump(_play(scenario, r, i)) for i, r in enumerate(scenario.requests)]
    backward = [
        _dump(_play(scenario, r, i)) for i, r in reversed(list(enumerate(scenario.requests)))
    ]
    assert forward == backward[::-1]


def test_the_mix_holds_every_behaviour_and_every_fraud() -> None:
    scenario = simulate(11, users=600, invalid_share=0.1)
    traffic = Counter(r.traffic for r in scenario.requests)
    archetypes = Counter(r.user.archetype for r in scenario.requests)
    assert set(FraudKind) <= set(traffic)
    assert set(Archetype) <= set(archetypes)
    assert 0.05 < 1 - traffic["honest"] / len(scenario.requests) < 0.15


def test_fraud_is_invalid_in_truth_and_honest_traffic_is_not() -> None:
    scenario = simulate(12, users=300, invalid_share=0.2)
    for i, request in enumerate(scenario.requests):
        playback = _play(scenario, request, i)
        truth = playback.truth
        assert truth.invalid == (request.traffic != "honest")
        if truth.invalid:
            assert truth.invalid_kind == request.traffic
            assert not truth.focused_view
        assert playback.tamper_token == (request.traffic == FraudKind.FORGED_TOKEN)
        assert all(e["delivery"] == f"dlv-{i}" for e in playback.events)
