"""The public ad repository (DSA Art. 39): entries, search, DP reach, the kept year."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fairview.clock import ShiftedClock
from fairview.report.repository import member_state, run_repository_job
from fairview.storage import Store
from fairview.storage.repository import Repository

from api_helpers import advertiser, live_campaign

DAY_MS = 86_400_000


def _serve(client: TestClient, n: int, region: str, prefix: str) -> None:
    for i in range(n):
        r = client.post(
            "/v1/decisions",
            json={"placement": "feed", "user_ref": f"{prefix}{i}", "region": region,
                  "topics": ["210"]},
        )  # fmt: skip
        assert r.status_code == 200 and r.json()["ads"], r.text


@pytest.fixture
def shown(client: TestClient, store: Store, clock: ShiftedClock) -> dict[str, Any]:
    headers = advertiser(client, "Acme Foods")
    campaign = live_campaign(
        client, headers, targeting={"topics": ["210"], "regions": ["DE", "FR"]},
        payer="Acme Holding", budget_total=100_000_000,  # pacing must never throttle here
    )  # fmt: skip
    _serve(client, 400, "EU-DE", "de-")
    _serve(client, 40, "EU-FR", "fr-")
    run = run_repository_job(Repository(store.engine), clock.now_ms(), epsilon=5.0)
    return {"campaign": campaign, "run": run}


def test_an_ad_is_listed_with_its_payer_parameters_and_dp_reach(
    client: TestClient, shown: dict[str, Any]
) -> None:
    r = client.get("/v1/repository/ads")  # public: no credentials
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 1
    [ad] = body["ads"]
    assert (ad["advertiser"], ad["payer"]) == ("Acme Foods", "Acme Holding")
    assert ad["targeted"] is True and ad["personalised"] is False
    assert "regions: DE, FR" in ad["main_parameters"]
    assert any(p.startswith("content topics: ") and "210" not in p for p in ad["main_parameters"])
    assert ad["content"]["media_url"] == "https://cdn.example/spot.mp4"
    reach = ad["reach"]
    assert reach["epsilon"] == 5.0
    # Laplace scale 10 partitions / (0.7 × ε 5) ≈ 2.9: 40 is 14 scales.
    assert abs(reach["total"]["value"] - 440) <= 40
    assert reach["total"]["ci_low"] < reach["total"]["value"] < reach["total"]["ci_high"]
    assert set(reach["by_member_state"]) == {"DE"}  # France had 40 viewers: never released
    assert abs(reach["by_member_state"]["DE"]["value"] - 400) <= 40
    assert not re.search(r"[0-9a-f]{64}", r.text)  # no viewer pseudonym anywhere
    assert client.get("/v1/repository/ads").json() == body  # stored: the noise does not change


def test_search_by_advertiser_topic_and_period(client: TestClient, shown: dict[str, Any]) -> None:
    assert client.get("/v1/repository/ads", params={"advertiser": "holding"}).json()["total"] == 1
    assert client.get("/v1/repository/ads", params={"advertiser": "other"}).json()["total"] == 0
    assert client.get("/v1/repository/ads", params={"topic": "210"}).json()["total"] == 1
    assert client.get("/v1/repository/ads", params={"topic": "483"}).json()["total"] == 0
    old = client.get("/v1/repository/ads", params={"from": "2020-01-01", "to": "2020-12-31"})
    assert old.json()["total"] == 0
    bad = client.get("/v1/repository/ads", params={"from": "2026-10-02", "to": "2026-10-01"})
    assert (bad.status_code, bad.json()["error"]) == (422, "bad_period")
    ad_id = client.get("/v1/repository/ads").json()["ads"][0]["id"]
    assert client.get(f"/v1/repository/ads/{ad_id}").json()["id"] == ad_id
    missing = client.get("/v1/repository/ads/nope")
    assert (missing.status_code, missing.json()["error"]) == (404, "unknown_ad")


def test_an_ad_leaves_the_repository_a_year_after_it_was_last_shown(
    client: TestClient, store: Store, clock: ShiftedClock, shown: dict[str, Any]
) -> None:
    clock.advance_to(clock.now_ms() + 364 * DAY_MS)
    assert client.get("/v1/repository/ads").json()["total"] == 1
    clock.advance_to(clock.now_ms() + 2 * DAY_MS)
    assert client.get("/v1/repository/ads").json()["total"] == 0
    run = run_repository_job(Repository(store.engine), clock.now_ms())
    assert run.pruned >= 2 and run.cells_released == 0


def test_member_states() -> None:
    assert [member_state(r) for r in ("EU-DE", "EU-FR", "US-CA", "ZZ", "DE", "DE-BY", "GB")] == [
        "DE", "FR", "non-EU", "non-EU", "DE", "DE", "non-EU",
    ]  # fmt: skip
