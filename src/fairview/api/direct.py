"""A route class for the player-facing routes called on every ad: the endpoint alone.

For each request FastAPI resolves the endpoint's dependencies, validates its
parameters and serialises its answer. The routes players and SDKs call on every ad
(`POST /v1/decisions`, `POST /v1/events`) already validate their body themselves
(pydantic, straight from the JSON bytes) and serialise with orjson, so that machinery
only cost time: about a fifth of a decision's CPU in the server. A `DirectRoute`
calls `endpoint(request)` and sends what it returns. It stays an `APIRoute`, so the
route, its body and its answer stay in the OpenAPI document, and its errors still go
through the application's exception handlers (the same codes as everywhere).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

from fastapi import Request, Response
from fastapi.routing import APIRoute

Endpoint = Callable[[Request], Awaitable[Response]]


class DirectRoute(APIRoute):
    """An API route whose endpoint takes the request alone and returns its response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = cast(Endpoint, self.endpoint)

        async def handler(request: Request) -> Response:
            return await endpoint(request)

        return handler
