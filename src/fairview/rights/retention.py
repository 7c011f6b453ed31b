"""The retention job: delete what is older than its registry category's period.

Periods are days per category (`fairview.registry.RETENTION`, overridden by
FAIRVIEW_RETENTION_DAYS). Each table with a period loses the rows whose clock
column is older than now minus the period; the Redis counters expire on their
own fixed window. Running it twice removes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fairview.rights.mirrors import mirrors
from fairview.storage import Store

DAY_MS = 86_400_000
ACTOR = "fairview jobs retention"


@dataclass(frozen=True, slots=True)
class RetentionReport:
    now_ms: int
    dry_run: bool
    days: dict[str, int]
    removed: dict[str, int | None]  # None: a store that cannot count in a dry run
    storage_compacted: bool | None

    @property
    def total(self) -> int:
        return sum(n for n in self.removed.values() if n is not None)


def run_retention(
    store: Store, days: Mapping[str, int], now_ms: int, *, dry_run: bool = False
) -> RetentionReport:
    """Delete (or, with `dry_run`, count) everything past its period, and report per table."""
    cutoffs = {category: now_ms - d * DAY_MS for category, d in days.items()}
    removed: dict[str, int | None] = dict(store.rights.expire(cutoffs, dry_run=dry_run))
    compacted = None
    for name, mirror in mirrors(store).items():
        removed[name] = None if dry_run else mirror.expire(now_ms)
    if not dry_run:
        compacted = store.rights.compact()
        store.audit.append(
            actor=ACTOR,
            action="retention.run",
            purpose="delete personal data past its retention period (GDPR Art. 5(1)(e))",
            subject="retention",
            detail={"removed": removed, "days": dict(days)},
            now_ms=now_ms,
        )
    return RetentionReport(now_ms, dry_run, dict(days), removed, compacted)
