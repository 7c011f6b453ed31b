"""The simulator's ground truth against the §7 reference rule, delivery by delivery.

Honest traffic must agree on 100 % of deliveries: focused view, which branch
qualified, viewability, validity, and coverage to the microsecond. Fraud of a
kind the per-delivery rule can see must be flagged invalid.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairview.attention.events import Event
from fairview.sim import RULE_VISIBLE, Archetype, Playback, Truth, simulate
from fairview.sim.network import HONEST_NETWORK, send
from fairview.sim.player import watch
from fairview.sim.truth import honest_truth

reference = pytest.importorskip("fairview.attention.reference")

_VIEWABILITY = {True: "viewable", False: "not_viewable", None: "undetermined"}
_EXTRA_DURATIONS = [1.5, 2.2, 3.0, 4.0, 4.6, 5.0, 5.9, 6.5, 7.9, 9.0, 45.0]


def received(playback: Playback, issued_at_ms: int) -> list[Event]:
    """Every copy the collector got, in arrival order, stamped with its receipt time."""
    return [
        Event(**event, recv_ms=batch.send_at_ms - issued_at_ms)  # type: ignore[arg-type]
        for batch in playback.batches
        for event in batch.events
    ]


def disagreement(truth: Truth, verdict: Any) -> list[str]:
    wrong = []
    if verdict.invalid != truth.invalid:
        wrong.append(f"invalid: rule {verdict.invalid_reason}")
    if verdict.focused_view != truth.focused_view:
        wrong.append("focused_view")
    if verdict.qualified_by != truth.qualified_by:
        wrong.append(f"qualified_by: rule {verdict.qualified_by}, truth {truth.qualified_by}")
    if verdict.viewability != _VIEWABILITY[truth.viewable]:
        wrong.append(f"viewability: rule {verdict.viewability}, truth {truth.viewable}")
    if abs(verdict.coverage_s - truth.coverage_s) > 1e-6:
        wrong.append(f"coverage: rule {verdict.coverage_s}, truth {truth.coverage_s}")
    if abs(verdict.audible_coverage_s - truth.audible_coverage_s) > 1e-6:
        wrong.append("audible_coverage")
    return wrong


def _deliveries() -> list[tuple[str, Truth, list[Event]]]:
    """A few thousand simulated deliveries: (traffic, truth, events as received)."""
    scenario = simulate(2024, users=700, requests_per_user=5, invalid_share=0.05)
    creatives = [c for a in scenario.platform.advertisers for s in a.campaigns for c in s.creatives]
    out = []
    for i, request in enumerate(scenario.requests):
        duration = (
            _EXTRA_DURATIONS[i % len(_EXTRA_DURATIONS)]
            if i % 3 == 0
            else creatives[i % len(creatives)].duration_s
        )
        issued = request.at_ms + 3
        playback = scenario.play(
            request, delivery=f"dlv-{i}", duration_s=duration, issued_at_ms=issued
        )
        label = f"dlv-{i} {request.user.archetype} D={duration}"
        out.append((label, playback.truth, received(playback, issued)))
    return out


@pytest.fixture(scope="module")
def deliveries() -> list[tuple[str, Truth, list[Event]]]:
    return _deliveries()


def _check(deliveries: list[tuple[str, Truth, list[Event]]], verdicts: list[Any]) -> None:
    outcomes: Counter[str] = Counter()
    wrong: list[tuple[str, list[str]]] = []
    for (label, truth, _), verdict in zip(deliveries, verdicts, strict=True):
        if truth.invalid:
            outcomes[f"fraud {truth.invalid_kind} flagged={verdict.invalid}"] += 1
            if truth.invalid_kind in RULE_VISIBLE and not verdict.invalid:
                wrong.append((f"{label} {truth.invalid_kind}", ["not flagged"]))
            continue
        outcomes[f"{truth.qualified_by} {verdict.viewability}"] += 1
        problems = disagreement(truth, verdict)
        if problems:
            wrong.append((label, problems))
    honest = sum(n for k, n in outcomes.items() if not k.startswith("fraud"))
    assert honest > 3000
    assert not wrong, wrong[:5]
    assert {"watch viewable", "interaction viewable", "None not_viewable"} <= set(outcomes)
    assert "None undetermined" in outcomes
    for kind in RULE_VISIBLE:
        assert f"fraud {kind} flagged=True" in outcomes


def test_thousands_of_deliveries_agree_with_the_reference_rule(
    deliveries: list[tuple[str, Truth, list[Event]]],
) -> None:
    _check(deliveries, [reference.qualify(events) for _, _, events in deliveries])


def test_the_fast_path_agrees_too(deliveries: list[tuple[str, Truth, list[Event]]]) -> None:
    fast = pytest.importorskip("fairview.attention.fast")
    verdicts = fast.qualify_many(e for _, _, events in deliveries for e in events)
    assert [v.delivery for v in verdicts] == [events[0].delivery for _, _, events in deliveries]
    _check(deliveries, verdicts)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    duration_ms=st.integers(500, 40_000),
    archetype=st.sampled_from(list(Archetype)),
    device=st.sampled_from(["mobile", "desktop", "tv"]),
    measured=st.booleans(),
)
def test_any_honest_session_agrees_with_the_rule(
    seed: int, duration_ms: int, archetype: str, device: str, measured: bool
) -> None:
    rng = np.random.default_rng(seed)
    run = watch(
        rng,
        delivery="d",
        duration_ms=duration_ms,
        archetype=archetype,
        device=device,
        measures_visibility=measured,
    )
    produced = [1000 + int(e["mono_ms"]) for e in run.events]
    batches = send(rng, run.events, produced, HONEST_NETWORK)
    events = [
        Event(**e, recv_ms=b.send_at_ms)  # type: ignore[arg-type]
        for b in batches
        for e in b.events
    ]
    truth = honest_truth(run.timeline)
    assert disagreement(truth, reference.qualify(events)) == []
