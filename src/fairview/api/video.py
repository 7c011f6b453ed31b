"""VAST 4.2 and OpenRTB 2.6: the same decisions, for standard video players and exchanges.

`GET /v1/vast` answers a player with a VAST document; its tracking pings come back
to `GET /v1/vast/ping` and enter the same collector (and the same attention rule)
as the player SDK's events. `POST /openrtb/2.6` answers an exchange's bid request
with VAST in `adm`, or 204 for no bid.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Request, Response

from fairview.api.deps import Services, ServicesDep
from fairview.audience.taxonomy import MAX_TOPICS_PER_REQUEST, content_taxonomy
from fairview.collect.pings import NON_EVENT_PINGS, ping_event
from fairview.consent.signals import RawSignals
from fairview.domain import BillingModel
from fairview.errors import FairviewError
from fairview.serve import vast
from fairview.serve.context import REGION_PATTERN, DeviceClass, device_class
from fairview.serve.decide import AdRequest, Decision, ServedAd
from fairview.serve.openrtb import (
    Bid,
    BidRequestView,
    VideoSlot,
    bid_response,
    parse_bid_request,
)
from fairview.serve.why import CHANGE_PATH, explain

router = APIRouter()

XML = "application/xml; charset=utf-8"
# Until the attention model ranks ads (issue 4, ranking), a bid's CPM is the
# campaign's price times these prior rates: P(focused view) for cpfv, P(viewable)
# for cpm_viewable (1.0: the bid already is a CPM per viewable impression).
PRIOR_FOCUS_RATE = 0.25
CPFV_CPM_FACTOR = 1000 * PRIOR_FOCUS_RATE
# IAB Content Taxonomy 3.0 / 3.1 (AdCOM "cattax" 7 and 9): the ids fairview reads.
CONTENT_TAXONOMY_3 = frozenset({7, 9})
_MEDIA_TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".mov": "video/quicktime"}
# Short-video creatives are vertical; creatives do not record their size yet.
DEFAULT_SIZE = (1080, 1920)


@router.get("/v1/vast", response_class=Response)
async def vast_tag(
    request: Request,
    services: ServicesDep,
    placement: Annotated[str, Query(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")],
    region: Annotated[str, Query(pattern=REGION_PATTERN)] = "ZZ",
    lang: Annotated[str | None, Query(pattern=r"^[a-z]{2}$")] = None,
    topics: Annotated[str, Query(max_length=400)] = "",
    device: DeviceClass | None = None,
    gdpr_consent: Annotated[str | None, Query(max_length=8192)] = None,
    gpp: Annotated[str | None, Query(max_length=8192)] = None,
    user_ref: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    count: Annotated[int, Query(ge=1, le=5)] = 1,
    user_agent: Annotated[str | None, Header()] = None,
) -> Response:
    """A VAST 4.2 document with up to `count` ads; a valid empty VAST when none may serve.

    `topics` is a comma-separated list of content topic ids; `gdpr_consent` the TC
    string; GPC comes from the `Sec-GPC` header.
    """
    topic_ids = _topics(topics)
    taxonomy = content_taxonomy()
    signals = RawSignals(
        region=region,
        tc_string=gdpr_consent,
        gpp_string=gpp,
        gpc=bool(getattr(request.state, "gpc", False)),
        sensitive_context=any(taxonomy.is_sensitive(t) for t in topic_ids),
    )
    ad_request = AdRequest(
        placement,
        user_ref,
        region,
        (device or device_class(user_agent)).value,
        count,
        signals,
        language=lang,
        topics=topic_ids,
    )
    decision = await services.decider.decide_async(ad_request, services.clock.now_ms())
    return Response(_vast_document(services, decision), media_type=XML)


@router.get("/v1/vast/ping", status_code=204, response_class=Response)
async def vast_ping(
    services: ServicesDep,
    e: Annotated[str, Query(max_length=40, description="The VAST event.")],
    t: Annotated[str, Query(max_length=4096, description="The delivery token.")],
    ph: Annotated[str | None, Query(max_length=40, description="[ADPLAYHEAD]")] = None,
    ts: Annotated[str | None, Query(max_length=60, description="[TIMESTAMP], not used")] = None,
    cb: Annotated[str | None, Query(max_length=40, description="[CACHEBUSTING]")] = None,
    code: Annotated[str | None, Query(max_length=10, description="[ERRORCODE]")] = None,
) -> Response:
    """A VAST tracking ping: one playback event for the collector, judged by the same rule.

    Viewability and error pings carry no playback evidence: they are acknowledged
    and not stored (docs/vast.md). A playback ping that the collector refuses gets
    its error; a repeated ping is a duplicate, never counted twice.
    """
    now_ms = services.clock.now_ms()
    claims = services.decider.verify_token(t, now_ms)
    if e in NON_EVENT_PINGS:
        return Response(status_code=204)
    event = ping_event(e, ph, claims.duration_ms)
    body = orjson.dumps({"token": t, "events": [event]})
    result = (await services.collector.ingest(body, now_ms)).results[0]
    if result["status"] == "rejected":
        raise FairviewError(
            str(result.get("error", "rejected")), str(result.get("detail", "")), status=422
        )
    return Response(status_code=204)


@router.post("/openrtb/2.6", response_class=Response)
async def openrtb_bid(
    request: Request,
    services: ServicesDep,
    x_openrtb_version: Annotated[str | None, Header()] = None,
) -> Response:
    """An OpenRTB 2.6 bid request in; a bid response with VAST in `adm`, or 204 (no bid)."""
    view = parse_bid_request(await request.body(), version=x_openrtb_version)
    bids = [bid for slot_bid in await _bids(services, view) for bid in slot_bid]
    if not bids:
        return Response(status_code=204)
    currency = next(iter(view.currencies), "EUR")
    payload = bid_response(view, bids, currency=currency)
    return Response(orjson.dumps(payload), media_type="application/json")


async def _bids(services: Services, view: BidRequestView) -> list[list[Bid]]:
    taxonomy = content_taxonomy()
    topics = tuple(t for t in view.content_topics if t in taxonomy)
    if view.cattax not in CONTENT_TAXONOMY_3:
        topics = ()
    now_ms = services.clock.now_ms()
    out: list[list[Bid]] = []
    for slot in view.video_slots:
        request = AdRequest(
            slot.placement,
            None,  # exchange user ids are never used
            view.region,
            view.device_class.value,
            1,
            view.signals,
            language=view.language,
            topics=topics,
            fits=partial(_fits, slot),
        )
        decision = await services.decider.decide_async(request, now_ms)
        slot_bids = []
        for served in decision.ads:
            price = _cpm(services, served)
            currency = services.decider.advertiser_currency(served.advertiser_id)
            if view.currencies and currency not in view.currencies:
                continue
            if currency == slot.bidfloorcur and price < slot.bidfloor:
                continue
            document = _vast_document(services, Decision(decision.permissions, {}, [served]))
            slot_bids.append(
                Bid(
                    imp_id=slot.imp_id,
                    price=price,
                    adm=document.decode("utf-8"),
                    burl=f"{_ping_base(services)}?e=impression&t={served.token}",
                    crid=served.creative.id,
                    cid=served.delivery.campaign_id,
                    adomain=(),
                    duration_s=round(served.creative.duration_ms / 1000),
                )
            )
        out.append(slot_bids)
    return out


def _fits(slot: VideoSlot, duration_ms: int) -> bool:
    return slot.accepts_duration(round(duration_ms / 1000))


def _cpm(services: Services, served: ServedAd) -> float:
    campaign = services.store.catalog.campaign(served.delivery.campaign_id)
    if campaign is None:
        return 0.0
    major = campaign.bid / 100
    if campaign.billing_model is BillingModel.CPFV:
        return round(major * CPFV_CPM_FACTOR, 4)
    return round(major, 4)


def _vast_document(services: Services, decision: Decision) -> bytes:
    if not decision.ads:
        return vast.render_empty()
    base = services.settings.public_base_url.rstrip("/")
    return vast.render([_vast_ad(s, base) for s in decision.ads])


def _ping_base(services: Services) -> str:
    return services.settings.public_base_url.rstrip("/") + "/v1/vast/ping"


def _vast_ad(s: ServedAd, base: str) -> vast.VastAd:
    suffix = s.creative.media_url.lower().rsplit("?", 1)[0]
    media_type = next((t for ext, t in _MEDIA_TYPES.items() if suffix.endswith(ext)), "video/mp4")
    return vast.VastAd(
        delivery_id=s.delivery.id,
        campaign_id=s.delivery.campaign_id,
        creative_id=s.creative.id,
        title=s.creative.name,
        duration_ms=s.creative.duration_ms,
        media_url=s.creative.media_url,
        media_type=media_type,
        width=DEFAULT_SIZE[0],
        height=DEFAULT_SIZE[1],
        click_through=None,
        token=s.token,
        ping_base=f"{base}/v1/vast/ping",
        disclosure=vast.Disclosure(
            advertiser=s.advertiser,
            payer=s.payer,
            main_parameters=tuple(explain(s.delivery.why)),
            why_url=f"{base}/v1/deliveries/{s.delivery.id}/why",
            change_url=f"{base}{CHANGE_PATH}",
        ),
    )


def _topics(text: str) -> tuple[str, ...]:
    topics = tuple(t for t in (x.strip() for x in text.split(",")) if t)
    if len(topics) > MAX_TOPICS_PER_REQUEST:
        raise FairviewError(
            "too_many_topics",
            f"Send at most {MAX_TOPICS_PER_REQUEST} content topics.",
            status=422,
            field="topics",
        )
    unknown = content_taxonomy().unknown(topics)
    if unknown:
        raise FairviewError(
            "unknown_topic",
            f"Topic {unknown[0][:40]!r} is not in the IAB Content Taxonomy 3.1 or the platform "
            "labels (docs/targeting.md).",
            status=422,
            field="topics",
        )
    return topics
