"""A first decision: round robin over campaigns in flight with budget left.

Targeting, consent, caps, pacing and ranking arrive with the ad-decision issue;
this keeps the contract (request → signed delivery) they will plug into.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import dataclass

from fairview.clock import day_of
from fairview.domain import Candidate, CreativeRecord, DeliveryRecord
from fairview.pseudonym import Pseudonymiser
from fairview.storage import Store
from fairview.tokens import DeliveryClaims, TokenSigner

# Until the consent policy exists, nothing is personalised: the user reference is
# used only to key the delivery to a pseudonym (for the viewer's own rights).
MODE_NON_PERSONALISED = "non_personalised"


@dataclass(frozen=True, slots=True)
class AdRequest:
    placement: str
    user_ref: str | None
    region: str
    device_class: str
    count: int


@dataclass(frozen=True, slots=True)
class ServedAd:
    delivery: DeliveryRecord
    creative: CreativeRecord
    advertiser_id: str
    token: str


class RoundRobin:
    """Thread-safe rotation: each call starts one position further along."""

    def __init__(self) -> None:
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def pick(self, candidates: list[Candidate], count: int) -> list[Candidate]:
        if not candidates:
            return []
        with self._lock:
            start = next(self._counter)
        n = min(count, len(candidates))
        return [candidates[(start + i) % len(candidates)] for i in range(n)]


class Decider:
    def __init__(self, store: Store, signer: TokenSigner, pseudonymiser: Pseudonymiser) -> None:
        self._store = store
        self._signer = signer
        self._pseudonymiser = pseudonymiser
        self._rotation = RoundRobin()

    def decide(self, request: AdRequest, now_ms: int) -> list[ServedAd]:
        """Choose up to `count` ads, record each delivery, and sign its token."""
        candidates = self._store.catalog.candidates(now_ms, day_of(now_ms))
        served = []
        for candidate in self._rotation.pick(candidates, request.count):
            creative = candidate.creatives[now_ms % len(candidate.creatives)]
            served.append(self._deliver(request, candidate, creative, now_ms))
        return served

    def _deliver(
        self, request: AdRequest, candidate: Candidate, creative: CreativeRecord, now_ms: int
    ) -> ServedAd:
        viewer = (
            None if request.user_ref is None else self._pseudonymiser.viewer_key(request.user_ref)
        )
        delivery = DeliveryRecord(
            id=f"dl_{secrets.token_urlsafe(15)}",
            campaign_id=candidate.campaign.id,
            creative_id=creative.id,
            placement=request.placement,
            viewer_key=viewer,
            region=request.region,
            device_class=request.device_class,
            mode=MODE_NON_PERSONALISED,
            duration_ms=creative.duration_ms,
            issued_ms=now_ms,
        )
        self._store.deliveries.record(delivery)
        token = self._signer.sign(
            DeliveryClaims(
                delivery.id,
                delivery.campaign_id,
                creative.id,
                creative.duration_ms,
                now_ms,
                delivery.mode,
            )
        )
        return ServedAd(delivery, creative, candidate.campaign.advertiser_id, token)
