"""The public ad repository pages: search, pages of results, one ad, in Chromium too."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from fairview.api.app import create_app
from fairview.clock import ShiftedClock
from fairview.report.repository import run_repository_job
from fairview.settings import Environment, Settings
from fairview.storage import Store, open_store
from fairview.storage.repository import Repository
from fairview.web import public

from api_helpers import advertiser, live_campaign
from browser import assert_accessible, chromium, live_server, screenshot
from factories import T0


def _app(url: str, store: Store, clock: ShiftedClock) -> FastAPI:
    return create_app(Settings(env=Environment.TEST, database_url=url), store=store, clock=clock)


def _serve(client: TestClient, n: int, prefix: str, **signals: object) -> None:
    for i in range(n):
        body = {"placement": "feed", "user_ref": f"{prefix}{i}", **signals}
        r = client.post("/v1/decisions", json=body)
        assert r.status_code == 200 and r.json()["ads"], r.text


def seed(url: str, store: Store, clock: ShiftedClock) -> None:
    """Two ads: Acme's targeted one seen by 300 in Germany, Birch's untargeted one by 20."""
    with TestClient(_app(url, store, clock)) as client:
        acme = advertiser(client, "Acme Foods")
        live_campaign(
            client, acme, targeting={"topics": ["210"], "regions": ["DE", "FR"]},
            payer="Acme Holding", budget_total=100_000_000,
        )  # fmt: skip
        birch = advertiser(client, "Birch Bikes")
        live_campaign(client, birch, targeting={"regions": ["IT"]}, budget_total=100_000_000)
        _serve(client, 300, "de-", region="EU-DE", topics=["210"])
        _serve(client, 20, "it-", region="EU-IT")
    run_repository_job(Repository(store.engine), clock.now_ms(), epsilon=5.0)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """An app on a store with the two ads (read-only for every test of this module)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('repository-web') / 'f.sqlite3'}"
    store = open_store(url, synchronous="NORMAL")
    clock = ShiftedClock(T0)
    seed(url, store, clock)
    yield _app(url, store, clock)
    store.close()


@pytest.fixture(scope="module")
def web(seeded: FastAPI) -> Iterator[TestClient]:
    with TestClient(seeded) as client:
        yield client


def _ad_ids(html: str) -> list[str]:
    return re.findall(r'href="/repository/ads/([^"]+)"', html)


def test_the_search_page_lists_what_the_api_lists(web: TestClient) -> None:
    page = web.get("/repository")
    assert page.status_code == 200 and "set-cookie" not in page.headers  # public, no cookie
    api = web.get("/v1/repository/ads").json()
    assert _ad_ids(page.text) == [ad["id"] for ad in api["ads"]] and api["total"] == 2
    assert "2 ads shown in the last year" in page.text
    assert "Acme Holding" in page.text and "regions: DE, FR" in page.text
    assert "not released" in page.text  # Birch reached 20: never released
    for params, expected in (
        ({"advertiser": "acme"}, 1),
        ({"advertiser": "holding"}, 1),  # the advertiser field matches the payer too
        ({"payer": "acme foods"}, 0),  # the payer field matches the payer only
        ({"payer": "birch"}, 1),  # no payer named: the advertiser paid
        ({"topic": "210"}, 1),
        ({"from": "2026-09-21", "to": "2026-09-21"}, 2),
        ({"from": "2020-01-01", "to": "2020-12-31"}, 0),
    ):
        html = web.get("/repository", params=params).text
        assert len(_ad_ids(html)) == expected, params
        assert web.get("/v1/repository/ads", params=params).json()["total"] == expected, params
    empty = web.get("/repository", params={"advertiser": "nobody"})
    assert empty.status_code == 200 and "No ad matches this search" in empty.text
    assert 'href="/repository"' in empty.text


def test_search_errors_are_shown_by_their_field(web: TestClient) -> None:
    bad = web.get("/repository", params={"from": "2026-10-02", "to": "2026-10-01"})
    assert bad.status_code == 422
    assert "The last day is before the first day" in bad.text and 'aria-invalid="true"' in bad.text
    assert 'value="2026-10-02"' in bad.text  # what was typed stays
    junk = web.get("/repository", params={"from": "yesterday", "page": "x"})
    assert junk.status_code == 422 and "Enter the first day as a date" in junk.text


def test_results_come_a_page_at_a_time(web: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(public, "PAGE_SIZE", 1)
    first = web.get("/repository", params={"from": "2026-09-01"})
    assert len(_ad_ids(first.text)) == 1 and "page 1 of 2" in first.text
    following = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert following and "from=2026-09-01" in following.group(1)
    second = web.get(following.group(1).replace("&amp;", "&"))
    assert len(_ad_ids(second.text)) == 1 and _ad_ids(second.text) != _ad_ids(first.text)
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    beyond = web.get("/repository", params={"page": "9"})
    assert "There are no more results" in beyond.text


def test_an_ad_page_shows_payer_parameters_and_dp_reach(web: TestClient) -> None:
    [acme] = web.get("/v1/repository/ads", params={"advertiser": "acme"}).json()["ads"]
    page = web.get(f"/repository/ads/{acme['id']}")
    assert page.status_code == 200
    assert "Acme Foods" in page.text and "Acme Holding" in page.text
    assert "regions: DE, FR" in page.text and "2026-09-21 to 2026-09-21" in page.text
    de = acme["reach"]["by_member_state"]["DE"]
    assert f"{de['value']:,.0f}" in page.text and f"{de['ci_low']:,.0f}" in page.text
    assert "random noise" in page.text and "ε = 5.0" in page.text
    assert not re.search(r"[0-9a-f]{64}", page.text)  # no viewer pseudonym
    [birch] = web.get("/v1/repository/ads", params={"advertiser": "birch"}).json()["ads"]
    quiet = web.get(f"/repository/ads/{birch['id']}")
    assert "No reach is released for this ad" in quiet.text and "regions: IT" in quiet.text
    missing = web.get("/repository/ads/nope")
    assert missing.status_code == 404 and "unknown_ad" in missing.text
    assert missing.headers["content-type"].startswith("text/html")


# In Chromium -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(seeded: FastAPI) -> Iterator[tuple[str, Browser]]:
    with live_server(seeded) as base, chromium() as browser:
        yield base, browser


def _open(page: Page, url: str) -> None:
    """Open `url` and check it answered (render times: make bench, "Web pages")."""
    response = page.goto(url)
    assert response is not None and response.ok, url
    assert response.headers["server-timing"].startswith("app;dur=")


@pytest.mark.slow
def test_search_and_open_an_ad_in_chromium(served: tuple[str, Browser]) -> None:
    base, browser = served
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _open(page, f"{base}/repository")
    assert_accessible(page)
    screenshot(page, "repository-search")
    page.get_by_label("Advertiser").fill("acme")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("status")).to_contain_text("1 ad matches the search")
    page.get_by_label("Shown from").fill("2020-01-01")
    page.get_by_label("Shown until (included)").fill("2020-12-31")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("status")).to_contain_text("No ad matches this search")
    assert_accessible(page)
    screenshot(page, "repository-empty")
    page.get_by_label("Shown from").fill("2026-09-21")
    page.get_by_label("Shown until (included)").fill("2026-09-20")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("alert")).to_contain_text("The last day is before the first day")
    assert_accessible(page)
    page.get_by_label("Shown until (included)").fill("2026-09-30")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="spot").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("spot")
    expect(page.get_by_role("table")).to_contain_text("DE")
    expect(page.locator("main")).to_contain_text("Acme Holding")
    _open(page, page.url)
    assert_accessible(page)
    screenshot(page, "repository-ad")
    page.goto(f"{base}/repository/ads/nope")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    assert_accessible(page)
    context.close()


@pytest.mark.slow
def test_repository_pages_fit_360_px_and_work_by_keyboard(served: tuple[str, Browser]) -> None:
    base, browser = served
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(f"{base}/repository")
    page.keyboard.press("Tab")  # the skip link first
    page.keyboard.press("Enter")
    for _ in range(30):  # on to the advertiser field by keyboard alone
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "advertiser":
            break
    page.keyboard.type("birch")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("1 ad matches the search")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the repository scrolls sideways at 360 px ({width} px)"
    screenshot(page, "repository-search-narrow")
    page.get_by_role("link", name="spot").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("spot")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the ad page scrolls sideways at 360 px ({width} px)"
    context.close()
