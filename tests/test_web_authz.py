"""Who may open each web page: the pages' own authorisation matrix.

The API's matrix (tests/test_authz_matrix.py) sends bearer keys; the pages use a
session cookie (advertisers, staff) or the platform's viewer token in the URL
(viewers), so they are checked here. Every page route must be classified: a new page
without an entry fails `test_every_page_is_classified`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fairview.api.app import create_app
from fairview.clock import ShiftedClock
from fairview.settings import Environment, Settings
from fairview.storage import open_store
from fairview.web import is_page
from fairview.web import session as session_codec
from fairview.web.session import COOKIE

from api_helpers import all_routes, campaign_body
from conftest import ADMIN
from factories import T0

PUBLIC = "public"
ADVERTISER = "advertiser session"
STAFF = "staff session"
VIEWER = "viewer token"

CLASSES: list[tuple[str, str]] = [
    (r"^(GET|POST) /console/sign-in$", PUBLIC),
    (r"^(GET|POST) /console(/.*)?$", ADVERTISER),
    (r"^(GET|POST) /audit/sign-in$", PUBLIC),
    (r"^(GET|POST) /audit(/.*)?$", STAFF),
    (r"^(GET|POST) /privacy-centre(/.*)?$", VIEWER),
    (r"^GET /repository(/.*)?$", PUBLIC),
    (r"^GET /demo/player(/.*)?$", PUBLIC),  # demo/test/dev only; 404 in prod (tested)
    (r"^GET /$", PUBLIC),
]


def _classify(route: str) -> str | None:
    return next((kind for pattern, kind in CLASSES if re.match(pattern, route)), None)


def _page_routes(app: FastAPI) -> list[str]:
    return sorted(
        r
        for r in all_routes(app)
        if is_page(r.split(" ", 1)[1]) and r.split(" ", 1)[0] in ("GET", "POST")
    )


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    db = tmp_path_factory.mktemp("authz") / "f.sqlite3"
    store = open_store(f"sqlite:///{db}", synchronous="NORMAL")
    settings = Settings(env=Environment.TEST, database_url=f"sqlite:///{db}")
    app = create_app(settings, store=store, clock=ShiftedClock(T0))
    with TestClient(app, follow_redirects=False) as client:
        r = client.post("/v1/advertisers", json={"name": "Acme"}, headers=ADMIN)
        key = r.json()["api_key"]
        r = client.post(
            "/v1/campaigns", json=campaign_body(), headers={"Authorization": f"Bearer {key}"}
        )
        values = {"campaign_id": r.json()["id"], "api_key": key}
        yield client, values
    store.close()


def _path(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x_unknown"), template)


def test_every_page_is_classified(web: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = web
    routes = _page_routes(client.app)  # type: ignore[arg-type]
    assert len(routes) > 30
    unclassified = [r for r in routes if _classify(r) is None]
    assert not unclassified, f"classify these pages in CLASSES: {unclassified}"


def test_without_credentials_each_page_answers_as_its_class(
    web: tuple[TestClient, dict[str, str]],
) -> None:
    """No cookie, no token: sessions pages redirect to their sign-in; viewer pages 401;
    public pages answer. An API key sent as a bearer header is no session either."""
    client, values = web
    client.cookies.clear()
    wrong: list[str] = []
    bearer = {"Authorization": f"Bearer {values['api_key']}"}
    for route in _page_routes(client.app):  # type: ignore[arg-type]
        method, template = route.split(" ", 1)
        kind = _classify(route)
        r = client.request(method, _path(template, values), headers=bearer, data={})
        if kind == ADVERTISER:
            ok = r.status_code == 303 and r.headers["location"].startswith("/console/sign-in")
        elif kind == STAFF:
            ok = r.status_code == 303 and r.headers["location"].startswith("/audit/sign-in")
        elif kind == VIEWER:  # 422: a required field is missing, refused before anything
            ok = r.status_code in (401, 422) and r.headers["content-type"].startswith("text/html")
            ok = ok and "privacy-centre?token" not in r.text
        else:
            ok = r.status_code < 500 and r.status_code not in (401, 403, 303)
            ok = ok or (route.startswith("POST") and r.status_code in (401, 422))  # bad sign-in
        if not ok:
            wrong.append(f"{route} ({kind}): {r.status_code} {r.headers.get('location', '')}")
        assert "set-cookie" not in r.headers or kind == PUBLIC, route
    assert not wrong, wrong


def test_a_session_of_one_realm_opens_nothing_of_the_other(
    web: tuple[TestClient, dict[str, str]],
) -> None:
    client, values = web
    client.cookies.clear()
    r = client.post("/console/sign-in", data={"api_key": values["api_key"], "next": "/console"})
    assert r.status_code == 303 and COOKIE in r.cookies
    assert client.get("/console").status_code == 200
    for path in ("/audit", "/audit/log", "/audit/ropa"):
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/audit/sign-in"), path
    client.cookies.clear()
    admin_key = ADMIN["Authorization"].removeprefix("Bearer ")
    r = client.post("/audit/sign-in", data={"key": admin_key, "purpose": "", "next": "/audit"})
    assert r.status_code == 303 and COOKIE in r.cookies, r.text[:300]
    assert client.get("/audit").status_code == 200
    r = client.get(f"/console/campaigns/{values['campaign_id']}")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/sign-in")
    client.cookies.clear()


def test_a_forged_or_foreign_cookie_is_no_session(
    web: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    client, values = web
    client.cookies.clear()
    client.post("/console/sign-in", data={"api_key": values["api_key"], "next": "/console"})
    genuine = client.cookies[COOKIE]
    payload, mac = genuine.split(".")
    client.cookies.clear()
    client.cookies.set(COOKIE, payload + "." + mac[::-1])
    assert client.get("/console").status_code == 303
    # a cookie signed by another deployment (another token-signing key)
    other_db = tmp_path / "other.sqlite3"
    other_store = open_store(f"sqlite:///{other_db}", synchronous="NORMAL")
    other = create_app(
        Settings(
            env=Environment.TEST,
            database_url=f"sqlite:///{other_db}",
            token_signing_key="another-deployment-signing-key-0123456789",  # type: ignore[arg-type]
        ),
        store=other_store,
        clock=ShiftedClock(T0),
    )
    with TestClient(other, follow_redirects=False) as elsewhere:
        elsewhere.cookies.set(COOKIE, genuine)
        assert elsewhere.get("/console").status_code == 303
    other_store.close()
    client.cookies.clear()


FIELDS = (
    "name", "bid", "budget_total", "first_day", "last_day", "next", "from", "to", "q",
    "advertiser", "receipt", "confirm", "csrf", "paused", "kind", "api_key", "key", "purpose",
    "action",
)  # fmt: skip
GARBAGE = ["", "x" * 5000, "-1", "1e309", "NaN", "../../etc/passwd", "<script>alert(1)</script>",
           "%00", "2026-02-30", "ü" * 50, "[]", "{}"]  # fmt: skip


def test_garbage_into_every_page_is_never_a_500(web: tuple[TestClient, dict[str, str]]) -> None:
    """Signed in (advertiser, then staff) and with a viewer token: every page route, with
    garbage in its path, query and form fields, answers with a page, never a 500."""
    client, values = web
    from fairview.tokens import ViewerTokens

    settings = client.app.state.services.settings  # type: ignore[attr-defined]
    token = ViewerTokens(settings.viewer_token_key.get_secret_value()).sign("ann", T0 + 10**9)
    admin_key = ADMIN["Authorization"].removeprefix("Bearer ")
    routes = _page_routes(client.app)  # type: ignore[arg-type]
    failures: list[str] = []
    for session in ("advertiser", "staff"):
        client.cookies.clear()
        if session == "advertiser":
            client.post("/console/sign-in", data={"api_key": values["api_key"], "next": "/"})
        else:
            client.post("/audit/sign-in", data={"key": admin_key, "purpose": "", "next": "/"})
        services = client.app.state.services  # type: ignore[attr-defined]
        signed_in = session_codec.decode(services, client.cookies.get(COOKIE))
        assert signed_in is not None
        csrf = session_codec.csrf_token(services, signed_in)  # past CSRF, into the fields
        for route in routes:
            method, template = route.split(" ", 1)
            for junk in GARBAGE:
                path = re.sub(r"\{(\w+)\}", lambda m, j=junk: (j or "x")[:200], template)
                fields = dict.fromkeys(FIELDS, junk)
                fields["token"] = token
                fields["csrf"] = csrf
                try:
                    if method == "GET":  # a URL is at most a few kB: the client refuses more
                        r = client.get(path, params={k: v[:300] for k, v in fields.items()})
                    else:
                        r = client.post(path, data=fields)
                except Exception as exc:
                    failures.append(f"{route} [{junk[:20]!r}]: {type(exc).__name__}: {exc}")
                    continue
                if r.status_code >= 500:
                    failures.append(f"{route} [{junk[:20]!r}]: {r.status_code}")
    client.cookies.clear()
    assert not failures, "\n".join(failures[:30])
