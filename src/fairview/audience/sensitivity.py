"""Sensitivity audit: block cohorts that stand in for a special-category (Art. 9) trait.

spec/audience.md, "Proposed design" §4, after the FLoC sensitivity analysis (§2).
Runs in the in-memory cohort job, before any cohort is served. Inputs are the
cohort per viewer and a transient per-viewer exposure matrix (the viewer
watched ≥ 1 qualifying video with that sensitive label in the window); the
caller computes it for this call and never stores it. The result is per cohort
and per label only: which cohorts are blocked and by which rule, global mutual
information per label, and the null-group deviation. It names no viewer, and
no cohort × label figure leaves the audit, so nobody learns which trait made a
cohort sensitive (as in FLoC).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

NO_COHORT = -1
GAP = "gap"
LIFT = "lift"


@dataclass(frozen=True, slots=True)
class CohortDecision:
    cohort: int
    size: int
    served: bool
    reason: str  # "" when served, else "gap", "lift" or "gap+lift"


@dataclass(frozen=True, slots=True, eq=False)
class AuditResult:
    """Per-cohort decisions and global checks; nothing per viewer, nothing per cohort × label."""

    cohorts: NDArray[np.int64]  # cohort indexes audited, ascending (NO_COHORT excluded)
    sizes: NDArray[np.int64]
    blocked_by_gap: NDArray[np.bool_]
    blocked_by_lift: NDArray[np.bool_]
    max_gap: NDArray[np.float64]  # per cohort: largest rate − population rate over labels
    max_lift: NDArray[np.float64]  # per cohort: largest rate ÷ population rate over rare labels
    population_rate: NDArray[np.float64]  # per label, over all viewers
    mi_bits: NDArray[np.float64]  # I(C; S_s) per label, in bits (plug-in estimate)
    mi_bias_bits: float  # the plug-in estimate's sampling bias, (groups − 1) / (2 n ln 2)
    entropy_bits: NDArray[np.float64]  # H(S_s) per label, in bits
    mi_exceeded: NDArray[np.bool_]  # per label: mi_bits − bias > mi_fraction × entropy_bits
    null_size: int  # viewers left with no cohort: unassigned plus blocked
    null_gap: NDArray[np.float64]  # per label: null-group rate − population rate
    null_ok: bool  # every |null_gap| ≤ null_tolerance
    seconds: float

    @property
    def blocked(self) -> NDArray[np.bool_]:
        return self.blocked_by_gap | self.blocked_by_lift

    @property
    def recluster_needed(self) -> bool:
        """The global MI check failed for some label: re-cluster rather than only block."""
        return bool(self.mi_exceeded.any())

    @property
    def blocklist(self) -> NDArray[np.int64]:
        return self.cohorts[self.blocked]

    def decisions(self) -> tuple[CohortDecision, ...]:
        reasons = np.where(self.blocked_by_gap, GAP, "")
        both = self.blocked_by_gap & self.blocked_by_lift
        reasons = np.where(both, f"{GAP}+{LIFT}", np.where(self.blocked_by_lift, LIFT, reasons))
        return tuple(
            CohortDecision(int(c), int(n), not b, str(r))
            for c, n, b, r in zip(self.cohorts, self.sizes, self.blocked, reasons, strict=True)
        )


def audit(
    labels: NDArray[np.integer],
    exposure: NDArray[np.bool_],
    *,
    t: float = 0.05,
    lift: float = 1.5,
    rare: float = 0.05,
    mi_fraction: float = 0.01,
    null_tolerance: float = 0.02,
) -> AuditResult:
    """Decide which cohorts may be served, from per-viewer cohorts and transient exposure.

    A cohort is blocked when, for some label, its rate exceeds the population
    rate by more than `t` (FLoC's gap), or by a factor above `lift` where the
    population rate is below `rare` (rare labels; an absolute gap is too weak).
    Rates are shares of viewers; the population is every row, NO_COHORT included.
    MI treats NO_COHORT as one more group, so C partitions the whole population.
    Blocking is fail-closed: small cohorts see more sampling noise and so are
    blocked more often by chance, never less.
    """
    started = time.perf_counter()
    groups, group_sizes, exposed = _group_counts(labels, exposure)
    n = float(group_sizes.sum())
    population = exposed.sum(axis=0) / n
    rates = exposed / group_sizes[:, None]
    is_cohort = groups != NO_COHORT
    by_gap, by_lift = _block_rules(rates[is_cohort], population, t, lift, rare)
    max_gap, max_lift = _distances(rates[is_cohort], population, rare)
    mi = (group_sizes[:, None] / n * _kl_bits(rates, population)).sum(axis=0)
    entropy = _entropy_bits(population)
    # Miller–Madow: with no dependence at all, the plug-in MI of G groups and a binary
    # label still averages (G − 1) / (2 n ln 2) bits from sampling noise alone; the cap
    # applies to the dependence beyond that, or small populations could never pass.
    bias = (groups.size - 1) / (2 * n * np.log(2))
    blocked = np.zeros(groups.size, dtype=np.bool_)
    blocked[is_cohort] = by_gap | by_lift
    null_size, null_gap = _null_group(blocked | ~is_cohort, group_sizes, exposed, population)
    return AuditResult(
        cohorts=groups[is_cohort].astype(np.int64),
        sizes=group_sizes[is_cohort],
        blocked_by_gap=by_gap,
        blocked_by_lift=by_lift,
        max_gap=max_gap,
        max_lift=max_lift,
        population_rate=population,
        mi_bits=mi,
        mi_bias_bits=float(bias),
        entropy_bits=entropy,
        mi_exceeded=mi - bias > mi_fraction * entropy,
        null_size=null_size,
        null_gap=null_gap,
        null_ok=bool((np.abs(null_gap) <= null_tolerance).all()),
        seconds=time.perf_counter() - started,
    )


def apply_blocklist(labels: NDArray[np.integer], result: AuditResult) -> NDArray[np.int64]:
    """The cohort per viewer to serve: blocked cohorts become NO_COHORT (contextual ads)."""
    served = np.asarray(labels, dtype=np.int64).copy()
    served[np.isin(served, result.blocklist)] = NO_COHORT
    return served


def _group_counts(
    labels: NDArray[np.integer], exposure: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Groups (ascending), their sizes, and exposed viewers per group × label."""
    if labels.ndim != 1 or exposure.ndim != 2 or exposure.shape[0] != labels.size:
        raise ValueError("labels must be (n_viewers,) and exposure (n_viewers, n_labels)")
    if labels.size == 0:
        raise ValueError("the audit needs at least one viewer")
    groups, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    columns = [
        np.bincount(inverse, weights=exposure[:, s], minlength=groups.size)
        for s in range(exposure.shape[1])
    ]
    exposed = np.zeros((groups.size, exposure.shape[1]), dtype=np.float64)
    if columns:
        exposed[:] = np.stack(columns, axis=1)
    return groups.astype(np.int64), sizes.astype(np.int64), exposed


def _block_rules(
    rates: NDArray[np.float64], population: NDArray[np.float64], t: float, lift: float, rare: float
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    by_gap: NDArray[np.bool_] = np.asarray((rates - population > t).any(axis=1))
    rare_label = (population > 0) & (population < rare)
    ratio = np.divide(rates, population, out=np.zeros_like(rates), where=population > 0)
    by_lift: NDArray[np.bool_] = np.asarray(((ratio > lift) & rare_label).any(axis=1))
    return by_gap, by_lift


def _distances(
    rates: NDArray[np.float64], population: NDArray[np.float64], rare: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per cohort, the largest gap and rare-label lift, without saying which label."""
    if rates.shape[1] == 0:
        zeros = np.zeros(rates.shape[0])
        return zeros, zeros.copy()
    gap = (rates - population).max(axis=1)
    rare_label = (population > 0) & (population < rare)
    ratio = np.divide(rates, population, out=np.zeros_like(rates), where=rare_label)
    return np.asarray(gap, dtype=np.float64), np.asarray(ratio.max(axis=1), dtype=np.float64)


def _kl_bits(rates: NDArray[np.float64], population: NDArray[np.float64]) -> NDArray[np.float64]:
    """KL(Bern(rate) ‖ Bern(population)) in bits, elementwise; 0·log 0 = 0."""
    return _xlogy_ratio(rates, population) + _xlogy_ratio(1 - rates, 1 - population)


def _xlogy_ratio(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """a · log2(a / b), 0 where a = 0 (b > 0 wherever a > 0, as b is a mixture of the a)."""
    b = np.broadcast_to(b, a.shape)
    safe = a > 0
    out = np.zeros_like(a)
    np.log2(np.divide(a, b, out=np.ones_like(a), where=safe), out=out, where=safe)
    return a * out


def _entropy_bits(p: NDArray[np.float64]) -> NDArray[np.float64]:
    return -(_xlogy_ratio(p, np.ones_like(p)) + _xlogy_ratio(1 - p, np.ones_like(p)))


def _null_group(
    unserved: NDArray[np.bool_],
    sizes: NDArray[np.int64],
    exposed: NDArray[np.float64],
    population: NDArray[np.float64],
) -> tuple[int, NDArray[np.float64]]:
    """Size of the no-cohort group and its rate minus the population rate, per label."""
    size = int(sizes[unserved].sum())
    if size == 0:
        return 0, np.zeros_like(population)
    return size, exposed[unserved].sum(axis=0) / size - population
