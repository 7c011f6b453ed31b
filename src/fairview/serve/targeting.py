"""Eligibility: does a campaign's targeting admit this request, and on what grounds?

Pure: the request context and the time come in as values. The grounds that
matched are returned in plain words; they become the delivery's "why this ad"
record, so the explanation is exactly what the decision used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from fairview.audience.taxonomy import Taxonomy
from fairview.audience.topics import topics_v2
from fairview.consent.regions import split_region
from fairview.domain import Daypart, Targeting


@dataclass(frozen=True, slots=True)
class Context:
    """What an ad request says about where the ad would run."""

    placement: str
    region: str
    language: str | None
    device_class: str
    topics: tuple[str, ...]  # content topics of the video being watched
    cohort: str | None  # the viewer's interest cohort, only in personalised mode
    now_ms: int
    interest_topics: frozenset[int] = frozenset()
    """The cohort's label topics and their ancestors (Topics v2), only with a cohort."""


def eligible(t: Targeting, ctx: Context, taxonomy: Taxonomy) -> tuple[str, ...] | None:
    """None when the campaign may not serve here; else the targeting that matched, in words.

    Brand safety first: a campaign never runs next to a topic it blocks (or below
    one). A cohort-targeted campaign runs only for a viewer in one of its cohorts,
    which the caller supplies only when the consent policy allows personalised ads.
    """
    if t.blocked_topics and any(taxonomy.within(topic, t.blocked_topics) for topic in ctx.topics):
        return None
    grounds: list[str] = []
    if t.regions:
        region = _region_match(t.regions, ctx.region)
        if region is None:
            return None
        grounds.append(f"region: {region}")
    for label, wanted, value in (
        ("language", t.languages, ctx.language),
        ("device", t.devices, ctx.device_class),
        ("placement", t.placements, ctx.placement),
    ):
        if wanted:
            if value not in wanted:
                return None
            grounds.append(f"{label}: {value}")
    if t.topics:
        topic = next((x for x in ctx.topics if taxonomy.within(x, t.topics)), None)
        if topic is None:
            return None
        known = taxonomy.get(topic)
        grounds.append(f"content topic: {known.label if known else topic}")
    if t.dayparts:
        if not in_dayparts(t.dayparts, t.timezone, ctx.now_ms):
            return None
        grounds.append(f"time of day ({t.timezone})")
    if t.cohorts:
        if ctx.cohort is None or ctx.cohort not in t.cohorts:
            return None
        grounds.append(f"interest cohort: {ctx.cohort}")
    if t.interests:
        interest = next((i for i in t.interests if i in ctx.interest_topics), None)
        if interest is None or ctx.cohort is None:
            return None
        grounds.append(f"interest cohort: {ctx.cohort} ({interest_name(interest)})")
    return tuple(grounds)


def interest_name(topic_id: int) -> str:
    found = topics_v2().get(topic_id)
    return found.name if found is not None else str(topic_id)


def in_dayparts(dayparts: tuple[Daypart, ...], timezone: str, now_ms: int) -> bool:
    local = datetime.fromtimestamp(now_ms / 1000, tz=_zone(timezone))
    day, hour = local.weekday(), local.hour
    return any(day in d.days and d.start_hour <= hour < d.end_hour for d in dayparts)


def _region_match(wanted: tuple[str, ...], region: str) -> str | None:
    country, part = split_region(region)
    for entry in wanted:
        want_country, want_part = split_region(entry)
        if want_country == country and (want_part is None or want_part == part):
            return entry
    return None


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
