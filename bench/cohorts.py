"""The cohort job against scikit-learn MiniBatchKMeans alone, on the same synthetic matrix.

Synthetic population: `n` viewers over `topics` allowlisted topics. Topic
popularity is Zipf-like (rank^-1.1). Each viewer belongs to one of 2,000 taste
groups (group sizes also skewed), each group a set of 12 topics drawn by
popularity; a viewer has 2–8 topics, 80 % from its group and 20 % from the whole
allowlist, with exponential weights, L1-normalised, float32 CSR.

Exposure: 7 synthetic sensitive labels at population rates 20 %, 10 %, 5 %, 3 %,
2 %, 1 % and 0.5 %; labels 0 and 5 are twice as likely for viewers in a fixed
tenth of the taste groups, so some cohorts are genuinely enriched.

(a) baseline: `make_kmeans(k, seed)` fitted alone (the estimator the job uses,
    identical parameters and seed); (b) job: `assign_cohorts` (k-means, k_min
    merging, ids, labels) + `audit` on the exposure matrix.

Run: `.venv/bin/python bench/cohorts.py [N]` (default 1,000,000; docs/cohorts.md).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray
from scipy import sparse

from fairview.audience.cohorts import assign_cohorts, make_kmeans
from fairview.audience.sensitivity import audit

K_MIN = 2000
GROUPS = 2000
GROUP_TOPICS = 12
RATES = np.array([0.20, 0.10, 0.05, 0.03, 0.02, 0.01, 0.005])
ENRICHED = (0, 5)


def profiles(n: int, topics: int, rng: np.random.Generator) -> tuple[Any, NDArray[np.int64]]:
    """The synthetic (n × topics) CSR profile matrix and each viewer's taste group."""
    popularity = np.arange(1, topics + 1, dtype=np.float64) ** -1.1
    popularity /= popularity.sum()
    group_topics = rng.choice(topics, size=(GROUPS, GROUP_TOPICS), p=popularity)
    group_weight = rng.pareto(1.5, GROUPS) + 1
    group = rng.choice(GROUPS, size=n, p=group_weight / group_weight.sum())
    per_row = rng.integers(2, 9, size=n)
    row = np.repeat(np.arange(n), per_row)
    from_group = group_topics[group[row], rng.integers(0, GROUP_TOPICS, size=row.size)]
    anywhere = rng.choice(topics, size=row.size, p=popularity)
    col = np.where(rng.random(row.size) < 0.8, from_group, anywhere)
    weight = rng.exponential(1.0, size=row.size)
    matrix = sparse.csr_matrix((weight, (row, col)), shape=(n, topics))  # sums duplicates
    matrix = sparse.csr_matrix(sparse.diags(1.0 / np.asarray(matrix.sum(axis=1)).ravel()) @ matrix)
    return matrix.astype(np.float32), group


def exposure(group: NDArray[np.int64], rng: np.random.Generator) -> NDArray[np.bool_]:
    """Synthetic per-viewer Art. 9 exposure, some labels enriched in a tenth of the groups."""
    rates = np.broadcast_to(RATES, (group.size, RATES.size)).copy()
    hot = group % 10 == 0
    for label in ENRICHED:
        rates[hot, label] *= 2
    return rng.random(rates.shape) < rates


def run(n: int = 1_000_000, topics: int = 469, k: int = 256, seed: int = 5) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    matrix, group = profiles(n, topics, rng)
    exposed = exposure(group, rng)
    build_s = time.perf_counter() - started

    started = time.perf_counter()
    baseline = make_kmeans(k, seed=seed).fit(matrix)
    baseline_s = time.perf_counter() - started

    started = time.perf_counter()
    assignment = assign_cohorts(matrix, k_min=K_MIN, n_clusters=k, seed=seed)
    result = audit(assignment.labels, exposed)
    job_s = time.perf_counter() - started
    served = assignment.sizes[~result.blocked]
    return {
        "viewers": n,
        "topics": topics,
        "nnz": int(matrix.nnz),
        "k": k,
        "k_min": K_MIN,
        "build_s": round(build_s, 2),
        "baseline_kmeans_s": round(baseline_s, 2),
        "baseline_steps": int(baseline.n_steps_),
        "job_s": round(job_s, 2),
        "job_kmeans_s": round(assignment.timings["kmeans"], 2),
        "job_merge_s": round(assignment.timings["merge"], 2),
        "audit_s": round(result.seconds, 3),
        "ratio": round(job_s / baseline_s, 3),
        "cohorts_fitted": assignment.fitted_clusters,
        "cohorts": assignment.n_cohorts,
        "merges": assignment.merges,
        "min_cohort": int(assignment.sizes.min()),
        "median_cohort": int(np.median(assignment.sizes)),
        "blocked": int(result.blocked.sum()),
        "min_served_cohort": int(served.min()) if served.size else 0,
        "recluster_needed": result.recluster_needed,
        "null_ok": result.null_ok,
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(orjson.dumps(run(n), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
