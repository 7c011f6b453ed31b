"""Factories for tests: build what a test needs in one call, nothing more."""

from __future__ import annotations

from typing import Any

from fairview.domain import BillingModel, CampaignRecord, CreativeRecord, DeliveryRecord
from fairview.storage import Store
from fairview.storage.catalog import CampaignSpec, CreativeSpec
from fairview.storage.eventlog import LogEvent

DAY_MS = 86_400_000
T0 = 1_790_000_000_000  # 2026-09-21, a fixed "now" for tests


def campaign(
    store: Store,
    *,
    model: BillingModel = BillingModel.CPFV,
    bid: int = 10,
    budget: int = 1_000,
    daily: int | None = None,
    duration_ms: int = 15_000,
    advertiser: str | None = None,
) -> tuple[CampaignRecord, CreativeRecord]:
    if advertiser is None:
        advertiser = store.catalog.create_advertiser("Acme", "EUR", T0)[0].id
    spec = CampaignSpec("spring", model, bid, budget, daily, T0 - DAY_MS, T0 + 30 * DAY_MS)
    record = store.catalog.create_campaign(advertiser, spec, T0)
    creative = store.catalog.add_creative(
        record.id, CreativeSpec("spot", duration_ms, "https://cdn.example/a.mp4"), T0
    )
    return record, creative


def delivery(
    store: Store, camp: CampaignRecord, creative: CreativeRecord, *, n: int = 0, issued_ms: int = T0
) -> DeliveryRecord:
    record = DeliveryRecord(
        f"dl_test_{camp.id[-6:]}_{n}",
        camp.id,
        creative.id,
        "feed",
        None,
        "EU-DE",
        "mobile",
        "non_personalised",
        creative.duration_ms,
        issued_ms,
    )
    store.deliveries.record(record)
    return record


def log_event(
    delivery_id: str,
    seq: int,
    type_: str = "heartbeat",
    *,
    mono_ms: float | None = None,
    media_s: float | None = None,
    received_ms: int = T0 + 30_000,
    **kw: Any,
) -> LogEvent:
    mono = seq * 250.0 if mono_ms is None else mono_ms
    media = mono / 1000 if media_s is None else media_s
    fields: dict[str, Any] = {
        "rate": 1.0,
        "muted": False,
        "vis": 1,
        "trusted": False,
        "kind": None,
        "from_s": None,
        "to_s": None,
        "duration_s": None,
    }
    fields.update(kw)
    return LogEvent(
        delivery_id,
        seq,
        type_,
        mono,
        media,
        fields["rate"],
        fields["muted"],
        fields["vis"],
        fields["trusted"],
        fields["kind"],
        fields["from_s"],
        fields["to_s"],
        fields["duration_s"],
        received_ms,
    )


def watched(
    delivery_id: str, seconds: float, *, duration_s: float = 15.0, end: str = "swipe_away"
) -> list[LogEvent]:
    """A visible 1x watch of `seconds`: first_frame, heartbeats every 250 ms, then `end`."""
    events = [log_event(delivery_id, 0, "first_frame", mono_ms=0, media_s=0, duration_s=duration_s)]
    steps = int(seconds * 4)
    for i in range(1, steps + 1):
        events.append(log_event(delivery_id, i, mono_ms=i * 250.0, media_s=i * 0.25))
    last = steps * 250.0
    events.append(log_event(delivery_id, steps + 1, end, mono_ms=last, media_s=last / 1000))
    return events
