"""Boundary shapes per role. Money is integer minor units; times are ISO-8601 UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Self

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from fairview.domain import AdvertiserRecord, BillingModel, CampaignRecord, CreativeRecord
from fairview.serve.context import REGION_PATTERN, DeviceClass

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
        return cls(id=r.id, name=r.name, currency=r.currency, created_at=_dt(r.created_ms))


class AdvertiserCreated(AdvertiserPublic):
    api_key: str = Field(description="Shown only once; fairview keeps only its hash.")


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

    @classmethod
    def of(cls, r: CampaignRecord) -> Self:
        return cls(
            id=r.id,
            name=r.name,
            billing_model=r.billing_model,
            bid=r.bid,
            budget_total=r.budget_total,
            budget_daily=r.budget_daily,
            starts_at=_dt(r.starts_ms),
            ends_at=_dt(r.ends_ms),
            status=r.status,
            spent=r.spent,
            created_at=_dt(r.created_ms),
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
            created_at=_dt(r.created_ms),
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
        "special-category context (GDPR Art. 9); no profiling.",
    )


class CreativeServed(BaseModel):
    id: str
    duration_s: float
    media_url: str


class AdPublic(BaseModel):
    delivery: str
    token: str
    campaign: str
    advertiser: str
    creative: CreativeServed
    events_url: str = "/v1/events"


class ConsentPublic(BaseModel):
    mode: str = Field(description="personalised, contextual, non_personalised or none.")
    rows: list[str] = Field(description="The decision-table rows that produced the mode.")
    signal_errors: dict[str, str] = Field(
        description="Signals that could not be read, with their error code; they count as absent."
    )


class DecisionResponse(BaseModel):
    ads: list[AdPublic]
    consent: ConsentPublic


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)
