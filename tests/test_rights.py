"""Viewer rights through the real API and store: export, erasure, objection, their tracking.

The erasure bar: a canary viewer is planted in every store the way a platform
would (decisions, events, settlement, consent, views, removed topics, a pause,
a cohort, frequency counters in the database and in Redis, a rights request),
erased through the API, and then every table of the live database, every Redis
key under the test's prefix and, on SQLite, the database files themselves are
scanned for the pseudonym and the raw reference. fairview has no warehouse
files yet; when it has, they belong in `_file_hits`.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import inspect, select, text

from fairview.accountability.roles import Role
from fairview.api.app import create_app
from fairview.clock import ShiftedClock
from fairview.pseudonym import Pseudonymiser
from fairview.registry import kept_columns
from fairview.rights.export import open_export
from fairview.rights.requests import Kind, one_month_after
from fairview.settle.worker import Settler
from fairview.storage import Store
from fairview.storage.cohorts import CohortRecord, CohortRunRecord
from fairview.storage.frequency import RedisFrequency, SqlFrequency
from fairview.storage.schema import Delivery, LedgerEntry, RightsRequest
from fairview.tokens import ViewerTokens

from api_helpers import advertiser, live_campaign, served, watch_events
from conftest import ADMIN, make_settings
from factories import DAY_MS, T0

SETTINGS = make_settings()
PSEUDONYMS = Pseudonymiser(SETTINGS.pseudonym_pepper.get_secret_value())
TOKENS = ViewerTokens(SETTINGS.viewer_token_key.get_secret_value())
GPP_CA_OPTED_OUT = "DBABrw~CAAQAAAAAABA.YA~BAYAAABA.QA"  # usca SaleOptOut = 1
GPP_CA_NO_OPT_OUT = "DBABrw~CAAQAAAAAABA.YA~BAIAAABA.QA"  # usca SharingOptOut = 2
PERSONALISED = {"region": "US-CA", "age": 30, "gpp": GPP_CA_NO_OPT_OUT}
COOKING, TRAVEL = 173, 332  # allowlisted Topics v2 ids
REDIS_URL = os.environ.get("FAIRVIEW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _me(user_ref: str, expires_ms: int = T0 + 60 * DAY_MS) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS.sign(user_ref, expires_ms)}"}


def _dpo(store: Store) -> dict[str, str]:
    key = store.staff.create("Dana (DPO)", Role.DPO, T0)[1]
    return {"Authorization": f"Bearer {key}", "X-Purpose": "monthly review of rights deadlines"}


@dataclasses.dataclass(frozen=True)
class RedisCounters:
    client: Redis
    prefix: str
    frequency: RedisFrequency


@pytest.fixture
def redis_counters() -> Iterator[RedisCounters]:
    """Frequency counters in the local Redis, under a prefix of this test's own."""
    client = Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except RedisConnectionError as exc:  # pragma: no cover - environment
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis not reachable: {exc}")
    prefix = f"fvtest-{secrets.token_hex(6)}"
    yield RedisCounters(client, prefix, RedisFrequency(client, prefix=f"{prefix}:freq"))
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_client(
    store: Store, clock: ShiftedClock, redis_counters: RedisCounters
) -> Iterator[TestClient]:
    """The API on a store whose frequency counters live in Redis (the scale-out set-up)."""
    scaled = dataclasses.replace(store, frequency=redis_counters.frequency)
    app = create_app(SETTINGS, store=scaled, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _decide(client: TestClient, user_ref: str, **signals: Any) -> dict[str, Any]:
    r = client.post("/v1/decisions", json={"placement": "feed", "user_ref": user_ref, **signals})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _view(client: TestClient, user_ref: str, video: str, topics: list[int]) -> None:
    view = {"user_ref": user_ref, "video": {"id": video, "topics": topics}, "watched_s": 30}
    r = client.post("/v1/views", json={"views": [{**view, **PERSONALISED}]}, headers=ADMIN)
    assert r.status_code == 200, r.text


def _plant(client: TestClient, store: Store, clock: ShiftedClock, user_ref: str) -> str:
    """Put `user_ref` in every store through the API and services; returns the campaign id."""
    cid = live_campaign(client, advertiser(client, f"Acme {secrets.token_hex(3)}"))
    watched = served(client, user_ref=user_ref, **PERSONALISED)  # viewer key, why, counter
    clock.advance_to(clock.now_ms() + 15_000)  # the watch took real time
    r = client.post("/v1/events", json={"token": watched["token"], "events": watch_events(12.0)})
    assert r.json()["accepted"] > 0, r.text
    broken = served(client, user_ref=user_ref, **PERSONALISED)
    events = watch_events(3.0)
    client.post("/v1/events", json={"token": broken["token"], "events": events})
    events[1]["media_s"] = 9.0  # a conflicting repeat: a refused event is kept
    client.post("/v1/events", json={"token": broken["token"], "events": events[1:2]})
    _view(client, user_ref, "cooking-video", [COOKING])  # profile and consent evidence
    _view(client, user_ref, "travel-video", [TRAVEL])
    assert client.delete(f"/v1/me/interests/{TRAVEL}", headers=_me(user_ref)).status_code == 200
    r = client.put("/v1/me/personalisation", json={"paused": True}, headers=_me(user_ref))
    assert r.status_code == 200
    SqlFrequency(store.engine).add(PSEUDONYMS.viewer_key(user_ref), cid, clock.now_ms())
    _decide(client, user_ref, region="US-CA", gpp=GPP_CA_OPTED_OUT)  # the newest signal
    assert client.get("/v1/me/data", headers=_me(user_ref)).status_code == 200
    clock.advance_to(clock.now_ms() + 2 * DAY_MS)
    Settler(store, clock, window_ms=DAY_MS).run_once()
    return cid


def _publish_cohort(store: Store, viewers: list[str], now_ms: int) -> None:
    run = CohortRunRecord("run-1", now_ms, 1, 2, len(viewers), "served", True, {})
    cohort = CohortRecord(7, "run-1", len(viewers), (COOKING,), True, "", 0.0, 0.0)
    store.cohorts.publish(run, [cohort], [(v, 7) for v in viewers])


def _table_hits(store: Store, needles: tuple[str, ...]) -> set[tuple[str, str]]:
    """(table, column) of every value in the live database that contains a needle."""
    hits = set()
    with store.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            result = conn.execute(text(f'SELECT * FROM "{table}"'))
            columns = list(result.keys())
            for row in result:
                for column, value in zip(columns, row, strict=True):
                    if value is not None and any(n in str(value) for n in needles):
                        hits.add((table, column))
    return hits


def _redis_hits(counters: RedisCounters, needles: tuple[str, ...]) -> list[str]:
    client, prefix = counters.client, counters.prefix
    found = []
    for key in client.scan_iter(match=f"{prefix}:*"):
        name = key.decode()
        values = [name]
        if client.type(key) == b"zset":
            values += [m.decode() for m in client.zrange(key, 0, -1)]
        else:
            values.append(str(client.get(key)))
        found += [name for v in values if any(n in v for n in needles)]
    return found


def _file_hits(store: Store, needles: tuple[str, ...]) -> list[str]:
    """Database files on disk that still hold a needle (SQLite: the file and its WAL)."""
    database = store.engine.url.database
    if store.engine.dialect.name != "sqlite" or not database:
        return []
    paths = [Path(database + suffix) for suffix in ("", "-wal", "-shm")]
    data = {p.name: p.read_bytes() for p in paths if p.exists()}
    return [name for name, blob in data.items() for n in needles if n.encode() in blob]


def _ledger_links(store: Store, viewer_key: str) -> tuple[int, int]:
    """(ledger rows of all deliveries, ledger rows reachable from the pseudonym)."""
    with store.engine.connect() as conn:
        total = len(conn.execute(select(LedgerEntry.id)).all())
        linked = conn.execute(
            select(LedgerEntry.id)
            .join(Delivery, Delivery.id == LedgerEntry.delivery_id)
            .where(Delivery.viewer_key == viewer_key)
        ).all()
    return total, len(linked)


def test_canary_erasure_leaves_nothing_outside_what_the_registry_keeps(
    redis_client: TestClient, store: Store, clock: ShiftedClock, redis_counters: RedisCounters
) -> None:
    redis_frequency = redis_counters.frequency
    canary, bystander = "canary-7f3a9c", "bystander-2b8e41"
    pseudonym = PSEUDONYMS.viewer_key(canary)
    needles = (pseudonym, canary)
    cid = _plant(redis_client, store, clock, canary)
    _plant(redis_client, store, clock, bystander)
    _publish_cohort(store, [pseudonym, PSEUDONYMS.viewer_key(bystander)], clock.now_ms())
    planted = _table_hits(store, needles)
    assert {t for t, _ in planted} >= {
        "deliveries", "consent_records", "frequency_events", "interest_watch",
        "interest_blocks", "viewer_settings", "cohort_members", "rights_requests",
    }  # fmt: skip
    assert redis_frequency.entries(pseudonym) and _redis_hits(redis_counters, needles)
    assert _file_hits(store, needles) or store.engine.dialect.name != "sqlite"
    ledger_before, linked = _ledger_links(store, pseudonym)
    assert linked >= 1  # the watched delivery was billed
    assert _decide(redis_client, canary, region="US-CA")["consent"]["rows"] == ["D21"]  # reused

    r = redis_client.post("/v1/me/erasure", headers=_me(canary))

    assert r.status_code == 200, r.text
    request = r.json()
    assert (request["kind"], request["status"]) == ("erasure", "completed")
    assert request["detail"]["removed"]["events"] > 0
    assert request["detail"]["removed"]["frequency_counters"] >= 1
    hits = _table_hits(store, needles)
    assert hits - kept_columns() == set(), "erasure left the viewer outside what is kept"
    assert ("objections", "viewer_key") not in hits  # erasure is not an objection
    assert _redis_hits(redis_counters, needles) == []
    assert _file_hits(store, needles) == []
    assert _ledger_links(store, pseudonym) == (ledger_before, 0)  # amounts kept, no link
    # Effective at once: no stored consent, profile, cohort or frequency history.
    assert store.consents.viewer_state(pseudonym) == (None, None)
    assert store.audience.watch(pseudonym, 0) == [] and store.cohorts.cohort_of(pseudonym) is None
    assert redis_frequency.counts(pseudonym, [cid], 0, clock.now_ms()) == {}
    again = _decide(redis_client, canary, region="US-CA")
    assert again["consent"]["mode"] == "personalised" and "D16" not in again["consent"]["rows"]
    # The bystander keeps everything.
    other = PSEUDONYMS.viewer_key(bystander)
    assert store.consents.latest(other) is not None and store.cohorts.cohort_of(other) is None
    assert store.audience.controls(other).paused and redis_frequency.entries(other)


def test_erasure_is_idempotent_and_keeps_only_a_hash_as_proof(
    client: TestClient, store: Store, clock: ShiftedClock
) -> None:
    _plant(client, store, clock, "ann")
    first = client.post("/v1/me/erasure", headers=_me("ann")).json()
    second = client.post("/v1/me/erasure", headers=_me("ann")).json()
    assert first["id"] != second["id"] and second["status"] == "completed"
    assert set(second["detail"]["removed"].values()) == {0}
    assert first["detail"]["subject"] == second["detail"]["subject"]
    assert first["detail"]["subject"].startswith("sha256:")
    with store.engine.connect() as conn:
        keys = conn.execute(select(RightsRequest.viewer_key)).scalars().all()
    assert keys == [None, None, None]  # the access request, and both erasures


def test_the_export_holds_everything_about_the_viewer(
    client: TestClient, store: Store, clock: ShiftedClock
) -> None:
    _plant(client, store, clock, "bea")
    _plant(client, store, clock, "cy")
    r = client.get("/v1/me/data?right=portability", headers=_me("bea"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    doc = orjson.loads(r.content)
    assert doc["complete"] is True and doc["pseudonym"] == PSEUDONYMS.viewer_key("bea")
    data = doc["data"]
    assert len(data["deliveries"]["rows"]) == 2  # the opted-out decision kept no link
    assert {d["why"]["mode"] for d in data["deliveries"]["rows"]} >= {"personalised"}
    assert all(d["viewer_key"] == doc["pseudonym"] for d in data["deliveries"]["rows"])
    assert len(data["events"]["rows"]) == doc["rows"]["events"] > 50
    assert data["failed_events"]["rows"][0]["code"] == "conflicting_duplicate"
    assert {t["topic_id"] for t in data["interest_watch"]["rows"]} == {COOKING}
    assert [b["topic_id"] for b in data["interest_blocks"]["rows"]] == [TRAVEL]
    assert data["viewer_settings"]["rows"][0]["paused"] is True
    assert len(data["consent_records"]["rows"]) >= 2
    assert data["frequency_events"]["rows"] and data["settlements"]["rows"]
    assert sorted(q["kind"] for q in data["rights_requests"]["rows"]) == ["access", "portability"]
    assert "purpose" in data["consent_records"]["about"][0]
    assert "ledger" not in data and {n["table"] for n in doc["not_included"]} == {
        "ledger",
        "audit_log",
    }
    assert "actor" not in str(data["audit_log"]["rows"])
    request = store.rights.get(r.headers["x-rights-request"])
    assert request is not None and request.status == "completed"
    assert request.detail["rows"]["events"] == doc["rows"]["events"]


def test_an_export_read_only_in_part_is_recorded_as_interrupted(
    store: Store, clock: ShiftedClock
) -> None:
    request, body = open_export(store, PSEUDONYMS.viewer_key("dee"), Kind.ACCESS, clock)
    assert next(body).startswith(b'{"format"')
    body.close()
    stored = store.rights.get(request.id)
    assert stored is not None and (stored.status, stored.completed_ms) == ("interrupted", None)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/me/data"), ("POST", "/v1/me/erasure"), ("POST", "/v1/me/objection")],
)
def test_viewer_routes_need_a_valid_viewer_token(
    client: TestClient, store: Store, method: str, path: str
) -> None:
    def error(headers: dict[str, str]) -> tuple[int, str]:
        r = client.request(method, path, headers=headers)
        return r.status_code, r.json()["error"]

    assert error({}) == (401, "missing_viewer_token")
    assert error({"Authorization": "Bearer not.a.jwt"}) == (401, "invalid_viewer_token")
    assert error(_me("eve", expires_ms=T0 - 1000)) == (401, "expired_viewer_token")
    forged = ViewerTokens("another platform's key, 32+ chars long").sign("eve", T0 + DAY_MS)
    assert error({"Authorization": f"Bearer {forged}"}) == (401, "invalid_viewer_token")
    assert store.rights.requests() == []  # nothing recorded for a refused request


def test_an_objection_stops_personalisation_for_good_and_outlives_erasure(
    client: TestClient, store: Store, clock: ShiftedClock
) -> None:
    _plant(client, store, clock, "fay")
    pseudonym = PSEUDONYMS.viewer_key("fay")
    client.put("/v1/me/personalisation", json={"paused": False}, headers=_me("fay"))
    _view(client, "fay", "cook-2", [COOKING])
    _publish_cohort(store, [pseudonym], clock.now_ms())
    r = client.post("/v1/me/objection", headers=_me("fay"))
    assert r.status_code == 200 and r.json()["status"] == "completed"
    assert r.json()["detail"]["profile_rows_removed"] >= 1
    assert store.audience.watch(pseudonym, 0) == [] and store.cohorts.cohort_of(pseudonym) is None
    after = _decide(client, "fay", **PERSONALISED)  # a later consent signal changes nothing
    assert after["consent"]["mode"] == "contextual" and "D16" in after["consent"]["rows"]
    _view(client, "fay", "cook-3", [COOKING])
    assert store.audience.watch(pseudonym, 0) == []
    client.post("/v1/me/erasure", headers=_me("fay"))
    hits = _table_hits(store, (pseudonym, "fay"))
    assert hits - kept_columns() == set() and ("objections", "viewer_key") in hits
    assert "D16" in _decide(client, "fay", **PERSONALISED)["consent"]["rows"]


def test_the_dpo_sees_every_request_with_its_deadline(
    client: TestClient, store: Store, clock: ShiftedClock
) -> None:
    client.post("/v1/me/objection", headers=_me("gus"))
    client.get("/v1/me/data", headers=_me("hal"))
    dpo = _dpo(store)
    clock.advance_to(T0 + 40 * DAY_MS)
    store.rights.open(dataclasses.replace(
        store.rights.requests()[0], id="rr_stuck", status="received", completed_ms=None
    ))  # fmt: skip
    r = client.get("/v1/rights/requests", headers=dpo)
    assert r.status_code == 200, r.text
    listed = {q["id"]: q for q in r.json()["requests"]}
    assert {q["kind"] for q in listed.values()} == {"access", "objection"}
    stuck = listed["rr_stuck"]
    assert stuck["overdue"] is True and stuck["completed_at"] is None
    assert stuck["due_at"][:10] == "2026-10-21"  # received 2026-09-21: one calendar month
    assert PSEUDONYMS.viewer_key("gus") not in r.text
    overdue = client.get("/v1/rights/requests?overdue=true", headers=dpo).json()["requests"]
    assert [q["id"] for q in overdue] == ["rr_stuck"]
    by_kind = client.get("/v1/rights/requests?kind=objection", headers=dpo).json()["requests"]
    assert [q["kind"] for q in by_kind] == ["objection"]
    assert client.get("/v1/rights/requests", headers=ADMIN).status_code == 403
    assert client.get("/v1/rights/requests", headers=_me("gus")).status_code == 401


def test_one_month_after_counts_calendar_months() -> None:
    jan31 = 1_769_817_600_000  # 2026-01-31T00:00Z
    assert one_month_after(jan31) == jan31 + 28 * DAY_MS  # 2026-02-28
    dec15 = 1_765_756_800_000  # 2025-12-15T00:00Z
    assert one_month_after(dec15) == dec15 + 31 * DAY_MS  # 2026-01-15


@given(st.integers(min_value=0, max_value=4_000_000_000_000))
def test_one_month_is_28_to_31_days(ms: int) -> None:
    assert 28 * DAY_MS <= one_month_after(ms) - ms <= 31 * DAY_MS
