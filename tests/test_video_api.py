"""VAST tags, VAST pings and OpenRTB bids through the HTTP API, against the real store."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import xmlschema
from fastapi.testclient import TestClient
from lxml import etree  # type: ignore[import-untyped]

from fairview.storage import Store

from api_helpers import advertiser, live_campaign

DATA = Path(__file__).parent / "data"
SCHEMA = xmlschema.XMLSchema10(str(DATA / "vast_xsd" / "vast_4.2.xsd"))
NS = {"v": "http://www.iab.com/VAST"}


def _valid_vast(text: str) -> etree._Element:
    assert [str(e) for e in SCHEMA.iter_errors(text)] == []
    return etree.fromstring(text.encode())


def _ping(client: TestClient, url: str, playhead: str | None = None) -> int:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if playhead is not None:
        query["ph"] = playhead
    else:
        query.pop("ph", None)
    return client.get(parts.path, params=query).status_code


def test_a_vast_tag_serves_a_valid_document_with_token_and_disclosure(client: TestClient) -> None:
    live_campaign(client, advertiser(client, "Acme & Söhne"))
    r = client.get("/v1/vast", params={"placement": "feed", "region": "EU-DE", "topics": "653"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    root = _valid_vast(r.text)
    assert root.xpath("//v:InLine/v:Advertiser/text()", namespaces=NS) == ["Acme & Söhne"]
    assert root.xpath("//v:Tracking[@event='progress']/@offset", namespaces=NS) == ["00:00:06"]
    extension = root.xpath("//v:Extension[@type='fairview']", namespaces=NS)[0]
    assert "Acme & Söhne" in extension.xpath("string(.)")
    assert extension.xpath("string(v:DeliveryToken)", namespaces=NS).count(".") == 2
    change = extension.xpath("string(v:Disclosure/v:ChangeParameters)", namespaces=NS)
    assert change.endswith("/v1/me/interests")


def test_no_eligible_ad_gives_a_valid_empty_vast(client: TestClient) -> None:
    r = client.get("/v1/vast", params={"placement": "feed"})
    assert r.status_code == 200
    root = _valid_vast(r.text)
    assert root.get("version") == "4.2" and root.xpath("//v:Ad", namespaces=NS) == []


def test_bad_tag_parameters_get_clear_errors(client: TestClient) -> None:
    assert client.get("/v1/vast").status_code == 422
    r = client.get("/v1/vast", params={"placement": "feed", "topics": "653,nope"})
    assert (r.status_code, r.json()["error"]) == (422, "unknown_topic")


def test_vast_pings_land_in_the_collector_once(client: TestClient, store: Store) -> None:
    live_campaign(client, advertiser(client))
    root = _valid_vast(client.get("/v1/vast", params={"placement": "feed"}).text)
    impression = root.xpath("//v:Impression/text()", namespaces=NS)[0].strip()
    progress = root.xpath("//v:Tracking[@event='progress']/text()", namespaces=NS)[0].strip()
    assert _ping(client, impression, "00:00:00.000") == 204
    assert _ping(client, impression, "00:00:00.000") == 204  # a resent ping: a duplicate
    assert _ping(client, progress, "00:00:06.000") == 204
    stats = store.events.stats()
    assert (stats.accepted, stats.duplicates) == (2, 1)
    assert _ping(client, progress, "[ADPLAYHEAD]") == 422  # the player did not fill it in
    viewable = root.xpath("//v:Viewable/text()", namespaces=NS)[0].strip()
    assert _ping(client, viewable) == 204
    assert store.events.stats().accepted == 2  # viewability pings are not playback


def test_a_ping_with_a_forged_token_is_refused(client: TestClient) -> None:
    r = client.get("/v1/vast/ping", params={"e": "impression", "t": "forged.token.x"})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_token"


def test_openrtb_video_request_gets_a_bid_with_valid_vast(client: TestClient) -> None:
    live_campaign(client, advertiser(client))
    body = (DATA / "openrtb26" / "6_2_4_bid-request_video.json").read_bytes()
    r = client.post("/openrtb/2.6", content=body, headers={"x-openrtb-version": "2.6"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["id"] == json.loads(body)["id"]
    bid = answer["seatbid"][0]["bid"][0]
    assert bid["impid"] == "1" and bid["price"] >= 0.03 and bid["mtype"] == 2
    _valid_vast(bid["adm"])
    assert "/v1/vast/ping?e=impression" in bid["burl"]


def test_openrtb_without_video_or_fitting_ads_is_no_bid(client: TestClient) -> None:
    live_campaign(client, advertiser(client), duration_s=45.0)  # longer than maxduration 30
    for name in ("6_2_1_bid-request_simple-banner.json", "6_2_4_bid-request_video.json"):
        r = client.post("/openrtb/2.6", content=(DATA / "openrtb26" / name).read_bytes())
        assert r.status_code == 204, (name, r.text)


def test_openrtb_malformed_request_is_a_clear_400(client: TestClient) -> None:
    r = client.post("/openrtb/2.6", content=b"{not json")
    assert (r.status_code, r.json()["error"]) == (400, "malformed_json")
