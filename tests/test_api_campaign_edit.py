"""PATCH /v1/campaigns/{id}: change a campaign's own fields, validated like a new one."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update

from fairview.storage import Store
from fairview.storage.schema import Campaign

from api_helpers import advertiser, campaign_body, live_campaign
from conftest import ADMIN


def _campaign(client: TestClient, headers: dict[str, str], **overrides: object) -> str:
    r = client.post("/v1/campaigns", json=campaign_body(**overrides), headers=headers)
    assert r.status_code == 201, r.text
    cid: str = r.json()["id"]
    return cid


def test_patch_changes_only_the_fields_sent_and_is_audited(
    client: TestClient, store: Store
) -> None:
    a = advertiser(client)
    cid = _campaign(client, a, budget_daily=500, payer="Acme Holding")
    r = client.patch(
        f"/v1/campaigns/{cid}",
        json={"name": "Autumn", "budget_total": 20_000, "ends_at": "2027-01-31T00:00:00Z"},
        headers=a,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "Autumn" and body["budget_total"] == 20_000
    assert body["ends_at"].startswith("2027-01-31") and body["bid"] == 12
    assert body["budget_daily"] == 500 and body["payer"] == "Acme Holding"
    assert client.get(f"/v1/campaigns/{cid}", headers=a).json() == body
    records = list(store.audit.entries(action="campaign.changed"))
    assert len(records) == 1 and records[0].subject == f"campaign:{cid}"
    assert set(records[0].detail["changes"]) == {"name", "budget_total", "ends_ms"}


def test_null_removes_optional_fields_and_no_change_is_not_audited(
    client: TestClient, store: Store
) -> None:
    a = advertiser(client)
    cid = _campaign(client, a, budget_daily=500, payer="Acme Holding")
    r = client.patch(f"/v1/campaigns/{cid}", json={"budget_daily": None, "payer": None}, headers=a)
    assert r.status_code == 200, r.text
    assert r.json()["budget_daily"] is None and r.json()["payer"] is None
    before = len(list(store.audit.entries()))
    assert client.patch(f"/v1/campaigns/{cid}", json={"bid": 12}, headers=a).status_code == 200
    assert len(list(store.audit.entries())) == before


def test_the_merged_campaign_is_validated_like_a_new_one(client: TestClient) -> None:
    a = advertiser(client)
    cid = _campaign(client, a)
    cases = [
        ({"bid": 50_000}, "budget_total", "budget_below_bid"),
        ({"budget_daily": 20_000}, "budget_daily", "daily_over_total"),
        ({"ends_at": "2026-08-01T00:00:00Z"}, "ends_at", "ends_before_starts"),
        ({"name": ""}, "name", "too_short"),
        ({"name": None}, "name", "not_string"),
        ({"bid": 0}, "bid", "too_small"),
        ({"billing_model": "cpm_viewable"}, "billing_model", "unknown_field"),
    ]
    for patch, field, code in cases:
        r = client.patch(f"/v1/campaigns/{cid}", json=patch, headers=a)
        assert r.status_code == 422, (patch, r.text)
        errors = r.json()["errors"]
        assert {"field": field, "code": code} in [
            {"field": e["field"], "code": e["code"]} for e in errors
        ], (patch, errors)
    assert client.get(f"/v1/campaigns/{cid}", headers=a).json()["name"] == "Spring"


def test_budget_cannot_go_below_spend(client: TestClient, store: Store) -> None:
    a = advertiser(client)
    cid = _campaign(client, a)
    with store.engine.begin() as conn:  # as if 50.00 had been billed
        conn.execute(update(Campaign).where(Campaign.id == cid).values(spent=5000))
    r = client.patch(f"/v1/campaigns/{cid}", json={"budget_total": 4_999}, headers=a)
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "budget_below_spent"
    r = client.patch(f"/v1/campaigns/{cid}", json={"budget_total": 5_000}, headers=a)
    assert r.status_code == 200 and r.json()["budget_total"] == 5_000


def test_another_advertisers_campaign_is_like_a_missing_one(client: TestClient) -> None:
    a, b = advertiser(client, "A"), advertiser(client, "B")
    cid = _campaign(client, a)
    foreign = client.patch(f"/v1/campaigns/{cid}", json={"name": "Mine"}, headers=b)
    missing = client.patch("/v1/campaigns/cmp_nope", json={"name": "Mine"}, headers=b)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"] == missing.json()["error"] == "campaign_not_found"
    assert (
        client.patch(f"/v1/campaigns/{cid}", json={"name": "x"}, headers=ADMIN).status_code == 401
    )
    assert client.get(f"/v1/campaigns/{cid}", headers=a).json()["name"] == "Spring"


def test_a_creative_can_be_renamed_and_its_video_changed_until_it_is_shown(
    client: TestClient, store: Store
) -> None:
    headers = advertiser(client)
    campaign = live_campaign(client, headers)
    (creative,) = client.get(f"/v1/campaigns/{campaign}/creatives", headers=headers).json()
    url = f"/v1/campaigns/{campaign}/creatives/{creative['id']}"
    r = client.patch(url, json={"media_url": "https://cdn.example/v2.mp4", "duration_s": 20},
                     headers=headers)  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["media_url"], r.json()["duration_s"]) == ("https://cdn.example/v2.mp4", 20)
    r = client.patch(url, json={"duration_s": 1.5}, headers=headers)  # validated like a new one
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "too_short_to_view"
    served = client.post("/v1/decisions", json={"placement": "feed"}).json()["ads"]
    assert served and served[0]["creative"]["id"] == creative["id"]
    r = client.patch(url, json={"media_url": "https://cdn.example/v3.mp4"}, headers=headers)
    assert r.status_code == 409 and r.json()["error"] == "creative_already_shown"
    assert "Add a new creative" in r.json()["detail"]
    r = client.patch(url, json={"name": "Spot, final cut"}, headers=headers)
    assert r.status_code == 200 and r.json()["name"] == "Spot, final cut"
    assert r.json()["media_url"] == "https://cdn.example/v2.mp4"
    changed = list(store.audit.entries(action="creative.changed"))
    assert len(changed) == 2 and changed[-1].detail["changes"] == {"name": "Spot, final cut"}
    other = advertiser(client, "Other")
    assert client.patch(url, json={"name": "x"}, headers=other).status_code == 404
    missing = f"/v1/campaigns/{campaign}/creatives/crv_missing"
    r = client.patch(missing, json={"name": "x"}, headers=headers)
    assert r.status_code == 404 and r.json()["error"] == "creative_not_found"
