"""Settled delivery history: what the attention model trains on.

One row per settled delivery, joined with its campaign and creative. Only the
non-biometric, non-identifying fields the model may use are read: never the
viewer pseudonym, the region, or the event stream itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, select

from fairview.domain import BillingModel
from fairview.storage.schema import Campaign, Creative, Delivery, Settlement


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One settled delivery as training reads it.

    `content_topics` are the "why" labels ("Sports > Soccer"); `cohort` is set only
    when the delivery was personalised. An invalid delivery is neither a focused
    view nor viewable, and an undetermined viewability counts as not viewable:
    neither is billable.
    """

    delivery_id: str
    campaign_id: str
    billing_model: BillingModel
    bid: int
    creative_duration_s: float
    placement: str
    content_topics: tuple[str, ...]
    device_class: str
    issued_ms: int
    cohort: str | None
    focused_view: bool
    viewable: bool


_QUERY = (
    select(
        Delivery.id,
        Delivery.campaign_id,
        Campaign.billing_model,
        Campaign.bid,
        Creative.duration_ms,
        Delivery.placement,
        Delivery.device_class,
        Delivery.issued_ms,
        Delivery.why,
        Settlement.focused_view,
        Settlement.viewability,
        Settlement.invalid,
    )
    .join(Settlement, Settlement.delivery_id == Delivery.id)
    .join(Campaign, Campaign.id == Delivery.campaign_id)
    .join(Creative, Creative.id == Delivery.creative_id)
    .where(Settlement.settled_ms.is_not(None))
)


class History:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def settled(self, *, since_ms: int = 0, limit: int | None = None) -> list[HistoryRow]:
        """Settled deliveries issued at or after `since_ms`, oldest first."""
        query = _QUERY.where(Delivery.issued_ms >= since_ms).order_by(
            Delivery.issued_ms, Delivery.id
        )
        if limit is not None:
            query = query.limit(limit)
        with self._engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]


def _row(r: Any) -> HistoryRow:
    why = orjson.loads(r.why or "{}")
    personalised = bool(why.get("personalised"))
    invalid = bool(r.invalid)
    return HistoryRow(
        delivery_id=r.id,
        campaign_id=r.campaign_id,
        billing_model=BillingModel(r.billing_model),
        bid=int(r.bid),
        creative_duration_s=r.duration_ms / 1000,
        placement=r.placement,
        content_topics=tuple(why.get("content_topics", ())),
        device_class=r.device_class,
        issued_ms=int(r.issued_ms),
        cohort=why.get("cohort") if personalised else None,
        focused_view=bool(r.focused_view) and not invalid,
        viewable=r.viewability == "viewable" and not invalid,
    )
