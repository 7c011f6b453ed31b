"""The decision: permissions first, then round robin over campaigns with budget left.

Every decision starts from the consent policy's `Permissions` and may use
nothing they forbid: no viewer pseudonym is kept on a delivery unless the
measurement level is user-level, no ad is served when the mode is `none`, and
the signed token carries the mode so that later stages obey it. Targeting,
caps, pacing and ranking arrive with the ad-decision issue.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from fairview.clock import day_of
from fairview.consent.policy import Measurement, Mode, Permissions, decide
from fairview.consent.signals import RawSignals, ReadSignals, read_signals
from fairview.consent.tcf import decode as decode_tc
from fairview.domain import Candidate, CreativeRecord, DeliveryRecord
from fairview.pseudonym import Pseudonymiser
from fairview.storage import Store
from fairview.storage.consents import ConsentEvidence
from fairview.tokens import DeliveryClaims, TokenSigner


@dataclass(frozen=True, slots=True)
class AdRequest:
    placement: str
    user_ref: str | None
    region: str
    device_class: str
    count: int
    signals: RawSignals


@dataclass(frozen=True, slots=True)
class Decision:
    permissions: Permissions
    signal_errors: dict[str, str]
    ads: list[ServedAd]


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
    def __init__(
        self,
        store: Store,
        signer: TokenSigner,
        pseudonymiser: Pseudonymiser,
        *,
        vendor_id: int = 0,
        lia_purposes: frozenset[int] = frozenset(),
    ) -> None:
        self._store = store
        self._vendor_id = vendor_id
        self._lia_purposes = lia_purposes
        self._signer = signer
        self._pseudonymiser = pseudonymiser
        self._rotation = RoundRobin()

    def decide(self, request: AdRequest, now_ms: int) -> Decision:
        """Decide permissions, then choose up to `count` ads, record and sign each."""
        viewer = (
            None if request.user_ref is None else self._pseudonymiser.viewer_key(request.user_ref)
        )
        permissions, errors = self._permissions(request, viewer, now_ms)
        if permissions.mode is Mode.NONE:
            return Decision(permissions, errors, [])
        # Only a user-level measurement basis lets a delivery carry the viewer's pseudonym.
        kept = viewer if permissions.measurement is Measurement.USER else None
        candidates = self._store.catalog.candidates(now_ms, day_of(now_ms))
        served = []
        for candidate in self._rotation.pick(candidates, request.count):
            creative = candidate.creatives[now_ms % len(candidate.creatives)]
            served.append(self._deliver(request, kept, permissions, candidate, creative, now_ms))
        return Decision(permissions, errors, served)

    def _permissions(
        self, request: AdRequest, viewer: str | None, now_ms: int
    ) -> tuple[Permissions, dict[str, str]]:
        raw = request.signals
        objected = reused = False
        if viewer is not None:
            objected = self._store.consents.objection(viewer) is not None
            if raw.tc_string is None and raw.gpp_string is None:
                raw = self._stored_strings(viewer, raw)
                reused = raw is not request.signals
        today = datetime.fromtimestamp(now_ms / 1000, tz=UTC).date()
        read = read_signals(raw, today=today, objected=objected)
        permissions = decide(
            read.signals, vendor_id=self._vendor_id, lia_purposes=self._lia_purposes
        )
        # Art. 7(1): keep the evidence of each signal a decision relied on (a reused
        # stored signal is on record already).
        if viewer is not None and not reused and _relies_on_consent(permissions):
            self._store.consents.record(_evidence(viewer, raw, read, permissions, now_ms))
        return permissions, read.errors

    def _stored_strings(self, viewer: str, raw: RawSignals) -> RawSignals:
        """No strings on the request: the newest stored signal of this viewer applies."""
        latest = self._store.consents.latest(viewer)
        if latest is None:
            return raw
        return replace(raw, tc_string=latest.tc_string, gpp_string=latest.gpp_string)

    def _deliver(
        self,
        request: AdRequest,
        viewer: str | None,
        permissions: Permissions,
        candidate: Candidate,
        creative: CreativeRecord,
        now_ms: int,
    ) -> ServedAd:
        delivery = DeliveryRecord(
            id=f"dl_{secrets.token_urlsafe(15)}",
            campaign_id=candidate.campaign.id,
            creative_id=creative.id,
            placement=request.placement,
            viewer_key=viewer,
            region=request.region,
            device_class=request.device_class,
            mode=permissions.mode.value,
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


def _relies_on_consent(p: Permissions) -> bool:
    """Whether the decision used a basis the viewer gave (so Art. 7(1) evidence is owed)."""
    return p.storage or p.measurement is Measurement.USER or p.mode is Mode.PERSONALISED


def _evidence(
    viewer: str, raw: RawSignals, read: ReadSignals, p: Permissions, now_ms: int
) -> ConsentEvidence:
    meta = _cmp_fields(raw.tc_string) if "tc_string" not in read.errors else (None, None, None)
    return ConsentEvidence(
        viewer_key=viewer,
        received_ms=now_ms,
        region=raw.region or "ZZ",
        tc_string=raw.tc_string,
        cmp_id=meta[0],
        cmp_version=meta[1],
        policy_version=meta[2],
        gpp_string=raw.gpp_string,
        gpc=raw.gpc,
        mode=p.mode.value,
        rows=",".join(p.rows),
    )


def _cmp_fields(tc_string: str | None) -> tuple[int | None, int | None, int | None]:
    if not tc_string:
        return None, None, None
    model = decode_tc(tc_string)
    return model.cmp_id, model.cmp_version, model.policy_version
