"""What every page shares: the start page, error pages, headers, static files, sessions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from fairview.api.app import create_app
from fairview.clock import ShiftedClock
from fairview.settings import Environment, Settings
from fairview.storage import open_store
from fairview.web import render, session
from fairview.web.pages import DEMO_ENVIRONMENTS

from browser import assert_accessible, chromium, live_server, screenshot
from conftest import make_settings
from factories import T0


@pytest.fixture
def web(tmp_path: Path) -> Iterator[TestClient]:
    store = open_store(f"sqlite:///{tmp_path / 'f.sqlite3'}", synchronous="NORMAL")
    with TestClient(create_app(make_settings(), store=store, clock=ShiftedClock(T0))) as client:
        yield client
    store.close()


def test_every_page_carries_the_strict_headers(web: TestClient) -> None:
    r = web.get("/")
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == render.CSP
    assert "'unsafe-inline'" not in render.CSP and "script-src 'self'" in render.CSP
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["server-timing"].startswith("app;dur=")
    assert "set-cookie" not in r.headers
    assert "<script>" not in r.text and " style=" not in r.text  # nothing inline


def test_unknown_page_is_an_html_404_and_unknown_api_path_stays_json(web: TestClient) -> None:
    r = web.get("/console/no-such-page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "not_found" in r.text and "Check the link" in r.text
    r = web.get("/v1/no-such-thing")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_static_files_are_served_with_a_content_hash() -> None:
    url = render.static_url("fairview.css")
    assert url.startswith("/static/fairview.css?v=") and len(url.split("v=")[1]) == 12


def test_demo_player_link_only_outside_production(web: TestClient) -> None:
    assert Environment.PROD not in DEMO_ENVIRONMENTS
    assert "/demo/player" in web.get("/").text


def test_session_cookie_round_trips_and_refuses_tampering(web: TestClient) -> None:
    services = web.app.state.services  # type: ignore[attr-defined]
    value = session.encode(
        services, session.Session("advertiser", "adv_1", "fvk_abc", 2**40, "", "n")
    )
    decoded = session.decode(services, value)
    assert decoded is not None and decoded.subject == "adv_1"
    payload, mac = value.split(".")
    assert session.decode(services, payload[:-2] + "AA." + mac) is None
    assert session.decode(services, value + "x") is None
    assert session.decode(services, None) is None
    expired = session.encode(services, session.Session("staff", "s", "p", 1, "", "n"))
    assert session.decode(services, expired) is None


def test_safe_next_refuses_other_sites() -> None:
    assert session.safe_next("/console/campaigns", "/x") == "/console/campaigns"
    for bad in ("//evil.example/", "https://evil.example/", None, 3):
        assert session.safe_next(bad, "/x") == "/x"


@pytest.mark.slow
def test_start_and_error_pages_in_chromium_are_accessible(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.sqlite3'}"
    store = open_store(url, synchronous="NORMAL")
    settings = Settings(env=Environment.TEST, database_url=url)
    app = create_app(settings, store=store, clock=ShiftedClock(T0))
    with live_server(app) as base, chromium() as browser_:
        browser: Browser = browser_
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        csp_errors: list[str] = []
        page.on("console", lambda m: csp_errors.append(m.text) if "Security" in m.text else None)
        page.goto(f"{base}/")
        assert page.get_by_role("heading", level=1).inner_text() == "fairview"
        assert_accessible(page)
        screenshot(page, "start")
        page.goto(f"{base}/console/nowhere")
        assert "Not found" in page.get_by_role("heading", level=1).inner_text()
        assert_accessible(page)
        small = browser.new_context(viewport={"width": 360, "height": 740})
        narrow = small.new_page()
        narrow.goto(f"{base}/")
        width = narrow.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the start page scrolls sideways at 360 px ({width} px wide)"
        assert not csp_errors, csp_errors
        context.close()
        small.close()
    store.close()
