"""`fairview jobs repository`: the ad repository's reach per ad and member state, released with DP.

DSA Art. 39(2)(g) asks for the total number of recipients reached, broken down
by member state. fairview releases it with the same mechanism and thresholds as
advertiser reports (`dp_unit_counts`): the viewer is the privacy unit (a delivery
without a pseudonym is its own unit, so such counts are upper bounds of people),
at most `MAX_ADS_PER_VIEWER` (ad, member state) cells per viewer count, cells
under `PRE_THRESHOLD` viewers are never released, and DP partition selection
decides the rest. Each ad also gets a total (`ALL`).

The release is computed by this job and stored; the public endpoint serves the
stored figures, so repeating a query cannot average the noise away. Each run
spends `EPSILON` over everyone shown an ad in the kept year (basic composition
across runs: the default weekly run spends 52 ε a year, documented in
docs/repository.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from fairview.consent.regions import EEA, split_region
from fairview.report.dp import dp_unit_counts, privacy_unit_for
from fairview.storage.repository import ReachRow, Repository

EPSILON = 1.0
DELTA = 1e-9
PRE_THRESHOLD = 100
MAX_ADS_PER_VIEWER = 5
"""(ad, member state) cells one viewer may count in, per run; beyond that, a sample."""
ALL = "ALL"
OUTSIDE_EU = "non-EU"


@dataclass(frozen=True, slots=True)
class RepositoryRun:
    ads: int
    cells_released: int
    pruned: int


def member_state(region: str) -> str:
    """`EU-DE`, `DE` or `DE-BY` → `DE`; outside the EU/EEA → `non-EU` (the DSA counts the EU)."""
    country, _ = split_region(region)
    return country if country in EEA else OUTSIDE_EU


def run_repository_job(
    repository: Repository, now_ms: int, *, epsilon: float = EPSILON
) -> RepositoryRun:
    """Release reach for every ad shown in the kept year and store it; prune expired figures."""
    pairs: list[tuple[str, tuple[str, str]]] = []
    creatives: set[str] = set()
    for viewer, delivery, creative, region in repository.audience_rows(
        since_ms=now_ms - repository.kept_ms
    ):
        unit = privacy_unit_for(viewer, delivery)
        pairs.append((unit, (creative, member_state(region))))
        pairs.append((unit, (creative, ALL)))
        creatives.add(creative)
    released = dp_unit_counts(
        pairs,
        epsilon=epsilon,
        delta=DELTA,
        pre_threshold=PRE_THRESHOLD,
        max_partitions_contributed=2 * MAX_ADS_PER_VIEWER,
    )
    rows = [
        ReachRow(creative, state, count.value, count.ci_low, count.ci_high, epsilon, now_ms)
        for (creative, state), count in sorted(released.items())
    ]
    repository.replace_reach(rows, sorted(creatives))
    pruned = repository.prune(now_ms)
    return RepositoryRun(len(creatives), len(rows), pruned)
