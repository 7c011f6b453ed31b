"""Ranking: expected value, both rankers, and a small side-by-side in the simulator."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pytest

from fairview.domain import BillingModel, CampaignRecord, Candidate, CreativeRecord
from fairview.serve.model import Features, Target
from fairview.serve.ranking import BidOnlyRanker, ExpectedValueRanker, expected_value
from fairview.serve.targeting import Context

CONTEXT = Context("feed", "EU-DE", None, "mobile", ("483",), None, 1_000)


def _candidate(cid: str, model: BillingModel, bid: int, *durations_ms: int) -> Candidate:
    campaign = CampaignRecord(cid, "adv", cid, model, bid, 10_000, None, 0, 10**13, "active", 0, 0)
    creatives = tuple(
        CreativeRecord(f"{cid}-{i}", cid, "spot", d, "https://cdn.example/a.mp4", 0)
        for i, d in enumerate(durations_ms)
    )
    return Candidate(campaign, creatives)


class _Stub:
    """P depends on the creative duration only: {duration_ms: p}."""

    def __init__(self, p: dict[int, float]) -> None:
        self.p = p
        self.calls: list[Target] = []

    def features(self, *, campaign_id: str, creative_duration_ms: int, **_: object) -> Features:
        return Features(creative_duration_ms / 1000, "feed", "483", "mobile", 0, None, 0.5)

    def predict(self, batch: Sequence[Features], target: Target) -> npt.NDArray[np.float64]:
        self.calls.append(target)
        return np.array([self.p[round(f.creative_duration_s * 1000)] for f in batch])


def test_expected_value_per_billing_model() -> None:
    assert expected_value(BillingModel.CPFV, 10, 0.4) == pytest.approx(4.0)
    assert expected_value(BillingModel.CPM_VIEWABLE, 1500, 0.6) == pytest.approx(0.9)


def test_bid_only_puts_bids_on_one_scale_and_breaks_ties_by_id() -> None:
    cpm = _candidate("a", BillingModel.CPM_VIEWABLE, 1500, 15_000)  # 1.5 per viewable
    low = _candidate("c", BillingModel.CPFV, 5, 15_000)
    tie = _candidate("b", BillingModel.CPFV, 5, 15_000)
    order = BidOnlyRanker().order([cpm, low, tie], CONTEXT)
    assert [r.candidate.campaign.id for r in order] == ["b", "c", "a"]
    assert all(r.p == 1.0 for r in order)


def test_bid_only_rotates_creatives_with_time() -> None:
    c = _candidate("a", BillingModel.CPFV, 5, 15_000, 20_000)
    assert BidOnlyRanker().order([c], CONTEXT)[0].creative.id == "a-0"  # 1000 % 2
    later = dataclasses.replace(CONTEXT, now_ms=1_001)
    assert BidOnlyRanker().order([c], later)[0].creative.id == "a-1"


def test_expected_value_orders_by_bid_times_p_and_picks_the_best_creative() -> None:
    stub = _Stub({1_500: 0.7, 15_000: 0.3, 20_000: 0.2})
    high_bid = _candidate("a", BillingModel.CPFV, 10, 20_000)  # 10 x 0.2 = 2.0
    low_bid = _candidate("b", BillingModel.CPFV, 5, 15_000, 1_500)  # 5 x 0.7 = 3.5
    cpm = _candidate("c", BillingModel.CPM_VIEWABLE, 1000, 15_000)  # 1 x 0.3 = 0.3
    order = ExpectedValueRanker(stub).order([high_bid, cpm, low_bid], CONTEXT)
    assert [r.candidate.campaign.id for r in order] == ["b", "a", "c"]
    assert order[0].creative.id == "b-1"
    assert order[0].value == pytest.approx(3.5)
    assert sorted(stub.calls) == [Target.FOCUSED_VIEW, Target.VIEWABLE]  # one call per target


def test_expected_value_ties_break_by_per_event_bid_then_id() -> None:
    stub = _Stub({15_000: 0.5, 10_000: 1.0})
    a = _candidate("a", BillingModel.CPFV, 10, 10_000)  # 10 x 1.0 = 10
    b = _candidate("b", BillingModel.CPFV, 20, 15_000)  # 20 x 0.5 = 10, higher bid
    order = ExpectedValueRanker(stub).order([a, b], CONTEXT)
    assert [r.candidate.campaign.id for r in order] == ["b", "a"]


def test_candidates_without_creatives_are_dropped() -> None:
    empty = Candidate(_candidate("a", BillingModel.CPFV, 5).campaign, ())
    assert BidOnlyRanker().order([empty], CONTEXT) == []
    assert ExpectedValueRanker(_Stub({})).order([empty], CONTEXT) == []


def _bench() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "bench" / "ranking.py"
    spec = importlib.util.spec_from_file_location("bench_ranking", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_side_by_side_expected_value_beats_bid_only() -> None:
    result = _bench().run(3, users=300, history_per_user=10, eval_per_user=4)
    bid, ev = result["bid_only"], result["expected_value"]
    assert bid["deliveries"] == ev["deliveries"] > 1000
    assert ev["value_per_1000"] >= bid["value_per_1000"]
    assert ev["focus_rate"] > bid["focus_rate"]
