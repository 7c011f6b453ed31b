"""The whole cohort job against scikit-learn MiniBatchKMeans alone, on the same data.

Synthetic population: `n` viewers with 64-hex pseudonyms, watching over the full
allowlist (469 topics) during `EPOCHS_KEPT` (4) weekly epochs, given as the raw
watch rows the store holds: one (viewer, epoch, topic, seconds) row per topic a
viewer watched in an epoch, ordered by (viewer, epoch, topic) as
`Audience.watch_arrays` reads them (the table's primary key).

- Topic popularity is Zipf-like (rank^-1.1 over a random order of the topics).
- Each viewer belongs to one of 2,000 taste groups (group sizes skewed), each a
  set of 12 topics drawn by popularity.
- A viewer is active in an epoch with probability 0.85 (at least one epoch);
  in an active epoch they watch 1 + Poisson(2.5) topics, 80 % from their group
  and 20 % from the whole allowlist by popularity, with log-normal credited
  seconds (median 4 minutes, to 0.1 s).

Exposure: 7 synthetic sensitive labels at population rates 20 %, 10 %, 5 %, 3 %,
2 %, 1 % and 0.5 %; labels 0 and 5 are twice as likely for viewers in a fixed
tenth of the taste groups, so some cohorts are genuinely enriched.

(a) baseline: `make_kmeans(k, seed)` (the estimator the job uses, identical
    parameters and seed) fitted alone on the profile matrix;
(b) whole job: rows → `profile_matrix` (5 % substitution on) → `assign_cohorts`
    (k-means, k_min merging, ids, labels) → `serve_audited` (audit, dissolving
    blocked cohorts, re-audit) on the exposure.

Both run warm: the profile matrix is built once untimed first (it is what (a)
fits), then (a) and (b) alternate `repeats` times (3) and the fastest of each is
reported, with every sample: the 2-core machine is shared, and a concurrent
process slows whichever run it overlaps.

Run: `.venv/bin/python bench/cohorts.py [N]` (default 1,000,000; docs/cohorts.md).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from fairview.audience import topics as tx
from fairview.audience.cohorts import assign_cohorts, make_kmeans
from fairview.audience.profile import EPOCHS_KEPT, profile_matrix
from fairview.audience.serving import serve_audited

K_MIN = 2000
GROUPS = 2000
GROUP_TOPICS = 12
ACTIVE = 0.85
EXTRA_TOPICS = 2.5  # topics per active epoch: 1 + Poisson(2.5)
FROM_GROUP = 0.8
CURRENT_EPOCH = 2_900  # a week in 2025; only differences matter
RATES = np.array([0.20, 0.10, 0.05, 0.03, 0.02, 0.01, 0.005])
ENRICHED = (0, 5)


def watch_rows(
    n: int, columns: NDArray[np.int64], rng: np.random.Generator
) -> tuple[dict[str, Any], NDArray[np.int64]]:
    """Synthetic watch rows as the store returns them, and each viewer's taste group."""
    topics = columns.size
    popularity = np.arange(1, topics + 1, dtype=np.float64) ** -1.1
    popularity = popularity[rng.permutation(topics)]
    popularity /= popularity.sum()
    group_topics = rng.choice(topics, size=(GROUPS, GROUP_TOPICS), p=popularity)
    group_weight = rng.pareto(1.5, GROUPS) + 1
    group = rng.choice(GROUPS, size=n, p=group_weight / group_weight.sum())

    active = rng.random((n, EPOCHS_KEPT)) < ACTIVE
    idle = ~active.any(axis=1)
    active[idle, rng.integers(0, EPOCHS_KEPT, size=int(idle.sum()))] = True
    per_epoch = np.where(active, 1 + rng.poisson(EXTRA_TOPICS, size=(n, EPOCHS_KEPT)), 0)
    viewer = np.repeat(np.arange(n), per_epoch.sum(axis=1))
    age = np.repeat(np.tile(np.arange(EPOCHS_KEPT), n), per_epoch.ravel())
    from_group = group_topics[group[viewer], rng.integers(0, GROUP_TOPICS, size=viewer.size)]
    anywhere = rng.choice(topics, size=viewer.size, p=popularity)
    column = np.where(rng.random(viewer.size) < FROM_GROUP, from_group, anywhere)
    seconds = np.round(rng.lognormal(np.log(240.0), 1.0, size=viewer.size), 1) + 0.1

    # One row per (viewer, epoch, topic), in primary-key order (a topic watched twice adds up).
    key = (viewer * EPOCHS_KEPT + age) * topics + column
    key, first_of = np.unique(key, return_inverse=True)
    seconds = np.bincount(first_of, weights=seconds).astype(np.float64)
    column = key % topics
    age = key // topics % EPOCHS_KEPT
    viewer = key // topics // EPOCHS_KEPT
    hexes = rng.bytes(32 * n).hex()
    rows = {
        "viewers": viewer,
        "epochs": CURRENT_EPOCH - EPOCHS_KEPT + 1 + age,
        "topics": columns[column],
        "seconds": seconds,
        "viewer_keys": [hexes[64 * i : 64 * (i + 1)] for i in range(n)],
    }
    return rows, group


def exposure(group: NDArray[np.int64], rng: np.random.Generator) -> NDArray[np.bool_]:
    """Synthetic per-viewer Art. 9 exposure, some labels enriched in a tenth of the groups."""
    rates = np.broadcast_to(RATES, (group.size, RATES.size)).copy()
    hot = group % 10 == 0
    for label in ENRICHED:
        rates[hot, label] *= 2
    return rng.random(rates.shape) < rates


def _profiles(rows: dict[str, Any], columns: NDArray[np.int64]) -> tuple[Any, Any]:
    return profile_matrix(
        rows["viewers"],
        rows["epochs"],
        rows["topics"],
        rows["seconds"],
        CURRENT_EPOCH,
        viewer_keys=rows["viewer_keys"],
        columns=columns,
    )


def _job(
    rows: dict[str, Any], columns: NDArray[np.int64], exposed: NDArray[np.bool_], k: int, seed: int
) -> dict[str, Any]:
    """(b) once: rows → profiles → cohorts → audited and served; seconds per part."""
    started = time.perf_counter()
    _, matrix = _profiles(rows, columns)
    profiled_at = time.perf_counter()
    assignment = assign_cohorts(matrix, k_min=K_MIN, n_clusters=k, seed=seed)
    assigned_at = time.perf_counter()
    outcome = serve_audited(assignment, matrix, exposed, seed=seed)
    served_at = time.perf_counter()
    return {
        "seconds": served_at - started,
        "profiles": profiled_at - started,
        "kmeans": assignment.timings["kmeans"],
        "merge": assignment.timings["merge"],
        "audit": served_at - assigned_at,  # audit, dissolving, re-audits
        "assignment": assignment,
        "outcome": outcome,
    }


def run(n: int = 1_000_000, k: int = 256, seed: int = 5, repeats: int = 3) -> dict[str, Any]:
    """(a) and (b) `repeats` times each, alternating; the fastest of each is reported.

    The machine is shared (2 cores): a concurrent process slows whichever run it
    overlaps, so the minimum over alternating runs is the fairer comparison. Every
    sample is in the result, with the load average before and after.
    """
    load_before = os.getloadavg()[0]
    rng = np.random.default_rng(seed)
    columns = np.array(sorted(tx.allowlist()), dtype=np.int64)
    started = time.perf_counter()
    rows, group = watch_rows(n, columns, rng)
    exposed_all = exposure(group, rng)
    build_s = time.perf_counter() - started

    profiled, matrix = _profiles(rows, columns)  # untimed warm-up; (a) fits this matrix
    exposed = exposed_all[profiled]
    baselines: list[float] = []
    jobs: list[dict[str, Any]] = []
    steps = 0
    for _ in range(repeats):
        started = time.perf_counter()
        baseline = make_kmeans(k, seed=seed).fit(matrix)
        baselines.append(time.perf_counter() - started)
        steps = int(baseline.n_steps_)
        jobs.append(_job(rows, columns, exposed, k, seed))
    best = min(jobs, key=lambda j: float(j["seconds"]))
    assignment, outcome = best["assignment"], best["outcome"]
    served = outcome.sizes[outcome.served]
    return {
        "viewers": n,
        "topics": int(columns.size),
        "epochs": EPOCHS_KEPT,
        "rows": int(rows["viewers"].size),
        "profiled": int(profiled.size),
        "nnz": int(matrix.nnz),
        "k": k,
        "k_min": K_MIN,
        "repeats": repeats,
        "build_s": round(build_s, 2),
        "baseline_kmeans_s": round(min(baselines), 2),
        "baseline_steps": steps,
        "job_s": round(best["seconds"], 2),
        "profiles_s": round(best["profiles"], 2),
        "job_kmeans_s": round(best["kmeans"], 2),
        "job_merge_s": round(best["merge"], 2),
        "audit_s": round(best["audit"], 2),
        "ratio": round(best["seconds"] / min(baselines), 3),
        "baseline_samples_s": [round(s, 2) for s in baselines],
        "job_samples_s": [round(j["seconds"], 2) for j in jobs],
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cohorts_fitted": assignment.fitted_clusters,
        "cohorts": assignment.n_cohorts,
        "merges": assignment.merges,
        "min_cohort": int(assignment.sizes.min()),
        "median_cohort": int(np.median(assignment.sizes)),
        "blocked": int((~outcome.served).sum()),
        "dissolved_viewers": outcome.dissolved,
        "spread_viewers": outcome.spread,
        "dissolve_rounds": outcome.rounds,
        "served": int(outcome.served.sum()),
        "min_served_cohort": int(served.min()) if served.size else 0,
        "recluster_needed": outcome.final.recluster_needed,
        "null_ok": outcome.final.null_ok,
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(orjson.dumps(run(n), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
