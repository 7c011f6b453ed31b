"""Advertiser accounts, campaigns and creatives."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from fairview.accountability.roles import advertiser_actor
from fairview.accountability.trail import AuditTrail
from fairview.api.deps import AdvertiserDep, AuditDep, OperatorDep, ServicesDep
from fairview.api.errors import body_error
from fairview.api.schemas import (
    AdvertiserCreate,
    AdvertiserCreated,
    AdvertiserPublic,
    CampaignCreate,
    CampaignPublic,
    CampaignUpdate,
    CreativeCreate,
    CreativePublic,
    CreativeUpdate,
    TargetingIn,
    to_datetime,
    to_ms,
)
from fairview.domain import AdvertiserRecord, CampaignRecord, CreativeRecord
from fairview.errors import Conflict, NotFound
from fairview.storage.catalog import CampaignSpec, CreativeSpec

router = APIRouter(prefix="/v1")


@router.post("/advertisers", status_code=201, response_model=AdvertiserCreated)
def create_advertiser(
    body: AdvertiserCreate, services: ServicesDep, operator: OperatorDep, trail: AuditDep
) -> AdvertiserCreated:
    record, key = services.store.catalog.create_advertiser(
        body.name, body.currency, services.clock.now_ms()
    )
    trail.record(
        operator.actor, "advertiser.created", f"advertiser:{record.id}", {"name": record.name}
    )
    return AdvertiserCreated(**AdvertiserPublic.of(record).model_dump(), api_key=key)


@router.get("/me", response_model=AdvertiserPublic)
def me(advertiser: AdvertiserDep) -> AdvertiserPublic:
    return AdvertiserPublic.of(advertiser)


class KeyPublic(BaseModel):
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    api_key: str = Field(description="Shown only this once; fairview keeps a hash.")


@router.get("/keys", response_model=list[KeyPublic])
def list_keys(advertiser: AdvertiserDep, services: ServicesDep) -> list[KeyPublic]:
    """The advertiser's API keys (prefixes only), so an old one can be found and revoked."""
    return [
        KeyPublic(
            prefix=p, created_at=to_datetime(c), revoked_at=None if r is None else to_datetime(r)
        )
        for p, c, r in services.store.catalog.keys(advertiser.id)
    ]


@router.post("/keys", status_code=201, response_model=KeyCreated)
def create_key(advertiser: AdvertiserDep, services: ServicesDep, trail: AuditDep) -> KeyCreated:
    """A new API key (to rotate: create one, switch to it, revoke the old one)."""
    now = services.clock.now_ms()
    prefix, key = services.store.catalog.add_key(advertiser.id, now)
    trail.record(advertiser_actor(advertiser.id), "advertiser.key.created", f"key:{prefix}", {})
    return KeyCreated(prefix=prefix, created_at=to_datetime(now), revoked_at=None, api_key=key)


@router.delete("/keys/{key_prefix}", response_model=list[KeyPublic])
def revoke_key(
    key_prefix: str, advertiser: AdvertiserDep, services: ServicesDep, trail: AuditDep
) -> list[KeyPublic]:
    """Revoke one of the advertiser's keys at once (the key sending this request too, if asked)."""
    if not services.store.catalog.revoke_key(
        advertiser.id, key_prefix[:16], services.clock.now_ms()
    ):
        raise NotFound(
            "unknown_key",
            "This advertiser has no API key with that prefix; list them with GET /v1/keys.",
        )
    trail.record(
        advertiser_actor(advertiser.id), "advertiser.key.revoked", f"key:{key_prefix[:16]}", {}
    )
    return list_keys(advertiser, services)


@router.post("/campaigns", status_code=201, response_model=CampaignPublic)
def create_campaign(
    body: CampaignCreate, advertiser: AdvertiserDep, services: ServicesDep, trail: AuditDep
) -> CampaignPublic:
    spec = CampaignSpec(
        body.name,
        body.billing_model,
        body.bid,
        body.budget_total,
        body.budget_daily,
        to_ms(body.starts_at),
        to_ms(body.ends_at),
        targeting=body.targeting.to_domain(),
        payer=body.payer,
    )
    record = services.store.catalog.create_campaign(advertiser.id, spec, services.clock.now_ms())
    trail.record(advertiser_actor(advertiser.id), "campaign.created", f"campaign:{record.id}", {})
    services.decider.refresh()
    return CampaignPublic.of(record)


@router.get("/campaigns", response_model=list[CampaignPublic])
def list_campaigns(advertiser: AdvertiserDep, services: ServicesDep) -> list[CampaignPublic]:
    return [CampaignPublic.of(c) for c in services.store.catalog.campaigns(advertiser.id)]


@router.get("/campaigns/{campaign_id}", response_model=CampaignPublic)
def get_campaign(
    campaign_id: str, advertiser: AdvertiserDep, services: ServicesDep
) -> CampaignPublic:
    return CampaignPublic.of(own_campaign(services, advertiser, campaign_id))


@router.patch(
    "/campaigns/{campaign_id}",
    response_model=CampaignPublic,
    responses={404: {"description": "campaign_not_found"}},
)
def update_campaign(
    campaign_id: str,
    body: CampaignUpdate,
    advertiser: AdvertiserDep,
    services: ServicesDep,
    trail: AuditDep,
) -> CampaignPublic:
    """Change the campaign's name, bid, budgets, flight or payer; absent fields stay.

    The campaign as changed must be valid as a new one would be (the same codes,
    e.g. `budget_below_bid`, `daily_over_total`, `ends_before_starts`), and its
    total budget cannot go below what it has already spent (`budget_below_spent`).
    `budget_daily` or `payer` sent as null removes them. The billing model is fixed.
    """
    campaign = own_campaign(services, advertiser, campaign_id)
    current = CampaignPublic.of(campaign)
    fields = ("name", "bid", "budget_total", "budget_daily", "starts_at", "ends_at", "payer")
    merged: dict[str, Any] = {f: getattr(current, f) for f in fields}
    merged |= {f: getattr(body, f) for f in body.model_fields_set}
    try:
        valid = CampaignCreate.model_validate({**merged, "billing_model": campaign.billing_model})
    except ValidationError as exc:
        raise body_error(exc) from None
    if valid.budget_total < campaign.spent:
        raise _budget_below_spent(campaign.spent)
    new = {
        "name": valid.name,
        "bid": valid.bid,
        "budget_total": valid.budget_total,
        "budget_daily": valid.budget_daily,
        "starts_ms": to_ms(valid.starts_at),
        "ends_ms": to_ms(valid.ends_at),
        "payer": valid.payer,
    }
    old = {
        "name": campaign.name,
        "bid": campaign.bid,
        "budget_total": campaign.budget_total,
        "budget_daily": campaign.budget_daily,
        "starts_ms": campaign.starts_ms,
        "ends_ms": campaign.ends_ms,
        "payer": campaign.payer,
    }
    changes = {k: v for k, v in new.items() if old[k] != v}
    if changes:
        if not services.store.catalog.update_campaign(campaign.id, changes):
            raise _budget_below_spent(campaign.spent)  # spent more in the meantime
        trail.record(
            advertiser_actor(advertiser.id),
            "campaign.changed",
            f"campaign:{campaign.id}",
            {"changes": changes},
        )
        services.decider.refresh()
    return CampaignPublic.of(own_campaign(services, advertiser, campaign_id))


def _budget_below_spent(spent: int) -> RequestValidationError:
    return RequestValidationError(
        [
            {
                "type": "budget_below_spent",
                "loc": ("body", "budget_total"),
                "msg": f"budget_total cannot be below what the campaign has spent ({spent})",
                "input": None,
            }
        ]
    )


@router.put("/campaigns/{campaign_id}/targeting", response_model=CampaignPublic)
def set_targeting(
    campaign_id: str,
    body: TargetingIn,
    advertiser: AdvertiserDep,
    services: ServicesDep,
    trail: AuditDep,
) -> CampaignPublic:
    """Replace the campaign's targeting; the next decision uses it."""
    campaign = own_campaign(services, advertiser, campaign_id)
    targeting = body.to_domain()
    services.store.catalog.set_targeting(campaign.id, targeting)
    trail.record(
        advertiser_actor(advertiser.id),
        "campaign.targeting.changed",
        f"campaign:{campaign.id}",
        {"targeting": targeting.to_json()},
    )
    services.decider.refresh()
    return CampaignPublic.of(own_campaign(services, advertiser, campaign_id))


@router.post("/campaigns/{campaign_id}/pause", response_model=CampaignPublic)
def pause_campaign(
    campaign_id: str, advertiser: AdvertiserDep, services: ServicesDep, trail: AuditDep
) -> CampaignPublic:
    return _set_status(services, advertiser, campaign_id, "paused", trail)


@router.post("/campaigns/{campaign_id}/resume", response_model=CampaignPublic)
def resume_campaign(
    campaign_id: str, advertiser: AdvertiserDep, services: ServicesDep, trail: AuditDep
) -> CampaignPublic:
    return _set_status(services, advertiser, campaign_id, "active", trail)


@router.post("/campaigns/{campaign_id}/creatives", status_code=201, response_model=CreativePublic)
def add_creative(
    campaign_id: str,
    body: CreativeCreate,
    advertiser: AdvertiserDep,
    services: ServicesDep,
    trail: AuditDep,
) -> CreativePublic:
    campaign = own_campaign(services, advertiser, campaign_id)
    spec = CreativeSpec(body.name, round(body.duration_s * 1000), str(body.media_url))
    record = services.store.catalog.add_creative(campaign.id, spec, services.clock.now_ms())
    trail.record(
        advertiser_actor(advertiser.id),
        "creative.added",
        f"creative:{record.id}",
        {"campaign": campaign.id},
    )
    services.decider.refresh()
    return CreativePublic.of(record)


@router.patch(
    "/campaigns/{campaign_id}/creatives/{creative_id}",
    response_model=CreativePublic,
    responses={
        404: {"description": "campaign_not_found or creative_not_found"},
        409: {"description": "creative_already_shown"},
    },
)
def update_creative(
    campaign_id: str,
    creative_id: str,
    body: CreativeUpdate,
    advertiser: AdvertiserDep,
    services: ServicesDep,
    trail: AuditDep,
) -> CreativePublic:
    """Rename a creative, or change its video while it has never been shown.

    The creative as changed must be valid as a new one would be (the same codes).
    Once delivered, its video and length are what the delivery records, the ad
    repository and the advertiser's bills describe: changing them answers 409
    `creative_already_shown`; add a new creative instead.
    """
    campaign = own_campaign(services, advertiser, campaign_id)
    current = _own_creative(services, campaign.id, creative_id)
    merged: dict[str, Any] = {
        "name": current.name,
        "duration_s": current.duration_ms / 1000,
        "media_url": current.media_url,
    }
    merged |= {f: getattr(body, f) for f in body.model_fields_set}
    try:
        valid = CreativeCreate.model_validate(merged)
    except ValidationError as exc:
        raise body_error(exc) from None
    new = {
        "name": valid.name,
        "duration_ms": round(valid.duration_s * 1000),
        "media_url": str(valid.media_url),
    }
    old = {"name": current.name, "duration_ms": current.duration_ms, "media_url": current.media_url}
    changes = {k: v for k, v in new.items() if old[k] != v}
    if changes:
        if not services.store.catalog.update_creative(current.id, changes):
            raise Conflict(
                "creative_already_shown",
                "This creative has been shown, so its video and length cannot change: "
                "the delivery records and the public ad repository describe what was shown. "
                "Add a new creative instead (you can still rename this one).",
            )
        trail.record(
            advertiser_actor(advertiser.id),
            "creative.changed",
            f"creative:{current.id}",
            {"campaign": campaign.id, "changes": changes},
        )
        services.decider.refresh()
    return CreativePublic.of(_own_creative(services, campaign.id, creative_id))


def _own_creative(services: ServicesDep, campaign_id: str, creative_id: str) -> CreativeRecord:
    for creative in services.store.catalog.creatives(campaign_id):
        if creative.id == creative_id:
            return creative
    raise NotFound("creative_not_found", f"No creative '{creative_id[:60]}' in this campaign.")


@router.get("/campaigns/{campaign_id}/creatives", response_model=list[CreativePublic])
def list_creatives(
    campaign_id: str, advertiser: AdvertiserDep, services: ServicesDep
) -> list[CreativePublic]:
    campaign = own_campaign(services, advertiser, campaign_id)
    return [CreativePublic.of(c) for c in services.store.catalog.creatives(campaign.id)]


def own_campaign(
    services: ServicesDep, advertiser: AdvertiserRecord, campaign_id: str
) -> CampaignRecord:
    campaign = services.store.catalog.campaign(campaign_id)
    # Another advertiser's campaign answers exactly like a missing one.
    if campaign is None or campaign.advertiser_id != advertiser.id:
        raise NotFound("campaign_not_found", f"No campaign '{campaign_id[:60]}' in your account.")
    return campaign


def _set_status(
    services: ServicesDep,
    advertiser: AdvertiserRecord,
    campaign_id: str,
    status: str,
    trail: AuditTrail,
) -> CampaignPublic:
    campaign = own_campaign(services, advertiser, campaign_id)
    services.store.catalog.set_campaign_status(campaign.id, status)
    if campaign.status != status:  # pausing a paused campaign changes nothing
        action = "campaign.paused" if status == "paused" else "campaign.resumed"
        trail.record(advertiser_actor(advertiser.id), action, f"campaign:{campaign.id}", {})
    services.decider.refresh()
    return CampaignPublic.of(services.store.catalog.campaign(campaign.id) or campaign)
