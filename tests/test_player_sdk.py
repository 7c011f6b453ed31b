"""The player SDK in real headless Chromium, against a real fairview server (spec §7).

One Chromium, one uvicorn server on a temporary SQLite file, one generated video;
each scenario takes a fresh decision, plays the ad in a tab, lets the SDK flush,
then settles with the production `Settler` and reads the ledger.

Chromium is started by this module (not by `playwright.launch`) and driven over CDP
with `no_defaults`: Playwright's own launch turns on focus emulation for every page,
which keeps every tab "visible" forever, so a real tab switch could not hide the ad.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route
from starlette.staticfiles import StaticFiles

from fairview.api.app import create_app
from fairview.api.sdk import sdk_source
from fairview.clock import ShiftedClock
from fairview.settings import Environment, Settings
from fairview.settle.worker import Settler
from fairview.storage import Store, open_store
from fairview.storage.eventlog import LogEvent

from api_helpers import campaign_body
from browser import generate_clip, live_server, wait_for
from conftest import ADMIN, make_settings
from factories import T0

pytestmark = pytest.mark.slow

CLIP_S = 12
PAGE = """<!doctype html>
<meta charset="utf-8"><title>fairview SDK test</title>
<style>body { margin: 0 } video { display: block; width: 320px; height: 240px }</style>
<video id="ad" src="clip.webm" autoplay playsinline></video>
<script src="/sdk/fairview-player.js"></script>
<script>
  const params = new URLSearchParams(location.hash.slice(1));
  const ad = document.getElementById("ad");
  ad.defaultPlaybackRate = ad.playbackRate = Number(params.get("rate"));
  window.session = FairviewPlayer.attach(ad, {
    token: params.get("token"), endpoint: "/v1/events", duration_s: Number(params.get("d")),
  });
</script>
"""


@dataclass(frozen=True)
class Server:
    url: str
    store: Store
    clock: ShiftedClock
    settings: Settings


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test page and a real 12 s VP8/Opus clip (the tone keeps it playing when hidden)."""
    root = tmp_path_factory.mktemp("site")
    (root / "player.html").write_text(PAGE, encoding="utf-8")
    generate_clip(root / "clip.webm", CLIP_S)
    return root


@pytest.fixture(scope="module")
def server(site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """fairview under uvicorn on a free loopback port, with the test site at /test."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'fairview.sqlite3'}"
    settings = Settings(env=Environment.TEST, database_url=url)
    store = open_store(url, synchronous="NORMAL")
    clock = ShiftedClock(T0)
    app = create_app(settings, store=store, clock=clock)
    app.mount("/test", StaticFiles(directory=site))
    try:
        with live_server(app) as base_url:
            _live_campaign(base_url)
            yield Server(base_url, store, clock, settings)
    finally:
        store.close()


def _live_campaign(base_url: str) -> None:
    """Through the API: an advertiser, a cpfv campaign, and the generated clip as creative."""
    r = httpx.post(f"{base_url}/v1/advertisers", json={"name": "Acme"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    headers = {"Authorization": f"Bearer {r.json()['api_key']}"}
    r = httpx.post(f"{base_url}/v1/campaigns", json=campaign_body(), headers=headers)
    assert r.status_code == 201, r.text
    creative = {"name": "clip", "duration_s": CLIP_S, "media_url": f"{base_url}/test/clip.webm"}
    r = httpx.post(
        f"{base_url}/v1/campaigns/{r.json()['id']}/creatives", json=creative, headers=headers
    )
    assert r.status_code == 201, r.text


def _open_ad(
    server: Server,
    browser: Browser,
    *,
    rate: float = 1.0,
    prepare: Callable[[Page], None] | None = None,
) -> tuple[Page, str]:
    """Ask for an ad as a platform would, and play it in a new foreground tab."""
    r = httpx.post(f"{server.url}/v1/decisions", json={"placement": "feed"})
    assert r.status_code == 200, r.text
    ad: dict[str, Any] = r.json()["ads"][0]
    fragment = urlencode({"token": ad["token"], "d": ad["creative"]["duration_s"], "rate": rate})
    page = browser.contexts[0].new_page()
    if prepare is not None:
        prepare(page)
    page.goto(f"{server.url}/test/player.html#{fragment}")
    return page, str(ad["delivery"])


def _play_until(page: Page, media_s: float) -> None:
    # Interval polling: requestAnimationFrame (the default) never runs in a hidden tab.
    page.wait_for_function(
        f"document.getElementById('ad').currentTime >= {media_s}", polling=100, timeout=20_000
    )


def _stored(server: Server, delivery: str) -> list[LogEvent]:
    """The delivery's events once the SDK's final `close` is in the log."""
    events: list[LogEvent] = []

    def closed() -> bool:
        events[:] = server.store.events.events_for([delivery])
        return any(e.type == "close" for e in events)

    wait_for(closed, 10, f"the SDK's close event for {delivery} never reached the server")
    return sorted(events, key=lambda e: e.seq)


def _settle(server: Server, delivery: str) -> tuple[dict[str, object], list[dict[str, object]]]:
    """Settle now: a delivery whose gapless events end in `close` is final at once."""
    window_ms = server.settings.settle_window_s * 1000
    Settler(server.store, server.clock, window_ms=window_ms).run_once()
    verdicts = server.store.settlement.verdicts()
    assert delivery in verdicts, "not final: the SDK left a seq gap or sent no terminal event"
    charges = [e for e in server.store.settlement.ledger() if e["delivery_id"] == delivery]
    return verdicts[delivery], charges


def test_seven_visible_seconds_are_one_focused_view(server: Server, browser: Browser) -> None:
    page, delivery = _open_ad(server, browser)
    _play_until(page, 7.0)
    page.close()  # pagehide: the SDK sends `close` and what is left with sendBeacon

    events = _stored(server, delivery)
    assert [e.seq for e in events] == list(range(len(events)))
    first, last = events[0], events[-1]
    assert (first.type, first.mono_ms, first.duration_s) == ("first_frame", 0, CLIP_S)
    assert last.type == "close"
    beats = [e for e in events if e.type == "heartbeat"]
    assert len(beats) >= 24  # every 250 ms for 7 s
    assert all(e.vis == 1 and e.rate == 1 and not e.muted for e in beats)
    assert all(b.mono_ms >= a.mono_ms for a, b in pairwise(events))
    assert all(b.media_s > a.media_s for a, b in pairwise(beats))
    assert max(e.media_s for e in events) >= 7.0

    verdict, charges = _settle(server, delivery)
    assert verdict["focused_view"] and verdict["viewability"] == "viewable", verdict
    assert [c["kind"] for c in charges] == ["focused_view"]


def test_a_hidden_tab_earns_nothing_while_the_ad_plays_on(server: Server, browser: Browser) -> None:
    page, delivery = _open_ad(server, browser)
    _play_until(page, 3.0)
    # A real tab switch: a new foreground tab in the same window hides the ad's tab.
    other = browser.contexts[0].new_page()
    other.bring_to_front()
    assert page.evaluate("document.visibilityState") == "hidden"
    _play_until(page, 7.5)  # the audio track keeps it playing in the background
    page.close()
    other.close()

    events = _stored(server, delivery)
    types = [e.type for e in events]
    assert "bg" in types and "vis_off" in types
    hidden_at = types.index("bg")
    assert 2.5 <= events[hidden_at].media_s < 4.5
    assert all(e.vis == 0 for e in events[hidden_at:])

    verdict, charges = _settle(server, delivery)
    assert not verdict["focused_view"], verdict
    assert 2.0 <= float(str(verdict["coverage_s"])) <= 4.5
    assert charges == []


def test_double_speed_earns_nothing(server: Server, browser: Browser) -> None:
    page, delivery = _open_ad(server, browser, rate=2.0)
    _play_until(page, 10.0)  # 5 s of wall time at 2x
    page.close()

    events = _stored(server, delivery)
    assert all(e.rate == 2 for e in events)
    assert max(e.media_s for e in events) >= 10.0

    verdict, charges = _settle(server, delivery)
    assert not verdict["focused_view"] and verdict["coverage_s"] == 0, verdict
    assert charges == []


def test_a_failed_batch_is_sent_again(server: Server, browser: Browser) -> None:
    refused: list[str] = []

    def overloaded_collector(route: Route) -> None:
        # The first two batches meet a collector that cannot commit (503, "resend it").
        if len(refused) < 2:
            refused.append(route.request.post_data or "")
            route.fulfill(status=503, json={"error": "store_unavailable"})
        else:
            route.continue_()

    def prepare(page: Page) -> None:
        page.route("**/v1/events", overloaded_collector)

    page, delivery = _open_ad(server, browser, prepare=prepare)
    _play_until(page, 4.0)
    page.close()

    events = _stored(server, delivery)
    assert [e.seq for e in events] == list(range(len(events)))
    assert len(refused) == 2 and all('"seq":0,' in body for body in refused)


def test_the_sdk_is_served_as_cacheable_javascript() -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(make_settings())) as c:
        r = c.get("/sdk/fairview-player.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=3600"
    assert "FairviewPlayer" in r.text


def test_the_sdk_reads_nothing_that_identifies_a_viewer() -> None:
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", sdk_source().decode(), flags=re.DOTALL)
    never = (r"cookie", r"\w+Storage\b", r"indexedDB", r"userAgent", r"\bDate\b", r"\bscreen\.")
    for pattern in (*never, r"canvas", r"getContext", r"\bfonts?\b", r"\bdevicePixelRatio"):
        assert not re.search(pattern, code), pattern
    # The only thing it takes from `navigator` is sendBeacon, to send its own events.
    assert code.count("navigator.") == code.count("navigator.sendBeacon(") == 1
