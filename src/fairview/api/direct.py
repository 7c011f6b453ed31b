"""The player-facing routes called on every ad, dispatched without the router.

For each request FastAPI resolves the endpoint's dependencies, validates its
parameters and serialises its answer, after Starlette's router has matched the path
against every route. The routes players and SDKs call on every ad
(`POST /v1/decisions`, `POST /v1/events`) validate their body themselves (pydantic,
straight from the JSON bytes) and serialise with orjson, so that machinery only cost
time: measured in process, about 40 % of a decision's CPU in the server
(docs/serving.md).

Two pieces keep those routes ordinary API routes while skipping it:

- `DirectRoute`: an `APIRoute` whose endpoint takes the request alone. The route, its
  body and its answer stay in the OpenAPI document, and a request that reaches the
  router is answered by the same endpoint.
- `DirectDispatch`: a middleware, the innermost of the application's own, that sends
  a request for one of those routes (exact method and path) straight to its endpoint.
  Everything outside it still runs: identity stripping, the rate limit, GPC, the body
  limit, and the server-error handler. Errors go through the application's own
  exception handlers (Starlette's `ExceptionMiddleware`, given the same handlers), so
  they answer with the same codes as everywhere. Any other method or path goes on to
  the router unchanged (a GET there is still a 405, `/v1/decisions/` still redirects).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, cast

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


class DirectRoute(APIRoute):
    """An API route whose endpoint takes the request alone and returns its response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = cast(Endpoint, self.endpoint)

        async def handler(request: Request) -> Response:
            return await endpoint(request)

        return handler


def direct_endpoints(routes: Iterable[BaseRoute]) -> dict[tuple[str, str], Endpoint]:
    """(method, path) → endpoint for each `DirectRoute` among `routes`."""
    table: dict[tuple[str, str], Endpoint] = {}
    for route in routes:
        if isinstance(route, DirectRoute):
            for method in route.methods or ():
                table[(method, route.path)] = cast(Endpoint, route.endpoint)
    return table


class DirectDispatch:
    """Send requests for the `DirectRoute`s of `api` straight to their endpoints.

    Add it before (so inside) the middleware that must still apply to those routes.
    """

    def __init__(self, app: ASGIApp, api: FastAPI, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self._endpoints = direct_endpoints(routes)
        handlers = {k: v for k, v in api.exception_handlers.items() if k not in (500, Exception)}
        self._direct = ExceptionMiddleware(self._respond, handlers=handlers, debug=api.debug)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["method"], scope["path"]) in self._endpoints:
            await self._direct(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _respond(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._endpoints[(scope["method"], scope["path"])]
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)
