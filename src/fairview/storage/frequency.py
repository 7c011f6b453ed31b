"""Frequency-cap counters: how often a viewer pseudonym was shown each campaign lately.

Written only when the consent policy allows storage for the request (the caller
checks). Two implementations of one contract: the relational store (embedded
default) and Redis (at scale). Entries older than `MAX_WINDOW_MS` are deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, cast

from redis import Redis
from sqlalchemy import Engine, delete, func, insert, select

from fairview.storage.engine import writer
from fairview.storage.schema import FrequencyEvent

MAX_WINDOW_DAYS = 30
MAX_WINDOW_MS = MAX_WINDOW_DAYS * 86_400_000


class FrequencyCounter(Protocol):
    def counts(
        self, viewer: str, campaigns: Sequence[str], since_ms: int, now_ms: int
    ) -> dict[str, int]:
        """Deliveries per campaign to `viewer` in [since_ms, now_ms]; absent means 0."""
        ...

    def add(self, viewer: str, campaign: str, at_ms: int) -> None: ...

    def entries(self, viewer: str) -> list[tuple[str, int]]:
        """The viewer's (campaign, delivery time) entries, oldest first (Art. 15 export)."""
        ...

    def erase(self, viewer: str) -> int:
        """Forget the viewer everywhere (Art. 17); returns how many entries went."""
        ...

    def expire(self, now_ms: int) -> int:
        """Delete entries older than the longest cap window."""
        ...


class SqlFrequency:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = writer(engine)

    def counts(
        self, viewer: str, campaigns: Sequence[str], since_ms: int, now_ms: int
    ) -> dict[str, int]:
        if not campaigns:
            return {}
        query = (
            select(FrequencyEvent.campaign_id, func.count())
            .where(
                FrequencyEvent.viewer_key == viewer,
                FrequencyEvent.campaign_id.in_(list(campaigns)),
                FrequencyEvent.at_ms >= since_ms,
                FrequencyEvent.at_ms <= now_ms,
            )
            .group_by(FrequencyEvent.campaign_id)
        )
        with self._engine.connect() as conn:
            return {campaign: int(n) for campaign, n in conn.execute(query)}

    def add(self, viewer: str, campaign: str, at_ms: int) -> None:
        with self._write.begin() as conn:
            conn.execute(
                insert(FrequencyEvent).values(viewer_key=viewer, campaign_id=campaign, at_ms=at_ms)
            )

    def entries(self, viewer: str) -> list[tuple[str, int]]:
        query = (
            select(FrequencyEvent.campaign_id, FrequencyEvent.at_ms)
            .where(FrequencyEvent.viewer_key == viewer)
            .order_by(FrequencyEvent.at_ms, FrequencyEvent.id)
        )
        with self._engine.connect() as conn:
            return [(str(c), int(t)) for c, t in conn.execute(query)]

    def erase(self, viewer: str) -> int:
        with self._write.begin() as conn:
            result = conn.execute(delete(FrequencyEvent).where(FrequencyEvent.viewer_key == viewer))
        return int(result.rowcount)

    def expire(self, now_ms: int) -> int:
        with self._write.begin() as conn:
            result = conn.execute(
                delete(FrequencyEvent).where(FrequencyEvent.at_ms < now_ms - MAX_WINDOW_MS)
            )
        return int(result.rowcount)


class RedisFrequency:
    """One sorted set per (viewer, campaign): members are delivery times (unique per add)."""

    def __init__(self, client: Redis, *, prefix: str = "fv:freq") -> None:
        self._redis = client
        self._prefix = prefix

    def _key(self, viewer: str, campaign: str) -> str:
        return f"{self._prefix}:{viewer}:{campaign}"

    def counts(
        self, viewer: str, campaigns: Sequence[str], since_ms: int, now_ms: int
    ) -> dict[str, int]:
        pipe = self._redis.pipeline(transaction=False)
        for campaign in campaigns:
            pipe.zcount(self._key(viewer, campaign), since_ms, now_ms)
        found = pipe.execute()
        return {c: int(n) for c, n in zip(campaigns, found, strict=True) if n}

    def add(self, viewer: str, campaign: str, at_ms: int) -> None:
        key = self._key(viewer, campaign)
        member = f"{at_ms}:{self._redis.incr(f'{self._prefix}:seq')}"
        pipe = self._redis.pipeline(transaction=True)
        pipe.zadd(key, {member: at_ms})
        pipe.zremrangebyscore(key, "-inf", at_ms - MAX_WINDOW_MS - 1)
        pipe.pexpire(key, MAX_WINDOW_MS)
        pipe.execute()

    def entries(self, viewer: str) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        for key in self._scan(f"{self._prefix}:{viewer}:*"):
            campaign = key.rsplit(":", 1)[1]
            scored = self._redis.zrange(key, 0, -1, withscores=True)
            found.extend((campaign, int(at)) for _, at in cast(list[tuple[bytes, float]], scored))
        return sorted(found, key=lambda e: e[1])

    def erase(self, viewer: str) -> int:
        keys = list(self._scan(f"{self._prefix}:{viewer}:*"))
        removed = sum(int(self._redis.zcard(k)) for k in keys)
        if keys:
            self._redis.delete(*keys)
        return removed

    def expire(self, now_ms: int) -> int:
        removed = 0
        for key in self._scan(f"{self._prefix}:*:*"):
            removed += int(self._redis.zremrangebyscore(key, "-inf", now_ms - MAX_WINDOW_MS - 1))
        return removed

    def _scan(self, pattern: str) -> Iterable[str]:
        for key in self._redis.scan_iter(match=pattern, count=500):
            yield key.decode() if isinstance(key, bytes) else str(key)


def open_frequency(engine: Engine, redis_url: str | None) -> FrequencyCounter:
    """Redis when a URL is configured, else the relational store."""
    if redis_url:
        return RedisFrequency(Redis.from_url(redis_url))
    return SqlFrequency(engine)
