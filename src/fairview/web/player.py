"""The demo player page: one real ad, the player SDK, and what fairview makes of it.

`/demo/player` (demo, test and dev deployments only; 404 in prod) shows a video and a
panel. Its script (`static/demo-player.js`) asks `POST /v1/decisions` for an ad on the
`demo-player` placement, plays the creative (`static/demo-ad.webm`, served by fairview
itself, so the page's `media-src 'self'` allows it), attaches `fairview-player.js`,
closes the SDK session when the ad ends, and polls
`GET /demo/player/deliveries/{id}` every second. That answer shows what the collector
received (events by type, `seq` coverage), the seconds credited so far by the same
attention rule settlement uses, then the settled verdict and the ledger entry once the
production `Settler` has run: `settle_continuously` runs it every second beside the
server in the demo (and in the browser test).

The status endpoint answers only for deliveries on the demo placement and never shows a
viewer identifier: the page asks for its ad without a `user_ref`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from fairview.api.deps import ServicesDep
from fairview.attention.events import TERMINAL_TYPES
from fairview.attention.reference import qualify
from fairview.clock import Clock
from fairview.domain import DeliveryRecord
from fairview.errors import FairviewError
from fairview.settings import Settings
from fairview.settle.worker import Settler, to_attention_event
from fairview.storage import Store
from fairview.storage.eventlog import LogEvent
from fairview.web.render import page

log = logging.getLogger("fairview.web.player")

router = APIRouter()

DEMO_PLACEMENT = "demo-player"
"""The placement the demo page asks for; the demo's own campaign targets only this one."""
DEMO_AD = "demo-ad.webm"
"""The demo creative, in `fairview/web/static/` (scripts/make-demo-clips.sh makes it)."""
DEMO_AD_DURATION_S = 10.0
DEMO_REGION = "DE"
"""The demo viewer's coarse region; the page sends no consent string and no viewer id."""
SETTLE_INTERVAL_S = 1.0


def demo_ad_url(base_url: str) -> str:
    """The demo creative's absolute URL on the fairview server at `base_url`."""
    return f"{base_url.rstrip('/')}/static/{DEMO_AD}"


def _demo_only(settings: Settings) -> None:
    from fairview.web.pages import DEMO_ENVIRONMENTS  # pages imports this module

    if settings.env not in DEMO_ENVIRONMENTS:
        raise FairviewError(
            "not_found",
            "The demo player exists in demo, test and dev deployments only.",
            status=404,
        )


@router.get("/demo/player", response_class=HTMLResponse)
def demo_player(request: Request, services: ServicesDep) -> HTMLResponse:
    _demo_only(services.settings)
    context = {
        "placement": DEMO_PLACEMENT,
        "region": DEMO_REGION,
        "rule_seconds": 6,
    }
    return page(request, "demo/player.html", context)


@router.get("/demo/player/deliveries/{delivery_id}")
def delivery_status(delivery_id: str, services: ServicesDep) -> JSONResponse:
    """What fairview knows about one demo delivery now (the page polls this)."""
    _demo_only(services.settings)
    store = services.store
    delivery = store.deliveries.get(delivery_id[:64])
    if delivery is None or delivery.placement != DEMO_PLACEMENT:
        return JSONResponse(
            {
                "error": "unknown_delivery",
                "detail": "No delivery of the demo player has this id; load a new ad.",
            },
            status_code=404,
            headers={"cache-control": "no-store"},
        )
    body = status_of(store, delivery)
    return JSONResponse(body, headers={"cache-control": "no-store"})


def status_of(store: Store, delivery: DeliveryRecord) -> dict[str, Any]:
    """The delivery's events, the credit so far, the settled verdict and its ledger entries."""
    events = sorted(store.events.events_for([delivery.id]), key=lambda e: e.seq)
    campaign = store.catalog.campaign(delivery.campaign_id)
    advertiser = store.catalog.get_advertiser(campaign.advertiser_id) if campaign else None
    currency = advertiser.currency if advertiser else "EUR"
    # The store reads settlement and the ledger in whole (no per-delivery read yet), so
    # only once the delivery can be final: after a terminal event (the page closes the
    # session when the ad ends; a 24 h window is never reached while someone watches).
    verdict = ledger = None
    if any(e.type in TERMINAL_TYPES for e in events):
        verdict = _verdict(store, delivery.id)
        if verdict is not None:
            name = campaign.name if campaign else None
            ledger = _ledger(store, delivery.id, name, currency)
    return {
        "delivery": delivery.id,
        "campaign": {
            "id": delivery.campaign_id,
            "name": campaign.name if campaign else None,
            "advertiser": advertiser.name if advertiser else None,
        },
        "duration_s": delivery.duration_ms / 1000,
        "issued_at": _iso(delivery.issued_ms),
        "events": _events_summary(events),
        "so_far": _so_far(events, delivery),
        "verdict": verdict,
        "ledger": ledger,
    }


def _events_summary(events: list[LogEvent]) -> dict[str, Any]:
    seqs = {e.seq for e in events}
    top = max(seqs, default=-1)
    return {
        "received": len(events),
        "by_type": dict(Counter(e.type for e in events)),
        "max_seq": top,
        "missing_seq": top + 1 - len(seqs),
        "closed": any(e.type == "close" for e in events),
        "media_s": max((e.media_s for e in events), default=0.0),
    }


def _so_far(events: list[LogEvent], delivery: DeliveryRecord) -> dict[str, Any] | None:
    """The attention rule (the readable reference) over the events received so far."""
    if not events:
        return None
    verdict = qualify(
        [to_attention_event(e, delivery.issued_ms) for e in events],
        duration_s=delivery.duration_ms / 1000,
    )
    return {
        "coverage_s": round(verdict.coverage_s, 3),
        "audible_coverage_s": round(verdict.audible_coverage_s, 3),
        "focused_view": verdict.focused_view,
        "qualified_at_media_s": verdict.qualified_at_media_s,
        "viewability": verdict.viewability,
    }


def _verdict(store: Store, delivery_id: str) -> dict[str, Any] | None:
    r = store.settlement.verdict_of(delivery_id)
    if r is None:
        return None
    return {
        "focused_view": bool(r["focused_view"]),
        "qualified_by": r["qualified_by"],
        "qualified_at_media_s": r["qualified_at_media_s"],
        "coverage_s": r["coverage_s"],
        "audible_coverage_s": r["audible_coverage_s"],
        "viewability": r["viewability"],
        "invalid": bool(r["invalid"]),
        "invalid_reason": r["invalid_reason"],
        "settled_at": _iso(int(str(r["settled_ms"]))),
    }


def _ledger(
    store: Store, delivery_id: str, campaign: str | None, currency: str
) -> list[dict[str, Any]]:
    return [
        {
            "id": e["id"],
            "kind": e["kind"],
            "amount_minor": e["amount"],
            "unbilled_minor": e["unbilled_amount"],
            # advertisers pay in two-decimal currencies (api/schemas.py)
            "amount": f"{int(str(e['amount'])) / 100:,.2f} {currency}",
            "currency": currency,
            "campaign_id": e["campaign_id"],
            "campaign": campaign,
            "day": e["day"],
            "created_at": _iso(int(str(e["created_ms"]))),
        }
        for e in store.settlement.ledger_for(delivery_id)
    ]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Flag(Protocol):
    """A `threading.Event` or `multiprocessing` event."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


def settle_continuously(
    store: Store,
    clock: Clock,
    settings: Settings,
    *,
    interval_s: float = SETTLE_INTERVAL_S,
    start: Flag | None = None,
) -> threading.Event:
    """Run the production `Settler` every `interval_s` in a daemon thread; set the
    returned event to stop it.

    For demo and test servers only, where nothing else settles while people watch: a
    delivery whose events end in `close` with no gap is final at once, so its verdict
    and ledger entry appear about a second later. With `start`, the loop waits until
    that flag is set (the demo sets it once its own report is written, so that this
    loop never changes the figures the demo reports).
    """
    _demo_only(settings)
    stop = threading.Event()
    settler = Settler(store, clock, window_ms=settings.settle_window_s * 1000)

    def run() -> None:
        if start is not None:
            while not start.wait(0.5):
                if stop.is_set():
                    return
        while not stop.wait(interval_s):
            try:
                settler.run_once()
            except Exception:  # the next round retries; a demo server keeps serving
                log.exception("demo settlement round failed")

    threading.Thread(target=run, name="fairview-demo-settler", daemon=True).start()
    return stop


@contextmanager
def settling(store: Store, clock: Clock, settings: Settings) -> Iterator[None]:
    """`settle_continuously` for the duration of a `with` block."""
    stop = settle_continuously(store, clock, settings)
    try:
        yield
    finally:
        stop.set()
