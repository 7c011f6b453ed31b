"""Ad deliveries: what was served to whom (by pseudonym), when, on what basis."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from sqlalchemy import Engine, insert, select

from fairview.domain import DeliveryRecord
from fairview.storage.consents import ConsentEvidence, evidence_rows
from fairview.storage.engine import writer
from fairview.storage.schema import ConsentRecord, Delivery, Settlement

_COLUMNS = (
    Delivery.id,
    Delivery.campaign_id,
    Delivery.creative_id,
    Delivery.placement,
    Delivery.viewer_key,
    Delivery.region,
    Delivery.device_class,
    Delivery.mode,
    Delivery.duration_ms,
    Delivery.issued_ms,
    Delivery.why,
)


class Deliveries:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = writer(engine)

    def record(self, delivery: DeliveryRecord) -> None:
        """Store the delivery and open its settlement, in one transaction."""
        self.record_many([delivery])

    def record_many(
        self, deliveries: Sequence[DeliveryRecord], evidence: Sequence[ConsentEvidence] = ()
    ) -> None:
        """Store deliveries, open their settlements and keep the consent evidence the
        decisions relied on, all in one transaction."""
        if not deliveries and not evidence:
            return
        rows = [
            {
                "id": d.id,
                "campaign_id": d.campaign_id,
                "creative_id": d.creative_id,
                "placement": d.placement,
                "viewer_key": d.viewer_key,
                "region": d.region,
                "device_class": d.device_class,
                "mode": d.mode,
                "duration_ms": d.duration_ms,
                "issued_ms": d.issued_ms,
                "conflict": False,
                "why": orjson.dumps(dict(d.why)).decode(),
            }
            for d in deliveries
        ]
        settlements = [
            {
                "delivery_id": d.id,
                "issued_ms": d.issued_ms,
                "event_count": 0,
                "max_seq": -1,
                "terminal": False,
            }
            for d in deliveries
        ]
        with self._write.begin() as conn:
            if rows:
                conn.execute(insert(Delivery), rows)
                conn.execute(insert(Settlement), settlements)
            if evidence:
                conn.execute(insert(ConsentRecord), evidence_rows(evidence))

    def get(self, delivery_id: str) -> DeliveryRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(*_COLUMNS).where(Delivery.id == delivery_id)).first()
        if row is None:
            return None
        return DeliveryRecord(
            id=row.id,
            campaign_id=row.campaign_id,
            creative_id=row.creative_id,
            placement=row.placement,
            viewer_key=row.viewer_key,
            region=row.region,
            device_class=row.device_class,
            mode=row.mode,
            duration_ms=row.duration_ms,
            issued_ms=row.issued_ms,
            why=orjson.loads(row.why),
        )

    def count(self) -> int:
        with self._engine.connect() as conn:
            return len(conn.execute(select(Delivery.id)).all())
