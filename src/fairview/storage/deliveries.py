"""Ad deliveries: what was served to whom (by pseudonym), when, on what basis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select

from fairview.domain import DeliveryRecord
from fairview.storage.consents import ConsentEvidence, evidence_rows
from fairview.storage.dialect import insert_sql
from fairview.storage.engine import writer
from fairview.storage.schema import ConsentRecord, Delivery

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


_DELIVERY_COLUMNS = (
    "id",
    "campaign_id",
    "creative_id",
    "placement",
    "viewer_key",
    "region",
    "device_class",
    "mode",
    "duration_ms",
    "issued_ms",
    "conflict",
    "why",
)
_SETTLEMENT_COLUMNS = ("delivery_id", "issued_ms", "event_count", "max_seq", "terminal")


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
            (
                d.id,
                d.campaign_id,
                d.creative_id,
                d.placement,
                d.viewer_key,
                d.region,
                d.device_class,
                d.mode,
                d.duration_ms,
                d.issued_ms,
                False,
                orjson.dumps(dict(d.why)).decode(),
            )
            for d in deliveries
        ]
        settlements = [(d.id, d.issued_ms, 0, -1, False) for d in deliveries]
        with self._write.begin() as conn:
            if rows:
                # Plain executemany: one decision's rows are recorded on every request.
                conn.exec_driver_sql(insert_sql(conn, "deliveries", _DELIVERY_COLUMNS), rows)
                conn.exec_driver_sql(
                    insert_sql(conn, "settlements", _SETTLEMENT_COLUMNS), settlements
                )
            if evidence:
                conn.execute(insert(ConsentRecord), evidence_rows(evidence))

    def get(self, delivery_id: str) -> DeliveryRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(*_COLUMNS).where(Delivery.id == delivery_id)).first()
        return None if row is None else _record(row)

    def recent_for_viewer(self, viewer_key: str, limit: int = 20) -> list[DeliveryRecord]:
        """The viewer's newest deliveries (by pseudonym), at most `limit`, newest first.

        Only deliveries kept with the viewer's pseudonym (a user-level measurement
        basis) can be found; the others hold nothing that leads to the viewer.
        """
        query = (
            select(*_COLUMNS)
            .where(Delivery.viewer_key == viewer_key)
            .order_by(Delivery.issued_ms.desc(), Delivery.id.desc())
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def count(self) -> int:
        with self._engine.connect() as conn:
            return len(conn.execute(select(Delivery.id)).all())


def _record(row: Any) -> DeliveryRecord:
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
