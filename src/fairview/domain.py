"""Internal records passed between stages: frozen, typed, never ORM rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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
class Daypart:
    """Days of the week (0 Monday … 6 Sunday) and hours [start_hour, end_hour) in local time."""

    days: tuple[int, ...]
    start_hour: int
    end_hour: int


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most `max_deliveries` of the campaign per viewer in any `window_days` days."""

    max_deliveries: int
    window_days: int


FOCUSED_VIEW_CAP = FrequencyCap(6, 7)
"""The default for cpfv campaigns: under 7 per 7 days, as TikTok's Focused View."""


@dataclass(frozen=True, slots=True)
class Targeting:
    """Who may be shown a campaign. Empty tuples mean "any".

    Every criterion reads the request context only; `cohorts` (interest cohorts)
    apply only where the consent policy allows personalised ads.
    """

    regions: tuple[str, ...] = ()  # "DE" (a country) or "US-CA" (a subdivision)
    languages: tuple[str, ...] = ()  # ISO 639-1, lower case
    devices: tuple[str, ...] = ()  # device classes
    placements: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()  # content topics (with their subtopics)
    blocked_topics: tuple[str, ...] = ()  # brand safety: never next to these
    dayparts: tuple[Daypart, ...] = ()
    timezone: str = "UTC"  # IANA zone the dayparts are read in
    cohorts: tuple[str, ...] = ()
    frequency_cap: FrequencyCap | None = None
    interests: tuple[int, ...] = ()  # Topics v2 ids: viewers whose cohort is labelled so

    def to_json(self) -> dict[str, Any]:
        return {
            "regions": list(self.regions),
            "languages": list(self.languages),
            "devices": list(self.devices),
            "placements": list(self.placements),
            "topics": list(self.topics),
            "blocked_topics": list(self.blocked_topics),
            "dayparts": [
                {"days": list(d.days), "start_hour": d.start_hour, "end_hour": d.end_hour}
                for d in self.dayparts
            ],
            "timezone": self.timezone,
            "cohorts": list(self.cohorts),
            "interests": list(self.interests),
            "frequency_cap": None
            if self.frequency_cap is None
            else {
                "max_deliveries": self.frequency_cap.max_deliveries,
                "window_days": self.frequency_cap.window_days,
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Targeting:
        """Read what `to_json` wrote (values were validated at the API edge)."""
        cap = data.get("frequency_cap")
        return cls(
            regions=tuple(data.get("regions", ())),
            languages=tuple(data.get("languages", ())),
            devices=tuple(data.get("devices", ())),
            placements=tuple(data.get("placements", ())),
            topics=tuple(data.get("topics", ())),
            blocked_topics=tuple(data.get("blocked_topics", ())),
            dayparts=tuple(
                Daypart(tuple(d["days"]), d["start_hour"], d["end_hour"])
                for d in data.get("dayparts", ())
            ),
            timezone=data.get("timezone", "UTC"),
            cohorts=tuple(data.get("cohorts", ())),
            interests=tuple(data.get("interests", ())),
            frequency_cap=None
            if cap is None
            else FrequencyCap(cap["max_deliveries"], cap["window_days"]),
        )


NO_TARGETING = Targeting()


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
    targeting: Targeting = NO_TARGETING
    payer: str | None = None  # DSA Art. 26: who paid, when not the advertiser itself

    @property
    def frequency_cap(self) -> FrequencyCap | None:
        """The campaign's cap; cpfv campaigns get the focused-view default when unset."""
        if self.targeting.frequency_cap is not None:
            return self.targeting.frequency_cap
        return FOCUSED_VIEW_CAP if self.billing_model is BillingModel.CPFV else None


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
    why: Mapping[str, Any] = field(default_factory=dict)  # the main parameters actually used


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
