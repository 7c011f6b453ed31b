"""The privacy and safety middleware, each tested alone on a tiny ASGI app."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, Router

from fairview.api.middleware import BodyLimit, GlobalPrivacyControl, StripClientIdentity
from fairview.serve.context import DeviceClass, device_class
from fairview.storage import Store

from api_helpers import advertiser, live_campaign


async def _echo(request: Request) -> JSONResponse:
    body = await request.body()
    client = request.client
    return JSONResponse(
        {
            "gpc": getattr(request.state, "gpc", None),
            "client": None if client is None else client.host,
            "forwarded": request.headers.get("x-forwarded-for"),
            "size": len(body),
        }
    )


def _app(*middleware: Any) -> Any:
    # A bare router: no error middleware of its own, so each middleware is seen alone.
    app: Any = Router(routes=[Route("/", _echo, methods=["POST"])])
    for cls, kwargs in middleware:
        app = cls(app, **kwargs)
    return app


def test_client_address_and_forwarding_headers_are_dropped() -> None:
    client = TestClient(_app((StripClientIdentity, {})))
    body = client.post("/", content=b"x", headers={"X-Forwarded-For": "203.0.113.9"}).json()
    assert body == {"gpc": None, "client": None, "forwarded": None, "size": 1}


def test_without_the_middleware_the_address_is_visible() -> None:
    body = TestClient(_app()).post("/", content=b"x").json()
    assert body["client"] is not None


def test_body_limit_by_declared_length() -> None:
    client = TestClient(_app((BodyLimit, {"max_bytes": 10})))
    r = client.post("/", content=b"x" * 11)
    assert (r.status_code, r.json()["error"]) == (413, "body_too_large")
    assert client.post("/", content=b"x" * 10).json()["size"] == 10


def test_body_limit_when_streamed_without_length() -> None:
    client = TestClient(_app((BodyLimit, {"max_bytes": 10})))

    def chunks() -> Any:
        yield b"x" * 8
        yield b"x" * 8

    r = client.post("/", content=chunks())
    assert (r.status_code, r.json()["error"]) == (413, "body_too_large")


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148",
            DeviceClass.MOBILE,
        ),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36", DeviceClass.MOBILE),
        ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)", DeviceClass.TABLET),
        ("Mozilla/5.0 (Linux; Android 13; SM-X700) Safari/537.36", DeviceClass.TABLET),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0", DeviceClass.DESKTOP),
        ("Mozilla/5.0 (SMART-TV; Linux; Tizen 7.0)", DeviceClass.TV),
        ("Roku/DVP-12.0", DeviceClass.TV),
        ("curl/8.4.0", DeviceClass.UNKNOWN),
        (None, DeviceClass.UNKNOWN),
    ],
)
def test_device_class_is_all_that_is_kept_of_a_user_agent(
    agent: str | None, expected: DeviceClass
) -> None:
    assert device_class(agent) is expected


def test_decision_stores_the_device_class_not_the_user_agent(
    client: TestClient, store: Store
) -> None:
    live_campaign(client, advertiser(client))
    agent = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)"
    r = client.post("/v1/decisions", json={"placement": "feed"}, headers={"User-Agent": agent})
    delivery = store.deliveries.get(r.json()["ads"][0]["delivery"])
    assert delivery is not None
    assert delivery.device_class == "tablet"
    assert agent not in repr(delivery)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], False),
        ([("Sec-GPC", "1")], True),
        ([("Sec-GPC", " 1 ")], True),
        ([("Sec-GPC", "0")], False),
        ([("Sec-GPC", "true")], False),
        ([("Sec-GPC", "0"), ("Sec-GPC", "1")], True),
    ],
)
def test_gpc_is_exactly_one(headers: list[tuple[str, str]], expected: bool) -> None:
    client = TestClient(_app((GlobalPrivacyControl, {})))
    assert client.post("/", content=b"", headers=headers).json()["gpc"] is expected


def test_gpc_support_resource(client: TestClient) -> None:
    assert client.get("/.well-known/gpc.json").json() == {"gpc": True, "lastUpdate": "2026-11-22"}
