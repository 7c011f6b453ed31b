"""Rate limits: token buckets (pure), the middleware alone, and the app behind it."""

from __future__ import annotations

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, Router

from fairview.accountability.ratelimit import Buckets, Limit, Limiter, RatePolicy
from fairview.api.middleware import OPEN_ROUTES, RateLimit
from fairview.storage import Store
from fairview.tokens import ViewerTokens

from conftest import ADMIN, make_settings
from factories import T0


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- buckets ----------------------------------------------------------------------------


def test_a_bucket_grants_its_burst_then_its_rate() -> None:
    buckets = Buckets(Limit(per_s=2, burst=3))
    assert [buckets.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", 0.0) == pytest.approx(0.5)
    assert buckets.take("b", 0.0) == 0.0  # another key, another bucket
    assert buckets.take("a", 0.5) == 0.0  # one token refilled after 1/rate s
    assert buckets.take("a", 0.5) > 0
    assert buckets.take("a", 100.0) == 0.0  # refilled, but never above the burst
    assert [buckets.take("a", 100.0) for _ in range(3)].count(0.0) == 2


def test_the_oldest_bucket_is_forgotten_past_max_keys() -> None:
    buckets = Buckets(Limit(per_s=1, burst=1), max_keys=2)
    buckets.take("a", 0.0)
    buckets.take("b", 0.0)
    buckets.take("c", 0.0)
    assert len(buckets) == 2
    assert buckets.take("a", 0.0) == 0.0  # "a" was forgotten, so it starts full again
    assert buckets.take("c", 0.0) > 0


def test_a_limit_must_let_something_through() -> None:
    with pytest.raises(ValueError, match="per_s"):
        Limit(per_s=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        Limit(per_s=1, burst=0.5)


@given(
    per_s=st.floats(0.5, 1000),
    burst=st.integers(1, 50),
    gaps=st.lists(st.floats(0, 0.2), min_size=1, max_size=300),
)
def test_never_more_than_the_burst_plus_the_rate(
    per_s: float, burst: int, gaps: list[float]
) -> None:
    buckets = Buckets(Limit(per_s, burst))
    now = granted = 0.0
    for gap in gaps:
        now += gap
        if buckets.take("k", now) == 0.0:
            granted += 1
    assert granted <= burst + per_s * now + 1e-6


@given(per_s=st.floats(0.5, 100), burst=st.integers(1, 20))
def test_the_wait_is_exact(per_s: float, burst: int) -> None:
    buckets = Buckets(Limit(per_s, burst))
    for _ in range(burst):
        assert buckets.take("k", 0.0) == 0.0
    wait = buckets.take("k", 0.0)
    assert wait == pytest.approx(1 / per_s)
    assert buckets.take("k", wait * 1.0001) == 0.0


def test_a_caller_over_its_limit_does_not_use_up_the_shared_allowance() -> None:
    policy = RatePolicy(Limit(5, 5), caller=Limit(1, 2), anonymous=Limit(1, 1), api=Limit(1, 4))
    limiter = Limiter(policy)
    assert [limiter.caller("greedy", 0.0) for _ in range(10)].count(0.0) == 2
    assert limiter.caller("polite", 0.0) == 0.0  # the API's third token was still there
    assert [limiter.anonymous(0.0) for _ in range(2)] == [0.0, pytest.approx(1.0)]
    assert limiter.caller("other", 0.0) > 0  # now the shared allowance is spent
    assert limiter.route("/v1/events", 0.0) == 0.0  # open routes have their own


# -- the middleware alone ----------------------------------------------------------------


async def _ok(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def _app(clock: FakeTime, **limits: Any) -> TestClient:
    settings = make_settings(**limits)
    routes = [Route(p, _ok, methods=["GET", "POST"]) for p in ("/", *OPEN_ROUTES)]
    return TestClient(RateLimit(Router(routes=routes), settings=settings, now=clock))


def _statuses(client: TestClient, n: int, path: str = "/", **kwargs: Any) -> list[int]:
    return [client.get(path, **kwargs).status_code for _ in range(n)]


def test_a_refusal_is_429_rate_limited_with_retry_after() -> None:
    clock = FakeTime()
    client = _app(clock, rate_limit_client_per_s=0.25, rate_limit_client_burst=2)
    key = {"Authorization": "Bearer fv_key"}
    assert _statuses(client, 2, headers=key) == [200, 200]
    r = client.get("/", headers=key)
    assert r.status_code == 429
    assert r.json() == {
        "error": "rate_limited",
        "detail": "Too many requests; retry after 4 s (see the Retry-After header).",
        "retry_after_s": 4,
    }
    assert r.headers["retry-after"] == "4"
    clock.now += 4
    assert client.get("/", headers=key).status_code == 200


def test_each_key_has_its_own_bucket() -> None:
    client = _app(
        FakeTime(),
        rate_limit_client_per_s=1,
        rate_limit_client_burst=2,
        rate_limit_anonymous_per_s=2,
    )
    a, b = {"Authorization": "Bearer fv_a"}, {"Authorization": "Bearer fvs_b"}
    assert _statuses(client, 3, headers=a) == [200, 200, 429]
    assert _statuses(client, 2, headers=b) == [200, 200]
    assert _statuses(client, 2) == [200, 200]  # the anonymous callers' shared allowance
    assert _statuses(client, 1, headers={"Authorization": "Basic x"}) == [429]


def test_a_viewer_is_limited_by_subject_and_forged_tokens_count_as_anonymous() -> None:
    client = _app(
        FakeTime(),
        rate_limit_client_per_s=1,
        rate_limit_client_burst=2,
        rate_limit_anonymous_per_s=2,
    )
    viewers = ViewerTokens(make_settings().viewer_token_key.get_secret_value())
    first, second = (viewers.sign("viewer-1", T0 + i) for i in (1000, 2000))
    assert first != second
    assert _statuses(client, 1, headers={"Authorization": f"Bearer {first}"}) == [200]
    assert _statuses(client, 2, headers={"Authorization": f"Bearer {second}"}) == [200, 429]
    forged = ViewerTokens("another-platform-key-that-is-long-enough").sign("viewer-2", T0)
    assert _statuses(client, 3, headers={"Authorization": f"Bearer {forged}"}) == [200, 200, 429]
    assert _statuses(client, 1) == [429]  # the forged token used the anonymous allowance
    other = viewers.sign("viewer-2", T0)
    assert _statuses(client, 1, headers={"Authorization": f"Bearer {other}"}) == [200]


def test_player_routes_share_one_limit_per_route_whatever_the_credentials() -> None:
    client = _app(FakeTime(), rate_limit_player_per_s=2, rate_limit_client_per_s=1000)
    assert _statuses(client, 3, "/v1/decisions") == [200, 200, 429]
    assert _statuses(client, 1, "/v1/decisions", headers=ADMIN) == [429]
    assert _statuses(client, 2, "/v1/events") == [200, 200]
    assert _statuses(client, 2, "/healthz") == [200, 200]
    assert _statuses(client, 2, "/") == [200, 200]  # other routes are not affected


def test_the_api_as_a_whole_has_a_ceiling() -> None:
    client = _app(FakeTime(), rate_limit_api_per_s=3, rate_limit_client_per_s=1000)
    made_up = [{"Authorization": f"Bearer fv_{i}"} for i in range(5)]
    assert [client.get("/", headers=h).status_code for h in made_up] == [200, 200, 200, 429, 429]


def test_limits_can_be_switched_off() -> None:
    client = _app(
        FakeTime(), rate_limit=False, rate_limit_anonymous_per_s=1, rate_limit_client_burst=1
    )
    assert _statuses(client, 5) == [200] * 5


def test_lifespan_passes_through() -> None:
    with _app(FakeTime(), rate_limit_anonymous_per_s=1) as client:
        assert client.get("/").status_code == 200


# -- in the app ----------------------------------------------------------------------------


def test_the_app_limits_an_advertiser_and_says_when_to_retry(store: Store) -> None:
    from fairview.api.app import create_app

    settings = make_settings(rate_limit_client_per_s=0.5, rate_limit_client_burst=3)
    with TestClient(create_app(settings, store=store)) as client:
        r = client.post("/v1/advertisers", json={"name": "Acme"}, headers=ADMIN)
        key = {"Authorization": f"Bearer {r.json()['api_key']}"}
        assert [client.get("/v1/me", headers=key).status_code for _ in range(4)] == [
            200,
            200,
            200,
            429,
        ]
        refused = client.get("/v1/me", headers=key)
        assert refused.json()["error"] == "rate_limited"
        assert int(refused.headers["retry-after"]) == math.ceil(1 / 0.5)
        assert client.get("/healthz").status_code == 200  # others are not held up


def test_the_defaults_are_generous() -> None:
    settings = make_settings()
    assert settings.rate_limit
    # docs/benchmarks.md: ~1,700 decisions/s and ~2,800 event requests/s over two processes
    assert settings.rate_limit_player_per_s >= 5000
    assert settings.rate_limit_client_burst >= 1000
