"""fairview.sim: a synthetic short-video platform with ground truth.

Pure and deterministic: randomness comes only from the seed (or the
`numpy.random.Generator`) passed in, time only from the numbers passed in. No
clock, no I/O. The same inputs give byte-identical output.

How a driver uses it::

    from fairview.sim import simulate

    scenario = simulate(seed=7, users=200, requests_per_user=5)
    for request in scenario.requests:                 # sorted by request.at_ms
        # POST /v1/decisions at request.at_ms for request.user (user_ref,
        # region, device) and request.video (topic) -> delivery id, creative,
        # token, issue time on the server clock
        playback = scenario.play(
            request, delivery=delivery_id, duration_s=creative_duration_s,
            issued_at_ms=issued_at_ms,
        )
        token = corrupt(token) if playback.tamper_token else token
        for batch in playback.batches:                 # batch.send_at_ms, batch.events
            post_at(batch.send_at_ms, token, batch.events)
        playback.truth                                 # what really happened

Batches of different deliveries interleave: merge them on one timeline (a heap
on `send_at_ms`) and post each when the server clock reaches it. The server
clock must be the simulated one (the same clock as `request.at_ms` and
`issued_at_ms`): §7.5 compares the last `mono_ms` with the real time between
issue and receipt, so posting everything at once would make honest long views
look clock-inflated.

Pieces, usable alone:

- `platform`: `generate_platform`, `ad_requests`, and the `User`, `Video`,
  `Advertiser`, `CampaignSpec`, `CreativeSpec`, `AdRequest` records.
- `behaviour`: viewer archetypes and their default shares.
- `player`: `watch`, an honest viewer's playback as §7.1 events plus the true
  timeline.
- `network`: `send`, SDK batching and an unreliable network (`Batch`).
- `fraud`: `forge`, invalid traffic by `FraudKind`; `RULE_VISIBLE` names the
  kinds a per-delivery rule must flag from events alone.
- `truth`: `Truth`, decided from the true timeline, never from the rule.
"""

from fairview.sim.behaviour import ARCHETYPE_SHARES, Archetype
from fairview.sim.fraud import FRAUD_SHARES, RULE_VISIBLE, FraudKind
from fairview.sim.network import Batch, NetworkProfile
from fairview.sim.platform import (
    AdRequest,
    Advertiser,
    CampaignSpec,
    CreativeSpec,
    Platform,
    User,
    Video,
)
from fairview.sim.scenario import Playback, Scenario, play, simulate
from fairview.sim.timeline import WireEvent
from fairview.sim.truth import Truth

__all__ = [
    "ARCHETYPE_SHARES",
    "FRAUD_SHARES",
    "RULE_VISIBLE",
    "AdRequest",
    "Advertiser",
    "Archetype",
    "Batch",
    "CampaignSpec",
    "CreativeSpec",
    "FraudKind",
    "NetworkProfile",
    "Platform",
    "Playback",
    "Scenario",
    "Truth",
    "User",
    "Video",
    "WireEvent",
    "play",
    "simulate",
]
