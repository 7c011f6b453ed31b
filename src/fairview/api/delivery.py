"""Ad decisions and the event collector: the player-facing edge."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request

from fairview.api.deps import ServicesDep
from fairview.api.responses import JSONBytes
from fairview.api.schemas import (
    AdPublic,
    ConsentPublic,
    CreativeServed,
    DecisionRequest,
    DecisionResponse,
)
from fairview.consent.signals import RawSignals
from fairview.serve.context import device_class
from fairview.serve.decide import AdRequest

router = APIRouter(prefix="/v1")

_EVENTS_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["events"],
                "properties": {
                    "token": {"type": "string"},
                    "events": {"type": "array", "items": {"$ref": "#/components/schemas/EventIn"}},
                },
            }
        }
    },
}


@router.post("/decisions", response_model=DecisionResponse)
def decide(
    body: DecisionRequest,
    request: Request,
    services: ServicesDep,
    user_agent: Annotated[str | None, Header()] = None,
) -> DecisionResponse:
    """Decide what the viewer's signals allow, then choose ads; each carries a signed token.

    GPC comes from the `Sec-GPC` header (read by middleware), never from the body.
    """
    device = body.device or device_class(user_agent)
    signals = RawSignals(
        region=body.region,
        tc_string=body.tc_string,
        gpp_string=body.gpp,
        gpc=bool(getattr(request.state, "gpc", False)),
        age=body.age,
        sensitive_context=body.sensitive_context,
    )
    ad_request = AdRequest(
        body.placement, body.user_ref, body.region, device.value, body.count, signals
    )
    decision = services.decider.decide(ad_request, services.clock.now_ms())
    return DecisionResponse(
        ads=[
            AdPublic(
                delivery=s.delivery.id,
                token=s.token,
                campaign=s.delivery.campaign_id,
                advertiser=s.advertiser_id,
                creative=CreativeServed(
                    id=s.creative.id,
                    duration_s=s.creative.duration_ms / 1000,
                    media_url=s.creative.media_url,
                ),
            )
            for s in decision.ads
        ],
        consent=ConsentPublic(
            mode=decision.permissions.mode.value,
            rows=list(decision.permissions.rows),
            signal_errors=decision.signal_errors,
        ),
    )


@router.post("/events", openapi_extra={"requestBody": _EVENTS_BODY})
async def collect(request: Request, services: ServicesDep) -> JSONBytes:
    """Append a batch of playback events; answers accepted / duplicate / rejected per event.

    The response is sent only after the accepted events are durably committed.
    """
    body = await request.body()
    result = await services.collector.ingest(body, services.clock.now_ms())
    return JSONBytes(result.to_json())
