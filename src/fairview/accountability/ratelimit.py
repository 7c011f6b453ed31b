"""Token buckets: how many requests a caller, or a route, may send per second.

Pure: the time is passed in (seconds, from a monotonic clock) and nothing here
knows about HTTP. The middleware (`fairview.api.middleware.RateLimit`) decides
which bucket a request draws from; docs/access.md explains the policy.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_KEYS = 100_000
"""Buckets remembered at most; the oldest is forgotten first (its caller starts afresh)."""


@dataclass(frozen=True, slots=True)
class Limit:
    """`per_s` tokens added per second, at most `burst` kept (so bursts of `burst`)."""

    per_s: float
    burst: float

    def __post_init__(self) -> None:
        if self.per_s <= 0 or self.burst < 1:
            raise ValueError("a limit needs per_s > 0 and burst >= 1")


class Buckets:
    """One token bucket per key, all with the same limit, created full on first use.

    Not thread-safe: an ASGI server calls it from its one event-loop thread.
    """

    __slots__ = ("_buckets", "_burst", "_max_keys", "_per_s")

    def __init__(self, limit: Limit, max_keys: int = MAX_KEYS) -> None:
        self._per_s = limit.per_s
        self._burst = limit.burst
        self._max_keys = max_keys
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, last refill time]

    def take(self, key: str, now_s: float) -> float:
        """Take one token: 0.0 when granted, else the seconds until one will be there."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                del self._buckets[next(iter(self._buckets))]
            self._buckets[key] = [self._burst - 1.0, now_s]
            return 0.0
        tokens = min(self._burst, bucket[0] + (now_s - bucket[1]) * self._per_s)
        bucket[1] = now_s
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self._per_s

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """Per open route; per caller; for callers without a credential; for the API as a whole."""

    route: Limit
    caller: Limit
    anonymous: Limit
    api: Limit


class Limiter:
    """Applies a `RatePolicy`; each method answers 0.0 (go) or the seconds to wait.

    A caller's own bucket is drawn from before the API's shared one, so that a
    caller over its limit does not use up what the others share.
    """

    __slots__ = ("_anonymous", "_api", "_callers", "_routes")

    def __init__(self, policy: RatePolicy) -> None:
        self._routes = Buckets(policy.route)
        self._callers = Buckets(policy.caller)
        self._anonymous = Buckets(policy.anonymous, max_keys=1)
        self._api = Buckets(policy.api, max_keys=1)

    def route(self, route: str, now_s: float) -> float:
        """A request to an open route (players, health checks): one bucket per route."""
        return self._routes.take(route, now_s)

    def caller(self, caller: str, now_s: float) -> float:
        """A request with a credential: the caller's bucket, then the API's."""
        return self._callers.take(caller, now_s) or self._api.take("api", now_s)

    def anonymous(self, now_s: float) -> float:
        """A request without a (valid) credential: one bucket for all of them, then the API's."""
        return self._anonymous.take("anonymous", now_s) or self._api.take("api", now_s)
