"""Organic views, profiles and the viewer's controls, through the real API and store."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fairview.audience import topics as tx
from fairview.audience.profile import epoch_of
from fairview.clock import ShiftedClock
from fairview.consent.policy import Measurement, Mode, Permissions
from fairview.pseudonym import Pseudonymiser
from fairview.settle.worker import Settler
from fairview.storage import Store
from fairview.storage.audience import ProfilingNotAllowed
from fairview.storage.schema import InterestWatch
from fairview.tokens import ViewerTokens

from api_helpers import advertiser, live_campaign, served, watch_events
from conftest import ADMIN, make_settings
from factories import T0

SETTINGS = make_settings()
PEPPER = SETTINGS.pseudonym_pepper.get_secret_value()
PERSONALISED = {"region": "US-CA", "age": 30}  # US-CA adult, no opt-out: personalised
COOKING = 173  # /Food & Drink/Cooking & Recipes (allowlisted)
TRAVEL = 332  # /Travel & Transportation (allowlisted)


def _key(user_ref: str) -> str:
    return Pseudonymiser(PEPPER).viewer_key(user_ref)


def _me(user_ref: str) -> dict[str, str]:
    token = ViewerTokens(SETTINGS.viewer_token_key.get_secret_value()).sign(
        user_ref, T0 + 30 * 86_400_000
    )
    return {"Authorization": f"Bearer {token}"}


def _view(user_ref: str, video: dict[str, Any], watched_s: float = 30, **signals: Any) -> Any:
    return {"user_ref": user_ref, "video": video, "watched_s": watched_s, **signals}


def _post(client: TestClient, *views: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/v1/views", json={"views": list(views)}, headers=ADMIN)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _rows(store: Store, viewer: str | None = None) -> int:
    query = select(func.count()).select_from(InterestWatch)
    if viewer is not None:
        query = query.where(InterestWatch.viewer_key == _key(viewer))
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_topic_ids_used_here_are_allowlisted() -> None:
    assert {COOKING, TRAVEL} <= tx.allowlist()


def test_a_consented_view_builds_a_profile_the_viewer_can_read(client: TestClient) -> None:
    cooking = {"id": "v1", "topics": [COOKING], "duration_s": 40}
    result = _post(client, _view("ann", cooking, 30, **PERSONALISED))
    assert result["results"][0] == {
        "outcome": "profiled",
        "reason": "profiled",
        "video_topics": [COOKING],
    }
    me = client.get("/v1/me/interests", headers=_me("ann")).json()
    assert me["personalisation"] == "active"
    assert [(i["id"], i["share"]) for i in me["interests"]] == [(COOKING, 1.0)]
    assert me["interests"][0]["path"] == tx.topics_v2()[COOKING].path


@pytest.mark.parametrize(
    ("signals", "why"),
    [
        ({"region": "EU-DE"}, "no TC string: no consent to profiles"),
        ({"region": "US-CA", "age": 15}, "a minor"),
        ({"region": "US-CA", "age": 30, "gpc": True}, "Global Privacy Control"),
    ],
)
def test_views_without_profiling_permission_write_nothing(
    client: TestClient, store: Store, signals: dict[str, Any], why: str
) -> None:
    result = _post(client, _view("bob", {"id": "v1", "topics": [COOKING]}, 30, **signals))
    assert result["results"][0]["reason"] == "no_profiling_permission", why
    assert _rows(store) == 0


def test_a_view_in_sensitive_context_writes_nothing(client: TestClient, store: Store) -> None:
    flagged = {"id": "v-flag", "topics": [COOKING], "sensitive_context": True}
    classified = {"id": "v-health", "title": "My chemo diary, week 3", "hashtags": ["#cancer"]}
    result = _post(
        client, _view("cat", flagged, **PERSONALISED), _view("cat", classified, **PERSONALISED)
    )
    assert [r["reason"] for r in result["results"]] == ["sensitive_context"] * 2
    assert _rows(store) == 0
    assert store.audience.videos(["v-health"])["v-health"].sensitive  # labels stay per video


def test_a_withdrawn_basis_deletes_the_profile(client: TestClient, store: Store) -> None:
    _post(client, _view("dan", {"id": "v1", "topics": [COOKING]}, **PERSONALISED))
    assert _rows(store, "dan") == 1
    _post(client, _view("dan", {"id": "v1"}, region="US-CA", age=30, gpc=True))
    assert _rows(store, "dan") == 0


def test_watch_time_is_credited_up_to_the_video_length(client: TestClient, store: Store) -> None:
    _post(client, _view("eve", {"id": "v1", "topics": [COOKING], "duration_s": 20}, 500,
                        **PERSONALISED))  # fmt: skip
    rows = store.audience.watch(_key("eve"), 0)
    assert rows == [(epoch_of(T0), COOKING, 20.0)]


def test_prohibited_fields_are_refused_by_name(client: TestClient) -> None:
    view = _view("fay", {"id": "v1", "topics": [COOKING]}, **PERSONALISED)
    view["heart_rate"] = 80
    r = client.post("/v1/views", json={"views": [view]}, headers=ADMIN)
    assert r.status_code == 422
    assert r.json()["error"] == "prohibited_field" and "views[0].heart_rate" in r.json()["detail"]


def test_views_need_the_operator_key_and_valid_topics(client: TestClient) -> None:
    view = _view("gus", {"id": "v1", "topics": [COOKING]}, **PERSONALISED)
    assert client.post("/v1/views", json={"views": [view]}).status_code == 401
    view["video"]["topics"] = [999_999]
    r = client.post("/v1/views", json={"views": [view]}, headers=ADMIN)
    assert (r.status_code, r.json()["error"]) == (422, "unknown_topic")


def test_a_removed_topic_leaves_the_profile_and_stays_out(client: TestClient, store: Store) -> None:
    _post(
        client,
        _view("hal", {"id": "v1", "topics": [COOKING]}, **PERSONALISED),
        _view("hal", {"id": "v2", "topics": [TRAVEL]}, **PERSONALISED),
    )
    r = client.delete(f"/v1/me/interests/{COOKING}", headers=_me("hal"))
    assert r.status_code == 200
    assert [i["id"] for i in r.json()["interests"]] == [TRAVEL]
    assert [t["id"] for t in r.json()["removed"]] == [COOKING]
    result = _post(
        client,
        _view("hal", {"id": "v1"}, **PERSONALISED),
        _view("hal", {"id": "v2"}, **PERSONALISED),
    )
    assert [r["reason"] for r in result["results"]] == ["removed_topic", "profiled"]
    assert {t for _, t, _ in store.audience.watch(_key("hal"), 0)} == {TRAVEL}
    restored = client.post(f"/v1/me/interests/{COOKING}/restore", headers=_me("hal")).json()
    assert restored["removed"] == []
    assert client.delete("/v1/me/interests/999999", headers=_me("hal")).status_code == 404


def test_pausing_stops_profile_updates(client: TestClient, store: Store) -> None:
    r = client.put("/v1/me/personalisation", json={"paused": True}, headers=_me("ivy"))
    assert r.json()["personalisation"] == "paused"
    result = _post(client, _view("ivy", {"id": "v1", "topics": [COOKING]}, **PERSONALISED))
    assert result["results"][0]["reason"] == "paused"
    assert _rows(store) == 0
    client.put("/v1/me/personalisation", json={"paused": False}, headers=_me("ivy"))
    assert _post(client, _view("ivy", {"id": "v1"}, **PERSONALISED))["profiled"] == 1


def test_viewer_controls_need_a_valid_viewer_token(client: TestClient) -> None:
    assert client.get("/v1/me/interests").json()["error"] == "missing_viewer_token"
    bad = client.get("/v1/me/interests", headers={"Authorization": "Bearer nope"})
    assert (bad.status_code, bad.json()["error"]) == (401, "invalid_viewer_token")


def test_the_profile_store_refuses_writes_without_profiling_permission(store: Store) -> None:
    contextual = Permissions(Mode.CONTEXTUAL, True, Measurement.USER, frozenset(), ("D03",))
    with pytest.raises(ProfilingNotAllowed):
        store.audience.add_watch("k" * 64, 1, {COOKING: 10.0}, T0, permissions=contextual)
    assert _rows(store) == 0


def test_a_view_dated_in_the_future_refuses_the_whole_batch(
    client: TestClient, store: Store
) -> None:
    good = _view("jon", {"id": "v1", "topics": [COOKING]}, **PERSONALISED)
    future = {**good, "at": "2099-01-01T00:00:00Z"}
    r = client.post("/v1/views", json={"views": [good, future]}, headers=ADMIN)
    assert (r.status_code, r.json()["error"]) == (422, "view_in_future")
    assert _rows(store) == 0


@pytest.mark.parametrize(
    "signals", [PERSONALISED, {"region": "EU-DE"}, {"region": "US-CA", "age": 15}]
)
def test_settlement_never_writes_a_profile(
    client: TestClient, store: Store, clock: ShiftedClock, signals: dict[str, Any]
) -> None:
    """Issue 3: ads, events and settlement leave interest profiles alone, whatever the mode.

    Only organic views, with profiling permission, write a profile."""
    live_campaign(client, advertiser(client))
    ad = served(client, user_ref="kim", topics=["210"], **signals)
    r = client.post("/v1/events", json={"token": ad["token"], "events": watch_events(8.0)})
    assert r.json()["accepted"] > 0
    clock.advance_to(clock.now_ms() + 2 * 86_400_000)
    report = Settler(store, clock, window_ms=86_400_000).run_once()
    assert report.deliveries_settled >= 1
    assert _rows(store) == 0
    assert client.get("/v1/me/interests", headers=_me("kim")).json()["interests"] == []
