"""The public ad repository (DSA Art. 39): every ad shown in the last year, searchable.

No credentials: the repository is public. It holds no viewer data: reach is the
stored differentially private release of `fairview jobs repository`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from fairview.api.deps import Services, ServicesDep
from fairview.api.schemas import to_datetime
from fairview.audience.taxonomy import content_taxonomy
from fairview.domain import Targeting
from fairview.errors import FairviewError, NotFound
from fairview.registry import retention_days
from fairview.report.repository import ALL
from fairview.storage.repository import AdEntry, ReachRow, Repository, targeting_summary

router = APIRouter(prefix="/v1/repository", tags=["ad repository"])

MAX_LIMIT = 200


class ReachCell(BaseModel):
    value: float
    ci_low: float
    ci_high: float


class ReachOut(BaseModel):
    total: ReachCell | None = Field(description="All recipients; null when too few to release.")
    by_member_state: dict[str, ReachCell] = Field(
        description="Released member states only (`non-EU` for the rest of the world)."
    )
    computed_at: datetime | None
    epsilon: float | None = Field(description="The differential-privacy ε of this release.")
    note: str


class ContentOut(BaseModel):
    name: str
    media_url: str
    duration_s: float


class AdOut(BaseModel):
    id: str
    content: ContentOut
    advertiser: str = Field(description="On whose behalf the ad was presented.")
    payer: str = Field(description="Who paid for the ad.")
    first_shown: datetime
    last_shown: datetime
    targeted: bool = Field(description="Whether the ad was targeted beyond its placement.")
    personalised: bool = Field(description="Whether some viewers got it from an interest cohort.")
    main_parameters: list[str]
    reach: ReachOut


class AdsOut(BaseModel):
    ads: list[AdOut]
    total: int
    kept: str = "one year after an ad was last shown"


REACH_NOTE = (
    "Differentially private counts of recipients (a delivery without a viewer pseudonym counts "
    "as its own recipient, so these are upper bounds of people); figures under 100 are never "
    "released. The 95 % interval covers the noise only."
)


def _repository(services: Services) -> Repository:
    kept = retention_days(services.settings.retention_days)["ad_repository"]
    return Repository(services.store.engine, kept_days=kept)


def _day_start(day: date) -> int:
    return int(datetime.combine(day, time(), tzinfo=to_datetime(0).tzinfo).timestamp() * 1000)


@router.get("/ads", response_model=AdsOut)
def search_ads(
    services: ServicesDep,
    advertiser: Annotated[str | None, Query(max_length=200)] = None,
    payer: Annotated[
        str | None, Query(max_length=200, description="Part of the payer's name only.")
    ] = None,
    topic: Annotated[str | None, Query(max_length=100)] = None,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AdsOut:
    """Ads shown in the period (default: the kept year), by advertiser name and content topic.

    `advertiser` matches the advertiser or payer name (case-insensitive, part of it),
    `payer` the payer's name only;
    `topic` matches an IAB Content Taxonomy 3.1 id or label the campaign targeted.
    """
    now_ms = services.clock.now_ms()
    repository = _repository(services)
    first_ms = _day_start(first) if first else now_ms - repository.kept_ms
    last_ms = _day_start(last + timedelta(days=1)) - 1 if last else now_ms
    if first_ms > last_ms:
        raise FairviewError(
            "bad_period", "'from' is after 'to'; give the first day, then the last.", status=422
        )
    entries = repository.entries(now_ms=now_ms, first_ms=first_ms, last_ms=last_ms)
    if advertiser:
        needle = advertiser.casefold()
        entries = [
            e for e in entries if needle in e.advertiser.casefold() or needle in e.payer.casefold()
        ]
    if payer:
        wanted = payer.casefold()
        entries = [e for e in entries if wanted in e.payer.casefold()]
    if topic:
        entries = [e for e in entries if _targets_topic(e.targeting, topic)]
    page = entries[offset : offset + limit]
    return AdsOut(ads=_ads(services, page), total=len(entries))


@router.get("/ads/{ad_id}", response_model=AdOut)
def get_ad(ad_id: str, services: ServicesDep) -> AdOut:
    """One ad of the repository."""
    now_ms = services.clock.now_ms()
    repository = _repository(services)
    entries = repository.entries(
        now_ms=now_ms, first_ms=now_ms - repository.kept_ms, last_ms=now_ms
    )
    found = [e for e in entries if e.creative_id == ad_id]
    if not found:
        raise NotFound(
            "unknown_ad",
            "No ad with this id was shown in the last year; search with GET /v1/repository/ads.",
        )
    return _ads(services, found)[0]


def _targets_topic(targeting: Targeting, topic: str) -> bool:
    taxonomy = content_taxonomy()
    wanted = topic.casefold()
    for topic_id in targeting.topics:
        found = taxonomy.get(topic_id)
        if topic_id == topic or (found is not None and wanted in found.label.casefold()):
            return True
    return False


def _ads(services: Services, entries: list[AdEntry]) -> list[AdOut]:
    reach = _repository(services).reach([e.creative_id for e in entries])
    return [_ad(e, reach.get(e.creative_id, [])) for e in entries]


def _topic_label(topic_id: str) -> str:
    found = content_taxonomy().get(topic_id)
    return found.label if found is not None else topic_id


def _ad(e: AdEntry, reach: list[ReachRow]) -> AdOut:
    parameters = targeting_summary(e.targeting, _topic_label)
    cells = {r.region: ReachCell(value=r.reach, ci_low=r.ci_low, ci_high=r.ci_high) for r in reach}
    return AdOut(
        id=e.creative_id,
        content=ContentOut(
            name=e.creative_name, media_url=e.media_url, duration_s=e.duration_ms / 1000
        ),
        advertiser=e.advertiser,
        payer=e.payer,
        first_shown=to_datetime(e.first_shown_ms),
        last_shown=to_datetime(e.last_shown_ms),
        targeted=bool(parameters),
        personalised=e.personalised,
        main_parameters=parameters or ["not targeted: shown to anyone in its placements"],
        reach=ReachOut(
            total=cells.pop(ALL, None),
            by_member_state=cells,
            computed_at=to_datetime(reach[0].computed_ms) if reach else None,
            epsilon=reach[0].epsilon if reach else None,
            note=REACH_NOTE,
        ),
    )
