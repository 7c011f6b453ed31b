"""Ad deliveries: what was served to whom (by pseudonym), when, on what basis."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Engine, select

from fairview.clock import day_of
from fairview.domain import DeliveryRecord
from fairview.storage.consents import EVIDENCE_COLUMNS, ConsentEvidence
from fairview.storage.engine import DedicatedWriter
from fairview.storage.schema import Delivery

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


def _issued_per_day(deliveries: Sequence[DeliveryRecord]) -> list[tuple[str, str, int]]:
    """(campaign, day of issue, deliveries) for the pacing counts."""
    issued = Counter((d.campaign_id, day_of(d.issued_ms)) for d in deliveries)
    return [(campaign, day, n) for (campaign, day), n in issued.items()]


class Deliveries:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Every ad decision records here: one connection kept open, driver-level SQL.
        self._write = DedicatedWriter(engine)
        self._insert_deliveries = self._write.insert_sql("deliveries", _DELIVERY_COLUMNS)
        self._insert_settlements = self._write.insert_sql("settlements", _SETTLEMENT_COLUMNS)
        self._insert_evidence = self._write.insert_sql("consent_records", EVIDENCE_COLUMNS)
        marker = self._write.marker
        self._count_issued = (
            "INSERT INTO campaign_day_counts (campaign_id, day, issued, settled, settled_amount) "
            f"VALUES ({marker}, {marker}, {marker}, 0, 0) ON CONFLICT (campaign_id, day) "
            "DO UPDATE SET issued = campaign_day_counts.issued + excluded.issued"
        )

    def close(self) -> None:
        self._write.close()

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
        with self._write.transaction() as cursor:
            if rows:
                cursor.executemany(self._insert_deliveries, rows)
                cursor.executemany(self._insert_settlements, settlements)
                # sorted: concurrent PostgreSQL writers lock the count rows in one order
                cursor.executemany(self._count_issued, sorted(_issued_per_day(deliveries)))
            if evidence:
                cursor.executemany(
                    self._insert_evidence,
                    [tuple(getattr(e, c) for c in EVIDENCE_COLUMNS) for e in evidence],
                )

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
