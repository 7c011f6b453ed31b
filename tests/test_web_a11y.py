"""Every page, in Chromium, with data in it: axe-core, 360 px, keyboard focus, no CSP error.

The pages are enumerated from the app's routes (every HTML `GET` page), so a new page
is checked here without being listed: `test_every_page_is_visited` fails when one has
no way in below. The area tests check each flow; this one checks that no page, in the
state a user would see it, has a serious or critical axe-core violation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from fairview.api.app import create_app
from fairview.clock import ShiftedClock
from fairview.registry import retention_days
from fairview.report.repository import run_repository_job
from fairview.settings import Environment, Settings
from fairview.storage import Store, open_store
from fairview.storage.repository import Repository
from fairview.web import is_page
from test_web_privacy import PERSONALISED, _populate, _token

from api_helpers import advertiser, all_routes, live_campaign
from browser import assert_accessible, live_server, screenshot
from conftest import ADMIN
from factories import T0

pytestmark = pytest.mark.slow

NOT_HTML = {"/console/campaigns/{campaign_id}/report.csv", "/demo/player/deliveries/{delivery_id}"}
PURPOSE = "Accessibility check of every page"
SCREENSHOTS = {
    "/console/campaigns/{campaign_id}/targeting": "console-targeting",
    "/console/campaigns/{campaign_id}/creatives/{creative_id}": "console-creative",
}


@dataclass(frozen=True)
class Site:
    base: str
    store: Store
    routes: list[str]
    values: dict[str, str]
    advertiser_key: str
    dpo_key: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    db = tmp_path_factory.mktemp("a11y") / "f.sqlite3"
    store = open_store(f"sqlite:///{db}", synchronous="NORMAL")
    settings = Settings(env=Environment.TEST, database_url=f"sqlite:///{db}")
    app = create_app(settings, store=store, clock=ShiftedClock(T0))
    routes = sorted(
        r.split(" ", 1)[1]
        for r in all_routes(app)
        if r.startswith("GET ") and is_page(r.split(" ", 1)[1])
    )
    try:
        with live_server(app) as base, httpx.Client(base_url=base, timeout=30) as api:
            _populate(api, store)  # viewers with interests, a cohort, ads shown to them
            acme = advertiser(api, "Acme")
            campaign = live_campaign(api, acme)
            ad = api.post("/v1/decisions", json={"placement": "feed", "user_ref": "ann",
                                                 **PERSONALISED}).json()["ads"][0]  # fmt: skip
            objected = {"Authorization": f"Bearer {_token('fin')}"}
            erased = {"Authorization": f"Bearer {_token('zed')}"}
            objection = api.post("/v1/me/objection", headers=objected).json()["id"]
            erasure = api.post("/v1/me/erasure", headers=erased).json()["id"]
            kept = retention_days(settings.retention_days)["ad_repository"]
            run_repository_job(Repository(store.engine, kept_days=kept), T0 + 3_600_000)
            ad_id = api.get("/v1/repository/ads").json()["ads"][0]["id"]
            dpo = api.post("/v1/staff/keys", json={"name": "Dee", "role": "dpo"}, headers=ADMIN)
            (creative,) = api.get(f"/v1/campaigns/{campaign}/creatives", headers=acme).json()
            values = {
                "campaign_id": campaign,
                "creative_id": creative["id"],
                "delivery_id": ad["delivery"],
                "ad_id": ad_id,
                "objection": objection,
                "erasure": erasure,
            }
            yield Site(
                base,
                store,
                routes,
                values,
                acme["Authorization"].removeprefix("Bearer "),
                dpo.json()["key"],
            )
    finally:
        store.close()


def _url(site: Site, template: str) -> str | None:
    """The page's address with its path filled and the query it needs; None if unknown."""
    path = re.sub(r"\{(\w+)\}", lambda m: site.values.get(m.group(1), "{?}"), template)
    if "{?}" in path or template in NOT_HTML:
        return None
    if template.endswith("/done"):  # a receipt, shown to its own viewer only
        kind, viewer = ("erasure", "zed") if "erasure" in template else ("objection", "fin")
        return f"{site.base}{path}?token={_token(viewer)}&receipt={site.values[kind]}"
    if template.startswith("/privacy-centre"):
        return f"{site.base}{path}?token={_token('ann')}"
    return f"{site.base}{path}"


def _sign_in(page: Page, site: Site) -> None:
    page.goto(f"{site.base}/console/sign-in")
    page.get_by_label("API key").fill(site.advertiser_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/console$"))


def _sign_in_staff(page: Page, site: Site) -> None:
    page.goto(f"{site.base}/audit/sign-in")
    page.locator("#key").fill(site.dpo_key)
    page.locator("#purpose").fill(PURPOSE)
    page.locator("#key").press("Enter")
    page.wait_for_url(re.compile(r"/audit$"))


def test_every_page_is_visited(site: Site) -> None:
    missing = [t for t in site.routes if t not in NOT_HTML and _url(site, t) is None]
    assert not missing, f"give these pages a way in (values in the site fixture): {missing}"
    assert len(site.routes) >= 20


@pytest.mark.parametrize("width", [1280, 360])
def test_every_page_is_accessible_and_fits(site: Site, browser: Browser, width: int) -> None:
    context: BrowserContext = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Security Policy" in m.text else None)
    _sign_in(page, site)
    _sign_in_staff(page, site)  # the one session cookie is now the staff one …
    failures: list[str] = []
    for template in site.routes:
        url = _url(site, template)
        if url is None:
            continue
        if template.startswith("/console") and template != "/console/sign-in":
            _sign_in(page, site)  # … and the advertiser's again for the console
        elif template.startswith("/audit") and template != "/audit/sign-in":
            _sign_in_staff(page, site)
        response = page.goto(url)
        status = response.status if response else 0
        if status != 200:
            failures.append(f"{template}: HTTP {status}")
            continue
        try:
            assert_accessible(page)
        except AssertionError as exc:
            failures.append(f"{template}: {exc}")
        if width == 1280 and template in SCREENSHOTS:  # pages no flow test photographs
            screenshot(page, SCREENSHOTS[template])
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            failures.append(f"{template}: scrolls sideways by {overflow} px at {width} px")
        # the first Tab lands on the skip link, which is then visible and leads to main
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement && document.activeElement.textContent")
        if "Skip to content" not in (focused or ""):
            failures.append(f"{template}: the first Tab reaches {focused!r}, not the skip link")
    context.close()
    assert not blocked, blocked
    assert not failures, "\n".join(failures)


def test_error_pages_are_accessible(site: Site, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    for url in (
        f"{site.base}/repository/no/such/page",
        f"{site.base}/privacy-centre?token=forged",
        f"{site.base}/repository/ads/ad_missing",
    ):
        page.goto(url)
        assert_accessible(page)
    _sign_in(page, site)
    page.goto(f"{site.base}/console/campaigns/cmp_not_mine")
    assert_accessible(page)
    context.close()
