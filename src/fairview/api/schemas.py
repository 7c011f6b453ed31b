"""Boundary shapes per role. Money is integer minor units; times are ISO-8601 UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from fairview.audience.taxonomy import MAX_TOPICS_PER_REQUEST, content_taxonomy
from fairview.audience.topics import allowlist as interest_allowlist
from fairview.domain import (
    AdvertiserRecord,
    BillingModel,
    CampaignRecord,
    CreativeRecord,
    Daypart,
    FrequencyCap,
    Targeting,
)
from fairview.serve.context import REGION_PATTERN, DeviceClass
from fairview.storage.frequency import MAX_WINDOW_DAYS

_Money = Annotated[int, Field(strict=True, gt=0, le=10**15)]
_Name = Annotated[str, Field(min_length=1, max_length=200)]
_CURRENCIES = frozenset(
    {"EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "CAD", "AUD"}
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdvertiserCreate(_In):
    name: _Name
    currency: str = Field("EUR", description="ISO 4217 code of a two-decimal currency.")

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in _CURRENCIES:
            raise PydanticCustomError(
                "unsupported_currency",
                "currency must be one of {known}",
                {"known": ", ".join(sorted(_CURRENCIES))},
            )
        return value


class AdvertiserPublic(BaseModel):
    id: str
    name: str
    currency: str
    created_at: datetime

    @classmethod
    def of(cls, r: AdvertiserRecord) -> Self:
        return cls(id=r.id, name=r.name, currency=r.currency, created_at=to_datetime(r.created_ms))


class AdvertiserCreated(AdvertiserPublic):
    api_key: str = Field(description="Shown only once; fairview keeps only its hash.")


_Topic = Annotated[str, Field(min_length=1, max_length=40)]


def known_topics(value: list[str]) -> list[str]:
    """Refuse a content topic that is not in the taxonomy (`unknown_topic`)."""
    unknown = content_taxonomy().unknown(value)
    if unknown:
        raise PydanticCustomError(
            "unknown_topic",
            "topic {topic!r} is not in the IAB Content Taxonomy 3.1 or the platform labels",
            {"topic": unknown[0][:40]},
        )
    return value


class DaypartIn(_In):
    days: list[Annotated[int, Field(strict=True, ge=0, le=6)]] = Field(
        min_length=1, max_length=7, description="Days of the week, 0 Monday … 6 Sunday."
    )
    start_hour: int = Field(ge=0, le=23, strict=True)
    end_hour: int = Field(ge=1, le=24, strict=True, description="Exclusive.")

    @field_validator("end_hour")
    @classmethod
    def _after_start(cls, value: int, info: ValidationInfo) -> int:
        start = info.data.get("start_hour")
        if start is not None and value <= start:
            raise PydanticCustomError("empty_daypart", "end_hour must be after start_hour")
        return value


class FrequencyCapIn(_In):
    max_deliveries: int = Field(ge=1, le=1000, strict=True)
    window_days: int = Field(ge=1, le=MAX_WINDOW_DAYS, strict=True)


class TargetingIn(_In):
    """Who may see the campaign; an empty list means "any". Docs: docs/targeting.md."""

    regions: list[Annotated[str, Field(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")]] = Field(
        default_factory=list, max_length=300, description="Countries (DE) or subdivisions (US-CA)."
    )
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2}$")]] = Field(
        default_factory=list, max_length=100
    )
    devices: list[DeviceClass] = Field(default_factory=list, max_length=5)
    placements: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")]] = Field(
        default_factory=list, max_length=100
    )
    topics: list[_Topic] = Field(
        default_factory=list, max_length=200, description="Content topics (and their subtopics)."
    )
    blocked_topics: list[_Topic] = Field(
        default_factory=list,
        max_length=200,
        description="Brand safety: never next to these content topics (or their subtopics).",
    )
    dayparts: list[DaypartIn] = Field(default_factory=list, max_length=50)
    timezone: str = Field("UTC", max_length=60, description="IANA zone the dayparts use.")
    cohorts: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list,
        max_length=100,
        description="Interest cohorts; served only where consent allows personalised ads.",
    )
    interests: list[int] = Field(
        default_factory=list,
        max_length=50,
        description="Interest topics (Privacy Sandbox Topics v2 ids, GET /v1/cohorts shows "
        "them): the campaign reaches viewers whose interest cohort is labelled with one of "
        "them or a subtopic, this epoch and the next; only where consent allows "
        "personalised ads.",
    )
    frequency_cap: FrequencyCapIn | None = Field(
        None,
        description="At most max_deliveries per viewer in window_days; cpfv campaigns "
        "default to 6 per 7 days. Applied only where consent allows storage.",
    )

    @field_validator("topics", "blocked_topics")
    @classmethod
    def _known_topics(cls, value: list[str]) -> list[str]:
        return known_topics(value)

    @field_validator("interests")
    @classmethod
    def _allowlisted_interests(cls, value: list[int]) -> list[int]:
        allowed = interest_allowlist()
        unknown = [t for t in value if t not in allowed]
        if unknown:
            raise PydanticCustomError(
                "unknown_interest",
                "interest {topic} is not an interest topic fairview uses (Topics v2 without "
                "sensitive categories); see the topics GET /v1/cohorts lists",
                {"topic": unknown[0]},
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "unknown_timezone", "timezone must be an IANA zone such as Europe/Berlin"
            ) from None
        return value

    def to_domain(self) -> Targeting:
        cap = self.frequency_cap
        return Targeting(
            regions=tuple(self.regions),
            languages=tuple(self.languages),
            devices=tuple(d.value for d in self.devices),
            placements=tuple(self.placements),
            topics=tuple(self.topics),
            blocked_topics=tuple(self.blocked_topics),
            dayparts=tuple(
                Daypart(tuple(sorted(set(d.days))), d.start_hour, d.end_hour) for d in self.dayparts
            ),
            timezone=self.timezone,
            cohorts=tuple(self.cohorts),
            interests=tuple(dict.fromkeys(self.interests)),
            frequency_cap=None
            if cap is None
            else FrequencyCap(cap.max_deliveries, cap.window_days),
        )


class CampaignCreate(_In):
    name: _Name
    billing_model: BillingModel = Field(
        description="cpfv: bid per focused view; cpm_viewable: bid per 1,000 viewable impressions."
    )
    bid: _Money
    budget_total: _Money
    budget_daily: _Money | None = None
    starts_at: datetime
    ends_at: datetime
    targeting: TargetingIn = Field(default_factory=TargetingIn)
    payer: _Name | None = Field(
        None, description="Who pays for the ads, when not the advertiser (DSA Art. 26(1)(c))."
    )

    @field_validator("budget_total")
    @classmethod
    def _pays_one(cls, value: int, info: ValidationInfo) -> int:
        model, bid = info.data.get("billing_model"), info.data.get("bid")
        if model is BillingModel.CPFV and bid is not None and bid > value:
            raise PydanticCustomError(
                "budget_below_bid",
                "budget_total is below the bid: not even one focused view could be paid",
            )
        return value

    @field_validator("budget_daily")
    @classmethod
    def _daily_within_total(cls, value: int | None, info: ValidationInfo) -> int | None:
        total = info.data.get("budget_total")
        if value is not None and total is not None and value > total:
            raise PydanticCustomError("daily_over_total", "budget_daily cannot exceed budget_total")
        return value

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime, info: ValidationInfo) -> datetime:
        if value.tzinfo is None:
            raise PydanticCustomError(
                "needs_timezone", "give a time zone, e.g. 2026-12-01T00:00:00Z"
            )
        value = value.astimezone(UTC)
        starts = info.data.get("starts_at")
        if info.field_name == "ends_at" and starts is not None and value <= starts:
            raise PydanticCustomError("ends_before_starts", "ends_at must be after starts_at")
        return value


class CampaignUpdate(_In):
    """A change to a campaign's own fields; absent fields stay as they are.

    The merged campaign is validated like a new one (CampaignCreate), so the same
    rules and codes apply; the billing model cannot change once created.
    """

    name: _Name | None = None
    bid: _Money | None = None
    budget_total: _Money | None = None
    budget_daily: _Money | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    payer: _Name | None = None


class CampaignPublic(BaseModel):
    id: str
    name: str
    billing_model: BillingModel
    bid: int
    budget_total: int
    budget_daily: int | None
    starts_at: datetime
    ends_at: datetime
    status: str
    spent: int
    created_at: datetime
    targeting: dict[str, Any]
    payer: str | None
    frequency_cap: FrequencyCapIn | None = Field(
        description="The cap in force (the cpfv default when none was set)."
    )

    @classmethod
    def of(cls, r: CampaignRecord) -> Self:
        return cls(
            id=r.id,
            name=r.name,
            billing_model=r.billing_model,
            bid=r.bid,
            budget_total=r.budget_total,
            budget_daily=r.budget_daily,
            starts_at=to_datetime(r.starts_ms),
            ends_at=to_datetime(r.ends_ms),
            status=r.status,
            spent=r.spent,
            created_at=to_datetime(r.created_ms),
            targeting=r.targeting.to_json(),
            payer=r.payer,
            frequency_cap=None
            if r.frequency_cap is None
            else FrequencyCapIn(
                max_deliveries=r.frequency_cap.max_deliveries,
                window_days=r.frequency_cap.window_days,
            ),
        )


class CreativeCreate(_In):
    name: _Name
    duration_s: float = Field(
        gt=0, le=600, allow_inf_nan=False, description="Creative length in seconds (ms precision)."
    )
    media_url: AnyHttpUrl

    @field_validator("duration_s")
    @classmethod
    def _viewable_length(cls, value: float) -> float:
        if value < 2.0:
            raise PydanticCustomError(
                "too_short_to_view",
                "duration_s below 2 s can never be MRC-viewable; upload a longer creative",
            )
        return value


class CreativeUpdate(_In):
    """A change to a creative; absent fields stay. The merged creative is validated like
    a new one (CreativeCreate). The video (`duration_s`, `media_url`) can change only
    until the creative is first delivered."""

    name: _Name | None = None
    duration_s: float | None = None
    media_url: AnyHttpUrl | None = None


class CreativePublic(BaseModel):
    id: str
    campaign_id: str
    name: str
    duration_s: float
    media_url: str
    created_at: datetime

    @classmethod
    def of(cls, r: CreativeRecord) -> Self:
        return cls(
            id=r.id,
            campaign_id=r.campaign_id,
            name=r.name,
            duration_s=r.duration_ms / 1000,
            media_url=r.media_url,
            created_at=to_datetime(r.created_ms),
        )


class DecisionRequest(_In):
    placement: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    user_ref: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The platform's "
        "opaque user reference; fairview keeps only HMAC(pepper, user_ref).",
    )
    region: str = Field(
        "ZZ",
        pattern=REGION_PATTERN,
        description="Coarse region the platform "
        "derived, e.g. EU-DE, US-CA or DE; ZZ when unknown. Never an IP address.",
    )
    device: DeviceClass | None = Field(
        None, description="Device class; derived from the User-Agent header when absent."
    )
    count: int = Field(1, ge=1, le=5, strict=True)
    tc_string: str | None = Field(
        None,
        max_length=8192,
        description="IAB TCF v2.2/2.3 TC string from the viewer's CMP (kept as consent evidence).",
    )
    gpp: str | None = Field(None, max_length=8192, description="IAB GPP string.")
    age: int | None = Field(
        None,
        ge=0,
        le=130,
        strict=True,
        description="The viewer's age, if the platform knows it; minors never get profiling.",
    )
    sensitive_context: bool = Field(
        False,
        description="The content being watched is "
        "special-category context (GDPR Art. 9); no profiling. Implied by a sensitive topic.",
    )
    language: str | None = Field(
        None, pattern=r"^[a-z]{2}$", description="Language of the content, ISO 639-1 (e.g. de)."
    )
    topics: list[str] = Field(
        default_factory=list,
        max_length=MAX_TOPICS_PER_REQUEST,
        description="Content topics of the video being watched: IAB Content Taxonomy 3.1 ids "
        "or platform labels (docs/targeting.md). Used for contextual targeting and brand "
        "safety; sensitive topics rule out profiling.",
    )

    @field_validator("topics")
    @classmethod
    def _known_topics(cls, value: list[str]) -> list[str]:
        return known_topics(value)


class CreativeServed(BaseModel):
    id: str
    duration_s: float
    media_url: str


class DisclosurePublic(BaseModel):
    """DSA Art. 26(1): shown with every ad."""

    advertiser: str = Field(description="The natural or legal person the ad is presented for.")
    payer: str = Field(description="Who paid for the ad.")
    parameters: list[str] = Field(
        description="The main parameters used to choose this ad, in plain words."
    )
    why_url: str = Field(description="Where the viewer can read the full explanation.")
    change_url: str = Field(
        description="Where the viewer sees and changes the parameters personalisation uses: "
        "their interests (remove a topic) and a pause (DSA Art. 26(1)(d))."
    )


class AdPublic(BaseModel):
    delivery: str
    token: str
    campaign: str
    advertiser: str
    creative: CreativeServed
    events_url: str = "/v1/events"
    disclosure: DisclosurePublic


class WhyPublic(BaseModel):
    """Why this ad was shown: exactly the parameters the decision used."""

    delivery: str
    advertiser: str
    payer: str
    shown_at: datetime
    mode: str = Field(description="personalised, contextual or non_personalised.")
    personalised: bool = Field(description="Whether anything about the viewer was used.")
    content_topics: list[str]
    matched_targeting: list[str]
    interest_cohort: str | None
    selection: str
    consent_rows: list[str]
    parameters: list[str]
    how_to_change: str = Field(
        description="How the viewer can change the parameters, in plain words, with the URLs."
    )


class ConsentPublic(BaseModel):
    mode: str = Field(description="personalised, contextual, non_personalised or none.")
    rows: list[str] = Field(description="The decision-table rows that produced the mode.")
    signal_errors: dict[str, str] = Field(
        description="Signals that could not be read, with their error code; they count as absent."
    )


class DecisionResponse(BaseModel):
    ads: list[AdPublic]
    consent: ConsentPublic


def to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)
