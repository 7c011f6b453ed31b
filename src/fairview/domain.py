"""Internal records passed between stages: frozen, typed, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BillingModel(StrEnum):
    CPFV = "cpfv"
    """Cost per focused view: `bid` minor units per focused view."""
    CPM_VIEWABLE = "cpm_viewable"
    """`bid` minor units per 1,000 MRC-viewable impressions."""


@dataclass(frozen=True, slots=True)
class AdvertiserRecord:
    id: str
    name: str
    currency: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class CreativeRecord:
    id: str
    campaign_id: str
    name: str
    duration_ms: int
    media_url: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    id: str
    advertiser_id: str
    name: str
    billing_model: BillingModel
    bid: int
    budget_total: int
    budget_daily: int | None
    starts_ms: int
    ends_ms: int
    status: str
    spent: int
    created_ms: int


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: str
    campaign_id: str
    creative_id: str
    placement: str
    viewer_key: str | None
    region: str
    device_class: str
    mode: str
    duration_ms: int
    issued_ms: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """A campaign that may serve now, with its creatives."""

    campaign: CampaignRecord
    creatives: tuple[CreativeRecord, ...]


def unit_charge(model: BillingModel, bid: int, units_billed_before: int) -> int:
    """Minor units charged for the next billable unit of a campaign.

    CPFV charges `bid` per focused view. CPM charges `bid` per 1,000 viewable
    impressions in integer minor units: the n-th impression costs
    floor((n+1)·bid/1000) − floor(n·bid/1000), so any prefix of impressions
    totals exactly floor(N·bid/1000) and no float is ever involved.
    """
    if model is BillingModel.CPFV:
        return bid
    n = units_billed_before
    return (n + 1) * bid // 1000 - n * bid // 1000
