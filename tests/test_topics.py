"""The interest taxonomy: Topics v2, its allowlist and the golden no-Art. 9 checks."""

from __future__ import annotations

import pytest

from fairview.audience import topics as tx
from fairview.audience.taxonomy import PLATFORM_LABELS, SENSITIVE_ROOTS, content_taxonomy


def test_topics_v2_has_469_topics_and_22_roots() -> None:
    topics = tx.topics_v2()
    assert len(topics) == 469
    assert max(topics) == 629
    assert sum(len(t.parts) == 1 for t in topics.values()) == 22


def test_allowlist_and_s_mapped_topics_are_disjoint() -> None:
    assert tx.allowlist().isdisjoint(tx.sensitive_topics())
    assert tx.allowlist() | set(tx.sensitive_topics()) == set(tx.topics_v2())


def test_every_allowlisted_id_exists_in_topics_v2() -> None:
    assert tx.allowlist() <= set(tx.topics_v2())
    assert len(tx.allowlist()) <= 500


@pytest.mark.parametrize(
    ("topic_id", "path"),
    [
        (247, "/News/Politics"),
        (160, "/Finance/Insurance/Health Insurance"),
        (260, "/People & Society/Parenting/Babies & Toddlers"),
    ],
)
def test_the_spec_named_residual_proxies_are_denied(topic_id: int, path: str) -> None:
    assert tx.topics_v2()[topic_id].path == path
    assert topic_id in tx.DENYLIST
    assert topic_id not in tx.allowlist()


def test_denylist_entries_exist_and_name_an_art9_label() -> None:
    for topic_id, (label, reason) in tx.DENYLIST.items():
        assert topic_id in tx.topics_v2()
        assert label in tx.SENSITIVE_LABELS
        assert reason


def test_a_denied_topic_takes_its_subtree() -> None:
    # 177 Vegan Cuisine lies below 176 Vegetarian Cuisine.
    assert tx.parent(177) == 176
    assert all(tx.ancestors(t)[-1] == tx.root_of(t) for t in tx.topics_v2())
    for topic_id in tx.topics_v2():
        if any(a in tx.DENYLIST for a in tx.ancestors(topic_id)):
            assert topic_id not in tx.allowlist()


def test_s_covers_the_art9_categories_of_the_content_taxonomy() -> None:
    content_labels = {*SENSITIVE_ROOTS.values(), *(why for _, why in PLATFORM_LABELS.values())}
    art9 = {label for label in content_labels if "IAB" not in label}
    assert art9 <= set(tx.SENSITIVE_LABELS)
    assert len(tx.SENSITIVE_LABELS) == 7
    assert tx.GENETIC_BIOMETRIC in tx.SENSITIVE_LABELS


def test_no_allowlisted_topic_is_named_like_a_sensitive_iab_topic() -> None:
    sensitive = {t.name.lower() for t in content_taxonomy().topics() if t.sensitive}
    named = {tx.topics_v2()[t].name.lower(): t for t in tx.allowlist()}
    assert not sensitive & set(named)


def test_allowlisted_topics_touching_an_s_theme_were_reviewed() -> None:
    unreviewed = [
        tx.topics_v2()[t].path
        for t in sorted(tx.allowlist())
        if tx.audit_hits(t) and t not in tx.REVIEWED_KEPT
    ]
    assert unreviewed == []
    assert set(tx.REVIEWED_KEPT) <= tx.allowlist()


def test_parent_of_a_root_or_unknown_id_is_none() -> None:
    assert tx.parent(1) is None
    assert tx.parent(10_000) is None
    assert tx.root_of(464) == 172
    assert tx.ancestors(464) == (464, 462, 172)
