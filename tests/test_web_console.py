"""The advertiser console: sign-in, campaigns, creatives, the report, in process and in Chromium."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from fairview.api.app import create_app
from fairview.clock import ShiftedClock
from fairview.settings import Environment, Settings
from fairview.storage import Store, open_store
from test_api_reports import _deliver

from api_helpers import campaign_body
from browser import assert_accessible, chromium, live_server, screenshot
from factories import T0, campaign

SEEDED_DAY = date(2026, 9, 20)
VIEWERS = 600  # enough for a (day, region, cohort) cell to be released at the default ε


@dataclass
class World:
    store: Store
    keys: dict[str, str]  # advertiser name -> API key
    seeded: str  # advertiser A's campaign with deliveries
    other: str  # advertiser B's campaign


def _world(tmp: Path) -> tuple[Store, Settings, World]:
    url = f"sqlite:///{tmp / 'console.sqlite3'}"
    store = open_store(url, synchronous="NORMAL")
    settings = Settings(env=Environment.TEST, database_url=url)
    keys: dict[str, str] = {}
    ids: dict[str, str] = {}
    for name in ("Acme", "Brightside"):
        record, key = store.catalog.create_advertiser(name, "EUR", T0)
        keys[name], ids[name] = key, record.id
    camp, creative = campaign(store, bid=10, budget=100_000, advertiser=ids["Acme"])
    spec: list[tuple[str, str | None, date, str, str | None, str]] = [
        (f"d-{i}", hashlib.sha256(f"v-{i}".encode()).hexdigest(), SEEDED_DAY, "EU-DE", "c1",
         "focused" if i % 3 else "seen")
        for i in range(VIEWERS)
    ]  # fmt: skip
    _deliver(store, camp, creative, spec)
    other, _ = campaign(store, advertiser=ids["Brightside"])
    return store, settings, World(store, keys, camp.id, other.id)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, World]]:
    store, settings, w = _world(tmp_path_factory.mktemp("console"))
    with TestClient(create_app(settings, store=store, clock=ShiftedClock(T0))) as client:
        yield client, w
    store.close()


def _sign_in(client: TestClient, key: str) -> None:
    client.cookies.clear()
    r = client.post("/console/sign-in", data={"api_key": key}, follow_redirects=False)
    assert r.status_code == 303, r.text


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found
    return found.group(1)


def test_pages_need_a_session_and_a_valid_key(world: tuple[TestClient, World]) -> None:
    client, w = world
    client.cookies.clear()
    r = client.get("/console", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/sign-in?next=/console"
    r = client.post("/console/sign-in", data={"api_key": "fv_wrong"}, follow_redirects=False)
    assert r.status_code == 401 and 'aria-invalid="true"' in r.text
    _sign_in(client, w.keys["Acme"])
    r = client.get("/console")
    assert r.status_code == 200 and "spring" in r.text and "of plan)" in r.text


def test_another_advertisers_campaign_is_a_403_page_like_a_missing_one(
    world: tuple[TestClient, World],
) -> None:
    """The API's ownership check (`own_campaign`) as a 403 page, the same for foreign and
    missing ids, with nothing of the campaign in it; POSTs are refused before any change."""
    client, w = world
    _sign_in(client, w.keys["Brightside"])
    for suffix in ("", "/report", "/report.csv"):
        foreign = client.get(f"/console/campaigns/{w.seeded}{suffix}")
        missing = client.get(f"/console/campaigns/cmp_missing{suffix}")
        assert foreign.status_code == missing.status_code == 403
        assert foreign.headers["content-type"].startswith("text/html")
        assert "campaign_not_yours" in foreign.text and "not in your account" in foreign.text
        assert foreign.text.replace(w.seeded, "") == missing.text.replace("cmp_missing", "")
        assert "spring" not in foreign.text.replace(w.seeded, "")
    csrf = _csrf(client.get("/console").text)
    before = w.store.catalog.campaign(w.seeded)
    for action in ("", "/pause", "/resume", "/creatives", "/report/release"):
        form = {"csrf": csrf, "name": "Mine"}
        r = client.post(f"/console/campaigns/{w.seeded}{action}", data=form)
        assert r.status_code == 403, action
    assert w.store.catalog.campaign(w.seeded) == before


def test_forms_refuse_a_missing_csrf_token(world: tuple[TestClient, World]) -> None:
    client, w = world
    _sign_in(client, w.keys["Acme"])
    r = client.post("/console/campaigns/new", data=campaign_body())
    assert r.status_code == 403 and "csrf_failed" in r.text


def test_create_edit_and_add_a_creative_through_the_api_functions(
    world: tuple[TestClient, World],
) -> None:
    client, w = world
    _sign_in(client, w.keys["Acme"])
    token = _csrf(client.get("/console/campaigns/new").text)
    form = {
        "csrf": token, "name": "Winter", "billing_model": "cpfv", "bid": "0.50",
        "budget_total": "0.20", "budget_daily": "", "starts_at": "2026-09-21",
        "ends_at": "2026-10-20", "payer": "",
    }  # fmt: skip
    r = client.post("/console/campaigns/new", data=form)
    assert r.status_code == 422 and 'href="#f-budget_total"' in r.text
    assert 'aria-describedby="f-budget_total-hint f-budget_total-error"' in r.text
    r = client.post("/console/campaigns/new", data=form | {"budget_total": "1000"})
    assert r.status_code == 200 and "Campaign created" in r.text
    cid = str(r.url).split("/")[-1].split("?")[0]
    headers = {"Authorization": f"Bearer {w.keys['Acme']}"}
    api = client.get(f"/v1/campaigns/{cid}", headers=headers).json()
    assert (api["bid"], api["budget_total"]) == (50, 100_000)
    assert api["ends_at"].startswith("2026-10-21T00:00:00")  # the last day is included
    r = client.post(f"/console/campaigns/{cid}", data=form | {"budget_total": "1000", "name": ""})
    assert r.status_code == 422 and "Enter the campaign name" in r.text
    r = client.post(
        f"/console/campaigns/{cid}", data=form | {"budget_total": "1000", "budget_daily": "20"}
    )
    assert r.status_code == 200 and "Changes saved" in r.text
    assert client.get(f"/v1/campaigns/{cid}", headers=headers).json()["budget_daily"] == 2000
    creative = {"csrf": token, "name": "spot", "duration_s": "1", "media_url": "nope"}
    r = client.post(f"/console/campaigns/{cid}/creatives", data=creative)
    assert (
        r.status_code == 422
        and 'href="#c-duration_s"' in r.text
        and 'href="#c-media_url"' in r.text
    )
    creative |= {"duration_s": "15", "media_url": "https://cdn.example/w.mp4"}
    r = client.post(f"/console/campaigns/{cid}/creatives", data=creative)
    assert r.status_code == 200 and "Creative added" in r.text
    assert len(client.get(f"/v1/campaigns/{cid}/creatives", headers=headers).json()) == 1


def test_the_report_spends_budget_only_when_released_and_the_csv_matches(
    world: tuple[TestClient, World],
) -> None:
    client, w = world
    _sign_in(client, w.keys["Acme"])
    headers = {"Authorization": f"Bearer {w.keys['Acme']}"}
    spent = client.get("/v1/reports/budget", headers=headers).json()["epsilon_spent"]
    page = client.get(f"/console/campaigns/{w.seeded}/report")
    assert page.status_code == 200 and "No report has been released" in page.text
    client.get(f"/console/campaigns/{w.seeded}/report.csv")
    assert client.get("/v1/reports/budget", headers=headers).json()["epsilon_spent"] == spent
    r = client.post(
        f"/console/campaigns/{w.seeded}/report/release", data={"csrf": _csrf(page.text)}
    )
    assert r.status_code == 200 and "was released and stored" in r.text
    after = client.get("/v1/reports/budget", headers=headers).json()["epsilon_spent"]
    assert after == pytest.approx(spent + 1.0)
    releases = client.get(f"/v1/reports/releases?campaign={w.seeded}", headers=headers).json()
    assert len(releases) == 1 and releases[0]["cells"] >= 1
    stored = client.get(f"/v1/reports/releases/{releases[0]['id']}", headers=headers).json()
    rows = list(
        csv.DictReader(io.StringIO(client.get(f"/console/campaigns/{w.seeded}/report.csv").text))
    )
    assert client.get("/v1/reports/budget", headers=headers).json()["epsilon_spent"] == after
    dp = [r for r in rows if r["kind"] == "dp" and r["metric"] == "reach"]
    assert [float(r["value"]) for r in dp] == [
        round(c["reach"]["value"], 2) for c in stored["cells"]
    ]
    spend = sum(
        float(r["value"]) for r in rows if r["section"] == "daily" and r["metric"] == "spend"
    )
    billing = client.get(
        "/v1/reports/billing", params={"from": "2026-09-20", "to": "2026-09-21"}, headers=headers
    ).json()
    assert spend == pytest.approx(billing["totals"]["amount"] / 100)
    verdicts = client.get(f"/v1/reports/verdicts?campaign={w.seeded}", headers=headers).json()
    assert verdicts["focused_views"] == 400 and verdicts["deliveries"] == VIEWERS
    page = client.get(f"/console/campaigns/{w.seeded}/report")
    assert page.status_code == 200  # render times: make bench ("Web pages")


def _check(page: Page, name: str, narrow: Page, url: str) -> None:
    assert_accessible(page)
    screenshot(page, name)
    narrow.goto(url)
    width = narrow.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{name} scrolls sideways at 360 px ({width} px wide)"


@pytest.mark.slow
def test_console_in_chromium(tmp_path: Path) -> None:
    store, settings, w = _world(tmp_path)
    app = create_app(settings, store=store, clock=ShiftedClock(T0))
    with live_server(app) as base, chromium() as browser_:
        browser: Browser = browser_
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        small = browser.new_context(viewport={"width": 360, "height": 740})
        page, narrow = context.new_page(), small.new_page()
        csp: list[str] = []
        page.on("console", lambda m: csp.append(m.text) if "Security" in m.text else None)
        for p in (page, narrow):  # sign in both contexts
            p.goto(f"{base}/console")
            expect(p.get_by_role("heading", level=1)).to_contain_text("Sign in")
            if p is page:
                _check(page, "console-sign-in", narrow, f"{base}/console/sign-in")
            p.get_by_label("API key").fill(w.keys["Acme"])
            p.get_by_role("button", name="Sign in").click()
            expect(p.get_by_role("heading", level=1)).to_have_text("Campaigns")
        _check(page, "console-campaigns", narrow, f"{base}/console")

        # create a campaign with a validation error, then fix it
        page.get_by_role("link", name="New campaign").first.click()
        expect(page.get_by_role("link", name="New campaign").first).to_have_attribute(
            "aria-current", "page"
        )
        page.get_by_label("Campaign name").fill("Autumn launch")
        page.get_by_label("Bid").fill("2.00")
        page.get_by_label("Total budget").fill("1.00")
        page.get_by_role("button", name="Create campaign").click()
        summary = page.locator("#error-summary")
        expect(summary).to_be_visible()
        expect(summary.get_by_role("link")).to_contain_text("Total budget")
        total = page.get_by_label("Total budget")
        expect(total).to_have_attribute("aria-invalid", "true")
        expect(total).to_have_value("1.00")
        _check(page, "console-campaign-new-error", narrow, f"{base}/console/campaigns/new")
        summary.get_by_role("link").first.click()
        expect(total).to_be_focused()
        total.fill("500.00")
        page.get_by_role("button", name="Create campaign").click()
        expect(page.get_by_role("status")).to_contain_text("Campaign created")
        expect(page.get_by_role("heading", level=1)).to_have_text("Autumn launch")
        _check(page, "console-campaign", narrow, page.url)

        # the report, before and after a release
        page.goto(f"{base}/console/campaigns/{w.seeded}/report")
        expect(page.get_by_text("No report has been released")).to_be_visible()
        page.get_by_role("button", name=re.compile("Release a DP report")).click()
        expect(page.get_by_role("status")).to_contain_text("released and stored")
        expect(page.get_by_role("img", name=re.compile("Reach by day"))).to_be_visible()
        expect(page.get_by_role("img", name=re.compile("Pacing"))).to_be_visible()
        _check(page, "console-report", narrow, page.url)

        # another advertiser's campaign: a 403 page (the same answer as a missing one)
        response = page.goto(f"{base}/console/campaigns/{w.other}")
        assert response is not None and response.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
        expect(page.get_by_role("alert")).to_contain_text("not in your account")
        _check(page, "console-foreign-campaign", narrow, f"{base}/console/campaigns/{w.other}")

        page.goto(f"{base}/console")
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("status")).to_contain_text("signed out")
        assert not csp, csp
        context.close()
        small.close()
    store.close()


def test_a_creative_is_edited_through_the_api_function(world: tuple[TestClient, World]) -> None:
    """The edit page saves through `update_creative`: inline errors for an invalid length,
    and, once the creative has been shown, a new video is refused by the field."""
    client, w = world
    _sign_in(client, w.keys["Acme"])
    (shown,) = w.store.catalog.creatives(w.seeded)  # delivered in the seeded data
    url = f"/console/campaigns/{w.seeded}/creatives/{shown.id}"
    assert f'href="{url}"' in client.get(f"/console/campaigns/{w.seeded}").text
    form = client.get(url)
    assert form.status_code == 200 and f'value="{shown.media_url}"' in form.text
    csrf = _csrf(form.text)
    fields = {"csrf": csrf, "name": shown.name, "media_url": shown.media_url}
    r = client.post(url, data=fields | {"duration_s": "1"})
    assert r.status_code == 422 and 'aria-invalid="true"' in r.text and "2 s" in r.text
    new_video = {"duration_s": "15", "media_url": "https://cdn.example/new.mp4"}
    r = client.post(url, data=fields | new_video)
    assert (
        r.status_code == 422 and "has been shown" in r.text and 'id="f-media_url-error"' in r.text
    )
    rename = {"name": "Renamed spot", "duration_s": f"{shown.duration_ms / 1000:g}"}
    r = client.post(url, data=fields | rename, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("done=creative_saved#creatives")
    (renamed,) = w.store.catalog.creatives(w.seeded)
    assert (renamed.name, renamed.media_url) == ("Renamed spot", shown.media_url)
    other = client.get(f"/console/campaigns/{w.seeded}/creatives/crv_missing")
    assert other.status_code == 404 and "creative_not_found" in other.text


def test_targeting_is_edited_through_set_targeting_and_keeps_what_the_form_lacks(
    world: tuple[TestClient, World],
) -> None:
    client, w = world
    _sign_in(client, w.keys["Acme"])
    headers = {"Authorization": f"Bearer {w.keys['Acme']}"}
    dayparts = [{"days": [0, 1, 2, 3, 4], "start_hour": 6, "end_hour": 22}]
    r = client.put(f"/v1/campaigns/{w.seeded}/targeting", headers=headers,
                   json={"dayparts": dayparts, "timezone": "Europe/Berlin"})  # fmt: skip
    assert r.status_code == 200, r.text
    url = f"/console/campaigns/{w.seeded}/targeting"
    form = client.get(url)
    assert form.status_code == 200 and "Kept as they are" in form.text and "dayparts" in form.text
    csrf = _csrf(form.text)
    bad = {"csrf": csrf, "regions": "de, Germany", "languages": "German", "cap_max": "0",
           "cap_days": "7"}  # fmt: skip
    r = client.post(url, data=bad)
    assert r.status_code == 422
    for hint in ("two-letter country code", "two lowercase letters", 'id="f-cap_max-error"'):
        assert hint in r.text, hint
    assert 'value="de, Germany"' in r.text  # what was typed stays
    good = {"csrf": csrf, "regions": "de, us-ca", "devices": ["mobile", "tv"],
            "interests": "173", "cap_max": "3", "cap_days": "7"}  # fmt: skip
    r = client.post(url, data=good, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("done=targeting")
    saved = client.get(f"/v1/campaigns/{w.seeded}", headers=headers).json()["targeting"]
    assert saved["regions"] == ["DE", "US-CA"] and saved["devices"] == ["mobile", "tv"]
    assert saved["interests"] == [173] and saved["frequency_cap"] == {
        "max_deliveries": 3, "window_days": 7}  # fmt: skip
    assert saved["dayparts"] == dayparts and saved["timezone"] == "Europe/Berlin"
    changes = list(w.store.audit.entries(action="campaign.targeting.changed"))
    assert changes and changes[-1].detail["targeting"]["regions"] == ["DE", "US-CA"]
