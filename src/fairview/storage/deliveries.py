"""Ad deliveries: what was served to whom (by pseudonym), when, on what basis."""

from __future__ import annotations

import orjson
from sqlalchemy import Engine, insert, select

from fairview.domain import DeliveryRecord
from fairview.storage.engine import writer
from fairview.storage.schema import Delivery, Settlement

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
        with self._write.begin() as conn:
            conn.execute(
                insert(Delivery).values(
                    id=delivery.id,
                    campaign_id=delivery.campaign_id,
                    creative_id=delivery.creative_id,
                    placement=delivery.placement,
                    viewer_key=delivery.viewer_key,
                    region=delivery.region,
                    device_class=delivery.device_class,
                    mode=delivery.mode,
                    duration_ms=delivery.duration_ms,
                    issued_ms=delivery.issued_ms,
                    conflict=False,
                    why=orjson.dumps(dict(delivery.why)).decode(),
                )
            )
            conn.execute(
                insert(Settlement).values(
                    delivery_id=delivery.id,
                    issued_ms=delivery.issued_ms,
                    event_count=0,
                    max_seq=-1,
                    terminal=False,
                )
            )

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
