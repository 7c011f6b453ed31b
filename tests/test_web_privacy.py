"""The viewer privacy centre: its pages on the real API, in process and in real Chromium.

The viewers here watch cooking and travel videos with personalised consent, are
placed in an interest cohort labelled Cooking (the weekly cohort job's output,
published directly), and are shown ads: "Cookware Co" targets the Cooking
interest, "City Bikes" targets nobody. Every change made on a page is checked
through the JSON API (`POST /v1/decisions`, `/v1/me/…`) with the same signals.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import markupsafe
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from fairview.api.app import create_app
from fairview.clock import ShiftedClock
from fairview.pseudonym import Pseudonymiser
from fairview.registry import REGISTRY, Erasure
from fairview.settings import Environment, Settings
from fairview.storage import Store, open_store
from fairview.storage.cohorts import CohortRecord, CohortRunRecord
from fairview.tokens import ViewerTokens
from fairview.web import privacy_centre

from api_helpers import advertiser, live_campaign, viewer_headers, watch_videos
from browser import assert_accessible, live_server, screenshot
from conftest import make_settings
from factories import DAY_MS, T0

SETTINGS = make_settings()
PSEUDONYMS = Pseudonymiser(SETTINGS.pseudonym_pepper.get_secret_value())
TOKENS = ViewerTokens(SETTINGS.viewer_token_key.get_secret_value())
FORGED = ViewerTokens("another platform's key, long enough for HS256")
GPP_CA_NO_OPT_OUT = "DBABrw~CAAQAAAAAABA.YA~BAIAAABA.QA"  # usca SharingOptOut = 2
PERSONALISED = {"region": "US-CA", "age": 30, "gpp": GPP_CA_NO_OPT_OUT}
COOKING, TRAVEL = 173, 332  # allowlisted Topics v2 ids
EXPIRES = T0 + 30 * DAY_MS
PROFILED = ("ann", "bea", "cal", "fin")  # watched videos, in the Cooking cohort, shown ads


def _token(user_ref: str, expires_ms: int = EXPIRES) -> str:
    return TOKENS.sign(user_ref, expires_ms)


@dataclass(frozen=True)
class World:
    base: str
    store: Store
    cookware: str
    bikes: str


def _populate(api: httpx.Client, store: Store) -> tuple[str, str]:
    cookware = live_campaign(
        api, advertiser(api, "Cookware Co"), targeting={"interests": [COOKING]}
    )
    bikes = live_campaign(api, advertiser(api, "City Bikes"))
    for viewer in PROFILED:
        watch_videos(api, viewer, {"pasta": COOKING, "train": TRAVEL}, **PERSONALISED)
    members = [(PSEUDONYMS.viewer_key(v), 7) for v in PROFILED]
    run = CohortRunRecord("run-1", T0, 1, 2, len(members), "served", True, {})
    store.cohorts.publish(run, [CohortRecord(7, "run-1", len(members), (COOKING,), True, "",
                                             0.0, 0.0)], members)  # fmt: skip
    for viewer in PROFILED:
        assert cookware in _campaigns(api, viewer)
    return cookware, bikes


def _campaigns(api: httpx.Client, user_ref: str) -> list[str]:
    """The campaigns of the next decision for the viewer, asked through the real API."""
    body = {"placement": "feed", "user_ref": user_ref, "count": 2, **PERSONALISED}
    r = api.post("/v1/decisions", json=body)
    assert r.status_code == 200, r.text
    return [ad["campaign"] for ad in r.json()["ads"]]


def _export_rows(data: dict[str, Any]) -> dict[str, int]:
    return {name: len(section["rows"]) for name, section in data["data"].items()}


# In process ---------------------------------------------------------------------


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[TestClient, World]]:
    url = f"sqlite:///{tmp_path / 'f.sqlite3'}"
    store = open_store(url, synchronous="NORMAL")
    app = create_app(make_settings(), store=store, clock=ShiftedClock(T0))
    with TestClient(app) as client:
        cookware, bikes = _populate(client, store)
        yield client, World("", store, cookware, bikes)
    store.close()


def _form(token: str, **fields: str) -> dict[str, str]:
    return {"token": token, **fields}


def test_the_overview_shows_consent_interests_and_recent_ads(
    web: tuple[TestClient, World],
) -> None:
    client, _ = web
    r = client.get("/privacy-centre", params={"token": _token("ann")})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store" and "set-cookie" not in r.headers
    page = r.text
    assert "Cooking &amp; Recipes" in page and "Remove<span" in page
    assert "Cookware Co" in page and "Why this ad?" in page
    assert "Your last consent choice on record allows personalised ads." in page
    assert "change them in the platform&#39;s privacy settings" in page
    assert "Personalised ads are <strong>on</strong>" in page


def test_the_pages_call_the_api_functions_and_agree_with_the_api(
    web: tuple[TestClient, World],
) -> None:
    client, _ = web
    token = _token("ann")
    me = client.get("/v1/me/interests", headers=viewer_headers("ann", EXPIRES)).json()
    page = client.get("/privacy-centre", params={"token": token}).text
    for interest in me["interests"]:
        assert f"/privacy-centre/interests/{interest['id']}/remove" in page
    ad_link = page.split('href="/privacy-centre/ads/')[1].split('"')[0]
    delivery = ad_link.split("?")[0]
    why = client.get(f"/v1/deliveries/{delivery}/why", headers=viewer_headers("ann", EXPIRES))
    detail = client.get(f"/privacy-centre/ads/{ad_link.replace('&amp;', '&')}")
    assert detail.status_code == 200
    for line in why.json()["parameters"]:
        assert str(markupsafe.escape(line)) in detail.text
    assert why.json()["advertiser"] in detail.text


def test_forms_redirect_back_with_the_token_and_refuse_get(web: tuple[TestClient, World]) -> None:
    client, world = web
    token = _token("fin")
    r = client.post(
        f"/privacy-centre/interests/{COOKING}/remove", data=_form(token), follow_redirects=False
    )
    assert r.status_code == 303
    location = urlsplit(r.headers["location"])
    assert location.path == "/privacy-centre"
    assert parse_qs(location.query) == {"token": [token], "done": ["interest_removed"]}
    me = client.get("/v1/me/interests", headers=viewer_headers("fin", EXPIRES)).json()
    assert [t["id"] for t in me["removed"]] == [COOKING]
    page = client.get(r.headers["location"]).text
    assert "Removed. This interest is out of your profile" in page and "Restore<span" in page
    r = client.post(f"/privacy-centre/interests/{COOKING}/restore", data=_form(token))
    assert "Restored." in r.text
    r = client.post("/privacy-centre/personalisation", data=_form(token, paused="yes"))
    assert "Personalised ads are paused." in r.text and "Paused by you" in r.text
    me = client.get("/v1/me/interests", headers=viewer_headers("fin", EXPIRES)).json()
    assert me["personalisation"] == "paused"
    r = client.post("/privacy-centre/personalisation", data=_form(token, paused="no"))
    assert "Personalised ads are back on" in r.text
    for path in (f"/privacy-centre/interests/{COOKING}/remove", "/privacy-centre/export"):
        refused = client.get(path, params={"token": token})
        assert refused.status_code == 405 and "text/html" in refused.headers["content-type"]
    unknown = client.post("/privacy-centre/interests/999999/remove", data=_form(token))
    assert unknown.status_code == 404 and "not one of the interests fairview uses" in unknown.text
    assert world.store.audience.controls(PSEUDONYMS.viewer_key("fin")).blocked == frozenset()


@pytest.mark.parametrize(
    ("token", "code", "says"),
    [
        (None, "missing_viewer_token", "does not carry your personal link code"),
        ("not.a.token", "invalid_viewer_token", "is not valid"),
        (TOKENS.sign("ann", T0 - 1000), "expired_viewer_token", "has expired"),
        (FORGED.sign("ann", EXPIRES), "invalid_viewer_token", "is not valid"),
    ],
)  # fmt: skip
def test_a_missing_expired_or_forged_token_says_what_to_do(
    web: tuple[TestClient, World], token: str | None, code: str, says: str
) -> None:
    client, _ = web
    params = {} if token is None else {"token": token}
    for r in (
        client.get("/privacy-centre", params=params),
        client.get("/privacy-centre/erasure", params=params),
        client.post("/privacy-centre/export", data=params),
        client.post("/privacy-centre/erasure", data={**params, "confirm": "yes"}),
    ):
        assert r.status_code == 401 and r.headers["content-type"].startswith("text/html")
        assert code in r.text and says in r.text
        assert "open the privacy centre again" in r.text
        assert "Cookware" not in r.text


def test_export_is_the_api_export_as_a_download(web: tuple[TestClient, World]) -> None:
    client, _ = web
    r = client.post("/privacy-centre/export", data=_form(_token("bea"), right="portability"))
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="fairview-export.json"'
    data = r.json()
    assert data["complete"] is True and data["right"] == "portability"
    assert data["pseudonym"] == PSEUDONYMS.viewer_key("bea")
    rows = _export_rows(data)
    assert rows["interest_watch"] == 2 and rows["deliveries"] >= 1


def test_erasure_and_objection_need_the_confirmation(web: tuple[TestClient, World]) -> None:
    client, world = web
    token = _token("cal")
    for path in ("/privacy-centre/erasure", "/privacy-centre/objection"):
        r = client.post(path, data=_form(token))
        assert r.status_code == 422 and "Tick the box to confirm" in r.text
        assert 'aria-invalid="true"' in r.text and "Nothing was changed yet" in r.text
    viewer = PSEUDONYMS.viewer_key("cal")
    assert world.store.audience.watch(viewer, 0) != []
    assert world.store.consents.objection(viewer) is None


def test_a_receipt_is_shown_only_to_its_viewer(web: tuple[TestClient, World]) -> None:
    client, _ = web
    r = client.post("/privacy-centre/objection", data=_form(_token("cal"), confirm="yes"))
    assert r.status_code == 200 and "Your objection is recorded" in r.text
    receipt = r.url.params["receipt"]
    other = client.get(
        "/privacy-centre/objection/done", params={"token": _token("ann"), "receipt": receipt}
    )
    assert other.status_code == 404 and "could not find this request" in other.text
    wrong_kind = client.get(
        "/privacy-centre/erasure/done", params={"token": _token("cal"), "receipt": receipt}
    )
    assert wrong_kind.status_code == 404


def test_every_registry_entry_has_plain_words() -> None:
    for entry in REGISTRY:
        key = (entry.table, entry.columns[0])
        assert key in privacy_centre.ENTRY_WORDS, f"no plain words for {key}"
        if entry.erasure is Erasure.KEEP:
            assert key in privacy_centre.KEPT_WORDS, f"no plain reason for keeping {key}"


# In Chromium --------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = f"sqlite:///{tmp_path_factory.mktemp('privacy') / 'f.sqlite3'}"
    store = open_store(url, synchronous="NORMAL")
    settings = Settings(env=Environment.TEST, database_url=url)
    app = create_app(settings, store=store, clock=ShiftedClock(T0))
    with live_server(app) as base, httpx.Client(base_url=base) as api:
        cookware, bikes = _populate(api, store)
        yield World(base, store, cookware, bikes)
    store.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    yield context.new_page()
    context.close()


def _narrow_fits(browser: Browser, url: str) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740})
    narrow = context.new_page()
    narrow.goto(url)
    width = narrow.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{url} scrolls sideways at 360 px ({width} px wide)"
    context.close()


def _api(world: World) -> httpx.Client:
    return httpx.Client(base_url=world.base)


@pytest.mark.slow
def test_removing_an_interest_changes_the_next_decision(
    world: World, page: Page, browser: Browser
) -> None:
    overview = f"{world.base}/privacy-centre?token={_token('ann')}"
    with _api(world) as api:
        assert world.cookware in _campaigns(api, "ann")  # served before
    page.goto(overview)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your privacy centre")
    interests = page.locator("#interests")
    expect(interests.locator("strong", has_text="Cooking & Recipes")).to_be_visible()
    expect(page.locator("#ads").get_by_text("Cookware Co").first).to_be_visible()
    assert_accessible(page)
    screenshot(page, "privacy-centre")
    _narrow_fits(browser, overview)

    page.locator("#ads").get_by_role("link", name="Why this ad?").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Why you saw this ad")
    expect(page.get_by_text("Chosen with your interest profile").first).to_be_visible()
    assert_accessible(page)
    screenshot(page, "privacy-centre-why-this-ad")
    _narrow_fits(browser, page.url)
    page.get_by_role("link", name="Back to your privacy centre").click()

    remove = page.get_by_role("button", name="Remove Cooking & Recipes")
    remove.focus()
    page.keyboard.press("Enter")  # keyboard only
    expect(page.get_by_role("status")).to_contain_text("Removed.")
    expect(page.get_by_role("button", name="Restore Cooking & Recipes")).to_be_visible()
    expect(page.get_by_role("button", name="Remove Cooking & Recipes")).to_have_count(0)
    assert_accessible(page)
    with _api(world) as api:
        after = _campaigns(api, "ann")
    assert world.cookware not in after and after == [world.bikes]  # the next decision changed


@pytest.mark.slow
def test_export_then_erasure_leaves_nothing_and_says_so(
    world: World, page: Page, browser: Browser
) -> None:
    token = _token("bea")
    page.goto(f"{world.base}/privacy-centre?token={token}")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download my data").click()
    download = info.value
    assert download.suggested_filename == "fairview-export.json"
    data = json.loads(Path(download.path()).read_text())
    assert data["complete"] is True and data["pseudonym"] == PSEUDONYMS.viewer_key("bea")
    rows = _export_rows(data)
    assert rows["interest_watch"] == 2 and rows["deliveries"] >= 1 and rows["consent_records"] >= 1

    page.get_by_role("link", name="Erase my data").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Erase my data")
    expect(page.get_by_text("What is kept, and why")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "privacy-centre-erasure")
    _narrow_fits(browser, page.url)
    page.get_by_role("button", name="Erase my data now").click()  # not confirmed yet
    expect(page.get_by_role("alert")).to_contain_text("Tick the box to confirm")
    assert_accessible(page)
    page.get_by_label("I understand that my data is erased for good").check()
    page.get_by_role("button", name="Erase my data now").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your data has been erased")
    expect(page.get_by_role("status")).to_contain_text("Your next ad is chosen as if")
    assert_accessible(page)
    screenshot(page, "privacy-centre-erased")

    page.get_by_role("link", name="Back to your privacy centre").click()
    expect(page.get_by_text("No interests yet.")).to_be_visible()
    expect(page.get_by_text("No recent ads to show.")).to_be_visible()
    expect(page.get_by_text("fairview has no consent choice of yours on record.")).to_be_visible()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download my data").click()
    rows = _export_rows(json.loads(Path(info.value.path()).read_text()))
    personal = {k: v for k, v in rows.items() if k != "rights_requests"}
    assert set(personal.values()) == {0}, personal
    with _api(world) as api:
        me = api.get("/v1/me/interests", headers=viewer_headers("bea", EXPIRES)).json()
    assert me["interests"] == [] and me["removed"] == []


@pytest.mark.slow
def test_objection_stops_personalised_ads(world: World, page: Page) -> None:
    page.goto(f"{world.base}/privacy-centre?token={_token('cal')}")
    page.get_by_role("link", name="Object to personalised ads for good").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Object to personalised ads")
    assert_accessible(page)
    screenshot(page, "privacy-centre-objection")
    page.get_by_label("I object to personalised ads, for good").check()
    page.get_by_role("button", name="Object now").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your objection is recorded")
    assert_accessible(page)
    page.get_by_role("link", name="Back to your privacy centre").click()
    expect(page.get_by_text("Objection on record")).to_be_visible()
    expect(page.get_by_text("Your objection means none will be noted.")).to_be_visible()
    with _api(world) as api:
        assert world.cookware not in _campaigns(api, "cal")


@pytest.mark.slow
def test_empty_states_pause_and_link_errors(world: World, page: Page, browser: Browser) -> None:
    overview = f"{world.base}/privacy-centre?token={_token('dee')}"  # never seen by fairview
    page.goto(overview)
    expect(page.get_by_text("No interests yet.")).to_be_visible()
    expect(page.get_by_text("No recent ads to show.")).to_be_visible()
    expect(page.get_by_text("Nothing on record")).to_be_visible()
    started = time.perf_counter()
    page.get_by_role("button", name="Pause personalised ads").click()
    expect(page.get_by_role("status")).to_contain_text("Personalised ads are paused.")
    assert time.perf_counter() - started < 5
    assert_accessible(page)
    screenshot(page, "privacy-centre-empty-paused")
    _narrow_fits(browser, page.url)
    page.get_by_role("button", name="Turn personalised ads back on").click()
    expect(page.get_by_role("status")).to_contain_text("back on")

    page.goto(f"{world.base}/privacy-centre?token={_token('dee', T0 - 1000)}")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text("Your privacy centre link does not work")
    expect(page.get_by_role("alert")).to_contain_text("has expired")
    expect(page.get_by_text("open the privacy centre again")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "privacy-centre-link-expired")
    page.goto(f"{world.base}/privacy-centre")
    expect(page.get_by_role("alert")).to_contain_text("does not carry your personal link code")
    assert_accessible(page)
