"""Drive the API the way a platform and an advertiser would."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import ADMIN


def advertiser(client: TestClient, name: str = "Acme") -> dict[str, str]:
    r = client.post("/v1/advertisers", json={"name": name}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['api_key']}"}


def campaign_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Spring",
        "billing_model": "cpfv",
        "bid": 12,
        "budget_total": 10_000,
        "starts_at": "2026-09-01T00:00:00Z",
        "ends_at": "2026-12-31T00:00:00Z",
    }
    body.update(overrides)
    return body


def live_campaign(
    client: TestClient, headers: dict[str, str], duration_s: float = 15.0, **overrides: Any
) -> str:
    r = client.post("/v1/campaigns", json=campaign_body(**overrides), headers=headers)
    assert r.status_code == 201, r.text
    cid: str = r.json()["id"]
    r = client.post(
        f"/v1/campaigns/{cid}/creatives",
        headers=headers,
        json={
            "name": "spot",
            "duration_s": duration_s,
            "media_url": "https://cdn.example/spot.mp4",
        },
    )
    assert r.status_code == 201, r.text
    return cid


def served(client: TestClient, **body: Any) -> dict[str, Any]:
    r = client.post("/v1/decisions", json={"placement": "feed", **body})
    assert r.status_code == 200, r.text
    ads: list[dict[str, Any]] = r.json()["ads"]
    assert ads, "no ad served"
    return ads[0]


def watch_events(
    seconds: float, *, duration_s: float = 15.0, end: str = "swipe_away"
) -> list[dict[str, Any]]:
    """Wire events of a visible 1x watch of `seconds`, heartbeats every 250 ms."""
    events: list[dict[str, Any]] = [
        {
            "seq": 0,
            "type": "first_frame",
            "mono_ms": 0,
            "media_s": 0,
            "vis": True,
            "duration_s": duration_s,
        }
    ]
    steps = round(seconds * 4)
    for i in range(1, steps + 1):
        events.append(
            {"seq": i, "type": "heartbeat", "mono_ms": i * 250, "media_s": i / 4, "vis": True}
        )
    events.append(
        {"seq": steps + 1, "type": end, "mono_ms": steps * 250, "media_s": steps / 4, "vis": True}
    )
    return events


def viewer_headers(user_ref: str, expires_ms: int) -> dict[str, str]:
    """The platform's signed viewer token for `user_ref`, as the `/v1/me/…` routes take it."""
    from fairview.tokens import ViewerTokens

    from conftest import make_settings

    key = make_settings().viewer_token_key.get_secret_value()
    return {"Authorization": f"Bearer {ViewerTokens(key).sign(user_ref, expires_ms)}"}


def watch_videos(client: TestClient, user_ref: str, topics: dict[str, int], **signals: Any) -> None:
    """Report one 30-second organic view per video (`{video id: topic id}`) for the viewer."""
    views = [
        {"user_ref": user_ref, "video": {"id": vid, "topics": [topic]}, "watched_s": 30, **signals}
        for vid, topic in topics.items()
    ]
    r = client.post("/v1/views", json={"views": views}, headers=ADMIN)
    assert r.status_code == 200, r.text


def all_routes(app: FastAPI) -> set[str]:
    """`METHOD /path` of every route of the app, whichever way the routers nest them."""
    found: set[str] = set()
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        pairs = (
            [(c.path, c.original_route) for c in contexts()]
            if contexts
            else [(getattr(route, "path", ""), route)]
        )
        for path, original in pairs:
            found |= {f"{m} {path}" for m in getattr(original, "methods", None) or ()}
    return found
