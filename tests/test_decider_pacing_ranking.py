"""The decider obeys the pacer's throttle and, when configured, ranks by expected value."""

from __future__ import annotations

import random
from collections.abc import Sequence

from fairview.clock import day_of
from fairview.consent.signals import RawSignals
from fairview.domain import Candidate
from fairview.pseudonym import Pseudonymiser
from fairview.serve.decide import SELECTION_RANKED, AdRequest, Decider
from fairview.serve.pacing import Pacer, Uniform
from fairview.serve.ranking import BidOnlyRanker, Ranked
from fairview.serve.targeting import Context
from fairview.storage import Store
from fairview.tokens import TokenSigner

from factories import DAY_MS, T0, campaign, delivery

KEY = "test-signing-key-" + "k" * 32


class Blocks(Pacer):
    """A pacer that throttles the listed campaigns completely."""

    def __init__(self, blocked: set[str]) -> None:
        super().__init__()
        self.blocked = blocked

    def admit(self, campaign_id: str, rng: Uniform) -> bool:
        return campaign_id not in self.blocked


def _decider(store: Store, **kw: object) -> Decider:
    return Decider(store, TokenSigner(KEY, 10**9), Pseudonymiser("p" * 40), **kw)  # type: ignore[arg-type]


def _request(count: int = 1) -> AdRequest:
    return AdRequest("feed", None, "EU-DE", "mobile", count, RawSignals(region="EU-DE"))


def test_a_throttled_campaign_is_never_served(store: Store) -> None:
    a, _ = campaign(store)
    b, _ = campaign(store)
    decider = _decider(store, pacer=Blocks({a.id}))
    served = {decider.decide(_request(), T0).ads[0].delivery.campaign_id for _ in range(6)}
    assert served == {b.id}
    two = decider.decide(_request(count=2), T0).ads
    assert [ad.delivery.campaign_id for ad in two] == [b.id]
    decider.close()


def test_pacing_inputs_count_todays_pending_deliveries_and_spend(store: Store) -> None:
    camp, creative = campaign(store, daily=500, budget=5_000)
    for n in range(3):
        delivery(store, camp, creative, n=n)
    delivery(store, camp, creative, n=9, issued_ms=T0 - DAY_MS)  # yesterday
    got = store.settlement.pacing_inputs(day_of(T0))[camp.id]
    assert (got.pending_today, got.spent_today, got.settled, got.settled_amount) == (3, 0, 0, 0)


def test_the_real_pacer_is_updated_from_the_store(store: Store) -> None:
    camp, _ = campaign(store, daily=500, budget=5_000)
    pacer = Pacer()
    decider = _decider(store, pacer=pacer, rng=random.Random(1))
    assert decider.decide(_request(), T0).ads  # behind plan early in the day: served
    assert 0 < pacer.probability(camp.id) <= 1
    decider.close()


class Prefers:
    """A ranker that puts one campaign first, whatever the bids."""

    def __init__(self, first: str) -> None:
        self.first = first
        self.calls = 0

    def order(self, candidates: Sequence[Candidate], context: Context) -> list[Ranked]:
        self.calls += 1
        ranked = BidOnlyRanker().order(candidates, context)
        return sorted(ranked, key=lambda r: r.candidate.campaign.id != self.first)


def test_a_configured_ranker_chooses_and_the_explanation_says_so(store: Store) -> None:
    a, _ = campaign(store, bid=3)
    campaign(store, bid=12)
    ranker = Prefers(a.id)
    decider = _decider(store, ranker=ranker)
    for _ in range(3):
        ad = decider.decide(_request(), T0).ads[0]
        assert ad.delivery.campaign_id == a.id
        assert ad.delivery.why["selection"] == SELECTION_RANKED
    assert ranker.calls == 3
    decider.close()
