"""Realistic event streams for benchmarks, drawn from the simulator (honest and invalid)."""

from __future__ import annotations

from dataclasses import fields

from fairview.attention.events import Event
from fairview.sim import simulate

_FIELDS = tuple(f.name for f in fields(Event) if f.name not in ("delivery", "recv_ms"))


def streams(
    seed: int, deliveries: int, *, duration_s: float = 15.0
) -> list[list[dict[str, object]]]:
    """Wire events of `deliveries` simulated ad views (one list per delivery)."""
    users = max(1, deliveries // 5)
    scenario = simulate(seed, users=users, requests_per_user=5)
    out = []
    for i, request in enumerate(scenario.requests[:deliveries]):
        playback = scenario.play(
            request, delivery=f"dl_bench_{i}", duration_s=duration_s, issued_at_ms=request.at_ms
        )
        out.append([dict(e) for e in playback.events])
    return out


def as_events(wire: list[list[dict[str, object]]]) -> list[Event]:
    events = []
    for stream in wire:
        for e in stream:
            kwargs = {k: e[k] for k in _FIELDS if k in e}
            events.append(Event(delivery=str(e["delivery"]), **kwargs))  # type: ignore[arg-type]
    return events
