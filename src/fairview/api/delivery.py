"""Ad decisions and the event collector: the player-facing edge."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from pydantic import ValidationError

from fairview.api.deps import Services, ServicesDep, services_of
from fairview.api.direct import DirectRoute
from fairview.api.errors import body_error
from fairview.api.responses import JSONBytes
from fairview.api.schemas import (
    DecisionRequest,
    DecisionResponse,
    WhyPublic,
    to_datetime,
)
from fairview.audience.taxonomy import content_taxonomy
from fairview.consent.signals import RawSignals
from fairview.domain import DeliveryRecord
from fairview.errors import FairviewError
from fairview.serve.context import device_class
from fairview.serve.decide import AdRequest, ServedAd
from fairview.serve.why import CHANGE_PATH, HOW_TO_CHANGE, explain

router = APIRouter(prefix="/v1")
player = APIRouter(prefix="/v1", route_class=DirectRoute)
"""The routes called on every ad; the application includes them first (fewer routes
to match) and they take the request alone (`DirectRoute`)."""

_DECISION_BODY: dict[str, Any] = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DecisionRequest"}}},
}
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


@player.post(
    "/decisions",
    response_model=DecisionResponse,
    openapi_extra={"requestBody": _DECISION_BODY},
)
async def decide(request: Request) -> JSONBytes:
    """Decide what the viewer's signals allow, then choose ads; each carries a signed token.

    GPC comes from the `Sec-GPC` header (read by middleware), never from the body.
    The body is validated by pydantic straight from the JSON bytes (one pass, in Rust);
    errors answer 422 exactly as for any other endpoint.
    """
    try:
        body = DecisionRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise body_error(exc) from None
    services = services_of(request)
    device = body.device or device_class(request.headers.get("user-agent"))
    taxonomy = content_taxonomy()
    signals = RawSignals(
        region=body.region,
        tc_string=body.tc_string,
        gpp_string=body.gpp,
        gpc=bool(getattr(request.state, "gpc", False)),
        age=body.age,
        sensitive_context=body.sensitive_context
        or any(taxonomy.is_sensitive(t) for t in body.topics),
    )
    ad_request = AdRequest(
        body.placement,
        body.user_ref,
        body.region,
        device.value,
        body.count,
        signals,
        language=body.language,
        topics=tuple(body.topics),
    )
    decision = await services.decider.decide_async(ad_request, services.clock.now_ms())
    base = services.settings.public_base_url.rstrip("/")
    # Serialised directly (the shape is DecisionResponse, as documented in OpenAPI).
    return JSONBytes(
        {
            "ads": [_ad_json(s, base) for s in decision.ads],
            "consent": {
                "mode": decision.permissions.mode.value,
                "rows": list(decision.permissions.rows),
                "signal_errors": decision.signal_errors,
            },
        }
    )


def _ad_json(s: ServedAd, base: str) -> dict[str, Any]:
    return {
        "delivery": s.delivery.id,
        "token": s.token,
        "campaign": s.delivery.campaign_id,
        "advertiser": s.advertiser_id,
        "creative": {
            "id": s.creative.id,
            "duration_s": s.creative.duration_ms / 1000,
            "media_url": s.creative.media_url,
        },
        "events_url": "/v1/events",
        "disclosure": {
            "advertiser": s.advertiser,
            "payer": s.payer,
            "parameters": explain(s.delivery.why),
            "why_url": f"{base}/v1/deliveries/{s.delivery.id}/why",
            "change_url": f"{base}{CHANGE_PATH}",
        },
    }


@router.get("/deliveries/{delivery_id}/why", response_model=WhyPublic)
def why_this_ad(
    delivery_id: str,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
) -> WhyPublic:
    """Why this ad was shown (DSA Art. 26), for the viewer it was shown to.

    Authorised by the platform's signed viewer token. A delivery tied to a viewer
    pseudonym answers only that viewer; a delivery kept without one holds nothing
    about any viewer, so its (unguessable) id is enough with any valid viewer token.
    """
    token = authorization.removeprefix("Bearer ").strip() if authorization else None
    now_ms = services.clock.now_ms()
    user_ref = services.viewers.user_ref(token, now_ms)
    delivery = services.store.deliveries.get(delivery_id[:64])
    if delivery is None or (
        delivery.viewer_key is not None
        and delivery.viewer_key != services.pseudonymiser.viewer_key(user_ref)
    ):
        raise FairviewError(
            "unknown_delivery",
            "No ad delivery with this id was shown to this viewer; check the id in the ad's "
            "disclosure link.",
            status=404,
        )
    return why_public(services, delivery)


def why_public(services: Services, delivery: DeliveryRecord) -> WhyPublic:
    """The "why this ad" answer for a delivery already shown to belong to the viewer."""
    campaign = services.store.catalog.campaign(delivery.campaign_id)
    advertiser = services.store.catalog.get_advertiser(campaign.advertiser_id) if campaign else None
    name = advertiser.name if advertiser else "unknown"
    why = delivery.why
    return WhyPublic(
        delivery=delivery.id,
        advertiser=name,
        payer=(campaign.payer if campaign and campaign.payer else name),
        shown_at=to_datetime(delivery.issued_ms),
        mode=delivery.mode,
        personalised=bool(why.get("personalised", False)),
        content_topics=list(why.get("content_topics", [])),
        matched_targeting=list(why.get("matched", [])),
        interest_cohort=why.get("cohort"),
        selection=str(why.get("selection", "")),
        consent_rows=list(why.get("rows", [])),
        parameters=explain(why),
        how_to_change=HOW_TO_CHANGE,
    )


@player.post("/events", openapi_extra={"requestBody": _EVENTS_BODY})
async def collect(request: Request) -> JSONBytes:
    """Append a batch of playback events; answers accepted / duplicate / rejected per event.

    The response is sent only after the accepted events are durably committed.
    """
    body = await request.body()
    services = services_of(request)
    result = await services.collector.ingest(body, services.clock.now_ms())
    return JSONBytes(result.to_json())
