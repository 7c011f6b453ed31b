"""From audited clusters to served cohorts: blocked cohorts are dissolved, not set aside.

Blocking a cohort (sensitivity.audit) is not enough on its own. If its members
simply got "no cohort", that group would itself be visible to an advertiser and
would concentrate the very trait that got the cohort blocked: the leakage
evaluation (docs/privacy-eval.md) measured an attacker AUC of 0.59 from the
"no cohort" group alone. So a blocked cohort is dissolved: each member moves to
the nearest surviving cohort by profile, the audit runs again on the new
membership, and any cohort that now fails is dissolved in turn, until every
served cohort passes. When moving a blocked cohort's members to their nearest
survivors would make a survivor fail (members of one cohort tend to share a
nearest neighbour), they are spread at random over the survivors instead, so
where they land says nothing about them. Cohorts only grow, so k_min still holds; if nothing
survives, nothing is served.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse  # type: ignore[import-untyped]

from fairview.audience.cohorts import NO_COHORT, CohortAssignment
from fairview.audience.sensitivity import AuditResult, audit


@dataclass(frozen=True, slots=True, eq=False)
class ServedCohorts:
    """The served membership and, per cohort index, whether it is served and why not."""

    labels: NDArray[np.int64]  # served cohort index per viewer, NO_COHORT for none
    served: NDArray[np.bool_]  # per cohort index of the assignment
    reasons: tuple[str, ...]  # per cohort index: "" when served, else "gap", "lift", "gap+lift"
    sizes: NDArray[np.int64]  # per cohort index: members after dissolving (0 when blocked)
    max_gap: NDArray[np.float64]  # per cohort index: served → final audit; blocked → at blocking
    max_lift: NDArray[np.float64]
    first: AuditResult  # the audit of the clustering as fitted
    final: AuditResult  # the audit of what is served, dissolved members included
    dissolved: int  # viewers moved out of blocked cohorts
    spread: int  # of those, viewers placed at random because nearest placement failed
    rounds: int


def serve_audited(
    assignment: CohortAssignment,
    profiles: Any,
    exposure: NDArray[np.bool_],
    *,
    seed: int,
    **rules: float,
) -> ServedCohorts:
    """Audit, dissolve blocked cohorts into their members' nearest survivors, repeat.

    `profiles` are the rows the assignment was fitted on (CSR or array);
    `rules` are passed to `audit` (t, lift, rare, mi_fraction, null_tolerance).
    """
    n = assignment.n_cohorts
    labels = assignment.labels.copy()
    served = np.ones(n, dtype=np.bool_)
    reasons = [""] * n
    max_gap = np.zeros(n)
    max_lift = np.zeros(n)
    first = result = audit(labels, exposure, **rules)
    dissolved = rounds = spread = 0
    rng = np.random.default_rng(seed)
    while True:
        blocked = [
            (int(c), reason)
            for c, b_gap, b_lift in zip(
                result.cohorts, result.blocked_by_gap, result.blocked_by_lift, strict=True
            )
            if (reason := "+".join(r for r, hit in (("gap", b_gap), ("lift", b_lift)) if hit))
        ]
        if not blocked:
            break
        rounds += 1
        position = {int(c): i for i, c in enumerate(result.cohorts)}
        for cohort, reason in blocked:
            served[cohort] = False
            reasons[cohort] = reason
            max_gap[cohort] = result.max_gap[position[cohort]]
            max_lift[cohort] = result.max_lift[position[cohort]]
        movers = np.flatnonzero(np.isin(labels, [c for c, _ in blocked]))
        dissolved += int(movers.size)
        survivors = np.flatnonzero(served)
        if survivors.size == 0:
            labels[movers] = NO_COHORT
            result = audit(labels, exposure, **rules)
            break
        nearest = survivors[_nearest(profiles[movers], assignment.centroids[survivors])]
        labels[movers] = nearest
        result = audit(labels, exposure, **rules)
        if result.blocked.any():
            # Nearest placement made a survivor fail (members of one blocked cohort tend
            # to share a nearest neighbour). Spread them instead: a random survivor each,
            # in proportion to size, so where a mover lands says nothing about them.
            weights = assignment.sizes[survivors] / assignment.sizes[survivors].sum()
            labels[movers] = rng.choice(survivors, size=movers.size, p=weights)
            result = audit(labels, exposure, **rules)
            spread += int(movers.size)
    position = {int(c): i for i, c in enumerate(result.cohorts)}
    for index in np.flatnonzero(served):
        max_gap[index] = result.max_gap[position[int(index)]]
        max_lift[index] = result.max_lift[position[int(index)]]
    in_cohort = labels[labels != NO_COHORT]
    return ServedCohorts(
        labels=labels,
        served=served,
        reasons=tuple(reasons),
        sizes=np.bincount(in_cohort, minlength=n).astype(np.int64),
        max_gap=max_gap,
        max_lift=max_lift,
        first=first,
        final=result,
        dissolved=dissolved,
        spread=spread,
        rounds=rounds,
    )


def _nearest(rows: Any, centroids: NDArray[np.floating[Any]]) -> NDArray[np.int64]:
    """Index of the nearest centroid (squared Euclidean) for each row."""
    c = np.asarray(centroids, dtype=np.float64)
    cross = rows @ c.T
    cross = np.asarray(cross.toarray() if sparse.issparse(cross) else cross)
    # ||x − c||² = ||x||² − 2 x·c + ||c||²; ||x||² is the same for every centroid of a row.
    return np.asarray(np.argmin((c * c).sum(axis=1)[None, :] - 2 * cross, axis=1), dtype=np.int64)
