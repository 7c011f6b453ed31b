"""The audit log's search runs in the database, on both engines, with literal matching."""

from __future__ import annotations

from fairview.storage import Store

from factories import T0


def _append(store: Store, actor: str, action: str, subject: str, at: int) -> None:
    store.audit.append(
        actor=actor, action=action, purpose="test", subject=subject, detail={}, now_ms=T0 + at
    )


def test_search_filters_pages_and_matches_literally(store: Store) -> None:
    _append(store, "dpo:fvs_a (Ann)", "dpo.read_audit_log", "/v1/audit", 0)
    _append(store, "operator:bootstrap", "campaign.paused", "campaign:c_1", 10)
    _append(store, "DPO:fvs_b (Bo)", "dpo.page_audit_log", "/audit/log", 20)
    _append(store, "operator:bootstrap", "campaign.changed", "campaign:c%_2", 30)
    _append(store, "operator:bootstrap", "dpox.other", "campaign:cX2", 40)

    def seqs(**filters: object) -> list[int]:
        return [e.seq for e in store.audit.search(**filters)]  # type: ignore[arg-type]

    assert seqs() == [1, 2, 3, 4, 5]
    assert seqs(action_prefix="dpo.") == [1, 3]  # the dot is literal: not dpox.
    assert seqs(action="campaign.paused") == [2]
    assert seqs(actor="dpo:") == [1, 3]  # case-insensitive
    assert seqs(subject="c%_") == [4]  # % and _ are literal, not wildcards
    assert seqs(since_ms=T0 + 10, until_ms=T0 + 30) == [2, 3, 4]
    assert seqs(after=2, limit=2) == [3, 4]
    assert seqs(actor="nobody") == []
