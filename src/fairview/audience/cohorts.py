"""Interest cohorts: k-means on viewer profiles, then merges until every cohort is k-anonymous.

The cohort job core (spec/audience.md, "Proposed design" §3): pure functions on
arrays, no storage. A profile row is a viewer's L1-normalised weight over the
allowlisted topics; it never holds a sensitive (Art. 9) label, so neither do the
centroids or the topic labels derived from them. Randomness comes from `seed`,
one per epoch: the same seed reproduces the epoch, a new seed gives cohort ids
that cannot be linked to the previous epoch's.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.cluster import MiniBatchKMeans  # type: ignore[import-untyped]

NO_COHORT = -1
VIEWERS_PER_CLUSTER = 10_000
"""Default K = round(viewers / 10,000), at least 2 (spec §3)."""
TOP_TOPICS = 3
BATCH_SIZE = 8192
MAX_ITER = 20
MAX_NO_IMPROVEMENT = 10
_ID_BOUND = 2**53  # opaque ids stay exact in JSON numbers and JavaScript


@dataclass(frozen=True, slots=True, eq=False)
class CohortAssignment:
    """One epoch's cohorts. Internal cohort indexes are 0..n_cohorts-1; only `ids` leave the job."""

    labels: NDArray[np.int64]  # internal cohort index per viewer, NO_COHORT (-1) for none
    ids: NDArray[np.int64]  # opaque id per internal index, random per epoch
    sizes: NDArray[np.int64]  # members per internal index, each >= k_min
    centroids: NDArray[np.float32]  # size-weighted mean profile per internal index
    top_topics: NDArray[np.int64]  # (n_cohorts, 3) topic columns by mean weight, -1 pads
    fitted_clusters: int  # K given to k-means, before merging
    merges: int
    timings: Mapping[str, float]  # seconds: "kmeans", "merge", "total"

    @property
    def n_cohorts(self) -> int:
        return int(self.sizes.size)

    def id_map(self) -> dict[int, int]:
        """Internal index → opaque id."""
        return {i: int(opaque) for i, opaque in enumerate(self.ids)}

    def opaque_labels(self) -> NDArray[np.int64]:
        """The opaque cohort id per viewer, NO_COHORT for none."""
        lookup = np.append(self.ids, NO_COHORT)  # index -1 reads the appended NO_COHORT
        return lookup[self.labels]


def make_kmeans(n_clusters: int, *, seed: int) -> Any:
    """The MiniBatchKMeans the job fits: one k-means++ start, 8192-row batches, early stop.

    `seed` is the epoch seed; the estimator's random state is derived from it (the
    cohort ids draw from a sibling stream). Exposed so a benchmark times the very
    same estimator, seed included, as its baseline.
    """
    return MiniBatchKMeans(
        n_clusters=n_clusters,
        init="k-means++",
        n_init=1,
        batch_size=BATCH_SIZE,
        max_iter=MAX_ITER,
        max_no_improvement=MAX_NO_IMPROVEMENT,
        random_state=int(_streams(seed)[0].generate_state(1)[0]),
    )


def _streams(seed: int) -> list[np.random.SeedSequence]:
    """Independent streams of the epoch seed: k-means, then opaque ids."""
    return np.random.SeedSequence(seed).spawn(2)


def assign_cohorts(
    profiles: Any,
    *,
    k_min: int,
    n_clusters: int | None = None,
    seed: int,
) -> CohortAssignment:
    """Cluster viewer profiles into cohorts of at least `k_min` viewers each.

    `profiles` is an (n_viewers × n_topics) CSR matrix or array, rows L1-normalised.
    Rows with an empty profile get NO_COHORT; when fewer than `k_min` viewers have
    a profile, everyone gets NO_COHORT and there are no cohorts. Otherwise the
    smallest cohort is merged into the one with the nearest centroid until none
    is below `k_min`, so no cohort is ever served below k_min (a planted small
    cluster is absorbed, never kept).
    """
    if k_min < 1:
        raise ValueError(f"k_min must be at least 1, got {k_min}")
    if n_clusters is not None and n_clusters < 1:
        raise ValueError(f"n_clusters must be at least 1, got {n_clusters}")
    if profiles.ndim != 2:
        raise ValueError("profiles must be a 2-D (viewers × topics) matrix")
    start = time.perf_counter()
    n_viewers, n_topics = profiles.shape
    has_profile = np.asarray(profiles.sum(axis=1)).ravel() > 0
    present = np.flatnonzero(has_profile)
    labels = np.full(n_viewers, NO_COHORT, dtype=np.int64)
    if present.size < k_min:
        return _empty(labels, n_topics, time.perf_counter() - start)
    rows = profiles if present.size == n_viewers else profiles[present]
    k = _cluster_count(present.size, n_clusters)
    fitted = make_kmeans(k, seed=seed).fit(rows)
    raw = np.asarray(fitted.labels_, dtype=np.int64)
    after_kmeans = time.perf_counter()
    owner, sizes, sums = _enforce_k_min(raw, rows, k, k_min)
    labels[present] = owner[raw]
    centroids = sums / sizes[:, None]
    ids = _opaque_ids(np.random.default_rng(_streams(seed)[1]), sizes.size)
    end = time.perf_counter()
    return CohortAssignment(
        labels=labels,
        ids=ids,
        sizes=sizes.astype(np.int64),
        centroids=centroids.astype(np.float32),
        top_topics=_top_topics(centroids),
        fitted_clusters=k,
        merges=k - int(sizes.size),
        timings={"kmeans": after_kmeans - start, "merge": end - after_kmeans, "total": end - start},
    )


def _cluster_count(viewers: int, requested: int | None) -> int:
    k = requested if requested is not None else max(2, round(viewers / VIEWERS_PER_CLUSTER))
    return min(k, viewers)  # k-means needs at least one viewer per cluster


def _empty(labels: NDArray[np.int64], n_topics: int, elapsed: float) -> CohortAssignment:
    return CohortAssignment(
        labels=labels,
        ids=np.zeros(0, dtype=np.int64),
        sizes=np.zeros(0, dtype=np.int64),
        centroids=np.zeros((0, n_topics), dtype=np.float32),
        top_topics=np.zeros((0, TOP_TOPICS), dtype=np.int64),
        fitted_clusters=0,
        merges=0,
        timings={"kmeans": 0.0, "merge": 0.0, "total": elapsed},
    )


def _enforce_k_min(
    raw: NDArray[np.int64], rows: Any, k: int, k_min: int
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Merge smallest-into-nearest until all cohorts reach k_min.

    Returns the compact new index per k-means cluster, and the sizes and profile
    sums per new cohort. Centroids are sums / sizes, so a merged centroid is the
    size-weighted mean of its parts. Empty k-means clusters are dropped.
    """
    sizes = np.bincount(raw, minlength=k).astype(np.float64)
    indicator = sparse.csr_matrix(
        (np.ones(raw.size), (raw, np.arange(raw.size))), shape=(k, raw.size)
    )
    product = indicator @ rows
    sums = np.asarray(product.toarray() if sparse.issparse(product) else product, dtype=np.float64)
    alive = sizes > 0
    owner = np.arange(k)
    centroids = np.divide(sums, sizes[:, None], out=np.zeros_like(sums), where=alive[:, None])
    while True:
        live = np.flatnonzero(alive)
        smallest = live[np.argmin(sizes[live])]
        if live.size == 1 or sizes[smallest] >= k_min:
            break
        others = live[live != smallest]
        into = others[np.argmin(((centroids[others] - centroids[smallest]) ** 2).sum(axis=1))]
        sums[into] += sums[smallest]
        sizes[into] += sizes[smallest]
        centroids[into] = sums[into] / sizes[into]
        alive[smallest] = False
        owner[owner == smallest] = into
    kept = np.flatnonzero(alive)
    compact = np.full(k, NO_COHORT, dtype=np.int64)
    compact[kept] = np.arange(kept.size)
    return compact[owner], sizes[kept], sums[kept]


def _opaque_ids(rng: np.random.Generator, count: int) -> NDArray[np.int64]:
    """Distinct random ids in [1, 2**53): drawn fresh per epoch, so they carry no history."""
    while True:
        ids = rng.integers(1, _ID_BOUND, size=count, dtype=np.int64)
        if np.unique(ids).size == count:
            return ids


def _top_topics(centroids: NDArray[np.float64]) -> NDArray[np.int64]:
    order = np.argsort(-centroids, axis=1, kind="stable")[:, :TOP_TOPICS]
    weights = np.take_along_axis(centroids, order, axis=1)
    top = np.where(weights > 0, order, -1).astype(np.int64)
    if top.shape[1] < TOP_TOPICS:  # fewer topics than labels: pad
        top = np.pad(top, ((0, 0), (0, TOP_TOPICS - top.shape[1])), constant_values=-1)
    return top
