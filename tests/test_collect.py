"""The collector: per-event answers, the privacy firewall, tokens, nothing lost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairview.clock import ShiftedClock
from fairview.collect.firewall import prohibited_reason
from fairview.collect.schema import EventIn
from fairview.storage import Store

from api_helpers import advertiser, live_campaign, served, watch_events
from conftest import ADMIN
from factories import T0


@pytest.fixture
def buyer(client: TestClient) -> tuple[dict[str, str], str]:
    """An advertiser's auth headers and one of its live campaigns."""
    headers = advertiser(client)
    return headers, live_campaign(client, headers)


@pytest.fixture
def token(client: TestClient) -> str:
    live_campaign(client, advertiser(client))
    tok: str = served(client, user_ref="viewer-1")["token"]
    return tok


def _post(client: TestClient, token: str | None, events: list[Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"events": events}
    if token is not None:
        body["token"] = token
    r = client.post("/v1/events", json=body)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def test_batch_is_accepted_and_counted(client: TestClient, token: str) -> None:
    events = watch_events(7.0)
    result = _post(client, token, events)
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (len(events), 0, 0)
    stats = client.get("/v1/stats", headers=ADMIN).json()["events"]
    assert stats == {"sent": len(events), "accepted": len(events), "duplicates": 0, "rejected": 0}


def test_resend_is_duplicate_and_conflict_is_rejected(client: TestClient, token: str) -> None:
    events = watch_events(2.0)
    _post(client, token, events)
    changed = {**events[3], "media_s": 9.0}
    result = _post(client, token, [events[2], changed])
    assert [r["status"] for r in result["results"]] == ["duplicate", "rejected"]
    assert result["results"][1]["error"] == "conflicting_duplicate"


@pytest.mark.parametrize(
    "name",
    [
        "heart_rate",
        "heartRate",
        "gaze_x",
        "eye_tracking",
        "emotion",
        "face_detected",
        "camera_frame",
        "mic_level",
        "keystrokes",
        "comment_text",
        "free_text",
        "hr",
        "pupilDiameter",
        "sentiment",
    ],
)
def test_prohibited_fields_are_refused_by_name(client: TestClient, token: str, name: str) -> None:
    event = {**watch_events(0.0)[0], name: 1}
    result = _post(client, token, [event])["results"][0]
    assert (result["status"], result["error"], result["field"]) == (
        "rejected",
        "prohibited_field",
        name,
    )


def test_prohibited_field_nested_is_refused(client: TestClient, token: str) -> None:
    event = {**watch_events(0.0)[0], "kind": {"biometrics": {"bpm": 80}}}
    result = _post(client, token, [event])["results"][0]
    assert result["error"] == "prohibited_field" and result["field"] == "kind.biometrics"


def test_refused_event_is_kept_without_its_values(
    client: TestClient, token: str, store: Store
) -> None:
    event = {**watch_events(0.0)[0], "heart_rate": 123456, "note": "my secret diary"}
    _post(client, token, [event])
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT code, field, payload FROM failed_events").all()
    assert len(rows) == 1
    code, field, payload = rows[0]
    assert (code, field) == ("prohibited_field", "heart_rate")
    assert "123456" not in payload and "diary" not in payload and "heart_rate" in payload


def test_every_allowed_field_passes_the_firewall() -> None:
    assert [n for n in EventIn.model_fields if prohibited_reason(n)] == []


@pytest.mark.parametrize(
    ("event", "code", "field"),
    [
        ({"seq": 0, "type": "warp", "mono_ms": 0, "media_s": 0}, "invalid_field", "type"),
        ({"type": "heartbeat", "mono_ms": 0, "media_s": 0}, "missing_field", "seq"),
        ({"seq": -1, "type": "heartbeat", "mono_ms": 0, "media_s": 0}, "invalid_field", "seq"),
        ({"seq": 1.5, "type": "heartbeat", "mono_ms": 0, "media_s": 0}, "invalid_field", "seq"),
        ({"seq": 2**70, "type": "heartbeat", "mono_ms": 0, "media_s": 0}, "invalid_field", "seq"),
        (
            {"seq": 1, "type": "heartbeat", "mono_ms": 1e300, "media_s": 0},
            "invalid_field",
            "mono_ms",
        ),
        ({"seq": 1, "type": "interaction", "mono_ms": 0, "media_s": 0}, "invalid_field", "kind"),
        ({"seq": 1, "type": "seek", "mono_ms": 0, "media_s": 0}, "invalid_field", "from_s"),
        (
            {"seq": 1, "type": "heartbeat", "mono_ms": 0, "media_s": 0, "colour": "x"},
            "unknown_field",
            "colour",
        ),
        (
            {"seq": 1, "type": "heartbeat", "mono_ms": 0, "media_s": 0, "vis": "yes"},
            "invalid_field",
            "vis",
        ),
    ],
)
def test_malformed_events_are_rejected_with_a_code(
    client: TestClient, token: str, event: dict[str, Any], code: str, field: str
) -> None:
    result = _post(client, token, [event])["results"][0]
    assert (result["status"], result["error"], result.get("field")) == ("rejected", code, field)
    assert result["detail"]


def test_forged_and_expired_tokens_are_rejected(
    client: TestClient, token: str, clock: ShiftedClock
) -> None:
    head, body, sig = token.split(".")
    forged = f"{head}.{body}.{sig[:-2]}AA"
    assert _post(client, forged, watch_events(0.0))["results"][0]["error"] == "invalid_token"
    assert _post(client, None, watch_events(0.0))["results"][0]["error"] == "missing_token"
    clock.advance_to(T0 + 26 * 3600 * 1000)
    assert _post(client, token, watch_events(0.0))["results"][0]["error"] == "invalid_token"


def test_delivery_must_match_token(client: TestClient, token: str) -> None:
    event = {**watch_events(0.0)[0], "delivery": "dl_someone_else"}
    assert _post(client, token, [event])["results"][0]["error"] == "delivery_mismatch"


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"{", 400, "malformed_json"),
        (b"42", 422, "invalid_batch"),
        (b'{"events": {}}', 422, "invalid_batch"),
        (b'{"events": [], "x": 1}', 422, "unknown_field"),
    ],
)
def test_malformed_batches(client: TestClient, content: bytes, status: int, code: str) -> None:
    r = client.post("/v1/events", content=content)
    assert (r.status_code, r.json()["error"]) == (status, code)


def test_oversized_batch_and_body(client: TestClient, token: str) -> None:
    r = client.post("/v1/events", json={"token": token, "events": [{}] * 1001})
    assert (r.status_code, r.json()["error"]) == (413, "batch_too_large")
    r = client.post("/v1/events", content=b"[" + b" " * 2_100_000 + b"]")
    assert (r.status_code, r.json()["error"]) == (413, "body_too_large")


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_event_like = st.fixed_dictionaries(
    {},
    optional={
        "seq": _json | st.integers(0, 100),
        "type": _json | st.sampled_from(["heartbeat", "seek"]),
        "mono_ms": _json,
        "media_s": _json,
        "vis": _json,
        "kind": _json,
        "rate": _json,
        "from_s": _json,
        "token": _json,
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=st.lists(_event_like | _json, max_size=6))
def test_generated_bad_input_never_500_and_counts_add_up(
    client: TestClient, token: str, events: list[Any]
) -> None:
    before = client.get("/v1/stats", headers=ADMIN).json()["events"]["sent"]
    r = client.post("/v1/events", json={"token": token, "events": events})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] + body["duplicates"] + body["rejected"] == len(events)
    assert client.get("/v1/stats", headers=ADMIN).json()["events"]["sent"] == before + len(events)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary(max_size=200) | _json.map(lambda v: json.dumps(v).encode()))
def test_generated_bad_bodies_never_500(
    client: TestClient, buyer: tuple[dict[str, str], str], content: bytes
) -> None:
    headers = {"content-type": "application/json"}
    for path in ("/v1/events", "/v1/decisions", "/v1/advertisers"):
        r = client.post(path, content=content, headers=headers)
        assert r.status_code < 500, (path, content, r.text)
    auth, campaign_id = buyer
    for path in ("/v1/campaigns", f"/v1/campaigns/{campaign_id}/creatives"):
        r = client.post(path, content=content, headers={**headers, **auth})
        assert r.status_code < 500, (path, content, r.text)
        assert r.json()["error"]


class _BrokenLog:
    def append(self, events: Any, refusals: Any) -> Any:
        raise OSError("disk full")


def test_store_failure_is_503_and_says_nothing_was_kept() -> None:
    import asyncio

    from fairview.collect.writer import GroupCommitWriter
    from fairview.errors import FairviewError

    writer = GroupCommitWriter(_BrokenLog())  # type: ignore[arg-type]
    with pytest.raises(FairviewError) as caught:
        asyncio.run(writer.append([], []))
    writer.close()
    assert (caught.value.code, caught.value.status) == ("store_unavailable", 503)


def test_stats_need_the_operator_key(client: TestClient) -> None:
    assert client.get("/v1/stats").status_code == 401
    assert client.get("/v1/stats", headers=ADMIN).json()["events"]["sent"] == 0
