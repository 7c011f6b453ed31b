"""Advertiser accounts, campaigns and creatives over HTTP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from fairview.storage import Store

from api_helpers import advertiser, campaign_body, live_campaign
from conftest import ADMIN


def test_operator_key_is_required_to_create_advertisers(client: TestClient) -> None:
    r = client.post("/v1/advertisers", json={"name": "Acme"})
    assert (r.status_code, r.json()["error"]) == (401, "unauthorized")
    r = client.post("/v1/advertisers", json={"name": "Acme"}, headers={"Authorization": "Bearer x"})
    assert r.status_code == 401


def test_api_key_is_shown_once_and_works(client: TestClient) -> None:
    headers = advertiser(client)
    me = client.get("/v1/me", headers=headers).json()
    assert me["name"] == "Acme" and "api_key" not in me


def test_campaign_round_trip(client: TestClient) -> None:
    headers = advertiser(client)
    cid = live_campaign(client, headers, budget_daily=500)
    got = client.get(f"/v1/campaigns/{cid}", headers=headers).json()
    assert (got["bid"], got["budget_total"], got["budget_daily"], got["spent"]) == (
        12,
        10_000,
        500,
        0,
    )
    assert [c["id"] for c in client.get("/v1/campaigns", headers=headers).json()] == [cid]
    creatives = client.get(f"/v1/campaigns/{cid}/creatives", headers=headers).json()
    assert creatives[0]["duration_s"] == 15.0
    assert client.post(f"/v1/campaigns/{cid}/pause", headers=headers).json()["status"] == "paused"
    assert client.post(f"/v1/campaigns/{cid}/resume", headers=headers).json()["status"] == "active"


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"bid": 1.5}, "bid", "not_integer"),
        ({"bid": "12"}, "bid", "not_integer"),
        ({"bid": 0}, "bid", "too_small"),
        ({"budget_total": -5}, "budget_total", "too_small"),
        ({"budget_total": 5}, "budget_total", "budget_below_bid"),
        ({"budget_daily": 20_000}, "budget_daily", "daily_over_total"),
        ({"billing_model": "cpc"}, "billing_model", "not_allowed"),
        ({"starts_at": "2026-09-01T00:00:00"}, "starts_at", "needs_timezone"),
        ({"ends_at": "2026-08-01T00:00:00Z"}, "ends_at", "ends_before_starts"),
        ({"ends_at": "tomorrow"}, "ends_at", "not_datetime"),
        ({"name": ""}, "name", "too_short"),
        ({"colour": "red"}, "colour", "unknown_field"),
    ],
)
def test_campaign_validation_has_a_stable_code_per_field(
    client: TestClient, overrides: dict[str, object], field: str, code: str
) -> None:
    headers = advertiser(client)
    r = client.post("/v1/campaigns", json=campaign_body(**overrides), headers=headers)
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "validation_error"
    assert {"field": field, "code": code} in [
        {k: e[k] for k in ("field", "code")} for e in body["errors"]
    ]


def test_missing_field_is_named(client: TestClient) -> None:
    body = campaign_body()
    del body["bid"]
    r = client.post("/v1/campaigns", json=body, headers=advertiser(client))
    assert r.json()["errors"] == [
        {"field": "bid", "code": "required", "detail": "bid: Field required."}
    ]


def test_creative_too_short_to_be_viewable_is_refused(client: TestClient) -> None:
    headers = advertiser(client)
    cid = live_campaign(client, headers)
    r = client.post(
        f"/v1/campaigns/{cid}/creatives",
        headers=headers,
        json={"name": "blip", "duration_s": 1.5, "media_url": "https://cdn.example/b.mp4"},
    )
    assert r.json()["errors"][0]["code"] == "too_short_to_view"


def test_another_advertisers_campaign_looks_missing(client: TestClient) -> None:
    cid = live_campaign(client, advertiser(client, "A"))
    other = advertiser(client, "B")
    for method, path in (
        ("get", f"/v1/campaigns/{cid}"),
        ("post", f"/v1/campaigns/{cid}/pause"),
        ("get", f"/v1/campaigns/{cid}/creatives"),
    ):
        r = client.request(method.upper(), path, headers=other)
        assert (r.status_code, r.json()["error"]) == (404, "campaign_not_found")


def test_malformed_bodies_never_500(client: TestClient) -> None:
    headers = advertiser(client)
    for content in (b"", b"{", b"[]", b"null", b'"x"', b"\xff\xfe", b'{"name": {"$gt": 1}}'):
        r = client.post(
            "/v1/campaigns",
            content=content,
            headers={**headers, "content-type": "application/json"},
        )
        assert r.status_code == 422, (content, r.text)
        assert r.json()["error"] == "validation_error"


def test_unknown_route_is_json(client: TestClient) -> None:
    r = client.get("/v1/nope")
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    assert client.delete("/v1/campaigns").json()["error"] == "method_not_allowed"


def test_decision_without_campaigns_is_empty(client: TestClient) -> None:
    body = client.post("/v1/decisions", json={"placement": "feed"}).json()
    assert body["ads"] == []
    assert body["consent"]["rows"] == ["D01", "D25"]  # no region, no signal: strictest rules


def test_decision_rotates_and_signs(client: TestClient) -> None:
    headers = advertiser(client)
    a, b = live_campaign(client, headers), live_campaign(client, headers)
    seen = {
        client.post("/v1/decisions", json={"placement": "feed"}).json()["ads"][0]["campaign"]
        for _ in range(4)
    }
    assert seen == {a, b}


@pytest.mark.parametrize(
    "body",
    [
        {"placement": ""},
        {"placement": "feed", "count": 9},
        {"placement": "feed", "region": "Berlin"},
        {"placement": "feed", "ip": "1.2.3.4"},
    ],
)
def test_decision_validation(client: TestClient, body: dict[str, object]) -> None:
    r = client.post("/v1/decisions", json=body)
    assert r.status_code == 422 and r.json()["errors"]


def test_admin_header_constant_matches_settings() -> None:
    from conftest import make_settings

    assert ADMIN["Authorization"].endswith(make_settings().admin_api_key.get_secret_value())


def test_an_advertiser_rotates_and_revokes_its_keys(client: TestClient, store: Store) -> None:
    old = advertiser(client)
    new = client.post("/v1/keys", headers=old)
    assert new.status_code == 201
    fresh = {"Authorization": f"Bearer {new.json()['api_key']}"}
    assert client.get("/v1/me", headers=fresh).status_code == 200
    prefixes = [k["prefix"] for k in client.get("/v1/keys", headers=fresh).json()]
    assert len(prefixes) == 2 and "api_key" not in client.get("/v1/keys", headers=fresh).text
    old_prefix = old["Authorization"].removeprefix("Bearer ")[:10]
    listed = client.delete(f"/v1/keys/{old_prefix}", headers=fresh).json()
    assert [k["revoked_at"] is not None for k in listed] == [True, False]
    assert client.get("/v1/me", headers=old).status_code == 401  # revoked at once
    other = advertiser(client, "Other")
    assert client.delete(f"/v1/keys/{new.json()['prefix']}", headers=other).status_code == 404
    assert client.get("/v1/me", headers=fresh).status_code == 200
    actions = [e.action for e in store.audit.entries()]
    assert actions.count("advertiser.key.created") == 1
    assert actions.count("advertiser.key.revoked") == 1
