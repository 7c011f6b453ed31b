"""Ranking eligible ads: by bid alone, or by expected value = bid × P(billable event).

Pure: the request context (with its time) comes in as a value, the attention
model behind a small protocol; nothing here reads storage, clocks or files.

Both rankers put every bid on one scale, minor units per delivery if the event
happens: a cpfv bid as is, a cpm_viewable bid divided by 1,000. Ties break by
the higher raw per-unit value, then by campaign id (ascending), so an order is
reproducible; a caller that wants rotation among equals can rotate the tied head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fairview.domain import BillingModel, Candidate, CreativeRecord
from fairview.serve.model import Features, Target, target_for
from fairview.serve.targeting import Context


def expected_value(billing_model: BillingModel, bid_minor: int, p: float) -> float:
    """Minor units a delivery is expected to earn: cpfv bid × p, cpm_viewable bid/1000 × p."""
    per_event = bid_minor if billing_model is BillingModel.CPFV else bid_minor / 1000
    return per_event * p


@dataclass(frozen=True, slots=True)
class Ranked:
    """A candidate, the creative to serve, P(billable event) and its expected value."""

    candidate: Candidate
    creative: CreativeRecord
    p: float
    value: float


class Ranker(Protocol):
    def order(self, candidates: Sequence[Candidate], context: Context) -> list[Ranked]:
        """Every candidate with at least one creative, best first."""
        ...


class Predictor(Protocol):
    """What ranking needs of the attention model (`fairview.serve.model.AttentionModel`)."""

    def features(
        self,
        *,
        campaign_id: str,
        creative_duration_ms: int,
        placement: str,
        topics: Sequence[str],
        device_class: str,
        cohort: str | None,
        now_ms: int,
    ) -> Features: ...

    def predict(self, batch: Sequence[Features], target: Target) -> npt.NDArray[np.float64]: ...


class BidOnlyRanker:
    """The highest bid per billable event first (p taken as 1); the creative rotates
    with time, as the Decider does (`now_ms % len(creatives)`)."""

    def order(self, candidates: Sequence[Candidate], context: Context) -> list[Ranked]:
        ranked = [
            _ranked(c, c.creatives[context.now_ms % len(c.creatives)], 1.0)
            for c in candidates
            if c.creatives
        ]
        return _sorted(ranked)


class ExpectedValueRanker:
    """Bid × calibrated P(billable event); each candidate offers its most likely creative
    (the first listed on a tie). One model call per target for the whole request."""

    def __init__(self, model: Predictor) -> None:
        self._model = model

    def order(self, candidates: Sequence[Candidate], context: Context) -> list[Ranked]:
        pairs = [(c, cr) for c in candidates for cr in c.creatives]
        p = np.zeros(len(pairs))
        for target in Target:
            idx = [
                i
                for i, (c, _) in enumerate(pairs)
                if target_for(c.campaign.billing_model) is target
            ]
            if idx:
                batch = [self._features(pairs[i][0], pairs[i][1], context) for i in idx]
                p[idx] = self._model.predict(batch, target)
        best: dict[str, Ranked] = {}
        for (c, creative), prob in zip(pairs, p, strict=True):
            current = best.get(c.campaign.id)
            if current is None or prob > current.p:
                best[c.campaign.id] = _ranked(c, creative, float(prob))
        return _sorted(list(best.values()))

    def _features(self, c: Candidate, creative: CreativeRecord, context: Context) -> Features:
        return self._model.features(
            campaign_id=c.campaign.id,
            creative_duration_ms=creative.duration_ms,
            placement=context.placement,
            topics=context.topics,
            device_class=context.device_class,
            cohort=context.cohort,
            now_ms=context.now_ms,
        )


def _ranked(c: Candidate, creative: CreativeRecord, p: float) -> Ranked:
    return Ranked(c, creative, p, expected_value(c.campaign.billing_model, c.campaign.bid, p))


def _sorted(ranked: list[Ranked]) -> list[Ranked]:
    def key(r: Ranked) -> tuple[float, float, str]:
        per_event = expected_value(r.candidate.campaign.billing_model, r.candidate.campaign.bid, 1)
        return (-r.value, -per_event, r.candidate.campaign.id)

    return sorted(ranked, key=key)
