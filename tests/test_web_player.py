"""The demo player page: a real ad through the decision API, the SDK, and the panel.

The fast tests read the page and its status endpoint with a TestClient; the browser
test plays the demo ad in real Chromium against fairview under uvicorn, with the
production `Settler` running every second beside it (`settle_continuously`), until
the page shows the focused-view verdict and the ledger entry, and checks both
against the store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, Route, expect

from fairview.api.app import create_app
from fairview.clock import ShiftedClock
from fairview.demo.driver import buy_demo_player
from fairview.errors import FairviewError
from fairview.settings import Environment, Settings
from fairview.settle.worker import Settler
from fairview.storage import Store, open_store
from fairview.web import pages, player
from fairview.web.render import CSP

from api_helpers import advertiser, live_campaign, watch_events
from browser import assert_accessible, live_server, screenshot
from conftest import make_settings
from factories import T0


@dataclass(frozen=True)
class Web:
    client: TestClient
    store: Store
    clock: ShiftedClock
    campaign: dict[str, Any]


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    store = open_store(f"sqlite:///{tmp_path / 'f.sqlite3'}", synchronous="NORMAL")
    clock = ShiftedClock(T0)
    settings = make_settings()
    with TestClient(create_app(settings, store=store, clock=clock)) as client:
        campaign = buy_demo_player(client, settings, clock.now_ms(), str(client.base_url))
        yield Web(client, store, clock, campaign)
    store.close()


def _demo_ad(client: TestClient) -> dict[str, Any]:
    body = {"placement": player.DEMO_PLACEMENT, "region": player.DEMO_REGION}
    r = client.post("/v1/decisions", json=body)
    assert r.status_code == 200, r.text
    ads: list[dict[str, Any]] = r.json()["ads"]
    assert len(ads) == 1, "the demo campaign should serve on the demo placement"
    return ads[0]


def test_the_page_renders_under_the_strict_policy(web: Web) -> None:
    """(Its render time is measured in make bench, "Web pages", not here.)"""
    r = web.client.get("/demo/player")
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["server-timing"].startswith("app;dur=")
    html = r.text
    assert "<script>" not in html and " style=" not in html  # nothing inline
    assert '<video id="demo-video" controls' in html
    assert 'role="status" aria-live="polite"' in html
    assert "/sdk/fairview-player.js" in html and "/static/demo-player.js?v=" in html
    assert f'data-placement="{player.DEMO_PLACEMENT}"' in html


def test_the_page_and_its_status_do_not_exist_in_production(tmp_path: Path) -> None:
    secret = "s" * 48
    settings = Settings(
        env=Environment.PROD,
        database_url=f"sqlite:///{tmp_path / 'p.sqlite3'}",
        token_signing_key=secret,
        pseudonym_pepper=secret + "p",
        admin_api_key=secret + "a",
        viewer_token_key=secret + "v",
    )
    assert settings.env not in pages.DEMO_ENVIRONMENTS
    store = open_store(settings.database_url, synchronous="NORMAL")
    try:
        with TestClient(create_app(settings, store=store)) as client:
            r = client.get("/demo/player")
            assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
            assert client.get("/demo/player/deliveries/dl_x").status_code == 404
            assert "/demo/player" not in client.get("/").text
        with pytest.raises(FairviewError, match="demo"):
            player.settle_continuously(store, ShiftedClock(T0), settings)
    finally:
        store.close()


def test_the_demo_ad_is_a_small_webm_served_by_fairview(web: Web) -> None:
    r = web.client.get(f"/static/{player.DEMO_AD}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "video/webm"
    assert r.content[:4] == b"\x1a\x45\xdf\xa3"  # EBML (Matroska/WebM)
    assert len(r.content) < 300_000
    ad = _demo_ad(web.client)
    assert ad["creative"]["media_url"] == f"{web.client.base_url}/static/{player.DEMO_AD}"
    assert ad["creative"]["duration_s"] == player.DEMO_AD_DURATION_S
    assert ad["disclosure"]["advertiser"] == "fairview demo"


def test_the_status_follows_a_delivery_to_its_ledger_entry(web: Web) -> None:
    ad = _demo_ad(web.client)
    url = f"/demo/player/deliveries/{ad['delivery']}"
    before = web.client.get(url)
    assert before.status_code == 200 and before.headers["cache-control"] == "no-store"
    status = before.json()
    assert status["events"]["received"] == 0 and status["so_far"] is None
    assert status["verdict"] is None and status["ledger"] is None

    # Seven visible seconds, then the SDK's `close`: a focused view, final at once.
    events = watch_events(7, duration_s=player.DEMO_AD_DURATION_S, end="close")
    half = len(events) // 2
    issued = web.clock.now_ms()
    for batch in (events[:half], events[half:]):
        # Sent as a player would: each batch once its last event has happened.
        web.clock.advance_to(issued + batch[-1]["mono_ms"] + 200)
        r = web.client.post("/v1/events", json={"token": ad["token"], "events": batch})
        assert r.status_code == 200, r.text
    status = web.client.get(url).json()
    assert status["events"] == {
        "received": len(events),
        "by_type": {"first_frame": 1, "heartbeat": 28, "close": 1},
        "max_seq": len(events) - 1,
        "missing_seq": 0,
        "closed": True,
        "media_s": 7.0,
    }
    assert status["so_far"]["focused_view"] and status["so_far"]["coverage_s"] >= 6
    assert status["verdict"] is None  # not settled yet

    settings = web.client.app.state.services.settings  # type: ignore[attr-defined]
    Settler(web.store, web.clock, window_ms=settings.settle_window_s * 1000).run_once()
    status = web.client.get(url).json()
    verdict = status["verdict"]
    assert verdict["focused_view"] and verdict["qualified_by"] == "watch"
    assert verdict["viewability"] == "viewable" and not verdict["invalid"]
    [entry] = [e for e in web.store.settlement.ledger() if e["delivery_id"] == ad["delivery"]]
    [shown] = status["ledger"]
    assert shown["id"] == entry["id"] and shown["kind"] == entry["kind"] == "focused_view"
    assert shown["amount_minor"] == entry["amount"] == web.campaign["bid"] == 5
    assert shown["amount"] == "0.05 EUR" and shown["campaign"] == "Demo player"
    # Nothing that identifies a viewer, or where they are.
    text = orjson.dumps(status).decode()
    for word in ("viewer", "user_ref", "region", "device", player.DEMO_REGION):
        assert word not in text, word


def test_the_status_answers_for_demo_deliveries_only(web: Web) -> None:
    other = advertiser(web.client, "Other")
    live_campaign(web.client, other)
    r = web.client.post("/v1/decisions", json={"placement": "feed"})
    [feed_ad] = r.json()["ads"]
    assert feed_ad["campaign"] != web.campaign["id"]  # the demo campaign stays off the feed
    for delivery in (feed_ad["delivery"], "dl_unknown"):
        r = web.client.get(f"/demo/player/deliveries/{delivery}")
        assert r.status_code == 404 and r.json()["error"] == "unknown_delivery"


# -- in Chromium ----------------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    url: str
    store: Store


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """fairview under uvicorn with the demo campaign, settling every second."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'fairview.sqlite3'}"
    settings = Settings(env=Environment.TEST, database_url=url)
    store = open_store(url, synchronous="NORMAL")
    clock = ShiftedClock(T0)
    app = create_app(settings, store=store, clock=clock)
    try:
        with live_server(app) as base_url, player.settling(store, clock, settings):
            with httpx.Client(base_url=base_url, timeout=10) as client:
                buy_demo_player(client, settings, clock.now_ms(), base_url)
            yield Live(base_url, store)
    finally:
        store.close()


def _csp_watch(page: Page) -> list[str]:
    refused: list[str] = []
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return refused


@pytest.mark.slow
def test_watching_the_demo_ad_shows_the_verdict_and_the_ledger_entry(
    live: Live, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    refused = _csp_watch(page)
    page.goto(f"{live.url}/demo/player")
    root = page.locator("#demo-player")
    expect(root).to_have_attribute("data-delivery", re.compile(r"^dl_"), timeout=10_000)
    delivery = root.get_attribute("data-delivery")
    assert delivery is not None
    expect(page.locator("#disclosure")).to_contain_text("fairview demo")
    expect(page.locator("#events-received")).not_to_have_text("—", timeout=10_000)
    assert_accessible(page)  # while the ad plays

    # The 10 s ad plays to its end; the page closes the session; the Settler runs.
    expect(page.locator("#verdict")).to_contain_text("Focused view — billable", timeout=30_000)
    expect(page.locator("#ledger")).to_contain_text("0.05 EUR", timeout=5_000)
    expect(page.locator("#state")).to_contain_text("Settled: Focused view")
    assert root.get_attribute("data-verdict") == "focused_view"

    # What the page shows is what the store holds.
    [entry] = [e for e in live.store.settlement.ledger() if e["delivery_id"] == delivery]
    assert entry["kind"] == "focused_view" and entry["amount"] == 5
    expect(page.locator("#ledger")).to_contain_text(f"#{entry['id']} · focused_view")
    verdict = live.store.settlement.verdicts()[delivery]
    assert verdict["focused_view"] and verdict["viewability"] == "viewable"
    events = sorted(live.store.events.events_for([delivery]), key=lambda e: e.seq)
    assert [e.seq for e in events] == list(range(len(events)))
    assert events[-1].type == "close" and "ended" in {e.type for e in events}
    expect(page.locator("#events-coverage")).to_have_text(
        f"seq 0–{len(events) - 1}, no gap, closed"
    )
    assert_accessible(page)  # with the verdict shown
    screenshot(page, "demo-player")

    # Keyboard: from the Play button, Tab reaches "Load another ad"; Enter loads a new ad.
    page.locator("#play-toggle").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator("#new-ad")).to_be_focused()
    page.keyboard.press("Enter")
    expect(root).not_to_have_attribute("data-delivery", delivery, timeout=10_000)
    expect(page.locator("#verdict")).to_contain_text("No verdict yet")
    assert not refused, refused
    context.close()


@pytest.mark.slow
def test_at_360_px_the_video_scales_and_no_ad_is_a_clear_state(
    live: Live, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    refused = _csp_watch(page)

    def no_fill(route: Route) -> None:
        route.fulfill(status=200, json={"ads": [], "consent": {"mode": "non_personalised"}})

    page.route("**/v1/decisions", no_fill)
    page.goto(f"{live.url}/demo/player")
    expect(page.locator("#state")).to_contain_text("No ad available")
    assert "notice-warn" in (page.locator("#state").get_attribute("class") or "")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the demo page scrolls sideways at 360 px ({width} px wide)"
    box = page.locator("#demo-video").bounding_box()
    assert box is not None and box["width"] <= 340 and box["height"] > 0
    assert_accessible(page)
    assert not refused, refused
    context.close()
