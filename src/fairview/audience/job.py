"""The cohort job: profiles → clustering → k_min merging → sensitivity audit → publish.

`fairview jobs cohorts` runs it once per epoch. Its inputs are the stored
profiles (allowlisted topics only) and, for the audit, the platform's watch
history of the window, read in memory: which viewer watched which video. The
job derives each viewer's sensitive exposure from the videos' labels for the
audit and discards it; exposure is never stored (spec/audience.md §4, as in
FLoC). Without history the cohorts cannot be audited and none is served.

Who is in: viewers with a profile whose newest recorded signal still allows
personalisation, who have not objected and have not paused. A cohort is served
only when it has at least `k_min` members and passed the audit; when the audit's
global checks fail (mutual information or the null group), the job re-clusters
with fewer, larger cohorts, and serves nothing if that fails too.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fairview.audience import topics as tx
from fairview.audience.classify import Classifier, VideoMeta
from fairview.audience.cohorts import NO_COHORT, CohortAssignment, assign_cohorts
from fairview.audience.profile import EPOCHS_KEPT, epoch_of, profile_matrix
from fairview.audience.serving import ServedCohorts, serve_audited
from fairview.consent.policy import Mode
from fairview.pseudonym import Pseudonymiser
from fairview.storage import Store
from fairview.storage.audience import VideoRecord
from fairview.storage.cohorts import CohortRecord, CohortRunRecord

DEFAULT_K_MIN = 2000
"""FLoC's minimum cohort size; smaller only for small (demo) populations, and said so."""
MAX_ATTEMPTS = 3
MAX_UNCLASSIFIED_SHARE = 0.05

SERVED = "served"
NOT_AUDITED = "not_audited"
FAILED_AUDIT = "failed_audit"
TOO_FEW = "too_few_viewers"


@dataclass(frozen=True, slots=True)
class HistoryView:
    """One view of the platform's watch history, as the audit reads it."""

    user_ref: str
    video_id: str
    meta: VideoMeta | None = None  # lets the job classify a video it has not seen


@dataclass(frozen=True, slots=True)
class JobResult:
    run: CohortRunRecord
    cohorts: tuple[CohortRecord, ...]
    members_written: int
    notes: tuple[str, ...] = field(default=())

    @property
    def served(self) -> tuple[CohortRecord, ...]:
        return tuple(c for c in self.cohorts if c.served)


@dataclass(frozen=True, slots=True)
class _Profiles:
    viewers: list[str]
    matrix: Any  # CSR (viewers × allowlisted topics), rows L1-normalised
    columns: list[int]  # topic id per column
    excluded: dict[str, int]


def run_cohort_job(
    store: Store,
    pseudonymiser: Pseudonymiser,
    *,
    now_ms: int,
    history: Iterable[HistoryView] | None,
    k_min: int = DEFAULT_K_MIN,
    clusters: int | None = None,
    seed: int | None = None,
    classifier: Classifier | None = None,
) -> JobResult:
    """Run one epoch's cohort job and publish its outcome (see the module docstring)."""
    started = time.perf_counter()
    seeded = seed is not None
    seed = secrets.randbits(62) if seed is None else seed
    epoch = epoch_of(now_ms)
    profiles = _load_profiles(store, epoch)
    notes: list[str] = []
    if k_min < DEFAULT_K_MIN:
        notes.append(
            f"k_min = {k_min} is below the default {DEFAULT_K_MIN}: acceptable only for a small "
            "demo or test population, never in production."
        )
    n = len(profiles.viewers)
    summary: dict[str, Any] = {
        "seeded": seeded,
        "profiled_viewers": n,
        "excluded": profiles.excluded,
        "k_min": k_min,
    }
    if n < k_min:
        notes.append(f"Only {n} viewers have a profile, fewer than k_min = {k_min}: no cohorts.")
        return _publish(store, epoch, now_ms, k_min, n, TOO_FEW, summary, [], [], notes, started)

    exposure, history_stats = (
        (None, {})
        if history is None
        else _exposure(store, pseudonymiser, profiles.viewers, history, now_ms, classifier)
    )
    summary["history"] = history_stats
    if exposure is None:
        notes.append(
            "No watch history was given, so the sensitivity audit could not run: cohorts are "
            "stored for inspection but none is served. Pass --history."
        )
    elif history_stats["unclassified_share"] > MAX_UNCLASSIFIED_SHARE:
        notes.append(
            f"{history_stats['unclassified_share']:.1%} of the history's views are of videos "
            "fairview has not classified (more than 5 %), so the audit would be blind to them: "
            "none is served. Send videos' metadata with /v1/views or in the history."
        )
        exposure = None

    attempts: list[dict[str, Any]] = []
    k = clusters
    assignment = None
    outcome: ServedCohorts | None = None
    for attempt in range(MAX_ATTEMPTS):
        assignment = assign_cohorts(profiles.matrix, k_min=k_min, n_clusters=k, seed=seed + attempt)
        if exposure is None:
            break
        outcome = serve_audited(assignment, profiles.matrix, exposure, seed=seed + attempt)
        attempts.append(_attempt_summary(assignment, outcome))
        if not outcome.final.recluster_needed:
            break
        k = max(2, assignment.fitted_clusters // 2)
    assert assignment is not None
    summary["attempts"] = attempts
    summary["timings_s"] = {k: round(v, 3) for k, v in assignment.timings.items()}

    if outcome is None:
        status = NOT_AUDITED
    elif outcome.final.recluster_needed:
        status = FAILED_AUDIT
        notes.append(
            "Even after re-clustering, the served cohorts together carry more than 1 % of a "
            f"sensitive label's entropy ({MAX_ATTEMPTS} attempts): no cohort is served this epoch."
        )
    elif not outcome.served.any():
        status = FAILED_AUDIT
        notes.append("Every cohort failed the sensitivity audit: no cohort is served this epoch.")
    else:
        status = SERVED
    cohorts = _cohort_records(assignment, outcome, profiles.columns, status)
    labels = assignment.labels if outcome is None else outcome.labels
    members = _members(profiles.viewers, labels, assignment.ids) if status == SERVED else []
    return _publish(
        store, epoch, now_ms, k_min, n, status, summary, cohorts, members, notes, started
    )


def _publish(
    store: Store,
    epoch: int,
    now_ms: int,
    k_min: int,
    viewers: int,
    status: str,
    summary: dict[str, Any],
    cohorts: list[CohortRecord],
    members: Iterable[tuple[str, int]],
    notes: list[str],
    started: float,
) -> JobResult:
    run_id = uuid.uuid4().hex
    cohorts = [
        CohortRecord(c.id, run_id, c.size, c.topics, c.served, c.reason, c.max_gap, c.max_lift)
        for c in cohorts
    ]
    summary = {
        **summary,
        "cohorts": len(cohorts),
        "served": sum(c.served for c in cohorts),
        "notes": notes,
        "seconds": round(time.perf_counter() - started, 3),
    }
    run = CohortRunRecord(run_id, now_ms, epoch, k_min, viewers, status, True, summary)
    written = store.cohorts.publish(run, cohorts, members)
    return JobResult(run, tuple(cohorts), written, tuple(notes))


def _load_profiles(store: Store, epoch: int) -> _Profiles:
    """Every candidate's profile, from one bulk read of the window's watch rows."""
    paused = store.audience.excluded_viewers()
    objectors = store.consents.objectors()
    modes = store.consents.latest_modes()
    blocks = store.audience.all_blocks()
    columns = sorted(tx.allowlist())
    rows = store.audience.watch_arrays(epoch - EPOCHS_KEPT + 1)
    excluded = {"paused": 0, "objected": 0, "no_longer_personalised": 0}
    candidate = np.ones(len(rows.viewers), dtype=np.bool_)
    blocked_viewer: list[int] = []
    blocked_topic: list[int] = []
    for index, viewer in enumerate(rows.viewers):
        if viewer in paused:
            reason = "paused"
        elif viewer in objectors:
            reason = "objected"
        elif modes.get(viewer, Mode.PERSONALISED.value) != Mode.PERSONALISED.value:
            reason = "no_longer_personalised"
        else:
            for topic in blocks.get(viewer, ()):
                blocked_viewer.append(index)
                blocked_topic.append(topic)
            continue
        excluded[reason] += 1
        candidate[index] = False
    kept = candidate[rows.viewer]
    blocked = np.asarray(blocked_viewer, dtype=np.int64), np.asarray(blocked_topic, dtype=np.int64)
    profiled, matrix = profile_matrix(
        rows.viewer[kept],
        rows.epoch[kept],
        rows.topic[kept],
        rows.seconds[kept],
        epoch,
        viewer_keys=rows.viewers,
        columns=columns,
        blocked=blocked,
    )
    viewers = [rows.viewers[i] for i in profiled]
    return _Profiles(viewers, matrix, columns, excluded)


def _exposure(
    store: Store,
    pseudonymiser: Pseudonymiser,
    viewers: list[str],
    history: Iterable[HistoryView],
    now_ms: int,
    classifier: Classifier | None,
) -> tuple[np.ndarray[Any, np.dtype[np.bool_]], dict[str, Any]]:
    """Per profiled viewer and sensitive label: watched ≥ 1 such video. Held in memory only."""
    labels = list(tx.SENSITIVE_LABELS)
    label_index = {label: i for i, label in enumerate(labels)}
    row_of = {v: i for i, v in enumerate(viewers)}
    exposure = np.zeros((len(viewers), len(labels)), dtype=np.bool_)
    views: list[tuple[int, str]] = []
    metas: dict[str, VideoMeta] = {}
    total = 0
    for view in history:
        total += 1
        row = row_of.get(pseudonymiser.viewer_key(view.user_ref))
        if row is None:
            continue  # not a cohort candidate: not part of the audited population
        views.append((row, view.video_id))
        if view.meta is not None:
            metas.setdefault(view.video_id, view.meta)
    known = store.audience.videos(v for _, v in views)
    missing = [v for v in metas if v not in known]
    if missing:
        known.update(_classify(store, classifier, {v: metas[v] for v in missing}, now_ms))
    unclassified = 0
    for row, video_id in views:
        record = known.get(video_id)
        if record is None:
            unclassified += 1
            continue
        for label in record.sensitive:
            exposure[row, label_index[label]] = True
    stats = {
        "views": total,
        "views_of_candidates": len(views),
        "unclassified_share": unclassified / len(views) if views else 0.0,
        "exposed_share": float(exposure.any(axis=1).mean()) if viewers else 0.0,
    }
    return exposure, stats


def _classify(
    store: Store,
    classifier: Classifier | None,
    metas: dict[str, VideoMeta],
    now_ms: int,
) -> dict[str, VideoRecord]:
    classifier = classifier or Classifier.load()
    ids = list(metas)
    found = classifier.classify_many([metas[i] for i in ids])
    records = {
        i: VideoRecord(i, c.topics, c.sensitive, classifier.path, now_ms)
        for i, c in zip(ids, found, strict=True)
    }
    store.audience.save_videos(records.values())
    return records


def _attempt_summary(assignment: CohortAssignment, outcome: ServedCohorts) -> dict[str, Any]:
    final = outcome.final
    return {
        "clusters_fitted": assignment.fitted_clusters,
        "cohorts": assignment.n_cohorts,
        "merges": assignment.merges,
        "blocked_by_gap": sum("gap" in r for r in outcome.reasons),
        "blocked_by_lift": sum("lift" in r for r in outcome.reasons),
        "dissolved_viewers": outcome.dissolved,
        "spread_viewers": outcome.spread,
        "dissolve_rounds": outcome.rounds,
        "mi_exceeded_labels": int(final.mi_exceeded.sum()),
        "mi_bits_max": round(float(final.mi_bits.max(initial=0.0)), 6),
        "mi_bias_bits": round(final.mi_bias_bits, 6),
        "null_group_size": final.null_size,
    }


def _cohort_records(
    assignment: CohortAssignment,
    outcome: ServedCohorts | None,
    columns: list[int],
    status: str,
) -> list[CohortRecord]:
    records = []
    for index in range(assignment.n_cohorts):
        top = tuple(columns[int(c)] for c in assignment.top_topics[index] if c >= 0)
        if outcome is None:
            served, reason, size, gap, lift = (
                False,
                NOT_AUDITED,
                int(assignment.sizes[index]),
                0.0,
                0.0,
            )
        else:
            reason = outcome.reasons[index]
            served = status == SERVED and bool(outcome.served[index])
            if not served and not reason:
                reason = status
            size = int(outcome.sizes[index] if outcome.served[index] else assignment.sizes[index])
            gap, lift = float(outcome.max_gap[index]), float(outcome.max_lift[index])
        records.append(
            CohortRecord(
                int(assignment.ids[index]), "", size, top, served, reason,
                round(gap, 4), round(lift, 3),
            )
        )  # fmt: skip
    return records


def _members(
    viewers: list[str], labels: NDArray[np.int64], ids: NDArray[np.int64]
) -> Iterator[tuple[str, int]]:
    for viewer, label in zip(viewers, labels, strict=True):
        if label != NO_COHORT:
            yield viewer, int(ids[label])
