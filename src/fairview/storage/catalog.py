"""Advertisers, their API keys, campaigns and creatives."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from sqlalchemy import BindParameter, Engine, Row, bindparam, func, insert, or_, select, update

from fairview.domain import (
    NO_TARGETING,
    AdvertiserRecord,
    BillingModel,
    CampaignRecord,
    Candidate,
    CreativeRecord,
    Targeting,
)
from fairview.storage.engine import writer
from fairview.storage.schema import (
    Advertiser,
    ApiKey,
    Campaign,
    CampaignDaySpend,
    Creative,
    Delivery,
)


def hash_api_key(key: str) -> str:
    """Keys are 256-bit random, so a plain SHA-256 is a safe, fast verifier."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    name: str
    billing_model: BillingModel
    bid: int
    budget_total: int
    budget_daily: int | None
    starts_ms: int
    ends_ms: int
    targeting: Targeting = NO_TARGETING
    payer: str | None = None


@dataclass(frozen=True, slots=True)
class CreativeSpec:
    name: str
    duration_ms: int
    media_url: str


class Catalog:
    """What advertisers buy: accounts, campaigns, creatives, and what may serve now."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = writer(engine)
        self._parsed: dict[tuple[Any, ...], Any] = {}
        """The last `candidates` rows and their records: an unchanged row is not parsed
        again, and an unchanged catalog gives back the very same records."""

    def create_advertiser(
        self, name: str, currency: str, now_ms: int
    ) -> tuple[AdvertiserRecord, str]:
        """Create an account; returns it with its API key, which is shown only this once."""
        record = AdvertiserRecord(new_id("adv"), name, currency, now_ms)
        key = f"fv_{secrets.token_urlsafe(32)}"
        with self._write.begin() as conn:
            conn.execute(
                insert(Advertiser).values(
                    id=record.id, name=name, currency=currency, created_ms=now_ms
                )
            )
            conn.execute(
                insert(ApiKey).values(
                    key_hash=hash_api_key(key),
                    advertiser_id=record.id,
                    prefix=key[:10],
                    created_ms=now_ms,
                    revoked_ms=None,
                )
            )
        return record, key

    def add_key(self, advertiser_id: str, now_ms: int) -> tuple[str, str]:
        """A new API key for the advertiser; returns (prefix, key). The key is shown once."""
        key = f"fv_{secrets.token_urlsafe(32)}"
        with self._write.begin() as conn:
            conn.execute(
                insert(ApiKey).values(
                    key_hash=hash_api_key(key),
                    advertiser_id=advertiser_id,
                    prefix=key[:10],
                    created_ms=now_ms,
                    revoked_ms=None,
                )
            )
        return key[:10], key

    def keys(self, advertiser_id: str) -> list[tuple[str, int, int | None]]:
        """The advertiser's keys as (prefix, created_ms, revoked_ms), oldest first."""
        query = (
            select(ApiKey.prefix, ApiKey.created_ms, ApiKey.revoked_ms)
            .where(ApiKey.advertiser_id == advertiser_id)
            .order_by(ApiKey.created_ms, ApiKey.prefix)
        )
        with self._engine.connect() as conn:
            return [(p, int(c), None if r is None else int(r)) for p, c, r in conn.execute(query)]

    def revoke_key(self, advertiser_id: str, prefix: str, now_ms: int) -> bool:
        """Revoke the advertiser's own key with this prefix; False when it has none."""
        with self._write.begin() as conn:
            found = conn.execute(
                select(ApiKey.revoked_ms).where(
                    ApiKey.advertiser_id == advertiser_id, ApiKey.prefix == prefix
                )
            ).first()
            if found is None:
                return False
            conn.execute(
                update(ApiKey)
                .where(
                    ApiKey.advertiser_id == advertiser_id,
                    ApiKey.prefix == prefix,
                    ApiKey.revoked_ms.is_(None),
                )
                .values(revoked_ms=now_ms)
            )
        return True

    def advertiser_for_key(self, key: str) -> AdvertiserRecord | None:
        query = (
            select(Advertiser.id, Advertiser.name, Advertiser.currency, Advertiser.created_ms)
            .join(ApiKey, ApiKey.advertiser_id == Advertiser.id)
            .where(ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_ms.is_(None))
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else AdvertiserRecord(*row)

    def get_advertiser(self, advertiser_id: str) -> AdvertiserRecord | None:
        query = select(Advertiser.id, Advertiser.name, Advertiser.currency, Advertiser.created_ms)
        with self._engine.connect() as conn:
            row = conn.execute(query.where(Advertiser.id == advertiser_id)).first()
        return None if row is None else AdvertiserRecord(*row)

    def create_campaign(
        self, advertiser_id: str, spec: CampaignSpec, now_ms: int
    ) -> CampaignRecord:
        record = CampaignRecord(
            id=new_id("cmp"),
            advertiser_id=advertiser_id,
            name=spec.name,
            billing_model=spec.billing_model,
            bid=spec.bid,
            budget_total=spec.budget_total,
            budget_daily=spec.budget_daily,
            starts_ms=spec.starts_ms,
            ends_ms=spec.ends_ms,
            status="active",
            spent=0,
            created_ms=now_ms,
            targeting=spec.targeting,
            payer=spec.payer,
        )
        values = asdict(record) | {
            "billing_model": record.billing_model.value,
            "billed_units": 0,
            "targeting": orjson.dumps(spec.targeting.to_json()).decode(),
        }
        with self._write.begin() as conn:
            conn.execute(insert(Campaign).values(**values))
        return record

    def set_targeting(self, campaign_id: str, targeting: Targeting) -> None:
        text = orjson.dumps(targeting.to_json()).decode()
        with self._write.begin() as conn:
            conn.execute(update(Campaign).where(Campaign.id == campaign_id).values(targeting=text))

    def update_campaign(self, campaign_id: str, changes: dict[str, Any]) -> bool:
        """Change a campaign's own fields (name, bid, budgets, flight, payer).

        `changes` maps CampaignSpec field names to new values (times as `starts_ms`,
        `ends_ms`). A new `budget_total` below what is already spent is refused
        in the same statement (False), so a concurrent charge cannot slip past it.
        """
        allowed = {"name", "bid", "budget_total", "budget_daily", "starts_ms", "ends_ms", "payer"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"not a changeable campaign field: {sorted(unknown)}")
        if not changes:
            return True
        query = update(Campaign).where(Campaign.id == campaign_id).values(**changes)
        if "budget_total" in changes:
            query = query.where(Campaign.spent <= changes["budget_total"])
        with self._write.begin() as conn:
            return conn.execute(query).rowcount == 1

    def set_campaign_status(self, campaign_id: str, status: str) -> None:
        with self._write.begin() as conn:
            conn.execute(update(Campaign).where(Campaign.id == campaign_id).values(status=status))

    def campaigns(self, advertiser_id: str | None = None) -> list[CampaignRecord]:
        query = select(*_CAMPAIGN_COLUMNS).order_by(Campaign.created_ms, Campaign.id)
        if advertiser_id is not None:
            query = query.where(Campaign.advertiser_id == advertiser_id)
        with self._engine.connect() as conn:
            return [_campaign(row) for row in conn.execute(query)]

    def campaign(self, campaign_id: str) -> CampaignRecord | None:
        query = select(*_CAMPAIGN_COLUMNS).where(Campaign.id == campaign_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _campaign(row)

    def add_creative(self, campaign_id: str, spec: CreativeSpec, now_ms: int) -> CreativeRecord:
        record = CreativeRecord(
            new_id("crv"), campaign_id, spec.name, spec.duration_ms, spec.media_url, now_ms
        )
        with self._write.begin() as conn:
            conn.execute(
                insert(Creative).values(
                    id=record.id,
                    campaign_id=campaign_id,
                    name=spec.name,
                    duration_ms=spec.duration_ms,
                    media_url=spec.media_url,
                    created_ms=now_ms,
                )
            )
        return record

    def update_creative(self, creative_id: str, changes: dict[str, Any]) -> bool:
        """Change a creative's name, or, while it has never been delivered, its video.

        `changes` maps `name`, `duration_ms`, `media_url` to new values. A change of
        the video (`duration_ms`, `media_url`) of a creative with any delivery is
        refused in the same statement (False): what was shown stays what the ad
        repository and the delivery records describe.
        """
        allowed = {"name", "duration_ms", "media_url"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"not a changeable creative field: {sorted(unknown)}")
        if not changes:
            return True
        query = update(Creative).where(Creative.id == creative_id).values(**changes)
        if changes.keys() & {"duration_ms", "media_url"}:
            shown = select(Delivery.id).where(Delivery.creative_id == creative_id).exists()
            query = query.where(~shown)
        with self._write.begin() as conn:
            return conn.execute(query).rowcount == 1

    def creatives(self, campaign_id: str) -> list[CreativeRecord]:
        query = (
            select(*_CREATIVE_COLUMNS)
            .where(Creative.campaign_id == campaign_id)
            .order_by(Creative.created_ms, Creative.id)
        )
        with self._engine.connect() as conn:
            return [CreativeRecord(*row) for row in conn.execute(query)]

    def candidates(self, now_ms: int, day: str) -> list[Candidate]:
        """Active campaigns in flight with total and today's budget left and a creative.

        Each server process calls this every second, so it is cheap: two statements
        built once, rows fetched in one call, and only rows that changed parsed again.
        """
        parsed, kept = self._parsed, {}

        def record(row: tuple[Any, ...], make: Callable[[tuple[Any, ...]], Any]) -> Any:
            found = kept[row] = parsed.get(row) or make(row)
            return found

        at = {"now": now_ms, "day": day}
        with self._engine.connect() as conn:
            # plain tuples: hashed and compared in C when looked up in `parsed`
            campaign_rows = list(map(tuple, conn.execute(_SERVING_CAMPAIGNS, at).all()))
            creative_rows = list(map(tuple, conn.execute(_SERVING_CREATIVES, at).all()))
        campaigns: list[CampaignRecord] = [record(row, _campaign) for row in campaign_rows]
        by_campaign: dict[str, list[CreativeRecord]] = {}
        for row in creative_rows:
            creative: CreativeRecord = record(row, lambda v: CreativeRecord(*v))
            by_campaign.setdefault(creative.campaign_id, []).append(creative)
        self._parsed = kept
        return [Candidate(c, tuple(by_campaign[c.id])) for c in campaigns if c.id in by_campaign]


_CAMPAIGN_COLUMNS = (
    Campaign.id,
    Campaign.advertiser_id,
    Campaign.name,
    Campaign.billing_model,
    Campaign.bid,
    Campaign.budget_total,
    Campaign.budget_daily,
    Campaign.starts_ms,
    Campaign.ends_ms,
    Campaign.status,
    Campaign.spent,
    Campaign.created_ms,
    Campaign.targeting,
    Campaign.payer,
)
_CREATIVE_COLUMNS = (
    Creative.id,
    Creative.campaign_id,
    Creative.name,
    Creative.duration_ms,
    Creative.media_url,
    Creative.created_ms,
)


_NOW: BindParameter[int] = bindparam("now")
_DAY_SPENT = (
    select(CampaignDaySpend.spent)
    .where(CampaignDaySpend.campaign_id == Campaign.id, CampaignDaySpend.day == bindparam("day"))
    .scalar_subquery()
)
_SERVING = (
    Campaign.status == "active",
    Campaign.starts_ms <= _NOW,
    Campaign.ends_ms > _NOW,
    Campaign.spent < Campaign.budget_total,
    or_(Campaign.budget_daily.is_(None), func.coalesce(_DAY_SPENT, 0) < Campaign.budget_daily),
)
_SERVING_CAMPAIGNS = select(*_CAMPAIGN_COLUMNS).where(*_SERVING).order_by(Campaign.id)
_SERVING_CREATIVES = (
    select(*_CREATIVE_COLUMNS)
    .where(Creative.campaign_id.in_(select(Campaign.id).where(*_SERVING)))
    .order_by(Creative.created_ms, Creative.id)
)
"""What may serve at `now` on `day` (bound when executed), and the creatives of it."""


def targeting_from_json(text: str) -> Targeting:
    """A campaign's stored targeting column."""
    return Targeting.from_json(orjson.loads(text)) if text != "{}" else Targeting()


def _campaign(row: Row[*tuple[Any, ...]] | tuple[Any, ...]) -> CampaignRecord:
    v = tuple(row)
    targeting = targeting_from_json(v[12])
    return CampaignRecord(
        id=v[0],
        advertiser_id=v[1],
        name=v[2],
        billing_model=BillingModel(v[3]),
        bid=v[4],
        budget_total=v[5],
        budget_daily=v[6],
        starts_ms=v[7],
        ends_ms=v[8],
        status=v[9],
        spent=v[10],
        created_ms=v[11],
        targeting=targeting,
        payer=v[13],
    )
