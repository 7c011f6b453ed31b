"""The storage contract, run on every engine (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

from fairview.attention.verdict import Verdict
from fairview.domain import BillingModel
from fairview.storage import Store
from fairview.storage.consents import ConsentEvidence
from fairview.storage.eventlog import Outcome, Refusal
from fairview.storage.settlement import DueDelivery

from factories import DAY_MS, T0, campaign, delivery, log_event, watched


def _focused(delivery_id: str) -> Verdict:
    return Verdict(delivery_id, True, "watch", 6.0, 6.0, 6.0, "viewable", False, None)


def _due(store: Store, now: int = T0 + 2 * DAY_MS) -> list[DueDelivery]:
    return store.settlement.due(now, DAY_MS, 1000)


def test_advertiser_key_resolves_only_while_known(store: Store) -> None:
    adv, key = store.catalog.create_advertiser("Acme", "EUR", T0)
    assert store.catalog.advertiser_for_key(key) == adv
    assert store.catalog.advertiser_for_key(key + "x") is None


def test_candidates_need_flight_budget_status_and_creative(store: Store) -> None:
    live, _ = campaign(store)
    paused, _ = campaign(store)
    store.catalog.set_campaign_status(paused.id, "paused")
    ids = {c.campaign.id for c in store.catalog.candidates(T0, "2026-09-21")}
    assert ids == {live.id}
    assert store.catalog.candidates(T0 + 31 * DAY_MS, "2026-10-22") == []


def test_append_dedups_by_delivery_and_seq(store: Store) -> None:
    camp, creative = campaign(store)
    d = delivery(store, camp, creative)
    first = [log_event(d.id, 0, "first_frame"), log_event(d.id, 1)]
    assert store.events.append(first, []) == [Outcome.ACCEPTED, Outcome.ACCEPTED]
    again = [log_event(d.id, 1), log_event(d.id, 1, media_s=9.0), log_event(d.id, 2)]
    assert store.events.append(again, []) == [Outcome.DUPLICATE, Outcome.CONFLICT, Outcome.ACCEPTED]
    assert store.deliveries.get(d.id) is not None
    assert [e.seq for e in store.events.events_for([d.id])] == [0, 1, 2]
    stats = store.events.stats()
    assert (stats.accepted, stats.duplicates, stats.rejected) == (3, 1, 1)


def test_duplicates_inside_one_batch_are_classified(store: Store) -> None:
    camp, creative = campaign(store)
    d = delivery(store, camp, creative)
    batch = [log_event(d.id, 0), log_event(d.id, 0), log_event(d.id, 0, media_s=3.0)]
    assert store.events.append(batch, []) == [Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.CONFLICT]
    assert _due(store)[0].conflict is True


def test_refusals_are_kept_and_counted(store: Store) -> None:
    refusal = Refusal(T0, None, 3, "prohibited_field", "heart_rate", "refused", '{"seq": 3}')
    assert store.events.append([], [refusal]) == []
    assert store.events.stats().rejected == 1


def test_read_after_is_ordered_and_resumable(store: Store) -> None:
    camp, creative = campaign(store)
    d = delivery(store, camp, creative)
    store.events.append(watched(d.id, 2.0), [])
    heads = store.events.read_after(0, 4)
    assert [h.seq for h in heads] == [0, 1, 2, 3]
    rest = store.events.read_after(heads[-1].pos, 100)
    assert [h.seq for h in rest] == list(range(4, 10))


def test_consume_tracks_completeness_and_commits_offset(store: Store) -> None:
    camp, creative = campaign(store)
    complete = delivery(store, camp, creative, n=1)
    gappy = delivery(store, camp, creative, n=2)
    store.events.append(watched(complete.id, 7.0), [])
    store.events.append([e for e in watched(gappy.id, 7.0) if e.seq != 5], [])
    consumed = store.settlement.consume("s", store.events.read_after, 1000)
    assert consumed == 30 + 29
    assert store.settlement.consume("s", store.events.read_after, 1000) == 0
    assert [d.id for d in store.settlement.due(T0 + 60_000, DAY_MS, 10)] == [complete.id]
    assert {d.id for d in _due(store)} == {complete.id, gappy.id}  # window passed


def test_post_charges_once_and_debits_budget(store: Store) -> None:
    camp, creative = campaign(store, bid=10, budget=25)
    deliveries = [delivery(store, camp, creative, n=i) for i in range(4)]
    due = {d.id: d for d in _due(store)}
    verdicts = [(due[d.id], _focused(d.id)) for d in deliveries]
    posted = store.settlement.post(verdicts, T0)
    assert (posted.settled, posted.charged, posted.over_delivered) == (4, 2, 2)
    again = store.settlement.post(verdicts, T0)
    assert again.settled == 0
    assert store.settlement.spend_by_campaign()[camp.id] == 20
    ledger = store.settlement.ledger()
    assert sorted(e["amount"] for e in ledger) == [0, 0, 10, 10]
    assert sorted(e["unbilled_amount"] for e in ledger) == [0, 0, 10, 10]


def test_daily_budget_caps_the_day(store: Store) -> None:
    camp, creative = campaign(store, bid=10, budget=1_000, daily=15)
    d1, d2 = (delivery(store, camp, creative, n=i) for i in range(2))
    due = {d.id: d for d in _due(store)}
    posted = store.settlement.post(
        [(due[d1.id], _focused(d1.id)), (due[d2.id], _focused(d2.id))], T0
    )
    assert (posted.charged, posted.over_delivered) == (1, 1)
    assert store.catalog.candidates(T0, "2026-09-21") != []  # 10 < 15 still serves today


def test_cpm_charges_round_exactly(store: Store) -> None:
    camp, creative = campaign(store, model=BillingModel.CPM_VIEWABLE, bid=1_234, budget=10_000)
    ds = [delivery(store, camp, creative, n=i) for i in range(7)]
    due = {d.id: d for d in _due(store)}
    viewable = [
        (
            due[d.id],
            replace(
                _focused(d.id), focused_view=False, qualified_by=None, qualified_at_media_s=None
            ),
        )
        for d in ds
    ]
    store.settlement.post(viewable, T0)
    assert store.settlement.spend_by_campaign()[camp.id] == 7 * 1_234 // 1000


def test_invalid_and_unqualified_are_never_charged(store: Store) -> None:
    camp, creative = campaign(store)
    bad, idle = delivery(store, camp, creative, n=1), delivery(store, camp, creative, n=2)
    due = {d.id: d for d in _due(store)}
    invalid = Verdict(bad.id, False, None, None, 9.0, 9.0, "viewable", True, "clock_inflation")
    nothing = Verdict(idle.id, False, None, None, 1.0, 1.0, "not_viewable", False, None)
    posted = store.settlement.post([(due[bad.id], invalid), (due[idle.id], nothing)], T0)
    assert (posted.settled, posted.charged) == (2, 0)
    assert store.settlement.ledger() == []


def _evidence(viewer: str, at: int, mode: str = "personalised") -> ConsentEvidence:
    return ConsentEvidence(viewer, at, "DE", "CPX...", 10, 2, 5, None, False, mode, "D02")


def test_newest_consent_signal_wins(store: Store) -> None:
    store.consents.record(_evidence("v1", T0, "personalised"))
    store.consents.record(_evidence("v1", T0 + 1_000, "contextual"))
    store.consents.record(_evidence("v2", T0 + 5_000, "non_personalised"))
    latest = store.consents.latest("v1")
    assert latest is not None
    assert latest.mode == "contextual"
    assert [e.received_ms for e in store.consents.history("v1")] == [T0, T0 + 1_000]
    assert store.consents.latest("nobody") is None


def test_the_first_objection_stands(store: Store) -> None:
    assert store.consents.objection("v1") is None
    store.consents.object("v1", "objection", T0)
    store.consents.object("v1", "erasure", T0 + 1)
    assert store.consents.objection("v1") == "objection"
