"""Every route × every principal: the status each gets, declared in one table.

A route the table does not declare fails `test_every_route_is_classified`: a new
endpoint must say who may call it. Every response an advertiser or an analyst
gets in the matrix is scanned for the viewer pseudonyms planted in the data (and
for anything shaped like one), and advertiser B's for advertiser A's ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fairview.api.app import create_app
from fairview.audience import topics as tx
from fairview.clock import ShiftedClock
from fairview.pseudonym import Pseudonymiser
from fairview.storage import Store, open_store
from fairview.storage.cohorts import CohortRecord, CohortRunRecord
from fairview.tokens import ViewerTokens
from fairview.web import is_page

from api_helpers import advertiser, all_routes, campaign_body, live_campaign, watch_events
from conftest import ADMIN, make_settings
from factories import T0

SETTINGS = make_settings()
PSEUDONYMS = Pseudonymiser(SETTINGS.pseudonym_pepper.get_secret_value())
VIEWER, OTHERS = "viewer-v", ("viewer-w", "viewer-x", "viewer-y")
TOPIC = sorted(tx.allowlist())[0]
PURPOSE = {"X-Purpose": "DSAR 2026-300: answer the viewer's access request"}
HOUR_MS = 3_600_000

STAFF = ("operator", "operator_key", "analyst", "dpo")
PRINCIPALS = (
    "none",
    "malformed",
    "unknown_key",
    *STAFF,
    "revoked",
    "advertiser_a",
    "advertiser_b",
    "viewer",
    "expired_viewer",
)
ROLE = {"operator": "operator", "operator_key": "operator", "analyst": "analyst", "dpo": "dpo"}
SCANNED = ("advertiser_a", "advertiser_b", "analyst")
"""Principals that must never see anything per viewer."""

Expect = Mapping[str, int | str]  # principal -> status code, or "2xx"


def public(status: int | str = 200) -> Expect:
    """No credential needed; whatever is sent is ignored."""
    return dict.fromkeys(PRINCIPALS, status)


def staff(status: int, *roles: str) -> Expect:
    """Staff keys only: the roles listed get `status`, other staff 403, everyone else 401."""
    expect: dict[str, int | str] = dict.fromkeys(PRINCIPALS, 401)
    expect.update({p: status if ROLE[p] in roles else 403 for p in STAFF})
    return expect


def advertiser_only(status: int, other: int | None = None) -> Expect:
    """Advertiser keys only; `other`: what advertiser B gets on advertiser A's object."""
    expect: dict[str, int | str] = dict.fromkeys(PRINCIPALS, 401)
    expect.update(advertiser_a=status, advertiser_b=status if other is None else other)
    return expect


def viewer_only(status: int | str = 200) -> Expect:
    """The platform's signed viewer token, unexpired."""
    expect: dict[str, int | str] = dict.fromkeys(PRINCIPALS, 401)
    expect["viewer"] = status
    return expect


@dataclass(frozen=True)
class Row:
    expect: Expect
    json: Any = None
    params: Mapping[str, str] = field(default_factory=dict)


def _period(**more: str) -> dict[str, str]:
    return {"from": "2026-09-01", "to": "2026-09-30", **more}


TABLE: dict[str, Row] = {
    # the API's own documentation
    **{f"{m} {p}": Row(public()) for m in ("GET", "HEAD") for p in ("/openapi.json", "/docs")},
    **{f"{m} {p}": Row(public()) for m in ("GET", "HEAD") for p in ("/docs/oauth2-redirect",)},
    **{f"{m} {p}": Row(public()) for m in ("GET", "HEAD") for p in ("/redoc",)},
    "GET /healthz": Row(public()),
    "GET /.well-known/gpc.json": Row(public()),
    # players and exchanges (ops.py, delivery.py, video.py, sdk.py)
    "POST /v1/decisions": Row(public(), json={"placement": "feed", "user_ref": "viewer-z"}),
    "POST /v1/events": Row(public(), json="{events}"),
    "GET /v1/vast": Row(public(), params={"placement": "feed"}),
    "GET /v1/vast/ping": Row(public(204), params={"e": "viewable", "t": "{token}"}),
    "POST /openrtb/2.6": Row(
        public("2xx"),
        json={"id": "r1", "imp": [{"id": "1", "video": {"mimes": ["video/mp4"]}}]},
    ),
    "GET /sdk/fairview-player.js": Row(public()),
    "GET /v1/deliveries/{delivery_id}/why": Row(viewer_only()),
    # the public ad repository (repository.py)
    "GET /v1/repository/ads": Row(public()),
    "GET /v1/repository/ads/{ad_id}": Row(public()),
    # staff (buying.py, ops.py, audience.py, staff.py, rights.py)
    "POST /v1/advertisers": Row(staff(201, "operator"), json={"name": "Matrix"}),
    "GET /v1/stats": Row(staff(200, "operator", "analyst")),
    "POST /v1/views": Row(staff(200, "operator"), json="{views}"),
    "POST /v1/staff/keys": Row(staff(201, "operator"), json={"name": "n", "role": "analyst"}),
    "GET /v1/staff/keys": Row(staff(200, "operator")),
    "DELETE /v1/staff/keys/{prefix}": Row(staff(200, "operator")),
    "GET /v1/staff/me": Row(staff(200, "operator", "analyst", "dpo")),
    "GET /v1/audit": Row(staff(200, "dpo")),
    "GET /v1/audit/verify": Row(staff(200, "dpo")),
    "GET /v1/audit/cohorts": Row(staff(200, "dpo")),
    "GET /v1/rights/requests": Row(staff(200, "dpo")),
    # advertisers (buying.py, reports.py, audience.py)
    "GET /v1/me": Row(advertiser_only(200)),
    "GET /v1/keys": Row(advertiser_only(200)),
    "POST /v1/keys": Row(advertiser_only(201)),
    "DELETE /v1/keys/{key_prefix}": Row(advertiser_only(200, 404)),
    "POST /v1/campaigns": Row(advertiser_only(201), json=campaign_body()),
    "GET /v1/campaigns": Row(advertiser_only(200)),
    "GET /v1/campaigns/{campaign_id}": Row(advertiser_only(200, 404)),
    "PATCH /v1/campaigns/{campaign_id}": Row(advertiser_only(200, 404), json={"name": "Renamed"}),
    "PUT /v1/campaigns/{campaign_id}/targeting": Row(
        advertiser_only(200, 404), json={"regions": []}
    ),
    "POST /v1/campaigns/{campaign_id}/pause": Row(advertiser_only(200, 404)),
    "POST /v1/campaigns/{campaign_id}/resume": Row(advertiser_only(200, 404)),
    "POST /v1/campaigns/{campaign_id}/creatives": Row(
        advertiser_only(201, 404),
        json={"name": "s", "duration_s": 15, "media_url": "https://cdn.example/s.mp4"},
    ),
    "GET /v1/campaigns/{campaign_id}/creatives": Row(advertiser_only(200, 404)),
    "PATCH /v1/campaigns/{campaign_id}/creatives/{creative_id}": Row(
        advertiser_only(200, 404), json={"name": "Renamed"}
    ),
    "GET /v1/reports/delivery": Row(
        advertiser_only(200, 404), params=_period(campaign="{campaign_id}")
    ),
    "GET /v1/reports/budget": Row(advertiser_only(200)),
    "GET /v1/reports/releases": Row(advertiser_only(200)),
    "GET /v1/reports/releases/{release_id}": Row(advertiser_only(200, 404)),
    "GET /v1/reports/verdicts": Row(
        advertiser_only(200, 404), params={"campaign": "{campaign_id}"}
    ),
    "GET /v1/reports/billing": Row(advertiser_only(200), params=_period()),
    "GET /v1/cohorts": Row(advertiser_only(200)),
    # the viewer's own (audience.py, rights.py)
    "GET /v1/me/interests": Row(viewer_only()),
    "DELETE /v1/me/interests/{topic_id}": Row(viewer_only()),
    "POST /v1/me/interests/{topic_id}/restore": Row(viewer_only()),
    "PUT /v1/me/personalisation": Row(viewer_only(), json={"paused": False}),
    "GET /v1/me/data": Row(viewer_only()),
    "POST /v1/me/erasure": Row(viewer_only()),
    "POST /v1/me/objection": Row(viewer_only()),
}


@dataclass
class World:
    client: TestClient
    headers: dict[str, dict[str, str]]
    values: dict[str, str]  # path parameters and placeholders
    planted: frozenset[str]  # viewer pseudonyms stored in the data
    a_ids: frozenset[str]  # advertiser A's campaign and creative ids
    bodies: dict[str, Any]


def _routes(app: FastAPI) -> set[str]:
    """`METHOD /path` of every API route.

    The web pages (`fairview.web.is_page`) authenticate with a session cookie or a
    viewer token in the page's URL, not a bearer key: tests/test_web_authz.py holds
    their matrix.
    """
    return {r for r in all_routes(app) if not is_page(r.split(" ", 1)[1])}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = open_store(f"sqlite:///{tmp_path / 'matrix.sqlite3'}", synchronous="NORMAL")
    app = create_app(SETTINGS, store=store, clock=ShiftedClock(T0))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield _build(client, store)
    store.close()


def _build(client: TestClient, store: Store) -> World:
    a, b = advertiser(client, "A"), advertiser(client, "B")
    spare_key_a = client.post("/v1/keys", headers=a).json()["prefix"]  # revoked in the matrix
    campaign_a = live_campaign(client, a)
    live_campaign(client, b)
    creatives_a = {
        c["id"] for c in client.get(f"/v1/campaigns/{campaign_a}/creatives", headers=a).json()
    }
    keys = {role: _staff_key(client, role) for role in ("operator", "analyst", "dpo")}
    revoked, victim = _staff_key(client, "dpo"), _staff_key(client, "analyst")
    assert client.delete(f"/v1/staff/keys/{revoked[1]}", headers=ADMIN).status_code == 200
    views = {
        "views": [
            {
                "user_ref": ref,
                "video": {"id": f"video-{ref}", "topics": [TOPIC], "duration_s": 60},
                "watched_s": 50,
                "region": "US-CA",
                "age": 30,
            }
            for ref in (VIEWER, *OTHERS)
        ]
    }
    assert client.post("/v1/views", json=views, headers=ADMIN).status_code == 200
    ads = client.post(
        "/v1/decisions",
        json={"placement": "feed", "user_ref": VIEWER, "region": "US-CA", "age": 30, "count": 2},
    ).json()["ads"]
    ad = next(ad for ad in ads if ad["campaign"] == campaign_a)
    planted = frozenset(PSEUDONYMS.viewer_key(ref) for ref in (VIEWER, *OTHERS))
    _publish_cohort(store, sorted(planted))
    viewers = ViewerTokens(SETTINGS.viewer_token_key.get_secret_value())
    headers = {
        "none": {},
        "malformed": {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="},
        "unknown_key": bearer("fv_" + "x" * 43),
        "operator": ADMIN,
        "operator_key": bearer(keys["operator"][0]),
        "analyst": bearer(keys["analyst"][0]),
        "dpo": bearer(keys["dpo"][0]),
        "revoked": bearer(revoked[0]),
        "advertiser_a": a,
        "advertiser_b": b,
        "viewer": bearer(viewers.sign(VIEWER, T0 + 24 * HOUR_MS)),
        "expired_viewer": bearer(viewers.sign(VIEWER, T0 - HOUR_MS)),
    }
    release = client.get("/v1/reports/delivery", params=_period(), headers=a).json()
    values = {
        "release_id": release["release_id"],
        "campaign_id": campaign_a,
        "creative_id": sorted(creatives_a)[0],
        "delivery_id": ad["delivery"],
        "ad_id": ad["creative"]["id"],
        "topic_id": str(TOPIC),
        "prefix": victim[1],
        "key_prefix": spare_key_a,
        "token": ad["token"],
    }
    bodies = {
        "{views}": views,
        "{events}": {"token": ad["token"], "events": watch_events(3.0)},
    }
    return World(client, headers, values, planted, frozenset({campaign_a, *creatives_a}), bodies)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _staff_key(client: TestClient, role: str) -> tuple[str, str]:
    r = client.post("/v1/staff/keys", json={"name": f"{role} one", "role": role}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()["key"], r.json()["prefix"]


def _publish_cohort(store: Store, members: list[str]) -> None:
    run = CohortRunRecord("run-m", T0, 100, 2, len(members), "served", True, {"notes": []})
    cohort = CohortRecord(3, "run-m", len(members), (TOPIC,), True, "served", 0.0, 1.0)
    store.cohorts.publish(run, [cohort], [(m, 3) for m in members])


def _fill(text: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    assert "{" not in text, f"no value for a placeholder in {text!r}: add it to the world"
    return text


def _matches(status: int, expected: int | str) -> bool:
    return 200 <= status < 300 if expected == "2xx" else status == expected


# -- the tests ---------------------------------------------------------------------------


def test_every_route_is_classified() -> None:
    store = open_store("sqlite:///:memory:")
    routes = _routes(create_app(SETTINGS, store=store))
    store.close()
    undeclared = sorted(routes - TABLE.keys())
    assert not undeclared, f"classify these routes in TABLE (who may call them?): {undeclared}"
    stale = sorted(TABLE.keys() - routes)
    assert not stale, f"TABLE declares routes the app no longer has: {stale}"
    assert all(set(row.expect) == set(PRINCIPALS) for row in TABLE.values())


@pytest.mark.parametrize("route", sorted(TABLE))
def test_each_principal_gets_the_declared_status(world: World, route: str) -> None:
    method, template = route.split(" ", 1)
    row = TABLE[route]
    path = _fill(template, world.values)
    params = {k: _fill(v, world.values) for k, v in row.params.items()}
    body = world.bodies.get(row.json, row.json) if isinstance(row.json, str) else row.json
    wrong: list[str] = []
    for principal in PRINCIPALS:
        r = world.client.request(
            method,
            path,
            params=params,
            json=body,
            headers=world.headers[principal] | PURPOSE,
        )
        expected = row.expect[principal]
        if not _matches(r.status_code, expected):
            wrong.append(f"{principal}: {r.status_code} (expected {expected}) {r.text[:160]}")
        if principal in SCANNED:
            asked = f"{path} {params}"  # an id the caller sent may come back in a 404
            _scan(world, principal, route, r.text, asked, open_route=_is_open(row))
    assert not wrong, f"{route}:\n" + "\n".join(wrong)


HEX64 = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


def _is_open(row: Row) -> bool:
    return row.expect == public(row.expect["none"])


def _scan(
    world: World, principal: str, route: str, text: str, asked: str, *, open_route: bool
) -> None:
    assert not [p for p in world.planted if p in text], f"{route} shows {principal} a viewer"
    assert not HEX64.search(text), f"{route} shows {principal} a 64-hex value: a pseudonym?"
    if principal == "advertiser_b" and not open_route:
        leaked = [i for i in world.a_ids if i in text and i not in asked]
        assert not leaked, f"{route} shows advertiser B advertiser A's {leaked}"


def test_the_planted_pseudonyms_are_really_in_the_data(world: World) -> None:
    """The scan means something only if the viewer data is there to leak."""
    dpo = world.headers["dpo"] | PURPOSE
    members = world.client.get("/v1/audit/cohorts", headers=dpo).json()["cohorts"]
    assert members[0]["size"] == len(world.planted)
    interests = world.client.get("/v1/me/interests", headers=world.headers["viewer"]).json()
    assert interests["interests"] and interests["cohort"] is not None
    export = world.client.get("/v1/me/data", headers=world.headers["viewer"]).text
    assert PSEUDONYMS.viewer_key(VIEWER) in export  # the viewer's own export names it
