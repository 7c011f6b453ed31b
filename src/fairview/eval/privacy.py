"""Leakage evaluation: can an advertiser infer a hidden sensitive trait from the cohorts it reaches?

Issue 5, after the TikTok story in spec/audience.md: viewers were sorted into
clusters such as "LGBT" by what they watched. Here a simulated population
carries a hidden binary trait that drives viewing of content with one
sensitive label (S, `planted_label`) strongly and shifts a few ordinary,
allowlisted topics moderately (proxies: a denylist does not remove them).
Two pipelines cluster the same viewers in the same run:

- **fairview**: profiles over allowlisted topics only (S views write nothing),
  L1-normalised → `assign_cohorts` with `k_min` → `serve_audited`: the
  sensitivity `audit` on per-viewer S exposure, blocked cohorts dissolved into
  surviving ones and audited again (the cohort job's own code path).
- **naive**: the same MiniBatchKMeans on raw watch shares over *all* content,
  S labels included, the same K, no minimum size, no audit; every cluster is served.

The attacker is an advertiser that knows, per viewer, which cohort reached the
viewer (one-hot; "no cohort" is a value of its own) and the hidden trait for
a training share of viewers: a logistic regression, scored by stratified
k-fold ROC AUC. Reports are DP aggregates and name no viewer, so they add
nothing per viewer and are not modelled. Utility is the focused-view lift of
cohort-targeted campaigns over untargeted (random-campaign) delivery, both
pipelines delivering to the same viewers with the same random numbers.

Pure and seeded: the same `seed` gives the same figures (except `seconds`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.model_selection import StratifiedKFold, cross_val_score  # type: ignore[import-untyped]
from sklearn.preprocessing import OneHotEncoder  # type: ignore[import-untyped]

from fairview.audience.cohorts import NO_COHORT, TOP_TOPICS, assign_cohorts, make_kmeans
from fairview.audience.sensitivity import AuditResult
from fairview.audience.serving import ServedCohorts, serve_audited
from fairview.audience.topics import SENSITIVE_LABELS, SEX_LIFE, allowlist, root_of
from fairview.sim.behaviour import ARCHETYPE_SHARES, PROFILES, Archetype

DEFAULT_USERS = 50_000
DEFAULT_SEED = 7
MAX_FAIRVIEW_AUC = 0.55
MIN_NAIVE_AUC = 0.80
MIN_UTILITY_RATIO = 0.80
BAR_FAIRVIEW_AUC = f"attacker_auc_fairview <= {MAX_FAIRVIEW_AUC:.2f}"
BAR_NAIVE_AUC = f"attacker_auc_naive >= {MIN_NAIVE_AUC:.2f}"
BAR_UTILITY = f"utility_ratio >= {MIN_UTILITY_RATIO:.2f}"


@dataclass(frozen=True, slots=True)
class World:
    """The simulated population: ordinary interests, the planted trait and its proxies.

    A viewer's true interests are a few *tastes* (allowlisted topics with a
    weight): `primary_tastes` topics of one latent interest group and, for a
    `secondary_share` of viewers, `secondary_tastes` of a second group. Views in
    the window number Poisson(Gamma(`views_shape`, mean `mean_views`)): a
    `explore_share` of them land on allowlisted topics outside the tastes (by a
    Zipf popularity), the S-labelled share as below, the rest on the tastes in
    proportion to their weights.
    """

    interest_groups: int = 30
    """Latent interest groups: sets of topics that tend to be liked together."""
    topics_per_group: int = 6
    group_root_topics: int = 4
    """How many of a group's topics come from one root of the taxonomy (the rest: any topic)."""
    primary_tastes: int = 3
    secondary_share: float = 0.5
    secondary_tastes: int = 2
    mean_views: float = 60.0
    """Mean videos watched per viewer in the window."""
    views_shape: float = 2.0
    """Gamma shape of the per-viewer mean: lower is more spread between light and heavy viewers."""
    explore_share: float = 0.10
    explore_zipf: float = 1.0

    prevalence: float = 0.10
    """Share of viewers with the hidden trait."""
    planted_label: str = SEX_LIFE
    """The S label whose content the trait drives (the seed story's "LGBT" cluster)."""
    holder_sensitive_share: float = 0.30
    """Share of a trait holder's views on content with the planted label.

    At 0.15 the naive k-means does not isolate holders (AUC 0.61 on seed 7), so
    the seed story's premise fails; fairview's AUC hardly depends on it
    (docs/privacy-eval.md has the sweep).
    """
    other_watchers: float = 0.20
    """Share of viewers without the trait who watch such content at all (allies, the curious)."""
    other_sensitive_share: float = 0.01
    """Share of those viewers' views on it."""

    proxy_topics: int = 4
    """Ordinary allowlisted topics (drawn at random per seed) the trait shifts: the proxies."""
    proxy_adoption_holders: float = 0.25
    """Chance that a trait holder has a given proxy topic as one more taste."""
    proxy_adoption_others: float = 0.04
    """The same chance for everybody else."""

    background_watchers: float = 0.15
    """For each other S label, the share of viewers (trait or not) who watch such content."""
    background_share: float = 0.02
    """Share of those viewers' views on that label."""


@dataclass(frozen=True, slots=True)
class Design:
    """How the pipelines are configured, how delivery is scored, and the two mutation switches.

    K = round(users / `viewers_per_cluster`) for both pipelines. The spec's
    k_min of 2,000 is for K ≈ N / 10,000 over millions of viewers, i.e. a fifth
    of the mean cohort; at simulation scale k_min keeps that ratio:
    k_min = max(`k_min_floor`, round(`k_min_ratio` × users / K)).

    Focused view: a viewer's archetype (`fairview.sim.behaviour`) leaves an ad
    early with probability `early_exit`; an ad on a topic the viewer likes
    lowers it: P(focused) = 1 − early_exit × (1 − `match_effect` × affinity),
    where affinity is the viewer's true taste weight for the ad's topic divided
    by their largest taste weight (1 for the favourite topic, 0 for a topic
    they do not like).

    `sensitive_in_profiles` and `audit_enabled` exist to show what protects:
    the tests flip them (S views written into the profiles; no audit) and
    measure the change in leakage. The product never flips them.
    """

    viewers_per_cluster: int = 1_000
    k_min_ratio: float = 0.2
    k_min_floor: int = 50
    folds: int = 5
    impressions: int = 4
    """Ads delivered per viewer."""
    match_effect: float = 0.5
    sensitive_in_profiles: bool = False
    audit_enabled: bool = True

    def clusters(self, users: int) -> int:
        return max(2, round(users / self.viewers_per_cluster))

    def k_min(self, users: int) -> int:
        return max(self.k_min_floor, round(self.k_min_ratio * users / self.clusters(users)))

    def k_min_rule(self) -> str:
        return (
            f"k_min = max({self.k_min_floor}, round({self.k_min_ratio} × users / K)), "
            f"K = round(users / {self.viewers_per_cluster}): the spec's 2,000 is a fifth of "
            "the mean cohort at K ≈ N / 10,000 over millions of viewers"
        )


@dataclass(frozen=True, slots=True, eq=False)
class Population:
    """One simulated population. Profile columns are allowlisted topics; S views are apart."""

    topics: NDArray[np.int64]  # Topics v2 id per profile column
    watch: Any  # CSR (viewers × topics): views of allowlisted topics
    labels: tuple[str, ...]  # S label per column of `sensitive`
    sensitive: NDArray[np.int64]  # (viewers × labels): views of S-labelled videos
    trait: NDArray[np.bool_]  # the hidden attribute
    taste_columns: NDArray[np.int64]  # (viewers × slots): profile column per taste, -1 none
    affinity: NDArray[np.float64]  # (viewers × slots): taste weight / the viewer's largest
    early_exit: NDArray[np.float64]  # per viewer, from the archetype
    proxies: NDArray[np.int64]  # profile columns of the proxy topics

    @property
    def users(self) -> int:
        return int(self.trait.size)

    def exposure(self) -> NDArray[np.bool_]:
        """Per viewer and S label: watched ≥ 1 such video (the audit's transient input)."""
        return np.asarray(self.sensitive > 0)


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """One pipeline's cohorts, what the attacker made of them, and their utility."""

    clusters_fitted: int
    cohorts: int  # after k_min merging (naive: the non-empty clusters)
    cohorts_served: int
    cohorts_blocked: int
    viewers_served: int  # viewers reached through a served cohort
    smallest_served: int  # members of the smallest served cohort, 0 when none
    attacker_auc: float  # mean over folds
    attacker_auc_std: float  # across folds
    attacker_auc_served: float  # the same attack on viewers with a served cohort only
    unserved_trait_rate: float  # trait share among viewers without a served cohort (truth)
    focused_view_rate: float  # cohort-targeted delivery (unserved viewers: untargeted ads)
    lift: float  # focused_view_rate / untargeted rate − 1

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class AuditSummary:
    """The fairview audit's global checks (nothing per viewer, nothing per cohort × label).

    Figures are of what is served, after blocked cohorts were dissolved;
    `publishable` is the cohort job's gate (docs/cohorts.md).
    """

    enabled: bool
    viewers_blocked: int  # members of blocked cohorts, moved into served cohorts
    null_ok: bool  # viewers without a cohort within 0.02 of the population on every label
    null_gap_planted: float  # their planted-label exposure rate − the population's
    recluster_needed: bool  # the global mutual-information check failed for some label
    mi_fraction_planted: float  # I(C; S) / H(S) for the planted label

    @property
    def publishable(self) -> bool:
        """The cohort job's gate: the served cohorts pass the mutual-information check.

        `null_ok` is reported, not gated: after dissolving, the only viewers without
        a cohort are those without a profile (they watched nothing allowlisted).
        """
        return not self.recluster_needed

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__} | {
            "publishable": self.publishable
        }


@dataclass(frozen=True, slots=True)
class PrivacyEval:
    """The result of one leakage evaluation."""

    users: int
    seed: int
    k_min: int
    k_min_rule: str
    clusters: int  # K given to k-means in both pipelines
    prevalence: float  # observed share of trait holders
    planted_exposure_holders: float  # holders with ≥ 1 planted-label view
    planted_exposure_others: float
    proxy_topics: tuple[int, ...]  # Topics v2 ids
    profile_attacker_auc: float  # the attack given each viewer's whole allowlisted watch vector
    fairview: PipelineResult
    naive: PipelineResult
    audit: AuditSummary
    untargeted_rate: float  # focused-view rate of random-campaign delivery to the same viewers
    utility_ratio: float  # fairview lift / naive lift
    seconds: float
    passed: Mapping[str, bool]  # bar -> met

    def to_json(self) -> dict[str, Any]:
        """One flat-headed JSON object: the issue's keys first, details under their pipeline."""
        return {
            "attacker_auc_fairview": self.fairview.attacker_auc,
            "attacker_auc_naive": self.naive.attacker_auc,
            "utility_fairview": self.fairview.focused_view_rate,
            "utility_naive": self.naive.focused_view_rate,
            "utility_untargeted": self.untargeted_rate,
            "lift_fairview": self.fairview.lift,
            "lift_naive": self.naive.lift,
            "utility_ratio": self.utility_ratio,
            "k_min": self.k_min,
            "k_min_rule": self.k_min_rule,
            "clusters": self.clusters,
            "users": self.users,
            "seed": self.seed,
            "prevalence": self.prevalence,
            "planted_exposure_holders": self.planted_exposure_holders,
            "planted_exposure_others": self.planted_exposure_others,
            "proxy_topics": list(self.proxy_topics),
            "profile_attacker_auc": self.profile_attacker_auc,
            "fairview": self.fairview.to_json(),
            "naive": self.naive.to_json(),
            "audit": self.audit.to_json(),
            "seconds": self.seconds,
            "passed": dict(self.passed),
        }


@dataclass(frozen=True, slots=True, eq=False)
class PipelineRun:
    """One pipeline's output: what the advertiser can observe per viewer, and campaign topics."""

    served: NDArray[np.int64]  # cohort index per viewer, NO_COHORT for none or blocked
    top_topics: NDArray[np.int64]  # (cohorts × 3) profile columns, -1 pads
    sizes: NDArray[np.int64]  # members per cohort index as served (0 when dissolved)
    fitted: int
    audit: AuditResult | None  # of what is served (after dissolving), None when switched off
    outcome: ServedCohorts | None = None


def evaluate_privacy(
    users: int = DEFAULT_USERS,
    seed: int = DEFAULT_SEED,
    *,
    world: World | None = None,
    design: Design | None = None,
) -> PrivacyEval:
    """Simulate `users` viewers from `seed`, run both pipelines, attack them and score delivery."""
    world = world or World()
    design = design or Design()
    if users < 2 * design.folds:
        raise ValueError(f"need at least {2 * design.folds} users, got {users}")
    started = time.perf_counter()
    streams = np.random.SeedSequence(seed).spawn(4)
    pop = simulate(world, users, np.random.default_rng(streams[0]))
    cohort_seed = int(streams[1].generate_state(1)[0])
    clusters, k_min = design.clusters(users), design.k_min(users)
    fv = fairview_pipeline(
        pop,
        k_min=k_min,
        clusters=clusters,
        seed=cohort_seed,
        sensitive_in_profiles=design.sensitive_in_profiles,
        audit_enabled=design.audit_enabled,
    )
    nv = naive_pipeline(pop, clusters=clusters, seed=cohort_seed)
    attack_seed = int(streams[2].generate_state(1)[0])
    untargeted, (rate_fv, rate_nv) = deliver(
        pop, [fv, nv], design, np.random.default_rng(streams[3])
    )
    fairview = _summary(fv, pop.trait, rate_fv, untargeted, folds=design.folds, seed=attack_seed)
    naive = _summary(nv, pop.trait, rate_nv, untargeted, folds=design.folds, seed=attack_seed)
    ratio = fairview.lift / naive.lift if naive.lift > 0 else float("nan")
    planted = pop.labels.index(world.planted_label)
    exposed = pop.exposure()[:, planted]
    return PrivacyEval(
        users=users,
        seed=seed,
        k_min=k_min,
        k_min_rule=design.k_min_rule(),
        clusters=clusters,
        prevalence=float(pop.trait.mean()),
        planted_exposure_holders=_mean(exposed[pop.trait]),
        planted_exposure_others=_mean(exposed[~pop.trait]),
        proxy_topics=tuple(int(t) for t in pop.topics[pop.proxies]),
        profile_attacker_auc=profile_attacker_auc(pop, folds=design.folds, seed=attack_seed),
        fairview=fairview,
        naive=naive,
        audit=_audit_summary(fv, planted, design.audit_enabled),
        untargeted_rate=untargeted,
        utility_ratio=ratio,
        seconds=time.perf_counter() - started,
        passed={
            BAR_FAIRVIEW_AUC: fairview.attacker_auc <= MAX_FAIRVIEW_AUC,
            BAR_NAIVE_AUC: naive.attacker_auc >= MIN_NAIVE_AUC,
            BAR_UTILITY: bool(ratio >= MIN_UTILITY_RATIO),
        },
    )


# --- the world -------------------------------------------------------------------------------


def simulate(world: World, users: int, rng: np.random.Generator) -> Population:
    """Draw `users` viewers: tastes, the hidden trait, proxies, archetypes and their views."""
    topics = np.array(sorted(allowlist()), dtype=np.int64)
    labels = tuple(SENSITIVE_LABELS)
    if world.planted_label not in labels:
        raise ValueError(f"unknown S label: {world.planted_label!r}")
    n_topics = topics.size
    groups = _interest_groups(world, topics, rng)
    trait = rng.random(users) < world.prevalence
    primary = _tastes_of(
        groups, rng.integers(groups.shape[0], size=users), world.primary_tastes, rng
    )
    secondary = _tastes_of(
        groups, rng.integers(groups.shape[0], size=users), world.secondary_tastes, rng
    )
    secondary[rng.random(users) >= world.secondary_share] = -1
    proxies = rng.choice(n_topics, size=world.proxy_topics, replace=False).astype(np.int64)
    adoption = np.where(trait, world.proxy_adoption_holders, world.proxy_adoption_others)
    adopted = rng.random((users, proxies.size)) < adoption[:, None]
    proxy_tastes = np.where(adopted, proxies[None, :], -1)
    columns = np.hstack([primary, secondary, proxy_tastes])
    weights = rng.exponential(size=columns.shape) * (columns >= 0)
    weights /= weights.sum(axis=1, keepdims=True)  # every viewer has primary tastes

    views = rng.poisson(rng.gamma(world.views_shape, world.mean_views / world.views_shape, users))
    shares = _sensitive_shares(world, labels, trait, rng)
    sensitive = rng.poisson(views[:, None] * shares).astype(np.int64)
    budget = views * np.clip(1.0 - world.explore_share - shares.sum(axis=1), 0.0, 1.0)
    taste_views = rng.poisson(budget[:, None] * weights)
    explore = rng.poisson(views * world.explore_share)
    popularity = 1.0 / np.arange(1, n_topics + 1) ** world.explore_zipf
    ranked = rng.permutation(n_topics)
    explored = ranked[
        rng.choice(n_topics, size=int(explore.sum()), p=popularity / popularity.sum())
    ]
    rows = np.r_[
        np.repeat(np.arange(users), columns.shape[1]), np.repeat(np.arange(users), explore)
    ]
    cols = np.r_[columns.ravel(), explored]
    data = np.r_[taste_views.ravel(), np.ones(explored.size, dtype=np.int64)]
    keep = (cols >= 0) & (data > 0)
    watch = sparse.csr_matrix(
        (data[keep].astype(np.float32), (rows[keep], cols[keep])), shape=(users, n_topics)
    )
    watch.sum_duplicates()

    archetypes = list(ARCHETYPE_SHARES)
    probs = np.array([ARCHETYPE_SHARES[a] for a in archetypes])
    exits = np.array([PROFILES[Archetype(a)].early_exit for a in archetypes])
    early_exit = exits[rng.choice(len(archetypes), size=users, p=probs / probs.sum())]
    return Population(
        topics=topics,
        watch=watch,
        labels=labels,
        sensitive=sensitive,
        trait=trait,
        taste_columns=columns,
        affinity=weights / weights.max(axis=1, keepdims=True),
        early_exit=early_exit,
        proxies=proxies,
    )


def _interest_groups(
    world: World, topics: NDArray[np.int64], rng: np.random.Generator
) -> NDArray[np.int64]:
    """(groups × topics_per_group) profile columns: mostly one root's subtree, some anywhere."""
    roots = np.array([root_of(int(t)) for t in topics])
    root_ids, root_sizes = np.unique(roots, return_counts=True)
    out = np.empty((world.interest_groups, world.topics_per_group), dtype=np.int64)
    for g in range(world.interest_groups):
        root = rng.choice(root_ids, p=root_sizes / root_sizes.sum())
        subtree = np.flatnonzero(roots == root)
        near = rng.choice(subtree, size=min(world.group_root_topics, subtree.size), replace=False)
        rest = np.setdiff1d(np.arange(topics.size), near)
        far = rng.choice(rest, size=world.topics_per_group - near.size, replace=False)
        out[g] = np.r_[near, far]
    return out


def _tastes_of(
    groups: NDArray[np.int64], group: NDArray[np.int64], count: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """`count` distinct topics per viewer from their group, drawn without replacement."""
    order = np.argsort(rng.random((group.size, groups.shape[1])), axis=1)[:, :count]
    return np.take_along_axis(groups[group], order, axis=1)


def _sensitive_shares(
    world: World, labels: tuple[str, ...], trait: NDArray[np.bool_], rng: np.random.Generator
) -> NDArray[np.float64]:
    """(viewers × labels): the share of each viewer's views on each S label."""
    users = trait.size
    shares = np.where(
        rng.random((users, len(labels))) < world.background_watchers, world.background_share, 0.0
    )
    planted = labels.index(world.planted_label)
    watcher = rng.random(users) < world.other_watchers
    others = np.where(watcher, world.other_sensitive_share, 0.0)
    shares[:, planted] = np.where(trait, world.holder_sensitive_share, others)
    return shares


# --- the pipelines ---------------------------------------------------------------------------


def fairview_pipeline(
    pop: Population,
    *,
    k_min: int,
    clusters: int,
    seed: int,
    sensitive_in_profiles: bool = False,
    audit_enabled: bool = True,
) -> PipelineRun:
    """Allowlist-only profiles → `assign_cohorts` (k_min) → `serve_audited` (the cohort job's)."""
    watch = pop.watch
    if sensitive_in_profiles:  # mutation only: S views written into the profile
        watch = sparse.hstack([watch, sparse.csr_matrix(pop.sensitive, dtype=np.float32)])
    rows = _l1(watch)
    cohorts = assign_cohorts(rows, k_min=k_min, n_clusters=clusters, seed=seed)
    top = (
        _top_topics(cohorts.centroids[:, : pop.topics.size])
        if sensitive_in_profiles
        else cohorts.top_topics
    )
    if not audit_enabled:
        return PipelineRun(cohorts.labels, top, cohorts.sizes, cohorts.fitted_clusters, None)
    outcome = serve_audited(cohorts, rows, pop.exposure(), seed=seed)
    return PipelineRun(
        outcome.labels, top, outcome.sizes, cohorts.fitted_clusters, outcome.final, outcome
    )


def naive_pipeline(pop: Population, *, clusters: int, seed: int) -> PipelineRun:
    """The baseline: k-means on raw watch shares over all content (S included); all served.

    The same MiniBatchKMeans (`make_kmeans`) and K as fairview, so the only
    differences are the S columns, the missing k_min and the missing audit.
    Viewers who watched nothing get no cluster, as in fairview.
    """
    raw = _l1(sparse.hstack([pop.watch, sparse.csr_matrix(pop.sensitive, dtype=np.float32)]))
    present = np.flatnonzero(np.asarray(raw.sum(axis=1)).ravel() > 0)
    fitted = make_kmeans(min(clusters, present.size), seed=seed).fit(raw[present])
    served = np.full(pop.users, NO_COHORT, dtype=np.int64)
    served[present] = np.asarray(fitted.labels_, dtype=np.int64)
    centroids = np.asarray(fitted.cluster_centers_, dtype=np.float64)
    sizes = np.bincount(served[present], minlength=centroids.shape[0]).astype(np.int64)
    return PipelineRun(served, _top_topics(centroids[:, : pop.topics.size]), sizes, clusters, None)


def _l1(matrix: Any) -> Any:
    """Rows scaled to sum to 1 (empty rows stay empty), as CSR float32."""
    csr = sparse.csr_matrix(matrix, dtype=np.float32)
    sums = np.asarray(csr.sum(axis=1), dtype=np.float64).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return sparse.csr_matrix(sparse.diags(scale.astype(np.float32)) @ csr)


def _top_topics(centroids: NDArray[np.floating[Any]]) -> NDArray[np.int64]:
    """The TOP_TOPICS heaviest columns per centroid, -1 where the weight is 0 (as the core)."""
    order = np.argsort(-centroids, axis=1, kind="stable")[:, :TOP_TOPICS]
    weights = np.take_along_axis(centroids, order, axis=1)
    return np.where(weights > 0, order, -1).astype(np.int64)


# --- the attacker ----------------------------------------------------------------------------


def attacker_auc(
    served: NDArray[np.int64], trait: NDArray[np.bool_], *, folds: int, seed: int
) -> tuple[float, float]:
    """Mean and standard deviation over stratified folds of the attacker's ROC AUC.

    Features: the one-hot cohort that reached each viewer, NO_COHORT as a value
    of its own. The categories are the set of ids (no label information), so
    encoding before the split leaks nothing into the test folds.
    """
    if np.bincount(trait.astype(np.int64), minlength=2).min() < folds:
        return float("nan"), float("nan")  # too few of a class to stratify: nothing to score
    if np.unique(served).size == 1:
        return 0.5, 0.0  # one value for everybody carries nothing
    features = OneHotEncoder(handle_unknown="ignore").fit_transform(served.reshape(-1, 1))
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed % 2**32)
    scores = cross_val_score(
        LogisticRegression(max_iter=1_000), features, trait, cv=splits, scoring="roc_auc"
    )
    return float(np.mean(scores)), float(np.std(scores))


def profile_attacker_auc(pop: Population, *, folds: int, seed: int) -> float:
    """The attack given each viewer's L1-normalised allowlisted watch vector, not a cohort.

    No advertiser sees this (profiles never leave the server); it measures how
    strong the proxies in the simulated world are, i.e. how much any cohorting
    of allowlist-only profiles could leak at most, so a run shows that the
    proxies did not vanish.
    """
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed % 2**32)
    scores = cross_val_score(
        LogisticRegression(max_iter=1_000), _l1(pop.watch), pop.trait, cv=splits, scoring="roc_auc"
    )
    return float(np.mean(scores))


# --- delivery and utility --------------------------------------------------------------------


def deliver(
    pop: Population, runs: Sequence[PipelineRun], design: Design, rng: np.random.Generator
) -> tuple[float, list[float]]:
    """Focused-view rates: untargeted delivery, then cohort-targeted delivery per pipeline.

    Each viewer gets `design.impressions` ads. Untargeted: a campaign drawn
    uniformly from the market, which is one campaign per topic that labels some
    served cohort of any pipeline. Targeted: a campaign on one of the viewer's
    served cohort's top topics, drawn uniformly; a viewer without a served
    cohort (blocked, or no profile) gets the untargeted ad. All pipelines use
    the same draws (common random numbers), so differences are the targeting's.
    """
    shape = (pop.users, design.impressions)
    outcome, pick, market_pick = rng.random(shape), rng.random(shape), rng.random(shape)
    tops = [r.top_topics[r.served[r.served != NO_COHORT]] for r in runs]
    market = np.unique(np.concatenate([t[t >= 0] for t in tops] + [np.zeros(0, np.int64)]))
    if market.size == 0:
        market = np.arange(pop.topics.size)
    untargeted_ads = market[(market_pick * market.size).astype(np.int64)]
    untargeted = _focused_rate(pop, untargeted_ads, outcome, design.match_effect)
    rates = []
    for run in runs:
        ads = untargeted_ads.copy()
        has = run.served != NO_COHORT
        top = run.top_topics[run.served[has]]
        valid = (top >= 0).sum(axis=1)  # -1 pads only trail the real topics
        index = np.minimum((pick[has] * valid[:, None]).astype(np.int64), TOP_TOPICS - 1)
        ads[has] = np.take_along_axis(top, index, axis=1)
        rates.append(_focused_rate(pop, ads, outcome, design.match_effect))
    return untargeted, rates


def _focused_rate(
    pop: Population, ads: NDArray[np.int64], outcome: NDArray[np.float64], match_effect: float
) -> float:
    """Share of impressions that are focused views: outcome < 1 − exit × (1 − effect × affinity)."""
    matches = pop.taste_columns[:, None, :] == ads[:, :, None]
    affinity = (matches * pop.affinity[:, None, :]).sum(axis=2).clip(max=1.0)
    focused = 1.0 - pop.early_exit[:, None] * (1.0 - match_effect * affinity)
    return float((outcome < focused).mean())


# --- summaries -------------------------------------------------------------------------------


def _summary(
    run: PipelineRun,
    trait: NDArray[np.bool_],
    rate: float,
    untargeted: float,
    *,
    folds: int,
    seed: int,
) -> PipelineResult:
    has = run.served != NO_COHORT
    served_ids = np.unique(run.served[has])
    blocked = 0 if run.outcome is None else int((~run.outcome.served).sum())
    auc, std = attacker_auc(run.served, trait, folds=folds, seed=seed)
    return PipelineResult(
        clusters_fitted=run.fitted,
        cohorts=int((run.sizes > 0).sum()),
        cohorts_served=int(served_ids.size),
        cohorts_blocked=blocked,
        viewers_served=int(has.sum()),
        smallest_served=int(run.sizes[served_ids].min()) if served_ids.size else 0,
        attacker_auc=auc,
        attacker_auc_std=std,
        attacker_auc_served=attacker_auc(run.served[has], trait[has], folds=folds, seed=seed)[0],
        unserved_trait_rate=_mean(trait[~has]),
        focused_view_rate=rate,
        lift=rate / untargeted - 1.0 if untargeted > 0 else float("nan"),
    )


def _audit_summary(run: PipelineRun, planted: int, enabled: bool) -> AuditSummary:
    result = run.audit
    if result is None:
        return AuditSummary(enabled, 0, True, float("nan"), False, float("nan"))
    entropy = float(result.entropy_bits[planted])
    return AuditSummary(
        enabled=enabled,
        viewers_blocked=0 if run.outcome is None else run.outcome.dissolved,
        null_ok=result.null_ok,
        null_gap_planted=float(result.null_gap[planted]),
        recluster_needed=result.recluster_needed,
        mi_fraction_planted=float(result.mi_bits[planted]) / entropy if entropy > 0 else 0.0,
    )


def _mean(values: NDArray[np.bool_]) -> float:
    return float(values.mean()) if values.size else float("nan")
