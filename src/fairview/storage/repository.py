"""The DSA Art. 39 ad repository: which ads ran, for whom, on what basis, reaching how many.

Entries are derived from the catalog and the deliveries (no copy to drift); the
reach per member state is a stored differentially private release
(`repository_reach`), written by `fairview jobs repository`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select

from fairview.domain import Targeting
from fairview.storage.catalog import targeting_from_json
from fairview.storage.engine import writer
from fairview.storage.schema import (
    Advertiser,
    Campaign,
    Creative,
    Delivery,
    RepositoryReach,
)

DAY_MS = 86_400_000
KEPT_DAYS = 365
"""An ad stays in the repository one year after it was last shown (DSA Art. 39(1));
the `ad_repository` retention setting may keep it longer."""


@dataclass(frozen=True, slots=True)
class AdEntry:
    creative_id: str
    creative_name: str
    media_url: str
    duration_ms: int
    campaign_id: str
    campaign_name: str
    advertiser: str
    payer: str
    targeting: Targeting
    first_shown_ms: int
    last_shown_ms: int
    deliveries: int
    personalised: bool  # some deliveries were chosen with an interest cohort


@dataclass(frozen=True, slots=True)
class ReachRow:
    creative_id: str
    region: str
    reach: float
    ci_low: float
    ci_high: float
    epsilon: float
    computed_ms: int


class Repository:
    def __init__(self, engine: Engine, *, kept_days: int = KEPT_DAYS) -> None:
        self._engine = engine
        self._write = writer(engine)
        self.kept_ms = kept_days * DAY_MS

    def entries(self, *, now_ms: int, first_ms: int, last_ms: int) -> list[AdEntry]:
        """Ads shown in [first_ms, last_ms] and last shown within the kept year, newest first."""
        shown = (
            select(
                Delivery.creative_id,
                func.min(Delivery.issued_ms).label("first"),
                func.max(Delivery.issued_ms).label("last"),
                func.count().label("n"),
                func.max(Delivery.mode).label("mode"),
            )
            .group_by(Delivery.creative_id)
            .subquery()
        )
        personalised = (
            select(Delivery.creative_id)
            .where(Delivery.why.like('%"personalised": true%'))
            .distinct()
            .subquery()
        )
        query = (
            select(
                Creative.id,
                Creative.name,
                Creative.media_url,
                Creative.duration_ms,
                Campaign.id,
                Campaign.name,
                Advertiser.name,
                Campaign.payer,
                Campaign.targeting,
                shown.c.first,
                shown.c.last,
                shown.c.n,
                personalised.c.creative_id,
            )
            .join(shown, shown.c.creative_id == Creative.id)
            .join(Campaign, Campaign.id == Creative.campaign_id)
            .join(Advertiser, Advertiser.id == Campaign.advertiser_id)
            .outerjoin(personalised, personalised.c.creative_id == Creative.id)
            .where(
                shown.c.last >= max(first_ms, now_ms - self.kept_ms),
                shown.c.first <= last_ms,
            )
            .order_by(shown.c.last.desc(), Creative.id)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            AdEntry(
                creative_id=r[0],
                creative_name=r[1],
                media_url=r[2],
                duration_ms=int(r[3]),
                campaign_id=r[4],
                campaign_name=r[5],
                advertiser=r[6],
                payer=r[7] or r[6],
                targeting=targeting_from_json(r[8]),
                first_shown_ms=int(r[9]),
                last_shown_ms=int(r[10]),
                deliveries=int(r[11]),
                personalised=r[12] is not None,
            )
            for r in rows
        ]

    def audience_rows(self, *, since_ms: int) -> Iterator[tuple[str | None, str, str, str]]:
        """(viewer pseudonym or None, delivery id, creative id, region) of recent deliveries."""
        query = select(
            Delivery.viewer_key, Delivery.id, Delivery.creative_id, Delivery.region
        ).where(Delivery.issued_ms >= since_ms)
        with self._engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=50_000).execute(query)
            for row in result:
                yield str(row[0]) if row[0] is not None else None, row[1], row[2], row[3]

    def replace_reach(self, rows: Sequence[ReachRow], creative_ids: Sequence[str]) -> None:
        """Store a release: the listed creatives' previous figures are replaced as a whole."""
        with self._write.begin() as conn:
            for start in range(0, len(creative_ids), 500):
                chunk = list(creative_ids[start : start + 500])
                conn.execute(delete(RepositoryReach).where(RepositoryReach.creative_id.in_(chunk)))
            if rows:
                conn.execute(insert(RepositoryReach), [_reach_dict(r) for r in rows])

    def reach(self, creative_ids: Sequence[str]) -> dict[str, list[ReachRow]]:
        if not creative_ids:
            return {}
        query = (
            select(RepositoryReach)
            .where(RepositoryReach.creative_id.in_(list(creative_ids)))
            .order_by(RepositoryReach.creative_id, RepositoryReach.region)
        )
        found: dict[str, list[ReachRow]] = {}
        with self._engine.connect() as conn:
            for r in conn.execute(query):
                row = ReachRow(
                    r.creative_id, r.region, r.reach, r.ci_low, r.ci_high, r.epsilon, r.computed_ms
                )
                found.setdefault(r.creative_id, []).append(row)
        return found

    def prune(self, now_ms: int) -> int:
        """Delete stored reach of ads last shown more than a year ago (or never)."""
        last = (
            select(Delivery.creative_id, func.max(Delivery.issued_ms).label("last"))
            .group_by(Delivery.creative_id)
            .subquery()
        )
        recent = select(last.c.creative_id).where(last.c.last >= now_ms - self.kept_ms)
        with self._write.begin() as conn:
            result = conn.execute(
                delete(RepositoryReach).where(RepositoryReach.creative_id.not_in(recent))
            )
        return int(result.rowcount or 0)


def _reach_dict(r: ReachRow) -> dict[str, Any]:
    return {
        "creative_id": r.creative_id,
        "region": r.region,
        "reach": r.reach,
        "ci_low": r.ci_low,
        "ci_high": r.ci_high,
        "epsilon": r.epsilon,
        "computed_ms": r.computed_ms,
    }


def targeting_summary(t: Targeting, topic_label: Callable[[str], str] = str) -> list[str]:
    """The main targeting parameters in plain words (DSA Art. 39(2)(e))."""
    parts = []
    if t.regions:
        parts.append("regions: " + ", ".join(t.regions))
    if t.languages:
        parts.append("languages: " + ", ".join(t.languages))
    if t.devices:
        parts.append("devices: " + ", ".join(t.devices))
    if t.placements:
        parts.append("placements: " + ", ".join(t.placements))
    if t.topics:
        parts.append("content topics: " + ", ".join(map(topic_label, t.topics)))
    if t.blocked_topics:
        parts.append("never next to: " + ", ".join(map(topic_label, t.blocked_topics)))
    if t.dayparts:
        parts.append(f"times of day ({t.timezone})")
    if t.cohorts:
        parts.append(f"interest cohorts ({len(t.cohorts)}), only with consent to personalised ads")
    return parts
