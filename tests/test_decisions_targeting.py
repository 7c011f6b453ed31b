"""Targeting, frequency caps, the DSA disclosure and "why this ad", through the API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from fairview.consent.signals import RawSignals
from fairview.pseudonym import Pseudonymiser
from fairview.serve.decide import AdRequest, Decider
from fairview.storage import Store
from fairview.tokens import TokenSigner, ViewerTokens

from api_helpers import advertiser, campaign_body, live_campaign
from conftest import make_settings
from factories import T0

SETTINGS = make_settings()
PEPPER = SETTINGS.pseudonym_pepper.get_secret_value()


def _ads(client: TestClient, **body: Any) -> list[dict[str, Any]]:
    r = client.post("/v1/decisions", json={"placement": "feed", **body})
    assert r.status_code == 200, r.text
    ads: list[dict[str, Any]] = r.json()["ads"]
    return ads


def _viewer_auth(user_ref: str) -> dict[str, str]:
    token = ViewerTokens(SETTINGS.viewer_token_key.get_secret_value()).sign(
        user_ref, T0 + 86_400_000
    )
    return {"Authorization": f"Bearer {token}"}


def test_region_targeting_decides_who_is_served(client: TestClient) -> None:
    live_campaign(client, advertiser(client), targeting={"regions": ["FR"]})
    assert _ads(client, region="EU-DE") == []
    assert len(_ads(client, region="EU-FR")) == 1


def test_unknown_topics_are_refused_with_a_stable_code(client: TestClient) -> None:
    headers = advertiser(client)
    r = client.post(
        "/v1/campaigns", json=campaign_body(targeting={"topics": ["nope"]}), headers=headers
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "unknown_topic"
    r = client.post("/v1/decisions", json={"placement": "feed", "topics": ["nope"]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "unknown_topic"


@pytest.mark.parametrize(
    ("targeting", "code"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown_timezone"),
        ({"dayparts": [{"days": [0], "start_hour": 9, "end_hour": 9}]}, "empty_daypart"),
        ({"frequency_cap": {"max_deliveries": 3, "window_days": 90}}, "too_large"),
        ({"regions": ["germany"]}, "bad_format"),
        ({"audience": ["x"]}, "unknown_field"),
    ],
)
def test_bad_targeting_gets_a_clear_error(
    client: TestClient, targeting: dict[str, Any], code: str
) -> None:
    r = client.post(
        "/v1/campaigns", json=campaign_body(targeting=targeting), headers=advertiser(client)
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["code"] == code


def test_brand_safety_keeps_an_ad_away_from_blocked_content(client: TestClient) -> None:
    live_campaign(client, advertiser(client), targeting={"blocked_topics": ["v9i3On"]})
    assert _ads(client, topics=["Rm3SiT"]) == []  # below Sensitive Topics
    assert len(_ads(client, topics=["653"])) == 1


def test_contextual_topic_targeting_and_targeting_can_be_replaced(client: TestClient) -> None:
    headers = advertiser(client)
    cid = live_campaign(client, headers, targeting={"topics": ["653"]})
    assert _ads(client, topics=["210"]) == []
    assert len(_ads(client, topics=["653"])) == 1
    r = client.put(f"/v1/campaigns/{cid}/targeting", json={"topics": ["210"]}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["targeting"]["topics"] == ["210"]
    assert len(_ads(client, topics=["210"])) == 1


def test_a_sensitive_topic_rules_out_personalisation(client: TestClient) -> None:
    live_campaign(client, advertiser(client))
    plain = client.post("/v1/decisions", json={"placement": "feed", "region": "US-CA", "age": 30})
    assert plain.json()["consent"]["mode"] == "personalised"
    r = client.post(
        "/v1/decisions",
        json={"placement": "feed", "region": "US-CA", "age": 30, "topics": ["461"]},
    )
    assert r.json()["consent"]["mode"] != "personalised"


def test_frequency_cap_applies_where_storage_is_allowed(client: TestClient, store: Store) -> None:
    cid = live_campaign(
        client,
        advertiser(client),
        targeting={"frequency_cap": {"max_deliveries": 2, "window_days": 7}},
    )
    viewer = {"user_ref": "viewer-1", "region": "US-CA", "age": 30}  # personalised: storage
    assert [len(_ads(client, **viewer)) for _ in range(3)] == [1, 1, 0]
    assert len(_ads(client, user_ref="viewer-2", region="US-CA", age=30)) == 1
    key = Pseudonymiser(PEPPER).viewer_key("viewer-1")
    assert store.frequency.counts(key, [cid], 0, T0 + 86_400_000) == {cid: 2}


def test_without_storage_there_is_no_user_level_cap_and_nothing_is_counted(
    client: TestClient, store: Store
) -> None:
    cid = live_campaign(
        client,
        advertiser(client),
        targeting={"frequency_cap": {"max_deliveries": 1, "window_days": 7}},
    )
    viewer = {"user_ref": "viewer-1", "region": "EU-DE"}  # no TC string: no storage
    assert [len(_ads(client, **viewer)) for _ in range(3)] == [1, 1, 1]
    key = Pseudonymiser(PEPPER).viewer_key("viewer-1")
    assert store.frequency.counts(key, [cid], 0, T0 + 86_400_000) == {}


def test_focused_view_campaigns_default_to_six_per_seven_days(client: TestClient) -> None:
    headers = advertiser(client)
    r = client.post("/v1/campaigns", json=campaign_body(), headers=headers)
    assert r.json()["frequency_cap"] == {"max_deliveries": 6, "window_days": 7}
    r = client.post(
        "/v1/campaigns", json=campaign_body(billing_model="cpm_viewable"), headers=headers
    )
    assert r.json()["frequency_cap"] is None


def test_every_ad_carries_the_dsa_disclosure(client: TestClient) -> None:
    live_campaign(client, advertiser(client, "Acme"), targeting={"regions": ["FR"]})
    live_campaign(client, advertiser(client, "Beta"), payer="Beta Holding SA")
    ads = _ads(client, region="EU-FR", count=2)
    by_name = {ad["disclosure"]["advertiser"]: ad["disclosure"] for ad in ads}
    assert by_name["Acme"]["payer"] == "Acme"
    assert by_name["Beta"]["payer"] == "Beta Holding SA"
    assert "Matched the advertiser's targeting on region: FR" in by_name["Acme"]["parameters"]
    assert by_name["Acme"]["why_url"].endswith("/why")
    # DSA Art. 26(1)(d): how the viewer can change the parameters.
    assert by_name["Acme"]["change_url"].endswith("/v1/me/interests")


def test_why_this_ad_tells_what_the_decision_used(client: TestClient) -> None:
    live_campaign(client, advertiser(client, "Acme"), targeting={"topics": ["653"]})
    ad = _ads(client, user_ref="viewer-1", region="US-CA", age=30, topics=["653"])[0]
    r = client.get(f"/v1/deliveries/{ad['delivery']}/why", headers=_viewer_auth("viewer-1"))
    assert r.status_code == 200, r.text
    why = r.json()
    assert why["advertiser"] == "Acme"
    assert why["mode"] == "personalised"
    assert why["matched_targeting"] == ["content topic: Travel"]
    assert why["content_topics"] == ["Travel"]
    assert why["interest_cohort"] is None and why["personalised"] is False
    assert why["parameters"] == ad["disclosure"]["parameters"]
    assert "/v1/me/interests" in why["how_to_change"]


def test_why_this_ad_answers_only_the_viewer_it_was_shown_to(client: TestClient) -> None:
    live_campaign(client, advertiser(client))
    ad = _ads(client, user_ref="viewer-1", region="US-CA", age=30)[0]  # tied to viewer-1
    url = f"/v1/deliveries/{ad['delivery']}/why"
    assert client.get(url, headers=_viewer_auth("viewer-2")).status_code == 404
    assert client.get(url).json()["error"] == "missing_viewer_token"
    bad = client.get(url, headers={"Authorization": "Bearer not.a.jwt"})
    assert (bad.status_code, bad.json()["error"]) == (401, "invalid_viewer_token")
    assert (
        client.get("/v1/deliveries/dl_nope/why", headers=_viewer_auth("viewer-1")).status_code
        == 404
    )


class SpyCohorts:
    def __init__(self, cohort: str | None) -> None:
        self.cohort = cohort
        self.reads: list[str] = []

    def cohort_of(self, viewer_key: str) -> str | None:
        self.reads.append(viewer_key)
        return self.cohort

    def topics_of(self, cohort: str) -> tuple[int, ...]:
        return ()


def _decider(store: Store, cohorts: SpyCohorts) -> Decider:
    signer = TokenSigner(SETTINGS.token_signing_key.get_secret_value(), 10**9)
    return Decider(store, signer, Pseudonymiser(PEPPER), cohorts=cohorts)


def _request(region: str, **signals: Any) -> AdRequest:
    return AdRequest("feed", "viewer-1", region, "mobile", 1, RawSignals(region=region, **signals))


def test_the_profile_is_read_only_in_personalised_mode(client: TestClient, store: Store) -> None:
    live_campaign(client, advertiser(client), targeting={"cohorts": ["c_travel"]})
    spy = SpyCohorts("c_travel")
    decider = _decider(store, spy)
    for region, signals in (("EU-DE", {}), ("US-CA", {"age": 15}), ("US-NY", {})):
        decision = decider.decide(_request(region, **signals), T0)
        assert decision.permissions.mode.value != "personalised"
        assert decision.ads == [] and spy.reads == []
    decision = decider.decide(_request("US-CA", age=30), T0)
    assert decision.permissions.mode.value == "personalised"
    assert len(spy.reads) == 1 and len(decision.ads) == 1
    assert decision.ads[0].delivery.why["cohort"] == "c_travel"
    assert decision.ads[0].delivery.why["personalised"] is True
    spy.cohort = "c_food"
    assert decider.decide(_request("US-CA", age=30), T0).ads == []


def test_the_decision_answer_has_the_documented_shape(client: TestClient) -> None:
    from fairview.api.schemas import DecisionResponse

    live_campaign(client, advertiser(client))
    r = client.post("/v1/decisions", json={"placement": "feed", "count": 2})
    answer = DecisionResponse.model_validate(r.json())
    assert answer.model_dump(mode="json") == r.json()
