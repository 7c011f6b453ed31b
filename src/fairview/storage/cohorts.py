"""Cohort runs, cohorts with their audit decisions, and the served membership.

Only the current run's served cohorts have members. Publishing a run replaces
the membership in one transaction, so a decision sees either the old epoch's
cohorts or the new one's, never a mix. Nothing here lists a cohort's members
except `members_for_staff`, which needs a stated purpose and writes the audit
log first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, delete, insert, or_, select, update

from fairview.errors import FairviewError
from fairview.storage.audit import AuditLog
from fairview.storage.engine import writer
from fairview.storage.schema import Cohort, CohortMember, CohortRun, ViewerSetting

MIN_PURPOSE_CHARS = 15
LABEL_CACHE_S = 1.0
_MEMBER_CHUNK = 20_000


@dataclass(frozen=True, slots=True)
class CohortRecord:
    id: int
    run_id: str
    size: int
    topics: tuple[int, ...]
    served: bool
    reason: str
    max_gap: float
    max_lift: float


@dataclass(frozen=True, slots=True)
class CohortRunRecord:
    id: str
    created_ms: int
    epoch: int
    k_min: int
    viewers: int
    status: str
    current: bool
    summary: Mapping[str, Any]


_COHORT_OF = (
    select(CohortMember.cohort_id)
    .outerjoin(ViewerSetting, ViewerSetting.viewer_key == CohortMember.viewer_key)
    .where(
        CohortMember.viewer_key == bindparam("v"),
        or_(ViewerSetting.paused.is_(None), ViewerSetting.paused.is_(False)),
    )
)


class CohortStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = writer(engine)
        self._labels: tuple[dict[str, tuple[int, ...]], float] = ({}, -1e9)

    def publish(
        self,
        run: CohortRunRecord,
        cohorts: Sequence[CohortRecord],
        members: Iterable[tuple[str, int]],
    ) -> int:
        """Make `run` current with its cohorts; members only of served cohorts are kept."""
        served = {c.id for c in cohorts if c.served}
        with self._write.begin() as conn:
            conn.execute(update(CohortRun).values(current=False))
            conn.execute(
                insert(CohortRun),
                {
                    "id": run.id,
                    "created_ms": run.created_ms,
                    "epoch": run.epoch,
                    "k_min": run.k_min,
                    "viewers": run.viewers,
                    "status": run.status,
                    "current": True,
                    "summary": json.dumps(dict(run.summary), sort_keys=True),
                },
            )
            if cohorts:
                conn.execute(insert(Cohort), [_cohort_row(c) for c in cohorts])
            conn.execute(delete(CohortMember))
            written = 0
            chunk: list[dict[str, object]] = []
            for viewer, cohort in members:
                if cohort in served:
                    chunk.append({"viewer_key": viewer, "cohort_id": cohort, "run_id": run.id})
                if len(chunk) >= _MEMBER_CHUNK:
                    conn.execute(insert(CohortMember), chunk)
                    written += len(chunk)
                    chunk = []
            if chunk:
                conn.execute(insert(CohortMember), chunk)
                written += len(chunk)
        self._labels = ({}, -1e9)  # this process sees the new labels at once
        return written

    def topics_of(self, cohort: str) -> tuple[int, ...]:
        """The label topics of a served cohort of the current run (cached for a second)."""
        now = time.monotonic()
        labels, at = self._labels
        if now - at > LABEL_CACHE_S:
            labels = {str(c.id): c.topics for c in self.served()}
            self._labels = (labels, now)
        return labels.get(cohort, ())

    def cohort_of(self, viewer_key: str) -> str | None:
        """The viewer's served cohort as targeting sees it, None when none or paused."""
        with self._engine.connect() as conn:
            found = conn.execute(_COHORT_OF, {"v": viewer_key}).scalar()
        return None if found is None else str(found)

    def current_run(self) -> CohortRunRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(CohortRun).where(CohortRun.current.is_(True))).first()
        return None if row is None else _run(row)

    def runs(self, limit: int = 20) -> list[CohortRunRecord]:
        query = select(CohortRun).order_by(CohortRun.created_ms.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [_run(r) for r in conn.execute(query)]

    def cohorts(self, run_id: str) -> list[CohortRecord]:
        query = select(Cohort).where(Cohort.run_id == run_id).order_by(Cohort.size.desc())
        with self._engine.connect() as conn:
            return [_cohort(r) for r in conn.execute(query)]

    def served(self) -> list[CohortRecord]:
        """The current run's served cohorts (what advertisers may target)."""
        run = self.current_run()
        return [] if run is None else [c for c in self.cohorts(run.id) if c.served]

    def members_for_staff(
        self, cohort_id: int, *, actor: str, purpose: str, audit: AuditLog, now_ms: int
    ) -> list[str]:
        """The pseudonyms in a cohort, for staff with a stated purpose; audited before reading."""
        if len(purpose.strip()) < MIN_PURPOSE_CHARS or not actor.strip():
            raise FairviewError(
                "purpose_required",
                "Listing a cohort's members needs who you are and a stated purpose of at least "
                f"{MIN_PURPOSE_CHARS} characters (for example a data-subject request number); "
                "it is written to the audit log.",
                status=400,
            )
        query = select(CohortMember.viewer_key).where(CohortMember.cohort_id == cohort_id)
        with self._engine.connect() as conn:
            members = sorted(conn.execute(query).scalars())
        audit.append(
            actor=actor.strip(),
            action="cohort.members.read",
            purpose=purpose.strip(),
            subject=f"cohort:{cohort_id}",
            detail={"members": len(members)},
            now_ms=now_ms,
        )
        return members


def _cohort_row(c: CohortRecord) -> dict[str, object]:
    return {
        "id": c.id,
        "run_id": c.run_id,
        "size": c.size,
        "topics": json.dumps(list(c.topics)),
        "served": c.served,
        "reason": c.reason,
        "max_gap": c.max_gap,
        "max_lift": c.max_lift,
    }


def _cohort(row: Any) -> CohortRecord:
    return CohortRecord(
        int(row.id),
        row.run_id,
        int(row.size),
        tuple(int(t) for t in json.loads(row.topics)),
        bool(row.served),
        row.reason,
        float(row.max_gap),
        float(row.max_lift),
    )


def _run(row: Any) -> CohortRunRecord:
    return CohortRunRecord(
        row.id,
        int(row.created_ms),
        int(row.epoch),
        int(row.k_min),
        int(row.viewers),
        row.status,
        bool(row.current),
        json.loads(row.summary),
    )
