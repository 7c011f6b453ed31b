"""Web pages: server time of every page on the demo's data, against the JSON API.

The demo runs first (300 viewers, seed 7, as `make demo`), into a temporary file.
Then every page is fetched in process: once cold (templates compiled, caches empty)
and then `REPEATS` times warm. The figure is fairview's own time, from the page's
`Server-Timing` header (the middleware measures from the request's arrival to the
response's start). The baseline, measured in the same run, is the JSON API route
that serves the same data; both are also timed as wall time in process (TestClient),
which is the like-for-like comparison (API routes send no Server-Timing).
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from rich.console import Console

from fairview.accountability.roles import Role
from fairview.api.app import create_app
from fairview.clock import ShiftedClock, SystemClock
from fairview.demo import DemoOptions, run_demo
from fairview.demo.run import DEMO_VENDOR_ID
from fairview.settings import Environment, Settings
from fairview.sim import simulate
from fairview.storage import open_configured
from fairview.tokens import ViewerTokens

REPEATS = 30
TARGET_MS = 200.0
USERS = 300
SEED = 7


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / "demo.sqlite3"
        run_demo(
            DemoOptions(
                users=USERS,
                seed=SEED,
                serve=False,
                report=Path(tmp) / "report.json",
                database=database,
            ),
            Console(quiet=True),
        )
        settings = Settings(
            env=Environment.DEMO,
            database_url=f"sqlite:///{database}",
            tcf_vendor_id=DEMO_VENDOR_ID,
        )
        store = open_configured(settings)
        try:
            # The demo's clock runs ahead of the wall clock (it drives 10 simulated minutes
            # in seconds, then moves a settlement window on): read its data after it.
            clock = ShiftedClock(SystemClock().now_ms() + 2 * 86_400_000)
            app = create_app(settings, store=store, clock=clock)
            with TestClient(app, follow_redirects=False) as client:
                return _measure(client, store, settings)
        finally:
            store.close()


def _measure(client: TestClient, store: Any, settings: Settings) -> dict[str, Any]:
    now = SystemClock().now_ms() + 2 * 86_400_000
    first = store.catalog.campaigns()[0]  # the first demo advertiser's first campaign
    _, key = store.catalog.add_key(first.advertiser_id, now)
    campaign = first.id
    _, dpo_key = store.staff.create("bench DPO", Role.DPO, now)
    api = {"Authorization": f"Bearer {key}"}
    viewer = _viewer_with_interests(client, settings)
    viewer_auth = {"Authorization": f"Bearer {viewer}"}
    ad_id = client.get("/v1/repository/ads", params={"limit": 1}).json()["ads"][0]["id"]
    day = time.strftime("%Y-%m-%d", time.gmtime(now / 1000))
    year_ago = time.strftime("%Y-%m-%d", time.gmtime(now / 1000 - 360 * 86_400))

    # the advertiser's pages, then the DPO's (one session cookie at a time)
    client.post("/console/sign-in", data={"api_key": key, "next": "/console"})
    rows = [
        _row("campaign list", client, "/console", "/v1/campaigns", api),
        _row(
            "campaign", client, f"/console/campaigns/{campaign}", f"/v1/campaigns/{campaign}", api
        ),
        _row(
            "campaign report",
            client,
            f"/console/campaigns/{campaign}/report",
            "/v1/reports/billing",
            api,
            {"from": year_ago, "to": day},
        ),
        _row(
            "campaign report CSV",
            client,
            f"/console/campaigns/{campaign}/report.csv",
            "/v1/reports/billing",
            api,
            {"from": year_ago, "to": day},
        ),
    ]
    client.cookies.clear()
    client.post(
        "/audit/sign-in",
        data={"key": dpo_key, "purpose": "benchmark of the page render times", "next": "/audit"},
    )
    dpo = {"Authorization": f"Bearer {dpo_key}", "X-Purpose": "benchmark of the page render times"}
    rows += [
        _row("DPO: cohort audit", client, "/audit/cohorts", "/v1/audit/cohorts", dpo),
        _row("DPO: rights requests", client, "/audit/rights", "/v1/rights/requests", dpo),
        _row("DPO: audit log", client, "/audit/log", "/v1/audit", dpo),
        _row("records of processing", client, "/audit/ropa", None, None),
    ]
    client.cookies.clear()
    rows += [
        _row(
            "privacy centre",
            client,
            f"/privacy-centre?token={viewer}",
            "/v1/me/interests",
            viewer_auth,
        ),
        _row("repository search", client, "/repository", "/v1/repository/ads", None),
        _row(
            "repository ad", client, f"/repository/ads/{ad_id}", f"/v1/repository/ads/{ad_id}", None
        ),
        _row("demo player", client, "/demo/player", None, None),
        _row("start page", client, "/", None, None),
    ]
    worst = max(r["page_p95_ms"] for r in rows)
    return {
        "users": USERS,
        "seed": SEED,
        "repeats": REPEATS,
        "rows": rows,
        "worst_warm_p95_ms": worst,
        "target_ms": TARGET_MS,
    }


def _viewer_with_interests(client: TestClient, settings: Settings) -> str:
    """A viewer token for a demo viewer whose profile has interests (the demo's users)."""
    tokens = ViewerTokens(settings.viewer_token_key.get_secret_value())
    scenario = simulate(SEED, users=USERS, start_ms=0, span_ms=60_000)
    expires = SystemClock().now_ms() + 86_400_000 * 30  # beyond the demo's clock too
    for user in scenario.platform.users:
        token = tokens.sign(user.user_ref, expires)
        r = client.get("/v1/me/interests", headers={"Authorization": f"Bearer {token}"})
        if r.status_code == 200 and r.json().get("interests"):
            return token
    raise RuntimeError("no demo viewer has interests")


def _row(
    name: str,
    client: TestClient,
    page: str,
    api: str | None,
    headers: dict[str, str] | None,
    params: dict[str, str] | None = None,
) -> dict[str, Any]:
    cold, warm, wall = _times(lambda: client.get(page))
    row: dict[str, Any] = {
        "page": name,
        "path": re.sub(r"/(cmp|crv)_[0-9a-f]+", r"/{\1_id}", page.split("?")[0]),
        "page_cold_ms": cold,
        "page_p50_ms": round(statistics.median(warm), 2),
        "page_p95_ms": round(sorted(warm)[int(len(warm) * 0.95) - 1], 2),
        "page_wall_p50_ms": round(statistics.median(wall), 2),
        "api_path": api and re.sub(r"/(cmp|crv)_[0-9a-f]+", r"/{\1_id}", api),
    }
    if api is not None:
        _, _, api_wall = _times(lambda: client.get(api, headers=headers, params=params))
        row["api_p50_ms"] = round(statistics.median(api_wall), 2)
    return row


def _times(fetch: Callable[[], Any]) -> tuple[float, list[float], list[float]]:
    """The cold time, the warm times (the Server-Timing figure when sent, else wall time)
    and the warm wall times, in milliseconds."""
    out: list[float] = []
    walls: list[float] = []
    for _ in range(REPEATS + 1):
        began = time.perf_counter()
        response = fetch()
        elapsed = (time.perf_counter() - began) * 1000
        walls.append(elapsed)
        if response.status_code != 200:
            raise RuntimeError(
                f"{response.request.url}: {response.status_code} {response.text[:200]}"
            )
        if "server-timing" in response.headers:
            elapsed = float(response.headers["server-timing"].split("dur=")[1])
        out.append(elapsed)
    return round(out[0], 2), out[1:], walls[1:]


if __name__ == "__main__":
    import orjson

    print(orjson.dumps(run(), option=orjson.OPT_INDENT_2).decode())
