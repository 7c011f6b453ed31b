"""Cohort assignment: k-anonymity, planted small clusters, empty profiles, per-epoch ids."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy import sparse

from fairview.audience.cohorts import NO_COHORT, _enforce_k_min, assign_cohorts


def _population(n: int, topics: int, seed: int, *, groups: int = 40) -> Any:
    """L1-normalised CSR profiles: each viewer 2–5 topics, mostly from one of `groups` tastes."""
    rng = np.random.default_rng(seed)
    tastes = rng.integers(0, topics, size=(groups, 6))
    taste = rng.integers(0, groups, size=n)
    per_row = rng.integers(2, 6, size=n)
    row = np.repeat(np.arange(n), per_row)
    own = tastes[taste[row], rng.integers(0, 6, size=row.size)]
    col = np.where(rng.random(row.size) < 0.85, own, rng.integers(0, topics, size=row.size))
    matrix = sparse.csr_matrix((rng.exponential(size=row.size), (row, col)), shape=(n, topics))
    return _normalise(matrix)


def _normalise(matrix: Any) -> Any:
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return sparse.csr_matrix(sparse.diags(scale) @ matrix).astype(np.float32)


def _members(labels: NDArray[np.int64], cohort: int) -> NDArray[np.int64]:
    return np.flatnonzero(labels == cohort)


def test_every_cohort_reaches_k_min_on_a_training_population() -> None:
    profiles = _population(30_000, 60, seed=1)
    result = assign_cohorts(profiles, k_min=1000, n_clusters=60, seed=7)
    assert result.sizes.min() >= 1000
    assert result.merges > 0  # 60 clusters over 30,000 viewers cannot all reach 1,000
    assert (result.labels >= 0).all()
    assert np.array_equal(np.bincount(result.labels), result.sizes)
    assert result.fitted_clusters == 60
    assert result.n_cohorts == 60 - result.merges


def test_default_cluster_count_is_one_per_ten_thousand_at_least_two() -> None:
    result = assign_cohorts(_population(5_000, 20, seed=2), k_min=100, seed=1)
    assert result.fitted_clusters == 2


def test_a_planted_50_viewer_cluster_is_merged_never_served_alone() -> None:
    background = _population(20_000, 50, seed=3)
    planted = sparse.csr_matrix(
        (np.ones(50), (np.arange(50), np.full(50, 59))), shape=(50, 60), dtype=np.float32
    )
    background = sparse.csr_matrix(
        (background.data, background.indices, background.indptr), shape=(20_000, 60)
    )
    profiles = sparse.vstack([background, planted], format="csr")
    result = assign_cohorts(profiles, k_min=1500, n_clusters=30, seed=4)
    planted_cohorts = np.unique(result.labels[20_000:])
    assert (planted_cohorts >= 0).all()
    for cohort in planted_cohorts:
        members = _members(result.labels, int(cohort))
        assert members.size >= 1500
        assert (members < 20_000).sum() >= 1500 - 50  # mostly other viewers: not a proxy list
    assert result.sizes.min() >= 1500


def test_the_merge_step_absorbs_a_planted_cluster_into_the_nearest() -> None:
    # k-means itself rarely isolates the plant; here the merge step gets the worst case.
    planted = np.tile([0.0, 0.3, 0.0, 0.7], (50, 1))
    dense = np.vstack([np.repeat(np.eye(4)[:3], 700, axis=0), planted]).astype(np.float32)
    raw = np.r_[np.repeat(np.arange(3), 700), [3] * 50].astype(np.int64)
    owner, sizes, sums = _enforce_k_min(raw, sparse.csr_matrix(dense), 4, 600)
    assert sizes.size == 3 and sizes.min() >= 600
    assert owner[3] == owner[1]  # the planted centroid is nearest to cluster 1's
    assert sizes[owner[3]] == 750
    np.testing.assert_allclose(
        sums[owner[3]] / 750, dense[700:1400].sum(0) / 750 + planted.sum(0) / 750
    )


def test_merged_centroids_are_member_means_and_labels_their_top_topics() -> None:
    profiles = _population(12_000, 30, seed=5)
    result = assign_cohorts(profiles, k_min=800, n_clusters=25, seed=2)
    dense = profiles.toarray()
    for cohort in range(result.n_cohorts):
        mean = dense[_members(result.labels, cohort)].mean(axis=0)
        np.testing.assert_allclose(result.centroids[cohort], mean, atol=1e-5)
        assert set(result.top_topics[cohort]) == set(np.argsort(-mean)[:3])


def test_empty_profiles_get_no_cohort() -> None:
    profiles = _population(8_000, 30, seed=6).tolil()
    empty = np.arange(0, 8_000, 7)
    profiles[empty] = 0
    result = assign_cohorts(profiles.tocsr(), k_min=500, n_clusters=8, seed=3)
    assert (result.labels[empty] == NO_COHORT).all()
    others = np.setdiff1d(np.arange(8_000), empty)
    assert (result.labels[others] >= 0).all()
    assert result.sizes.sum() == others.size


def test_dense_input_is_accepted() -> None:
    profiles = _population(3_000, 12, seed=7).toarray()
    result = assign_cohorts(profiles, k_min=300, n_clusters=6, seed=1)
    assert result.sizes.min() >= 300
    assert result.centroids.dtype == np.float32


def test_a_population_smaller_than_k_min_gets_no_cohorts() -> None:
    result = assign_cohorts(_population(1_999, 20, seed=8), k_min=2000, seed=1)
    assert (result.labels == NO_COHORT).all()
    assert result.n_cohorts == 0
    assert result.ids.size == 0
    assert (result.opaque_labels() == NO_COHORT).all()


def test_k_min_counts_viewers_with_a_profile_only() -> None:
    profiles = _population(3_000, 20, seed=9).tolil()
    profiles[:1_500] = 0
    result = assign_cohorts(profiles.tocsr(), k_min=2000, seed=1)
    assert (result.labels == NO_COHORT).all()


def test_opaque_ids_differ_across_epochs_and_repeat_for_the_same_seed() -> None:
    profiles = _population(10_000, 30, seed=10)
    first = assign_cohorts(profiles, k_min=500, n_clusters=12, seed=100)
    again = assign_cohorts(profiles, k_min=500, n_clusters=12, seed=100)
    later = assign_cohorts(profiles, k_min=500, n_clusters=12, seed=101)
    assert np.array_equal(first.ids, again.ids)
    assert np.array_equal(first.labels, again.labels)
    assert not set(first.ids.tolist()) & set(later.ids.tolist())
    assert np.unique(first.ids).size == first.n_cohorts
    assert ((first.ids > 0) & (first.ids < 2**53)).all()


def test_opaque_labels_map_internal_indexes_through_the_id_map() -> None:
    profiles = _population(6_000, 30, seed=11).tolil()
    profiles[:10] = 0
    result = assign_cohorts(profiles.tocsr(), k_min=500, n_clusters=6, seed=5)
    mapping = result.id_map()
    opaque = result.opaque_labels()
    assert (opaque[:10] == NO_COHORT).all()
    expected = [mapping[int(c)] for c in result.labels[10:]]
    assert opaque[10:].tolist() == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"k_min": 0}, "k_min"), ({"k_min": 5, "n_clusters": 0}, "n_clusters")],
)
def test_invalid_arguments_are_refused(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        assign_cohorts(_population(100, 5, seed=1), seed=1, **kwargs)


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(min_value=50, max_value=1_500),
    k_min=st.integers(min_value=1, max_value=600),
    clusters=st.integers(min_value=1, max_value=40),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_no_cohort_is_ever_below_k_min(n: int, k_min: int, clusters: int, seed: int) -> None:
    result = assign_cohorts(
        _population(n, 15, seed=seed), k_min=k_min, n_clusters=clusters, seed=seed
    )
    if n < k_min:
        assert result.n_cohorts == 0
    else:
        assert result.sizes.min() >= k_min
        assert result.sizes.sum() == n
