"""Small pure-ASGI middleware, each testable alone."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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
