"""One simulated run of the platform: who asks for ads, and what each delivery does.

`simulate` draws the platform and its ad requests. The driver then asks the
server for a decision per request, and hands the answer to `play`, which
returns that delivery's events, batches and ground truth. `play` depends only
on the request and on the decision (creative duration, issue time), never on
the order in which the driver asks, so any driver gets byte-identical output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fairview.sim.fraud import FraudKind, forge
from fairview.sim.network import HONEST_NETWORK, Batch, NetworkProfile, send
from fairview.sim.platform import AdRequest, Platform, ad_requests, generate_platform
from fairview.sim.player import first_frame_delay_ms, watch
from fairview.sim.timeline import WireEvent
from fairview.sim.truth import Truth, honest_truth, invalid_truth


@dataclass(frozen=True, slots=True)
class Playback:
    """One delivery as simulated.

    `events` are all events in seq order as the player emitted them (wire
    dicts); `batches` are the posts the collector receives, sorted by
    `send_at_ms` (server clock, ms), with losses retried, duplicates and
    reordering included. If `tamper_token` is set, the driver must send these
    batches with a corrupted delivery token: the server has to reject them.
    """

    delivery: str
    first_frame_at_ms: int
    events: list[WireEvent]
    batches: list[Batch]
    truth: Truth
    tamper_token: bool = False


@dataclass(frozen=True, slots=True)
class Scenario:
    """A platform and its ad requests, sorted by `at_ms`."""

    platform: Platform
    requests: tuple[AdRequest, ...]
    network: NetworkProfile = HONEST_NETWORK

    def play(
        self, request: AdRequest, *, delivery: str, duration_s: float, issued_at_ms: int
    ) -> Playback:
        """`play` with this scenario's network."""
        return play(
            request,
            delivery=delivery,
            duration_s=duration_s,
            issued_at_ms=issued_at_ms,
            network=self.network,
        )


def simulate(
    seed: int,
    *,
    users: int = 200,
    videos: int = 100,
    advertisers: int = 6,
    campaigns_per_advertiser: int = 2,
    requests_per_user: int = 5,
    start_ms: int = 0,
    span_ms: int = 3_600_000,
    invalid_share: float = 0.05,
    network: NetworkProfile = HONEST_NETWORK,
) -> Scenario:
    """Draw a platform and `requests_per_user` ad requests per user from `seed`."""
    rng = np.random.default_rng(seed)
    platform = generate_platform(
        rng,
        users=users,
        videos=videos,
        advertisers=advertisers,
        campaigns_per_advertiser=campaigns_per_advertiser,
        invalid_share=invalid_share,
    )
    requests = ad_requests(
        rng, platform, start_ms=start_ms, per_user=requests_per_user, span_ms=span_ms
    )
    return Scenario(platform, tuple(requests), network)


def play(
    request: AdRequest,
    *,
    delivery: str,
    duration_s: float,
    issued_at_ms: int,
    network: NetworkProfile = HONEST_NETWORK,
) -> Playback:
    """Simulate the delivery the server decided for `request`.

    `duration_s` is the served creative's duration (at least 0.5 s) and
    `issued_at_ms` the issue time of its token on the server clock.
    """
    rng = np.random.default_rng(request.seed)
    duration_ms = round(duration_s * 1000)
    user = request.user
    if user.fraud is not None:
        forgery = forge(
            rng, user.fraud, delivery=delivery, duration_ms=duration_ms, issued_at_ms=issued_at_ms
        )
        return Playback(
            delivery,
            forgery.first_frame_at_ms,
            forgery.events,
            forgery.batches,
            invalid_truth(user.fraud),
            tamper_token=user.fraud == FraudKind.FORGED_TOKEN,
        )
    run = watch(
        rng,
        delivery=delivery,
        duration_ms=duration_ms,
        archetype=user.archetype,
        device=user.device,
        measures_visibility=user.measures_visibility,
    )
    first_frame = issued_at_ms + first_frame_delay_ms(rng)
    produced = [first_frame + int(e["mono_ms"]) for e in run.events]
    batches = send(rng, run.events, produced, network)
    return Playback(delivery, first_frame, run.events, batches, honest_truth(run.timeline))
