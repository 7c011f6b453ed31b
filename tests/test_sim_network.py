"""fairview.sim.network: SDK batching over an unreliable network."""

from __future__ import annotations

from collections import Counter

import numpy as np

from fairview.sim.network import CLEAN_NETWORK, HONEST_NETWORK, NetworkProfile, sdk_flushes, send
from fairview.sim.player import watch
from fairview.sim.timeline import WireEvent


def _stream(seed: int) -> tuple[list[WireEvent], list[int]]:
    run = watch(
        np.random.default_rng(seed),
        delivery="d",
        duration_ms=20_000,
        archetype="attentive",
        device="mobile",
    )
    return run.events, [10_000 + int(e["mono_ms"]) for e in run.events]


def test_flushes_keep_order_size_and_age() -> None:
    events, produced = _stream(1)
    flushes = sdk_flushes(events, produced, HONEST_NETWORK)
    assert [e for _, batch in flushes for e in batch] == events
    for at, batch in flushes:
        assert 0 < len(batch) <= HONEST_NETWORK.max_events
        first = produced[int(batch[0]["seq"])]
        last = produced[int(batch[-1]["seq"])]
        assert last <= at <= first + HONEST_NETWORK.flush_ms
    assert flushes[-1][1][-1] is events[-1]
    assert flushes[-1][0] == produced[-1]  # the terminal event flushes at once


def test_every_event_arrives_after_it_happened() -> None:
    for seed in range(200):
        events, produced = _stream(seed)
        batches = send(np.random.default_rng(seed), events, produced)
        assert [b.send_at_ms for b in batches] == sorted(b.send_at_ms for b in batches)
        arrived = {int(e["seq"]) for b in batches for e in b.events}
        assert arrived == set(range(len(events)))
        for batch in batches:
            assert all(batch.send_at_ms > produced[int(e["seq"])] for e in batch.events)


def test_the_network_misbehaves_sometimes() -> None:
    seen: Counter[str] = Counter()
    rough = NetworkProfile(loss=0.2, duplicate=0.1, reorder=0.2, late=0.05)
    for seed in range(100):
        events, produced = _stream(seed)
        batches = send(np.random.default_rng(seed), events, produced, rough)
        seqs = [int(e["seq"]) for b in batches for e in b.events]
        seen["duplicate"] += len(seqs) != len(set(seqs))
        seen["reordered"] += seqs != sorted(seqs)
        seen["late"] += batches[-1].send_at_ms - produced[-1] > rough.late_min_ms
        for batch in batches:  # copies are identical: same seqs, same payloads
            for event in batch.events:
                assert event == events[int(event["seq"])]
    assert min(seen.values()) > 0
    assert len(seen) == 3


def test_a_clean_network_delivers_each_flush_once() -> None:
    events, produced = _stream(4)
    batches = send(np.random.default_rng(0), events, produced, CLEAN_NETWORK)
    arrived = sorted((e for b in batches for e in b.events), key=lambda e: int(e["seq"]))
    assert arrived == events


def test_same_seed_same_batches() -> None:
    events, produced = _stream(5)
    one = send(np.random.default_rng(3), events, produced)
    two = send(np.random.default_rng(3), events, produced)
    assert one == two
