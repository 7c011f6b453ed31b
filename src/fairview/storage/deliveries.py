"""Ad deliveries: what was served to whom (by pseudonym), when, on what basis."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class DeliveryRows:
    """What one group of decisions adds, as driver rows of plain values.

    Built where the decisions were made (`of`), written in one transaction
    (`Deliveries.write`), possibly in another process: `fairview serve --workers N`
    sends each process's rows to one shared writer (`fairview.storage.shared_writer`),
    which merges the groups of all processes into one commit (`merge`).
    """

    deliveries: list[tuple[Any, ...]]
    settlements: list[tuple[Any, ...]]
    issued: list[tuple[str, str, int]]
    """(campaign, day of issue, deliveries) for the pacing counts, sorted: concurrent
    PostgreSQL writers lock the count rows in one order."""
    evidence: list[tuple[Any, ...]]

    @classmethod
    def of(
        cls, deliveries: Sequence[DeliveryRecord], evidence: Sequence[ConsentEvidence] = ()
    ) -> DeliveryRows:
        issued = Counter((d.campaign_id, day_of(d.issued_ms)) for d in deliveries)
        return cls(
            deliveries=[
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
            ],
            settlements=[(d.id, d.issued_ms, 0, -1, False) for d in deliveries],
            issued=sorted((campaign, day, n) for (campaign, day), n in issued.items()),
            evidence=[tuple(getattr(e, c) for c in EVIDENCE_COLUMNS) for e in evidence],
        )

    @classmethod
    def merge(cls, groups: Sequence[DeliveryRows]) -> DeliveryRows:
        issued: Counter[tuple[str, str]] = Counter()
        for group in groups:
            for campaign, day, n in group.issued:
                issued[(campaign, day)] += n
        return cls(
            deliveries=[row for g in groups for row in g.deliveries],
            settlements=[row for g in groups for row in g.settlements],
            issued=sorted((campaign, day, n) for (campaign, day), n in issued.items()),
            evidence=[row for g in groups for row in g.evidence],
        )

    def to_json(self) -> bytes:
        return orjson.dumps([self.deliveries, self.settlements, self.issued, self.evidence])

    @classmethod
    def from_json(cls, data: bytes) -> DeliveryRows:
        """The rows `to_json` wrote (each row comes back as a list, which drivers take)."""
        deliveries, settlements, issued, evidence = orjson.loads(data)
        return cls(deliveries, settlements, [tuple(i) for i in issued], evidence)

    def __bool__(self) -> bool:
        return bool(self.deliveries or self.evidence)


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
        self.write(DeliveryRows.of(deliveries, evidence))

    def write(self, rows: DeliveryRows) -> None:
        """Write `rows` in one transaction."""
        if not rows:
            return
        with self._write.transaction() as cursor:
            if rows.deliveries:
                cursor.executemany(self._insert_deliveries, rows.deliveries)
                cursor.executemany(self._insert_settlements, rows.settlements)
                cursor.executemany(self._count_issued, rows.issued)
            if rows.evidence:
                cursor.executemany(self._insert_evidence, rows.evidence)

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
