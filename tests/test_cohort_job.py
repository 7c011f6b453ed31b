"""The cohort job end to end: k-anonymous, audited cohorts, served to decisions, never listed."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from typer.testing import CliRunner

from fairview.audience import topics as tx
from fairview.audience.job import (
    FAILED_AUDIT,
    NOT_AUDITED,
    SERVED,
    TOO_FEW,
    HistoryView,
    JobResult,
    run_cohort_job,
)
from fairview.audience.profile import epoch_of
from fairview.cli import app
from fairview.consent.policy import Measurement, Mode, Permissions
from fairview.errors import FairviewError
from fairview.pseudonym import Pseudonymiser
from fairview.storage import Store, open_store
from fairview.storage.audience import VideoRecord, WatchCredit
from fairview.storage.schema import AuditRecord
from fairview.tokens import ViewerTokens

from api_helpers import advertiser, live_campaign
from conftest import ADMIN, make_settings
from factories import T0

SETTINGS = make_settings()
PSEUDONYMS = Pseudonymiser(SETTINGS.pseudonym_pepper.get_secret_value())
PERSONALISED = Permissions(Mode.PERSONALISED, True, Measurement.USER, frozenset(), ("D02",))
SEX_LIFE = "sex life or sexual orientation"
N, PLANTED, K_MIN = 2_000, 120, 100
ALLOWED = sorted(tx.allowlist())


def _population(store: Store, seed: int = 3, at_ms: int = T0) -> tuple[list[str], set[str]]:
    """N viewers in 10 tastes of 3 topics; the first PLANTED share a taste of their own."""
    rng = np.random.default_rng(seed)
    tastes = rng.choice(ALLOWED, size=(11, 3), replace=False)
    refs = [f"u{i}" for i in range(N)]
    planted = set(refs[:PLANTED])
    epoch = epoch_of(at_ms)
    credits = []
    for i, ref in enumerate(refs):
        taste = tastes[10] if ref in planted else tastes[i % 10]
        seconds = {int(t): float(rng.uniform(30, 300)) for t in taste}
        credits.append(WatchCredit(PSEUDONYMS.viewer_key(ref), epoch, seconds, PERSONALISED))
    store.audience.add_watch_many(credits, at_ms)
    return refs, planted


def _history(store: Store, refs: list[str], planted: set[str]) -> list[HistoryView]:
    """Planted viewers all watched sensitive videos; 3 % of the others did too."""
    store.audience.save_videos(
        [
            VideoRecord("pride", (), frozenset({SEX_LIFE}), "platform", T0),
            VideoRecord("plain", (ALLOWED[0],), frozenset(), "platform", T0),
        ]
    )
    rng = np.random.default_rng(5)
    views = [HistoryView(ref, "plain") for ref in refs]
    views += [HistoryView(r, "pride") for r in refs if r in planted or rng.random() < 0.03]
    return views


def _run(store: Store, history: list[HistoryView] | None, **options: Any) -> JobResult:
    return run_cohort_job(
        store,
        PSEUDONYMS,
        now_ms=T0,
        history=history,
        k_min=options.pop("k_min", K_MIN),
        clusters=options.pop("clusters", 16),
        seed=options.pop("seed", 11),
        **options,
    )


@pytest.fixture
def planted_run(store: Store) -> tuple[JobResult, list[str], set[str]]:
    refs, planted = _population(store)
    return _run(store, _history(store, refs, planted)), refs, planted


def test_served_cohorts_are_k_anonymous_and_the_planted_cluster_is_caught(
    store: Store, planted_run: tuple[JobResult, list[str], set[str]]
) -> None:
    result, refs, planted = planted_run
    assert result.run.status == SERVED
    assert result.served and all(c.size >= K_MIN for c in result.cohorts)
    blocked = [c for c in result.cohorts if not c.served]
    assert blocked and all("gap" in c.reason and c.max_gap > 0.05 for c in blocked)
    assert all(c.max_gap <= 0.05 for c in result.served)
    # Blocked cohorts are dissolved, not left as a visible "no cohort" group: every
    # viewer is in a served cohort, and no served cohort over-represents the planted
    # viewers by more than the audit's gap.
    cohort_of = {r: store.cohorts.cohort_of(PSEUDONYMS.viewer_key(r)) for r in refs}
    assert None not in cohort_of.values()
    assert not {str(c.id) for c in blocked} & set(cohort_of.values())
    share = PLANTED / N
    for c in result.served:
        members = [r for r, cohort in cohort_of.items() if cohort == str(c.id)]
        assert len(members) == c.size
        assert sum(r in planted for r in members) / len(members) <= share + 0.05
    # The audit is stored for auditors: sizes, decisions and distances, no viewer.
    stored = store.cohorts.cohorts(result.run.id)
    assert {(c.id, c.size, c.served, c.reason) for c in stored} == {
        (c.id, c.size, c.served, c.reason) for c in result.cohorts
    }
    attempt = result.run.summary["attempts"][-1]
    assert attempt["dissolved_viewers"] >= PLANTED and attempt["mi_exceeded_labels"] == 0


def test_labels_are_allowlisted_topics_only(
    planted_run: tuple[JobResult, list[str], set[str]],
) -> None:
    result, _, _ = planted_run
    assert all(t in tx.allowlist() for c in result.cohorts for t in c.topics)


def test_without_history_nothing_is_served(store: Store) -> None:
    _population(store)
    result = _run(store, None)
    assert result.run.status == NOT_AUDITED
    assert result.cohorts and not result.served and result.members_written == 0
    assert any("--history" in n for n in result.notes)


def test_a_population_below_k_min_gets_no_cohorts(store: Store) -> None:
    _population(store)
    result = _run(store, [], k_min=N + 1)
    assert (result.run.status, result.cohorts) == (TOO_FEW, ())


def test_a_small_k_min_is_said_out_loud(
    planted_run: tuple[JobResult, list[str], set[str]],
) -> None:
    result, _, _ = planted_run
    assert any("below the default 2000" in n for n in result.notes)


def test_failing_global_checks_serve_nothing(store: Store) -> None:
    """Every viewer of one taste is exposed: no clustering can hide it; nothing is served."""
    refs, _ = _population(store)
    half = set(refs[PLANTED : PLANTED + 400])  # two of the ten tastes… spread by i % 10
    views = [HistoryView(r, "pride") for r in refs if int(r[1:]) % 10 in (0, 1)]
    store.audience.save_videos([VideoRecord("pride", (), frozenset({SEX_LIFE}), "platform", T0)])
    result = _run(store, views, k_min=50, clusters=30)
    assert half  # fixture sanity
    assert result.run.status in (SERVED, FAILED_AUDIT)
    if result.run.status == FAILED_AUDIT:
        assert not result.served and result.members_written == 0
    else:  # then every cohort standing for the exposed tastes was blocked
        for c in result.served:
            assert c.max_gap <= 0.05


def test_paused_objecting_and_no_longer_consenting_viewers_are_left_out(store: Store) -> None:
    refs, planted = _population(store)
    store.audience.set_paused(PSEUDONYMS.viewer_key(refs[500]), True, T0)
    store.consents.object(PSEUDONYMS.viewer_key(refs[501]), "objection", T0)
    result = _run(store, _history(store, refs, planted))
    assert result.run.summary["excluded"]["paused"] == 1
    assert result.run.summary["excluded"]["objected"] == 1
    assert result.run.viewers == N - 2
    assert store.cohorts.cohort_of(PSEUDONYMS.viewer_key(refs[501])) is None


def test_staff_access_to_members_needs_a_purpose_and_is_audited(
    store: Store, planted_run: tuple[JobResult, list[str], set[str]]
) -> None:
    result, _, _ = planted_run
    cohort = result.served[0]
    with pytest.raises(FairviewError) as refused:
        store.cohorts.members_for_staff(
            cohort.id, actor="ops-1", purpose="curious", audit=store.audit, now_ms=T0
        )
    assert refused.value.code == "purpose_required"
    assert list(store.audit.entries()) == []
    members = store.cohorts.members_for_staff(
        cohort.id,
        actor="dpo@platform",
        purpose="DSAR 2026-117: confirm erasure removed the viewer",
        audit=store.audit,
        now_ms=T0,
    )
    assert len(members) == cohort.size
    [entry] = store.audit.entries()
    assert (entry.actor, entry.action, entry.subject) == (
        "dpo@platform",
        "cohort.members.read",
        f"cohort:{cohort.id}",
    )
    assert entry.detail == {"members": cohort.size}
    assert store.audit.verify() == []


def test_the_audit_chain_detects_changes_deletions_and_reordering(store: Store) -> None:
    for i in range(4):
        store.audit.append(
            actor="a", action="x", purpose="p", subject=f"s{i}", detail={"i": i}, now_ms=T0 + i
        )
    assert store.audit.verify() == []
    with store.engine.begin() as conn:
        conn.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(purpose="changed"))
    assert any("record 2" in p and "changed" in p for p in store.audit.verify())
    with store.engine.begin() as conn:
        conn.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(purpose="p"))
        conn.execute(AuditRecord.__table__.delete().where(AuditRecord.seq == 3))
    assert any("record 4" in p and "deleted" in p for p in store.audit.verify())


def _me(user_ref: str) -> dict[str, str]:
    token = ViewerTokens(SETTINGS.viewer_token_key.get_secret_value()).sign(
        user_ref, T0 + 86_400_000
    )
    return {"Authorization": f"Bearer {token}"}


def _ads(client: TestClient, user_ref: str) -> list[dict[str, Any]]:
    r = client.post(
        "/v1/decisions",
        json={"placement": "feed", "user_ref": user_ref, "region": "US-CA", "age": 30},
    )
    assert r.status_code == 200, r.text
    ads: list[dict[str, Any]] = r.json()["ads"]
    return ads


def test_decisions_use_served_cohorts_and_viewer_controls_apply_at_once(
    client: TestClient, store: Store, planted_run: tuple[JobResult, list[str], set[str]]
) -> None:
    result, refs, _ = planted_run
    member = next(r for r in refs if store.cohorts.cohort_of(PSEUDONYMS.viewer_key(r)))
    cohort = store.cohorts.cohort_of(PSEUDONYMS.viewer_key(member))
    assert cohort is not None
    headers = advertiser(client)
    live_campaign(client, headers, targeting={"cohorts": [cohort]})
    [ad] = _ads(client, member)
    assert any("interest" in p.lower() for p in ad["disclosure"]["parameters"])
    # Pause: the very next decision is not personalised; resume restores it.
    client.put("/v1/me/personalisation", json={"paused": True}, headers=_me(member))
    assert _ads(client, member) == []
    client.put("/v1/me/personalisation", json={"paused": False}, headers=_me(member))
    assert len(_ads(client, member)) == 1
    # Removing a topic the cohort is labelled with takes the viewer out of it at once.
    label = next(c for c in result.cohorts if str(c.id) == cohort).topics[0]
    client.delete(f"/v1/me/interests/{label}", headers=_me(member))
    assert _ads(client, member) == []
    assert client.get("/v1/me/interests", headers=_me(member)).json()["cohort"] is None


def test_advertisers_see_served_cohorts_never_members(
    client: TestClient, planted_run: tuple[JobResult, list[str], set[str]]
) -> None:
    result, _, _ = planted_run
    r = client.get("/v1/cohorts", headers=advertiser(client))
    assert r.status_code == 200
    listed = r.json()
    assert {c["id"] for c in listed} == {str(c.id) for c in result.served}
    assert all(c["size_at_least"] >= K_MIN and c["size_at_least"] % 100 == 0 for c in listed)
    assert not re.search(r"[0-9a-f]{64}", r.text)  # no viewer pseudonym anywhere
    assert client.get("/v1/cohorts").status_code == 401
    assert client.get("/v1/cohorts", headers=ADMIN).status_code == 401


def test_no_endpoint_lists_cohort_members(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if "member" in p or ("cohort" in p and "{" in p)]


def test_the_cohort_commands_run_audit_and_log_staff_access(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "cli.sqlite3"
    monkeypatch.setenv("FAIRVIEW_DATABASE_URL", f"sqlite:///{db}")
    store = open_store(f"sqlite:///{db}", synchronous="NORMAL")
    refs, planted = _population(store, at_ms=int(time.time() * 1000))  # the CLI runs now
    history = tmp_path / "history.jsonl"
    lines = [
        {"user_ref": v.user_ref, "video_id": v.video_id} for v in _history(store, refs, planted)
    ]
    lines.append({"user_ref": refs[7], "video": {"id": "new", "title": "Weekend hiking trip"}})
    history.write_text("\n".join(orjson.dumps(line).decode() for line in lines) + "\n")
    store.close()
    runner = CliRunner()
    ran = runner.invoke(
        app,
        ["jobs", "cohorts", "--history", str(history), "--k-min", "100", "--clusters", "16",
         "--seed", "11", "--json"],
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    job = orjson.loads(ran.stdout)
    assert job["status"] == SERVED and job["served"] > 0 and job["k_min"] == 100
    assert any("below the default" in n for n in job["notes"])
    assert not re.search(r"[0-9a-f]{64}", ran.stdout)  # the job prints no viewer
    audit = orjson.loads(runner.invoke(app, ["cohorts", "audit", "--json"]).stdout)
    assert audit["run"] == job["run"] and len(audit["audit"]) == job["cohorts"]
    served = next(c for c in audit["audit"] if c["served"])
    refused = runner.invoke(
        app, ["cohorts", "members", served["cohort"], "--actor", "x", "--purpose", "because"]
    )
    assert refused.exit_code == 2 and "purpose_required" in refused.output
    listed = runner.invoke(
        app,
        ["cohorts", "members", served["cohort"], "--actor", "dpo",
         "--purpose", "DSAR 2026-118 access request"],
    )  # fmt: skip
    assert listed.exit_code == 0
    assert len(listed.stdout.split()) == served["size"]
    store = open_store(f"sqlite:///{db}", synchronous="NORMAL")
    assert [e.action for e in store.audit.entries()] == ["cohort.members.read"]
    assert store.audience.videos(["new"])["new"].method  # classified from the history's metadata
    store.close()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"video_id": "x"}\n')
    failed = runner.invoke(app, ["jobs", "cohorts", "--history", str(bad), "--k-min", "100"])
    assert failed.exit_code == 2 and "bad_history_line" in failed.output


def test_the_disclosure_says_whether_the_profile_was_used() -> None:
    from fairview.serve.why import explain

    used = explain(
        {"mode": "personalised", "personalised": True, "matched": ["interest cohort: 7"]}
    )
    assert used[0].startswith("Chosen with your interest profile")
    unused = explain({"mode": "personalised", "personalised": False})
    assert "not chosen with your interest profile" in unused[0]


def test_interest_targeting_follows_cohort_labels_across_epochs(
    client: TestClient, store: Store, planted_run: tuple[JobResult, list[str], set[str]]
) -> None:
    result, refs, _ = planted_run
    cohort_of = {r: store.cohorts.cohort_of(PSEUDONYMS.viewer_key(r)) for r in refs}
    served = {str(c.id): c for c in result.served}
    member = next(r for r in refs if cohort_of[r] in served)
    label = served[cohort_of[member]].topics[0]
    outsider = next(
        r for r in refs if cohort_of[r] in served and label not in served[cohort_of[r]].topics
    )
    headers = advertiser(client)
    campaign = live_campaign(client, headers, targeting={"interests": [label]})
    [ad] = _ads(client, member)
    assert ad["campaign"] == campaign
    assert ad["disclosure"]["parameters"][0].startswith("Chosen with your interest profile")
    assert _ads(client, outsider) == []
    # A parent topic reaches the cohorts labelled with its subtopics.
    parent = tx.ancestors(label)[-1]
    client.put(f"/v1/campaigns/{campaign}/targeting", json={"interests": [parent]}, headers=headers)
    assert [a["campaign"] for a in _ads(client, member)] == [campaign]
    # Next epoch: new cohort ids, and the same campaign still finds its viewers.
    again = _run(store, _history(store, refs, set(refs[:PLANTED])), seed=99)
    assert {str(c.id) for c in again.served}.isdisjoint(served)
    labelled = {str(c.id) for c in again.served if parent in {tx.root_of(t) for t in c.topics}}
    assert labelled
    reached = next(r for r in refs if store.cohorts.cohort_of(PSEUDONYMS.viewer_key(r)) in labelled)
    assert [a["campaign"] for a in _ads(client, reached)] == [campaign]


@pytest.mark.parametrize("topic", [999_999, next(iter(tx.sensitive_topics()))])
def test_interests_must_be_allowlisted_topics(client: TestClient, topic: int) -> None:
    body = {"name": "x", "billing_model": "cpfv", "bid": 5, "budget_total": 100,
            "starts_at": "2026-09-01T00:00:00Z", "ends_at": "2026-12-31T00:00:00Z",
            "targeting": {"interests": [topic]}}  # fmt: skip
    r = client.post("/v1/campaigns", json=body, headers=advertiser(client))
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "unknown_interest"
