"""The retention job: each registry category's period, on every engine, with a clock."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from fairview.cli import app
from fairview.consent.policy import Measurement, Mode, Permissions
from fairview.domain import DeliveryRecord
from fairview.registry import RETENTION, retention_days
from fairview.rights.requests import Kind, received
from fairview.rights.retention import run_retention
from fairview.storage import Store, open_store
from fairview.storage.consents import ConsentEvidence
from fairview.storage.eventlog import Refusal
from fairview.storage.frequency import MAX_WINDOW_DAYS, RedisFrequency
from fairview.storage.schema import (
    Base,
    Delivery,
    EventRecord,
    LedgerEntry,
    RepositoryReach,
    Settlement,
)

from factories import DAY_MS, T0, campaign, watched

PERSONALISED = Permissions(Mode.PERSONALISED, True, Measurement.USER, frozenset(), ("D02",))
DAYS = retention_days()


def _count(store: Store, table: str) -> int:
    model = Base.metadata.tables[table]
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def _viewer(store: Store, viewer: str, at_ms: int, n: int) -> str:
    """One viewer's data in every table, all dated `at_ms`; returns the campaign id."""
    camp, creative = campaign(store)
    delivery = DeliveryRecord(
        f"dl_{viewer}_{n}", camp.id, creative.id, "feed", viewer, "EU-DE", "mobile",
        "personalised", 15_000, at_ms, {"mode": "personalised"},
    )  # fmt: skip
    store.deliveries.record(delivery)
    events = [e._replace(received_ms=at_ms + 20_000) for e in watched(delivery.id, 3.0)]
    refusal = Refusal(at_ms, delivery.id, 99, "bad_type", "type", "unknown type", "{}")
    store.events.append(events, [refusal])
    with store.engine.begin() as conn:
        conn.execute(insert(LedgerEntry).values(
            delivery_id=delivery.id, campaign_id=camp.id, kind="focused_view", amount=10,
            unbilled_amount=0, day="2026-09-21", created_ms=at_ms,
        ))  # fmt: skip
        conn.execute(insert(RepositoryReach).values(
            creative_id=creative.id, region="DE", reach=1.0, ci_low=0.0, ci_high=2.0,
            epsilon=1.0, computed_ms=at_ms,
        ))  # fmt: skip
    store.frequency.add(viewer, camp.id, at_ms)
    store.audience.add_watch(viewer, 1, {173: 30.0}, at_ms, permissions=PERSONALISED)
    store.audience.remove_topic(viewer, 332, at_ms)
    store.audience.set_paused(viewer, False, at_ms)
    store.consents.object(viewer, "objection", at_ms)
    store.consents.record(ConsentEvidence(
        viewer, at_ms, "EU-DE", "tc", None, None, None, None, False, "personalised", "D02"
    ))  # fmt: skip
    answered = received(Kind.ACCESS, viewer, at_ms)
    store.rights.open(dataclasses.replace(answered, status="completed", completed_ms=at_ms))
    store.rights.open(received(Kind.ERASURE, None, at_ms))  # never completed: kept
    return camp.id


def test_each_category_expires_after_its_period_and_only_then(store: Store) -> None:
    _viewer(store, "v-old", T0, 1)
    store.deliveries.record(
        dataclasses.replace(
            store.deliveries.get("dl_v-old_1"), id="dl_fresh", issued_ms=T0 + 400 * DAY_MS
        )
    )  # fmt: skip  (the creative is shown again later, so its repository figures stay)

    at_36 = run_retention(store, DAYS, T0 + 36 * DAY_MS)
    assert at_36.removed["events"] == 14 and at_36.removed["failed_events"] == 1
    assert at_36.removed["frequency_events"] == 1 and at_36.removed["interest_watch"] == 1
    assert at_36.removed["deliveries"] == at_36.removed["consent_records"] == 0
    assert run_retention(store, DAYS, T0 + 36 * DAY_MS).total == 0  # idempotent

    at_400 = run_retention(store, DAYS, T0 + 400 * DAY_MS)
    assert at_400.removed["deliveries"] == 1 and at_400.removed["settlements"] == 1
    assert _count(store, "ledger") == 1  # the accounting period runs longer
    assert at_400.removed["repository_reach"] == 0  # shown again at day 400

    at_1100 = run_retention(store, DAYS, T0 + 1100 * DAY_MS)
    assert at_1100.removed["rights_requests"] == 1  # the completed one; the open one stays
    assert at_1100.removed["repository_reach"] == 1
    assert _count(store, "rights_requests") == 1
    for kept in ("objections", "interest_blocks", "viewer_settings"):
        assert _count(store, kept) == 1, f"{kept} has no automatic expiry"
    assert run_retention(store, DAYS, T0 + 3660 * DAY_MS).removed["ledger"] == 1


def test_a_dry_run_counts_what_a_run_then_removes(store: Store) -> None:
    _viewer(store, "v1", T0, 1)
    _viewer(store, "v2", T0 + 30 * DAY_MS, 2)
    now = T0 + 40 * DAY_MS
    dry = run_retention(store, DAYS, now, dry_run=True)
    assert dry.dry_run and dry.storage_compacted is None and _count(store, "events") == 28
    real = run_retention(store, DAYS, now)
    assert real.removed == dry.removed and real.total == dry.total > 0
    assert _count(store, "events") == 14


def test_periods_are_configurable_per_category(store: Store) -> None:
    _viewer(store, "v1", T0, 1)
    assert run_retention(store, DAYS, T0 + 8 * DAY_MS).removed["events"] == 0
    short = retention_days({"raw_events": 7})
    assert run_retention(store, short, T0 + 8 * DAY_MS).removed["events"] == 14


def test_expiry_deletes_in_batches(store: Store) -> None:
    for n in range(3):
        _viewer(store, f"v{n}", T0, n)
    cutoffs = dict.fromkeys(RETENTION, T0 + DAY_MS)
    assert store.rights.expire(cutoffs, batch=5)["events"] == 42
    assert _count(store, "events") == 0


def test_the_redis_counters_expire_with_the_job(store: Store) -> None:
    from redis import Redis

    client = Redis.from_url("redis://127.0.0.1:6379/0")
    prefix = f"fvtest-{secrets.token_hex(6)}"
    try:
        counters = RedisFrequency(client, prefix=f"{prefix}:freq")
        counters.add("v1", "c1", T0)
        counters.add("v1", "c2", T0 + 40 * DAY_MS)
        scaled = dataclasses.replace(store, frequency=counters)
        report = run_retention(scaled, DAYS, T0 + 40 * DAY_MS)
        assert report.removed["frequency_counters"] == 1
        assert counters.entries("v1") == [("c2", T0 + 40 * DAY_MS)]
        assert (
            run_retention(scaled, DAYS, T0 + 40 * DAY_MS, dry_run=True).removed[
                "frequency_counters"
            ]
            is None
        )  # Redis cannot count without deleting
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_the_frequency_period_is_the_counters_window() -> None:
    assert RETENTION["frequency"].default_days == MAX_WINDOW_DAYS
    with pytest.raises(ValueError, match="fixed"):
        retention_days({"frequency": 7})
    with pytest.raises(ValueError, match="unknown retention category 'events'"):
        retention_days({"events": 7})
    with pytest.raises(ValueError, match="at least 1 day"):
        retention_days({"raw_events": 0})


def test_each_run_is_in_the_audit_log(store: Store) -> None:
    run_retention(store, DAYS, T0)
    run_retention(store, DAYS, T0, dry_run=True)
    entries = list(store.audit.entries(action="retention.run"))
    assert len(entries) == 1 and entries[0].detail["days"] == DAYS


def test_the_command_reports_and_deletes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'r.sqlite3'}"
    store = open_store(url, synchronous="NORMAL")
    _viewer(store, "ancient", 1_000, 1)  # far past every period
    _viewer(store, "future", 9_000_000_000_000, 2)  # far ahead of the machine's clock
    store.close()
    monkeypatch.setenv("FAIRVIEW_DATABASE_URL", url)
    runner = CliRunner()
    dry = runner.invoke(app, ["jobs", "retention", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    counted = orjson.loads(dry.output)
    assert counted["dry_run"] is True and counted["removed"]["events"] == 14
    done = runner.invoke(app, ["jobs", "retention", "--json"])
    assert orjson.loads(done.output)["removed"] == counted["removed"]
    again = runner.invoke(app, ["jobs", "retention"])
    assert again.exit_code == 0 and "0 rows removed" in again.output
    store = open_store(url)
    with store.engine.connect() as conn:
        left = conn.execute(select(func.count()).select_from(EventRecord)).scalar_one()
        deliveries = conn.execute(select(Delivery.id)).scalars().all()
        settled = conn.execute(select(func.count()).select_from(Settlement)).scalar_one()
    store.close()
    assert (left, deliveries, settled) == (14, ["dl_future_2"], 1)
    monkeypatch.setenv("FAIRVIEW_RETENTION_DAYS", '{"raw_events": 0}')
    refused = runner.invoke(app, ["jobs", "retention"])
    assert refused.exit_code == 2 and "at least 1 day" in refused.output
