"""Settlement: one charge per billable delivery, whatever happens to the workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from fairview.clock import ShiftedClock
from fairview.domain import BillingModel, DeliveryRecord
from fairview.settle.worker import Settler, qualify_reference
from fairview.storage import Store, open_store

from factories import DAY_MS, T0, campaign, delivery, watched


def _fill(store: Store, n: int = 40, *, budget: int = 10_000) -> list[str]:
    """n deliveries: every third watched 7 s (focused), the rest 3 s; returns focused ids."""
    camp, creative = campaign(store, bid=10, budget=budget)
    focused = []
    for i in range(n):
        d = delivery(store, camp, creative, n=i)
        seconds = 7.0 if i % 3 == 0 else 3.0
        store.events.append(watched(d.id, seconds), [])
        if seconds > 6:
            focused.append(d.id)
    return focused


def _settler(store: Store, at: int = T0 + 60_000) -> Settler:
    return Settler(store, ShiftedClock(at), window_ms=DAY_MS, batch=7)


def _charges(store: Store) -> list[tuple[str, str, int, int]]:
    return sorted(
        (e["delivery_id"], e["kind"], e["amount"], e["unbilled_amount"])
        for e in store.settlement.ledger()
    )


def test_settles_focused_views_once(store: Store) -> None:
    focused = _fill(store)
    report = _settler(store).run_once()
    assert report.deliveries_settled == 40 and report.charged == len(focused)
    assert sorted(d for d, *_ in _charges(store)) == sorted(focused)
    again = _settler(store).run_once()
    assert (again.events_consumed, again.deliveries_settled, again.charged) == (0, 0, 0)
    assert sum(store.settlement.spend_by_campaign().values()) == 10 * len(focused)


def test_fast_and_reference_settle_alike(store: Store) -> None:
    _fill(store, 30)
    Settler(
        store, ShiftedClock(T0 + 60_000), window_ms=DAY_MS, qualifier=qualify_reference
    ).run_once()
    reference = {
        k: (v["focused_view"], v["coverage_s"]) for k, v in store.settlement.verdicts().items()
    }
    assert sum(f for f, _ in reference.values()) == 10
    assert all(c in (3.0, 7.0) for _, c in reference.values())


def test_budget_never_goes_negative(store: Store) -> None:
    focused = _fill(store, 30, budget=35)
    _settler(store).run_once()
    charges = _charges(store)
    assert sum(a for *_, a, _ in charges) == 30
    assert sum(u for *_, u in charges) == 10 * (len(focused) - 3)
    assert (
        store.settlement.spend_by_campaign()
        and max(store.settlement.spend_by_campaign().values()) == 30
    )


def test_incomplete_delivery_waits_for_the_window(store: Store) -> None:
    camp, creative = campaign(store)
    d = delivery(store, camp, creative)
    store.events.append([e for e in watched(d.id, 8.0) if e.seq != 30], [])
    assert _settler(store).run_once().deliveries_settled == 0
    late = _settler(store, at=T0 + DAY_MS + 1).run_once()
    assert late.deliveries_settled == 1  # the gap splits coverage: 7.25 s + 0.5 s, still focused
    assert late.charged == 1


def test_conflicting_duplicate_is_never_billed(store: Store) -> None:
    camp, creative = campaign(store)
    d = delivery(store, camp, creative)
    events = watched(d.id, 8.0)
    store.events.append(events, [])
    store.events.append([events[5]._replace(media_s=9.0)], [])
    _settler(store).run_once()
    verdict = store.settlement.verdicts()[d.id]
    assert (verdict["invalid"], verdict["invalid_reason"]) == (True, "conflicting_duplicate")
    assert store.settlement.ledger() == []


def test_cpm_viewable_bills_viewable_impressions(store: Store) -> None:
    camp, creative = campaign(store, model=BillingModel.CPM_VIEWABLE, bid=2_500, budget=10_000)
    for i, seconds in enumerate([3.0, 1.5, 2.5, 10.0]):
        store.events.append(watched(delivery(store, camp, creative, n=i).id, seconds), [])
    report = _settler(store).run_once()
    assert report.charged == 3
    assert store.settlement.spend_by_campaign()[camp.id] == 3 * 2_500 // 1000


def test_two_workers_at_once_leave_one_ledger(engine_target: tuple[str, str | None]) -> None:
    url, schema = engine_target
    stores = [open_store(url, schema=schema, synchronous="NORMAL") for _ in range(2)]
    focused = _fill(stores[0], 60)
    errors: list[BaseException] = []

    def work(store: Store) -> None:
        try:
            for _ in range(5):
                _settler(store).run_once()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(d for d, *_ in _charges(stores[0])) == sorted(focused)
    assert stores[0].settlement.pending_count() == 0
    for s in stores:
        s.close()


_CRASHING_WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import fairview.storage.settlement as settlement
    from fairview.clock import ShiftedClock
    from fairview.settle.worker import Settler
    from fairview.storage import open_store

    url, schema, marker, at = sys.argv[1], sys.argv[2] or None, Path(sys.argv[3]), int(sys.argv[4])
    original, calls = settlement._charge_all, [0]

    def slow_charge(*args, **kwargs):
        calls[0] += 1
        result = original(*args, **kwargs)
        if calls[0] == 4:  # inside an open transaction, after several committed batches
            marker.write_text("mid-batch")
            time.sleep(60)
        return result

    settlement._charge_all = slow_charge
    store = open_store(url, schema=schema, synchronous="NORMAL")
    Settler(store, ShiftedClock(at), window_ms=86_400_000, batch=3).run_once()
""")


def test_kill_9_mid_batch_then_restart(
    engine_target: tuple[str, str | None], tmp_path: Path
) -> None:
    url, schema = engine_target
    store = open_store(url, schema=schema, synchronous="NORMAL")
    focused = _fill(store, 45)
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_WORKER, url, schema or "", str(marker), str(T0 + 60_000)],
        env={**os.environ},
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, "worker ended before the crash point"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(store.settlement.ledger())
    assert 0 < partial < len(focused)
    _settler(store).run_once()
    _settler(store).run_once()
    assert sorted(d for d, *_ in _charges(store)) == sorted(focused)
    assert sum(store.settlement.spend_by_campaign().values()) == 10 * len(focused)
    store.close()


def _unstored(camp_id: str, creative_id: str, duration_ms: int, n: int) -> DeliveryRecord:
    """A delivery as a decision made it, not yet committed (FAIRVIEW_DELIVERY_COMMIT=behind)."""
    return DeliveryRecord(
        f"dl_behind_{camp_id[-6:]}_{n}",
        camp_id,
        creative_id,
        "feed",
        None,
        "EU-DE",
        "mobile",
        "non_personalised",
        duration_ms,
        T0,
    )


def test_events_consumed_before_their_delivery_is_stored_count_once_it_is(store: Store) -> None:
    camp, creative = campaign(store)
    late = _unstored(camp.id, creative.id, creative.duration_ms, 1)
    store.events.append(watched(late.id, 7.0), [])
    first = _settler(store).run_once()
    assert first.events_consumed > 0 and first.deliveries_settled == 0
    assert first.unknown_deliveries == 0  # not a window old: it may still arrive
    store.deliveries.record(late)
    second = _settler(store).run_once()
    # its events' progress was kept, so it is complete now, long before the window ends
    assert (second.deliveries_settled, second.charged, second.unknown_deliveries) == (1, 1, 0)
    assert store.settlement.unknown_deliveries() == 0


def test_a_delivery_never_stored_is_counted_once_a_window_later(store: Store) -> None:
    camp, creative = campaign(store)
    lost = _unstored(camp.id, creative.id, creative.duration_ms, 2)
    store.events.append(watched(lost.id, 7.0), [])
    assert _settler(store).run_once().unknown_deliveries == 0
    assert _settler(store, at=T0 + DAY_MS).run_once().unknown_deliveries == 0
    later = _settler(store, at=T0 + 60_000 + DAY_MS).run_once()
    assert (later.unknown_deliveries, later.deliveries_settled, later.charged) == (1, 0, 0)
    assert _settler(store, at=T0 + 2 * DAY_MS).run_once().unknown_deliveries == 0  # once
    assert store.settlement.unknown_deliveries() == 1
    assert store.settlement.ledger() == []
