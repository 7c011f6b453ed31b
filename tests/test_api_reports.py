"""Advertiser reports over HTTP: DP cells, the persisted privacy budget, exact billing.

Everything runs against the real app on the real store (SQLite and PostgreSQL).
PipelineDP's noise cannot be seeded, so accuracy is judged on the median of
several reports: with b = 12.5 at the default ε, one report misses 5 % of
1,000 with probability e^-4 ≈ 1.8 %, the median of five with about 6e-5.
"""

from __future__ import annotations

import hashlib
import re
import statistics
import threading
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fairview.api.app import create_app
from fairview.api.reports import EPSILON_PER_REPORT_MAX, MAX_REPORT_DAYS
from fairview.attention.verdict import Verdict
from fairview.clock import ShiftedClock
from fairview.domain import BillingModel, CampaignRecord, CreativeRecord, DeliveryRecord
from fairview.errors import FairviewError
from fairview.report import DEFAULT_CONFIG, DEFAULT_EPSILON_PER_PERIOD, PERIOD_DAYS
from fairview.storage import Store
from fairview.storage.reports import BudgetLimits
from fairview.storage.settlement import DueDelivery

from conftest import make_settings
from factories import DAY_MS, T0, campaign

TODAY = date(2026, 9, 21)  # the UTC day of T0, the test clock's start
BIG_DAY = date(2026, 9, 15)
BIG, SMALL = 1_000, 99  # viewers: released at default ε / below pre_threshold
BID = 10
PERIOD = {"from": "2026-09-01", "to": "2026-09-21"}
HEX64 = re.compile(r"[0-9a-f]{64}")


def _ms(day: date, hour: int = 12) -> int:
    return (day - date(1970, 1, 1)).days * DAY_MS + hour * 3_600_000


@dataclass
class Planted:
    headers: dict[str, str]
    advertiser_id: str
    campaign: CampaignRecord
    viewer_keys: list[str]
    delivery_ids: list[str]
    deliveries: int
    focused: int
    spend: int


def _viewer(prefix: str, i: int) -> str:
    return hashlib.sha256(f"{prefix}-{i}".encode()).hexdigest()


def _account(store: Store, name: str = "Acme") -> tuple[str, dict[str, str]]:
    record, key = store.catalog.create_advertiser(name, "EUR", T0)
    return record.id, {"Authorization": f"Bearer {key}"}


def _deliver(
    store: Store,
    camp: CampaignRecord,
    creative: CreativeRecord,
    spec: list[tuple[str, str | None, date, str, str | None, str]],
) -> None:
    """Record deliveries (id, viewer, day, region, cohort, outcome) and settle them."""
    records = [
        DeliveryRecord(
            did,
            camp.id,
            creative.id,
            "feed",
            viewer,
            region,
            "mobile",
            "personalised" if cohort else "non_personalised",
            creative.duration_ms,
            _ms(day),
            {"mode": "personalised", "cohort": cohort, "matched": []},
        )
        for did, viewer, day, region, cohort, _ in spec
    ]
    store.deliveries.record_many(records)
    verdicts = [
        (
            DueDelivery(r.id, camp.id, camp.billing_model, r.duration_ms, r.issued_ms, False),
            _verdict(r.id, outcome),
        )
        for r, (*_, outcome) in zip(records, spec, strict=True)
    ]
    store.settlement.post(verdicts, T0)


def _verdict(delivery_id: str, outcome: str) -> Verdict:
    if outcome == "focused":
        return Verdict(delivery_id, True, "watch", 5.0, 15.0, 15.0, "viewable", False, None)
    if outcome == "invalid":
        return Verdict(delivery_id, False, None, None, 0.0, 0.0, "undetermined", True, "x")
    return Verdict(delivery_id, False, None, None, 1.0, 1.0, "not_viewable", False, None)


def _plant(store: Store, name: str = "Acme", prefix: str = "viewer") -> Planted:
    """1,000 viewers in (BIG_DAY, EU-DE, c1), 99 in (BIG_DAY, EU-FR, c1), and 40
    deliveries without a pseudonym the next day, some invalid."""
    advertiser_id, headers = _account(store, name)
    camp, creative = campaign(store, bid=BID, budget=10**9, advertiser=advertiser_id)
    spec: list[tuple[str, str | None, date, str, str | None, str]] = []
    keys = []
    for i in range(BIG + SMALL):
        key = _viewer(prefix, i)
        keys.append(key)
        region = "EU-DE" if i < BIG else "EU-FR"
        outcome = "focused" if i % 2 == 0 else "seen"
        spec.append((f"dl_{prefix}_{i}", key, BIG_DAY, region, "c1", outcome))
    for i in range(40):
        outcome = ("focused", "seen", "invalid", "invalid")[i % 4]
        day = BIG_DAY + timedelta(days=1)
        spec.append((f"dl_{prefix}_anon_{i}", None, day, "EU-DE", None, outcome))
    _deliver(store, camp, creative, spec)
    focused = sum(1 for *_, o in spec if o == "focused")
    return Planted(
        headers, advertiser_id, camp, keys, [s[0] for s in spec], len(spec), focused, focused * BID
    )


@pytest.fixture
def planted(store: Store) -> Planted:
    return _plant(store)


def _report(client: TestClient, headers: dict[str, str], **params: Any) -> Any:
    return client.get("/v1/reports/delivery", params={**PERIOD, **params}, headers=headers)


def _spent(client: TestClient, headers: dict[str, str]) -> float:
    r = client.get("/v1/reports/budget", headers=headers)
    assert r.status_code == 200, r.text
    spent: float = r.json()["epsilon_spent"]
    return spent


# -- accuracy, suppression, intervals ------------------------------------------------------


def test_large_cell_within_five_percent_and_small_cell_never_released(
    client: TestClient, planted: Planted
) -> None:
    reach = []
    for n in range(5):
        r = _report(client, planted.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["privacy"]["epsilon"] == DEFAULT_CONFIG.epsilon
        assert body["privacy"]["epsilon_remaining"] == pytest.approx(
            DEFAULT_EPSILON_PER_PERIOD - (n + 1)
        )
        cells = {(c["day"], c["region"], c["cohort"]): c for c in body["cells"]}
        # 99 viewers is below pre_threshold: never released; 40 unlinked deliveries neither.
        assert set(cells) <= {(BIG_DAY.isoformat(), "EU-DE", "c1")}
        big = cells[(BIG_DAY.isoformat(), "EU-DE", "c1")]
        for metric in ("reach", "deliveries", "focused_views", "spend"):
            est = big[metric]
            assert set(est) == {"value", "ci_low", "ci_high"}
            # The noise may push a value below 0; the interval's low end stays at 0 then.
            assert 0 <= est["ci_low"] <= est["ci_high"] and est["value"] <= est["ci_high"]
            assert est["ci_low"] <= est["value"] or est["ci_low"] == 0
        # The 95 % noise interval of reach at the default ε is ±12.5·ln 20 ≈ ±37.4.
        assert big["reach"]["ci_high"] - big["reach"]["value"] <= 0.05 * BIG
        reach.append(big["reach"]["value"])
    assert abs(statistics.median(reach) - BIG) / BIG <= 0.05, reach


def test_report_states_config_and_exact_totals_apart(client: TestClient, planted: Planted) -> None:
    body = _report(client, planted.headers, grain="day").json()
    assert body["period"] == {"from": "2026-09-01", "to": "2026-09-21", "days": 21}
    assert body["grain"] == "day" and body["campaigns"] is None
    assert body["config"]["confidence"] == 0.95
    assert body["config"]["pre_threshold"] == DEFAULT_CONFIG.pre_threshold
    assert body["config"]["bounds"] == {
        "reach": 1,
        "deliveries": 3,
        "focused_views": 3,
        "spend": 100,
        "max_partitions_contributed": 5,
    }
    assert body["totals"] == {
        "exact": True,
        "deliveries": planted.deliveries,
        "focused_views": planted.focused,
        "spend": planted.spend,
        "currency": "EUR",
    }
    # At the day grain the 99 viewers of EU-FR join the 1,000: one rolled-up cell.
    assert [(c["day"], c["region"], c["cohort"]) for c in body["cells"]] == [
        (BIG_DAY.isoformat(), "*", "*")
    ]
    assert body["privacy"]["delta"] == DEFAULT_CONFIG.delta
    assert body["privacy"]["period_days"] == PERIOD_DAYS


def test_campaign_filter_and_empty_period_still_costs(client: TestClient, planted: Planted) -> None:
    own = _report(client, planted.headers, campaign=[planted.campaign.id, planted.campaign.id])
    assert own.status_code == 200 and own.json()["campaigns"] == [planted.campaign.id]
    assert own.json()["totals"]["deliveries"] == planted.deliveries
    empty = client.get(
        "/v1/reports/delivery",
        params={"from": "2026-01-01", "to": "2026-01-31", "epsilon": 0.5},
        headers=planted.headers,
    )
    assert empty.status_code == 200, empty.text
    body = empty.json()
    assert body["cells"] == [] and body["totals"]["deliveries"] == 0
    # The emptiness is information too, so it is charged like any other report.
    assert body["privacy"]["epsilon"] == 0.5
    assert _spent(client, planted.headers) == pytest.approx(1.5)


# -- the privacy budget --------------------------------------------------------------------


def test_exhausted_budget_answers_429_and_changes_nothing(client: TestClient, store: Store) -> None:
    advertiser_id, headers = _account(store)
    for _ in range(8):
        assert _report(client, headers).status_code == 200
    assert _report(client, headers, epsilon=0.5).status_code == 200
    before = client.get("/v1/reports/budget", headers=headers).json()
    assert before["epsilon_spent"] == pytest.approx(8.5) and len(before["charges"]) == 9

    r = _report(client, headers)
    assert r.status_code == 429
    body = r.json()
    assert body["error"] == "privacy_budget_exhausted"
    assert body["epsilon_remaining"] == pytest.approx(0.5)
    assert body["retry_on"] == (TODAY + timedelta(days=PERIOD_DAYS)).isoformat()
    assert "0.5" in body["detail"] and body["retry_on"] in body["detail"]
    assert 0 < int(r.headers["Retry-After"]) <= PERIOD_DAYS * 86_400
    assert client.get("/v1/reports/budget", headers=headers).json() == before
    assert len(store.reports.charges(advertiser_id, TODAY - timedelta(days=60))) == 9

    # What is left still buys a smaller report, and then nothing more does.
    assert _report(client, headers, epsilon=0.5).status_code == 200
    assert _report(client, headers, epsilon=0.01).status_code == 429
    after = client.get("/v1/reports/budget", headers=headers).json()
    assert after["epsilon_remaining"] == 0 and after["epsilon_spent"] == pytest.approx(9.0)


def test_budget_endpoint_lists_charges(client: TestClient, store: Store) -> None:
    _, headers = _account(store)
    assert _report(client, headers, grain="day_region", epsilon=0.25).status_code == 200
    body = client.get("/v1/reports/budget", headers=headers).json()
    assert body["day"] == TODAY.isoformat() and body["period_days"] == PERIOD_DAYS
    assert body["period"] == {
        "from": (TODAY - timedelta(days=PERIOD_DAYS - 1)).isoformat(),
        "to": TODAY.isoformat(),
        "days": PERIOD_DAYS,
    }
    assert body["epsilon_per_period"] == DEFAULT_EPSILON_PER_PERIOD
    assert body["epsilon_remaining"] == pytest.approx(DEFAULT_EPSILON_PER_PERIOD - 0.25)
    assert body["delta_spent"] == pytest.approx(DEFAULT_CONFIG.delta)
    [charge] = body["charges"]
    assert charge["day"] == TODAY.isoformat() and charge["epsilon"] == 0.25
    assert charge["report"] == "delivery day_region 2026-09-01..2026-09-21, all campaigns"


def test_budget_persists_across_app_instances(
    client: TestClient, store: Store, clock: ShiftedClock
) -> None:
    _, headers = _account(store)
    _, others = _account(store, "Other")
    for _ in range(3):
        assert _report(client, headers).status_code == 200
    fresh = create_app(make_settings(), store=store, clock=clock)
    with TestClient(fresh, raise_server_exceptions=False) as again:
        assert _spent(again, headers) == pytest.approx(3.0)
        assert _spent(again, others) == 0  # budgets are per advertiser
        for _ in range(6):
            assert _report(again, headers).status_code == 200
        assert _report(again, headers).status_code == 429
    assert _report(client, headers).status_code == 429


def test_the_window_slides(store: Store) -> None:
    limits = BudgetLimits()
    advertiser_id, _ = _account(store)
    for day in range(9):
        store.reports.charge(
            advertiser_id, TODAY + timedelta(days=day), 1.0, 1e-9, report="r", at_ms=T0
        )
    with pytest.raises(FairviewError) as refused:
        store.reports.charge(
            advertiser_id, TODAY + timedelta(days=29), 1.0, 1e-9, report="r", at_ms=T0
        )
    assert refused.value.extra["retry_on"] == (TODAY + timedelta(days=30)).isoformat()
    ledger = store.reports.charge(
        advertiser_id, TODAY + timedelta(days=30), 1.0, 1e-9, report="r", at_ms=T0
    )
    assert ledger.spent(advertiser_id, TODAY + timedelta(days=30))[0] == pytest.approx(9.0)
    assert store.reports.budget(advertiser_id, TODAY + timedelta(days=30), limits).remaining(
        advertiser_id, TODAY + timedelta(days=30)
    ) == pytest.approx(0.0)


def test_concurrent_reports_never_overspend(client: TestClient, store: Store) -> None:
    advertiser_id, headers = _account(store)
    barrier = threading.Barrier(16)

    def ask(_: int) -> int:
        barrier.wait()
        status: int = _report(client, headers).status_code
        return status

    with ThreadPoolExecutor(16) as pool:
        statuses = sorted(pool.map(ask, range(16)))
    assert statuses == [200] * 9 + [429] * 7
    charges = store.reports.charges(advertiser_id, TODAY - timedelta(days=60))
    assert sum(c.epsilon for c in charges) == pytest.approx(DEFAULT_EPSILON_PER_PERIOD)


def test_concurrent_charges_in_the_store_never_overspend(store: Store) -> None:
    advertiser_id, _ = _account(store)
    barrier = threading.Barrier(24)

    def charge(_: int) -> str:
        barrier.wait()
        try:
            store.reports.charge(advertiser_id, TODAY, 0.7, 1e-10, report="race", at_ms=T0)
        except FairviewError as exc:
            return exc.code
        return "charged"

    with ThreadPoolExecutor(24) as pool:
        outcomes = sorted(pool.map(charge, range(24)))
    # 12 × 0.7 = 8.4; a 13th would make 9.1
    assert outcomes == ["charged"] * 12 + ["privacy_budget_exhausted"] * 12
    charges = store.reports.charges(advertiser_id, TODAY)
    assert len(charges) == 12 and sum(c.epsilon for c in charges) <= DEFAULT_EPSILON_PER_PERIOD


# -- ownership and validation --------------------------------------------------------------


def test_another_advertisers_campaign_is_not_found(
    client: TestClient, store: Store, planted: Planted
) -> None:
    _, stranger = _account(store, "Stranger")
    theirs = _report(client, stranger, campaign=planted.campaign.id)
    missing = _report(client, stranger, campaign="cmp_" + "0" * 20)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"] == missing.json()["error"] == "campaign_not_found"
    assert theirs.json()["detail"].replace(planted.campaign.id, "X") == missing.json()[
        "detail"
    ].replace("cmp_" + "0" * 20, "X")
    assert _spent(client, stranger) == 0  # refused before the budget is charged


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"from": "2026-13-01"}, "from", "not_date"),
        ({"from": "tomorrow"}, "from", "not_date"),
        ({"to": "2026-09-21T00:00:00Z"}, "to", "not_date"),
        ({"from": "2026-09-22", "to": "2026-09-21"}, "to", "before_from"),
        ({"from": "2026-01-01", "to": "2026-06-30"}, "to", "period_too_long"),
        ({"epsilon": "0"}, "epsilon", "too_small"),
        ({"epsilon": "-1"}, "epsilon", "too_small"),
        ({"epsilon": str(EPSILON_PER_REPORT_MAX + 0.5)}, "epsilon", "too_large"),
        ({"epsilon": "lots"}, "epsilon", "not_number"),
        ({"epsilon": "nan"}, "epsilon", "not_number"),
        ({"grain": "week"}, "grain", "not_allowed"),
        ({"campaign": [f"cmp_{i}" for i in range(101)]}, "campaign", "too_many"),
    ],
)
def test_bad_inputs_have_stable_codes(
    client: TestClient, store: Store, params: dict[str, Any], field: str, code: str
) -> None:
    _, headers = _account(store)
    r = _report(client, headers, **params)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "validation_error"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)]
    assert body["detail"].startswith("The request has invalid fields: ")
    assert _spent(client, headers) == 0


def test_missing_dates_and_keys(client: TestClient, store: Store) -> None:
    _, headers = _account(store)
    r = client.get("/v1/reports/delivery", params={"to": "2026-09-01"}, headers=headers)
    assert (r.status_code, r.json()["errors"][0]["field"], r.json()["errors"][0]["code"]) == (
        422,
        "from",
        "required",
    )
    assert client.get("/v1/reports/delivery", params=PERIOD).status_code == 401
    assert client.get("/v1/reports/budget").status_code == 401
    assert client.get("/v1/reports/billing", params=PERIOD).status_code == 401
    longest = {"from": "2026-01-01", "to": str(date(2026, 1, 1) + timedelta(MAX_REPORT_DAYS - 1))}
    assert client.get("/v1/reports/delivery", params=longest, headers=headers).status_code == 200


# -- exact billing -------------------------------------------------------------------------


def test_billing_totals_equal_the_ledger_exactly(
    client: TestClient, store: Store, planted: Planted
) -> None:
    other = _plant(store, "Other", prefix="other")
    # A second campaign of the same advertiser, with spend on another day.
    camp, creative = campaign(store, bid=7, budget=10**9, advertiser=planted.advertiser_id)
    later = BIG_DAY + timedelta(days=3)
    _deliver(
        store,
        camp,
        creative,
        [(f"dl_second_{i}", None, later, "EU-DE", None, "focused") for i in range(5)],
    )
    expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for entry in store.settlement.ledger():
        if entry["campaign_id"] in (planted.campaign.id, camp.id):
            acc = expected[(str(entry["campaign_id"]), str(entry["day"]))]
            acc[0] += 1
            acc[1] += int(str(entry["amount"]))
            acc[2] += int(str(entry["unbilled_amount"]))

    r = client.get("/v1/reports/billing", params=PERIOD, headers=planted.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["exact"] is True and body["currency"] == "EUR"
    got = {
        (x["campaign_id"], x["day"]): [x["entries"], x["amount"], x["unbilled_amount"]]
        for x in body["lines"]
    }
    assert got == dict(expected)
    assert body["totals"]["amount"] == planted.spend + 5 * 7
    assert other.campaign.id not in {x["campaign_id"] for x in body["lines"]}
    # The delivery report's exact spend is the same ledger money.
    report = _report(client, planted.headers, campaign=planted.campaign.id).json()
    assert report["totals"]["spend"] == sum(
        v[1] for (cid, _), v in expected.items() if cid == planted.campaign.id
    )
    assert _spent(client, planted.headers) == pytest.approx(1.0)  # billing costs no ε
    bad = client.get(
        "/v1/reports/billing",
        params={"from": "2026-09-21", "to": "2026-09-01"},
        headers=planted.headers,
    )
    assert (bad.status_code, bad.json()["errors"][0]["code"]) == (422, "before_from")


# -- nothing per viewer ---------------------------------------------------------------------


def _responses(client: TestClient, planted: Planted, stranger: dict[str, str]) -> Iterator[str]:
    headers = planted.headers
    for grain in ("day_region_cohort", "day_region", "day"):
        yield _report(client, headers, grain=grain).text
    yield _report(client, headers, campaign=planted.campaign.id, epsilon=3).text
    yield _report(client, headers, epsilon=3).text  # the period's 9.0 is now spent
    yield _report(client, headers).text  # refused: 429
    yield _report(client, stranger, campaign=planted.campaign.id).text  # 404
    yield _report(client, headers, epsilon="x").text  # 422
    yield client.get("/v1/reports/budget", headers=headers).text
    yield client.get("/v1/reports/billing", params=PERIOD, headers=headers).text


def test_no_response_carries_anything_per_viewer(
    client: TestClient, store: Store, planted: Planted
) -> None:
    _, stranger = _account(store, "Stranger")
    texts = list(_responses(client, planted, stranger))
    assert len(texts) == 10 and '"privacy_budget_exhausted"' in texts[5]
    for text in texts:
        assert HEX64.search(text) is None, text[:300]
        assert not any(key in text for key in planted.viewer_keys)
        assert "viewer" not in text and "privacy_unit" not in text
        assert not any(f'"{p}' in text for p in ("v:", "d:", "dl_"))


# -- the store's report rows ---------------------------------------------------------------


def test_delivery_rows_one_per_delivery(store: Store, planted: Planted) -> None:
    rows = store.reports.delivery_rows(
        planted.advertiser_id, None, _ms(date(2026, 9, 1), 0), _ms(TODAY, 0)
    )
    assert len(rows) == planted.deliveries
    assert sum(r.focused for r in rows) == planted.focused  # invalid ones never count
    assert sum(r.spend for r in rows) == planted.spend
    units = {r.privacy_unit for r in rows}
    assert len(units) == planted.deliveries  # each unlinked delivery is its own unit
    assert {r.cohort for r in rows} == {"c1", None}
    assert {r.day for r in rows} == {BIG_DAY, BIG_DAY + timedelta(days=1)}
    # The end is exclusive, other campaigns and advertisers match nothing.
    assert store.reports.delivery_rows(planted.advertiser_id, None, 0, _ms(BIG_DAY, 0)) == []
    assert store.reports.delivery_rows(planted.advertiser_id, ["cmp_nope"], 0, T0 * 2) == []
    assert store.reports.delivery_rows("adv_nope", None, 0, T0 * 2) == []


def test_cohort_is_read_from_why_when_present(store: Store) -> None:
    advertiser_id, _ = _account(store)
    camp, creative = campaign(store, model=BillingModel.CPFV, advertiser=advertiser_id)
    rec = [
        DeliveryRecord("dl_w0", camp.id, creative.id, "feed", None, "EU-DE", "mobile", "m", 1, T0),
        DeliveryRecord(
            "dl_w1",
            camp.id,
            creative.id,
            "feed",
            None,
            "EU-DE",
            "mobile",
            "m",
            1,
            T0,
            {"cohort": 7},
        ),
    ]
    store.deliveries.record_many(rec)  # dl_w0 has no "why" at all; neither is settled
    rows = sorted(store.reports.delivery_rows(advertiser_id, [camp.id], T0, T0 + 1), key=str)
    assert [(r.cohort, r.focused, r.spend) for r in rows] == [(None, 0, 0), ("7", 0, 0)]
