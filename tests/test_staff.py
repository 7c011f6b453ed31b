"""Staff keys with roles, the audit trail of administrative changes, and the DPO's reads."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from fairview.accountability.roles import Role
from fairview.accountability.trail import ACTIONS
from fairview.audience import topics as tx
from fairview.storage import Store
from fairview.storage.cohorts import CohortRecord, CohortRunRecord
from fairview.storage.schema import AuditRecord, StaffKey

from api_helpers import advertiser, campaign_body, live_campaign
from conftest import ADMIN
from factories import T0

PURPOSE = {"X-Purpose": "DSAR 2026-200: reply to the viewer's access request"}


def staff_key(client: TestClient, role: str, name: str = "Sam") -> tuple[dict[str, str], str]:
    """A new staff key with `role`: its Authorization header and its prefix."""
    r = client.post("/v1/staff/keys", json={"name": name, "role": role}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['key']}"}, r.json()["prefix"]


def test_a_key_is_shown_once_stored_hashed_and_listed_without_secrets(
    client: TestClient, store: Store
) -> None:
    r = client.post("/v1/staff/keys", json={"name": "Dana", "role": "dpo"}, headers=ADMIN)
    created = r.json()
    key, prefix = created["key"], created["prefix"]
    assert key.startswith("fvs_") and len(key) > 40 and key.startswith(prefix)
    assert (created["role"], created["name"], created["revoked_at"]) == ("dpo", "Dana", None)
    listed = client.get("/v1/staff/keys", headers=ADMIN)
    assert listed.status_code == 200 and key not in listed.text
    assert [(k["prefix"], k["role"]) for k in listed.json()] == [(prefix, "dpo")]
    with store.engine.connect() as conn:
        [row] = conn.execute(select(StaffKey)).all()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in repr(tuple(row))
    me = client.get("/v1/staff/me", headers={"Authorization": f"Bearer {key}"}).json()
    assert me == {"role": "dpo", "name": "Dana", "key_prefix": prefix}


def test_each_role_reaches_its_own_endpoints_only(client: TestClient) -> None:
    analyst, _ = staff_key(client, "analyst")
    dpo, _ = staff_key(client, "dpo")
    operator, _ = staff_key(client, "operator")
    assert client.get("/v1/stats", headers=analyst).status_code == 200
    assert client.get("/v1/stats", headers=operator).status_code == 200
    refused = client.get("/v1/stats", headers=dpo)
    assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")
    assert "operator or analyst" in refused.json()["detail"]
    assert client.post("/v1/advertisers", json={"name": "X"}, headers=analyst).status_code == 403
    assert client.post("/v1/advertisers", json={"name": "X"}, headers=operator).status_code == 201
    for headers in (analyst, operator, ADMIN):
        assert client.get("/v1/audit", headers=headers | PURPOSE).status_code == 403
    assert client.get("/v1/audit", headers=dpo | PURPOSE).status_code == 200
    # Realms do not mix: a staff key is no advertiser key and the other way round.
    assert client.get("/v1/campaigns", headers=operator).status_code == 401
    assert client.get("/v1/stats", headers=advertiser(client)).status_code == 401


def test_only_the_operator_manages_keys(client: TestClient) -> None:
    analyst, prefix = staff_key(client, "analyst")
    r = client.post("/v1/staff/keys", json={"name": "x", "role": "operator"}, headers=analyst)
    assert r.status_code == 403
    assert client.delete(f"/v1/staff/keys/{prefix}", headers=analyst).status_code == 403
    assert client.get("/v1/staff/keys", headers=analyst).status_code == 403
    missing = client.delete("/v1/staff/keys/fvs_nothing", headers=ADMIN)
    assert (missing.status_code, missing.json()["error"]) == (404, "staff_key_not_found")
    bad = client.post("/v1/staff/keys", json={"name": "x", "role": "root"}, headers=ADMIN)
    assert bad.status_code == 422


def test_a_revoked_key_is_refused_at_once_and_revocation_is_recorded_once(
    client: TestClient, store: Store
) -> None:
    headers, prefix = staff_key(client, "analyst", name="Robin")
    assert client.get("/v1/stats", headers=headers).status_code == 200
    first = client.delete(f"/v1/staff/keys/{prefix}", headers=ADMIN)
    assert first.status_code == 200 and first.json()["revoked_at"] is not None
    assert client.get("/v1/stats", headers=headers).status_code == 401
    again = client.delete(f"/v1/staff/keys/{prefix}", headers=ADMIN)
    assert again.json()["revoked_at"] == first.json()["revoked_at"]
    records = [(e.action, e.subject, e.actor) for e in store.audit.entries()]
    assert records == [
        ("staff.key.created", f"staff_key:{prefix}", "operator:bootstrap (FAIRVIEW_ADMIN_API_KEY)"),
        ("staff.key.revoked", f"staff_key:{prefix}", "operator:bootstrap (FAIRVIEW_ADMIN_API_KEY)"),
    ]


def test_administrative_changes_are_recorded_with_who_what_and_why(
    client: TestClient, store: Store
) -> None:
    operator, op_prefix = staff_key(client, "operator", name="Olu")
    r = client.post(
        "/v1/advertisers",
        json={"name": "Acme"},
        headers=operator | {"X-Purpose": "onboarding ticket 42"},
    )
    adv_id, headers = r.json()["id"], {"Authorization": f"Bearer {r.json()['api_key']}"}
    cid = live_campaign(client, headers)
    client.put(f"/v1/campaigns/{cid}/targeting", json={"regions": ["FR"]}, headers=headers)
    client.post(f"/v1/campaigns/{cid}/pause", headers=headers)
    client.post(f"/v1/campaigns/{cid}/pause", headers=headers)  # no change, no record
    client.post(f"/v1/campaigns/{cid}/resume", headers=headers)
    entries = list(store.audit.entries())
    assert [e.action for e in entries] == [
        "staff.key.created",
        "advertiser.created",
        "campaign.created",
        "creative.added",
        "campaign.targeting.changed",
        "campaign.paused",
        "campaign.resumed",
    ]
    created = entries[1]
    assert (created.actor, created.subject, created.purpose) == (
        f"operator:{op_prefix} (Olu)",
        f"advertiser:{adv_id}",
        "onboarding ticket 42",
    )
    assert {e.actor for e in entries[2:]} == {f"advertiser:{adv_id}"}
    assert entries[3].detail == {"campaign": cid}
    assert entries[4].detail["targeting"]["regions"] == ["FR"]
    assert entries[5].purpose == ACTIONS["campaign.paused"]
    assert store.audit.verify() == []
    # Reads and refused changes leave no record.
    client.get(f"/v1/campaigns/{cid}", headers=headers)
    client.post("/v1/campaigns", json=campaign_body(bid=-1), headers=headers)
    assert len(list(store.audit.entries())) == len(entries)


def test_dpo_access_needs_a_purpose_and_is_recorded_before_reading(
    client: TestClient, store: Store
) -> None:
    dpo, prefix = staff_key(client, "dpo", name="Dana")
    before = len(list(store.audit.entries()))
    for sent in ({}, {"X-Purpose": "curious"}, {"X-Purpose": " " * 40}):
        refused = client.get("/v1/audit", headers=dpo | sent)
        assert (refused.status_code, refused.json()["error"]) == (400, "purpose_required")
    assert len(list(store.audit.entries())) == before
    page = client.get("/v1/audit", params={"action": "dpo.read_audit_log"}, headers=dpo | PURPOSE)
    assert page.status_code == 200
    [own] = page.json()["entries"]  # the read itself is in the log it reads
    assert (own["actor"], own["subject"], own["purpose"]) == (
        f"dpo:{prefix} (Dana)",
        "/v1/audit",
        PURPOSE["X-Purpose"],
    )
    assert own["detail"] == {
        "method": "GET",
        "route": "/v1/audit",
        "query": "action=dpo.read_audit_log",
    }
    assert client.get("/v1/audit/verify", headers=dpo | PURPOSE).json()["intact"] is True
    actions = [e.action for e in store.audit.entries()]
    assert actions[-2:] == ["dpo.read_audit_log", "dpo.verify_audit_log"]


def test_the_audit_log_pages_and_filters(client: TestClient, store: Store) -> None:
    dpo, _ = staff_key(client, "dpo")
    for i in range(5):
        store.audit.append(
            actor="a", action="x.y", purpose="p", subject=f"s{i}", detail={}, now_ms=T0 + i
        )
    first = client.get(
        "/v1/audit", params={"action": "x.y", "limit": 2}, headers=dpo | PURPOSE
    ).json()
    assert [e["subject"] for e in first["entries"]] == ["s0", "s1"]
    rest = client.get(
        "/v1/audit",
        params={"action": "x.y", "after": first["next_after"], "limit": 10},
        headers=dpo | PURPOSE,
    ).json()
    assert [e["subject"] for e in rest["entries"]] == ["s2", "s3", "s4"]
    assert rest["next_after"] is None
    since = client.get(
        "/v1/audit",
        params={"action": "x.y", "since": "2026-09-21T14:13:20.003Z"},
        headers=dpo | PURPOSE,
    ).json()
    assert [e["subject"] for e in since["entries"]] == ["s3", "s4"]


def test_a_changed_record_shows_in_the_verification(client: TestClient, store: Store) -> None:
    dpo, _ = staff_key(client, "dpo")
    with store.engine.begin() as conn:
        conn.execute(update(AuditRecord).where(AuditRecord.seq == 1).values(purpose="nothing"))
    verdict = client.get("/v1/audit/verify", headers=dpo | PURPOSE).json()
    assert verdict["intact"] is False
    assert any("record 1" in p and "changed" in p for p in verdict["problems"])
    assert verdict["head"]["anchor"] == f"{verdict['head']['seq']}:{verdict['head']['hash']}"


def publish_cohorts(store: Store, members: list[str]) -> int:
    """A served cohort run whose one cohort holds `members`; returns the cohort id."""
    topic = sorted(tx.allowlist())[0]
    run = CohortRunRecord("run-1", T0, 100, 2, len(members), "served", True, {"notes": ["n"]})
    cohort = CohortRecord(7, "run-1", len(members), (topic,), True, "served", 0.01, 1.1)
    store.cohorts.publish(run, [cohort], [(m, 7) for m in members])
    return 7


def test_the_cohort_audit_is_the_dpos_and_lists_no_member(client: TestClient, store: Store) -> None:
    dpo, _ = staff_key(client, "dpo")
    missing = client.get("/v1/audit/cohorts", headers=dpo | PURPOSE)
    assert (missing.status_code, missing.json()["error"]) == (404, "no_cohort_run")
    members = [hashlib.sha256(f"v{i}".encode()).hexdigest() for i in range(3)]
    publish_cohorts(store, members)
    r = client.get("/v1/audit/cohorts", headers=dpo | PURPOSE)
    assert r.status_code == 200
    body = r.json()
    assert (body["run"], body["status"], body["notes"]) == ("run-1", "served", ["n"])
    assert [(c["id"], c["size"], c["served"]) for c in body["cohorts"]] == [("7", 3, True)]
    assert not re.search(r"[0-9a-f]{64}", r.text)
    assert client.get("/v1/audit/cohorts", headers=ADMIN | PURPOSE).status_code == 403
    assert [e.action for e in store.audit.entries()][-2:] == [
        "dpo.cohort_audit",
        "dpo.cohort_audit",
    ]


def test_staff_keys_storage(store: Store) -> None:
    record, key = store.staff.create("Ari", Role.ANALYST, T0)
    assert store.staff.for_key(key) == record
    assert store.staff.for_key(key + "x") is None
    assert store.staff.for_key("fv_" + key[4:]) is None
    assert store.staff.get(record.prefix) == record
    revoked = store.staff.revoke(record.prefix, T0 + 5)
    assert revoked is not None and revoked.revoked_ms == T0 + 5
    assert store.staff.for_key(key) is None
    assert store.staff.revoke(record.prefix, T0 + 9) == revoked
    assert store.staff.revoke("fvs_missing", T0) is None
    assert store.staff.list() == [revoked]


@pytest.mark.parametrize("purpose", ["x" * 501])
def test_an_overlong_purpose_is_refused(client: TestClient, purpose: str) -> None:
    dpo, _ = staff_key(client, "dpo")
    r = client.get("/v1/audit", headers=dpo | {"X-Purpose": purpose})
    assert r.status_code == 422


def test_every_action_and_role_is_documented() -> None:
    text = (Path(__file__).parents[1] / "docs" / "access.md").read_text()
    assert [a for a in ACTIONS if f"`{a}`" not in text] == []
    assert [r for r in Role if f"`{r.value}`" not in text] == []
