"""Decisions obey the consent policy, against the real store on every engine."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from fairview.storage import Store
from fairview.tokens import TokenSigner

from api_helpers import advertiser, live_campaign
from conftest import make_settings
from factories import T0

GPP_CA_OPTED_OUT = "DBABrw~CAAQAAAAAABA.YA~BAYAAABA.QA"  # usca SaleOptOut = 1
GPP_CA_NO_OPT_OUT = "DBABrw~CAAQAAAAAABA.YA~BAIAAABA.QA"  # usca SharingOptOut = 2


@pytest.fixture
def live(client: TestClient) -> TestClient:
    live_campaign(client, advertiser(client))
    return client


def _decide(client: TestClient, headers: dict[str, str] | None = None, **body: Any) -> Any:
    r = client.post("/v1/decisions", json={"placement": "feed", **body}, headers=headers or {})
    assert r.status_code == 200, r.text
    return r.json()


def _mode_in_token(token: str) -> str:
    key = make_settings().token_signing_key.get_secret_value()
    return TokenSigner(key, 10**12).verify(token, T0).mode


def test_without_a_signal_in_the_eu_no_pseudonym_is_kept(live: TestClient, store: Store) -> None:
    body = _decide(live, user_ref="viewer-1", region="EU-DE")
    assert (body["consent"]["mode"], body["consent"]["rows"]) == ("non_personalised", ["D01"])
    ad = body["ads"][0]
    delivery = store.deliveries.get(ad["delivery"])
    assert delivery is not None
    assert delivery.viewer_key is None
    assert _mode_in_token(ad["token"]) == "non_personalised"


def test_no_evidence_is_kept_when_no_consent_is_relied_on(live: TestClient, store: Store) -> None:
    _decide(live, user_ref="viewer-1", region="EU-DE", tc_string="garbage")
    from fairview.pseudonym import Pseudonymiser

    viewer = Pseudonymiser(make_settings().pseudonym_pepper.get_secret_value()).viewer_key(
        "viewer-1"
    )
    assert store.consents.history(viewer) == []


def test_a_bad_tc_string_is_reported_and_counts_as_absent(live: TestClient) -> None:
    body = _decide(live, region="FR", tc_string="not-a-tc-string!")
    assert body["consent"]["signal_errors"] == {"tc_string": "bad_base64"}
    assert body["consent"]["rows"] == ["D01"]


def test_personalised_decision_keeps_pseudonym_and_evidence(live: TestClient, store: Store) -> None:
    body = _decide(live, user_ref="viewer-2", region="US-CA", gpp=GPP_CA_NO_OPT_OUT)
    assert body["consent"]["mode"] == "personalised"
    delivery = store.deliveries.get(body["ads"][0]["delivery"])
    assert delivery is not None
    assert delivery.viewer_key is not None
    assert delivery.viewer_key != "viewer-2"  # a pseudonym, never the raw reference
    evidence = store.consents.latest(delivery.viewer_key)
    assert evidence is not None
    assert (evidence.gpp_string, evidence.mode, evidence.rows) == (
        GPP_CA_NO_OPT_OUT,
        "personalised",
        "D20",
    )
    assert _mode_in_token(body["ads"][0]["token"]) == "personalised"


def test_gpc_header_opts_out_in_california(live: TestClient, store: Store) -> None:
    body = _decide(
        live, {"Sec-GPC": "1"}, user_ref="viewer-3", region="US-CA", gpp=GPP_CA_NO_OPT_OUT
    )
    assert (body["consent"]["mode"], body["consent"]["rows"]) == ("contextual", ["D21"])
    delivery = store.deliveries.get(body["ads"][0]["delivery"])
    assert delivery is not None
    assert delivery.viewer_key is None  # event-level measurement: no viewer link


def test_newest_signal_wins_and_is_reused(live: TestClient) -> None:
    assert _decide(live, user_ref="v4", region="US-CA", gpp=GPP_CA_OPTED_OUT)["consent"][
        "rows"
    ] == ["D21"]
    assert _decide(live, user_ref="v4", region="US-CA")["consent"]["rows"] == ["D21"]
    assert _decide(live, user_ref="v4", region="US-CA", gpp=GPP_CA_NO_OPT_OUT)["consent"][
        "rows"
    ] == ["D20"]
    assert _decide(live, user_ref="v4", region="US-CA")["consent"]["rows"] == ["D20"]


def test_a_stored_objection_overrides_every_later_signal(live: TestClient, store: Store) -> None:
    first = _decide(live, user_ref="v5", region="US-CA", gpp=GPP_CA_NO_OPT_OUT)
    delivery = store.deliveries.get(first["ads"][0]["delivery"])
    assert delivery is not None
    assert delivery.viewer_key is not None
    store.consents.object(delivery.viewer_key, "objection", 0)
    after = _decide(live, user_ref="v5", region="US-CA", gpp=GPP_CA_NO_OPT_OUT)
    assert after["consent"]["mode"] == "contextual"
    assert "D16" in after["consent"]["rows"]


def test_minors_and_sensitive_context_are_never_personalised(live: TestClient) -> None:
    teen = _decide(live, region="US-CA", gpp=GPP_CA_NO_OPT_OUT, age=14)
    assert teen["consent"]["mode"] != "personalised"
    sensitive = _decide(live, region="US-CA", gpp=GPP_CA_NO_OPT_OUT, sensitive_context=True)
    assert sensitive["consent"]["mode"] == "contextual"
