"""Health and aggregate counters (no viewer-level data)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from fairview.api.deps import AggregatesDep, ServicesDep

router = APIRouter()


@router.get("/healthz")
def health() -> dict[str, str]:
    return {"status": "ok"}


# The GPC support resource (GPC spec §"gpc.json"): this server honours the signal.
GPC_SUPPORT = {"gpc": True, "lastUpdate": "2026-11-22"}


@router.get("/.well-known/gpc.json")
def gpc_support() -> dict[str, object]:
    return GPC_SUPPORT


@router.get("/v1/stats")
def stats(services: ServicesDep, _: AggregatesDep) -> dict[str, Any]:
    """Ingestion counters (accepted + duplicates + rejected = sent) and settlement progress.

    Platform-wide volumes are staff business: operators and analysts (aggregates only).
    """
    ingest = services.store.events.stats()
    return {
        "events": {
            "sent": ingest.sent,
            "accepted": ingest.accepted,
            "duplicates": ingest.duplicates,
            "rejected": ingest.rejected,
        },
        "settlement": {"pending_deliveries": services.store.settlement.pending_count()},
    }
