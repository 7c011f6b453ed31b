"""Small pure-ASGI middleware, each testable alone."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import Any

import jwt
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fairview.accountability.ratelimit import Limit, Limiter, RatePolicy
from fairview.settings import Settings


class BodyLimit:
    """Refuse bodies over `max_bytes` with 413 `body_too_large` before reading them all."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        received = 0
        responded = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal responded
            responded = True
            await send(message)

        try:
            await self.app(scope, limited, tracking_send)
        except _TooLarge:
            if not responded:
                await _too_large(send, self.max_bytes)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body: Any = {
        "error": "body_too_large",
        "detail": f"The request body exceeds {limit} bytes; send smaller batches.",
    }
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class StripClientIdentity:
    """Drop the client address from the ASGI scope so no handler can read or log it.

    The platform passes a coarse region explicitly; fairview has no use for the IP.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = dict(scope)
            scope["client"] = None
            scope["headers"] = [
                (k, v)
                for k, v in scope.get("headers", [])
                if k not in (b"x-forwarded-for", b"x-real-ip", b"forwarded")
            ]
        await self.app(scope, receive, send)


class GlobalPrivacyControl:
    """Read `Sec-GPC` once, per the GPC spec, into `scope["state"]["gpc"]`.

    A request carries GPC only when a `Sec-GPC` header has the value exactly "1";
    if the header appears several times, any "1" counts. Handlers and the consent
    policy read the boolean and never the raw header.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            values = [v for k, v in scope.get("headers", []) if k == b"sec-gpc"]
            scope.setdefault("state", {})["gpc"] = any(v.strip() == b"1" for v in values)
        await self.app(scope, receive, send)


OPEN_ROUTES = frozenset(
    {
        "/v1/decisions",
        "/v1/events",
        "/v1/vast",
        "/v1/vast/ping",
        "/openrtb/2.6",
        "/sdk/fairview-player.js",
        "/healthz",
    }
)
"""Routes players, exchanges and load balancers call without a credential, at high rates:
each has one limit for all callers together, so none is held up by traffic to another."""


class RateLimit:
    """Refuse requests over their limit with 429 `rate_limited` and a `Retry-After` header.

    The client address is stripped before this runs (`StripClientIdentity`), so
    nothing can tell one anonymous caller from another: each open route
    (`OPEN_ROUTES`: the player-facing routes and the health check) has one limit
    for everyone, a ceiling that sheds overload rather than a per-client quota,
    and every other request without a credential draws from one shared bucket. A
    request with a credential draws from its caller's bucket (a hash of the API
    key, or of the subject of a genuinely signed viewer token). Both then draw
    from a bucket the whole API shares, which bounds floods of made-up keys.
    Buckets live in this process: with N server processes a caller gets up to N
    times the limit. Settings `rate_limit*`; docs/access.md.
    """

    def __init__(
        self, app: ASGIApp, settings: Settings, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self._enabled = settings.rate_limit
        self._limiter = Limiter(
            RatePolicy(
                route=_per_second(settings.rate_limit_player_per_s),
                caller=Limit(settings.rate_limit_client_per_s, settings.rate_limit_client_burst),
                anonymous=_per_second(settings.rate_limit_anonymous_per_s),
                api=_per_second(settings.rate_limit_api_per_s),
            )
        )
        self._viewer_key = settings.viewer_token_key.get_secret_value()
        self._now = now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._enabled:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in OPEN_ROUTES:
            wait = self._limiter.route(path, self._now())
        else:
            caller = self._caller(scope)
            now = self._now()
            wait = (
                self._limiter.anonymous(now)
                if caller is None
                else self._limiter.caller(caller, now)
            )
        if wait:
            await _rate_limited(send, wait)
            return
        await self.app(scope, receive, send)

    def _caller(self, scope: Scope) -> str | None:
        """A hash of the API key, or of a verified viewer token's subject; None: anonymous."""
        value = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        if not value.startswith(b"Bearer "):
            return None
        credential = value[7:].strip()
        if credential.count(b".") == 2:  # a JWT: the platform's viewer token
            subject = _viewer_subject(credential, self._viewer_key)
            if subject is None:
                return None
            return "viewer:" + hashlib.sha256(subject.encode()).hexdigest()[:32]
        return "key:" + hashlib.sha256(credential).hexdigest()[:32]


def _per_second(rate: float) -> Limit:
    """A limit whose burst is one second's worth."""
    return Limit(rate, max(1.0, rate))


def _viewer_subject(token: bytes, key: str) -> str | None:
    """The `sub` of a token signed with the viewer key (expired or not), else None."""
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"], options={"verify_exp": False})
    except jwt.PyJWTError:
        return None
    subject = claims.get("sub")
    return subject if isinstance(subject, str) else None


async def _rate_limited(send: Send, wait_s: float) -> None:
    retry = max(1, math.ceil(wait_s))
    payload = orjson.dumps(
        {
            "error": "rate_limited",
            "detail": f"Too many requests; retry after {retry} s (see the Retry-After header).",
            "retry_after_s": retry,
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"retry-after", str(retry).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
