"""Interest profiles: weekly epochs of credited watch time, top topics, plausible deniability.

spec/audience.md, "Proposed design" §2, after the Topics API. Pure functions: the
store keeps credited seconds per (viewer, epoch, allowlisted topic); everything
else is derived here when it is read.

- An epoch is a UTC week (`EPOCH_MS`), numbered from the Unix epoch.
- Each epoch contributes its top `TOP_PER_EPOCH` topics by credited seconds. With
  probability `RANDOM_SHARE` one of them, chosen at random, is replaced by a
  uniformly random allowlisted topic (as the Topics API does): nobody can tell
  from a cohort or a profile whether one topic was really watched.
- The profile vector sums the epochs' top topics, each epoch halved per epoch of
  age (`DECAY_PER_EPOCH`), over the current epoch and the `EPOCHS_KEPT - 1`
  before it, then is L1-normalised.

The random draws are derived from the viewer pseudonym and the epoch, so the
same stored data always yields the same profile (reproducible cohort runs and a
stable "your interests" page) while the choice looks random to anyone without
the pseudonym's key.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from fairview.audience import topics as tx

EPOCH_MS = 7 * 24 * 3600 * 1000
EPOCHS_KEPT = 4
"""The current epoch and three completed ones; older watch time is deleted."""
TOP_PER_EPOCH = 5
RANDOM_SHARE = 0.05
DECAY_PER_EPOCH = 0.5
MAX_CREDIT_S = 600.0
"""One view credits at most ten minutes, so a looping video cannot dominate a profile."""


def epoch_of(ms: int) -> int:
    return ms // EPOCH_MS


def credit_s(watched_s: float, duration_s: float | None) -> float:
    """Credited seconds of one view: what was watched, at most the video's length and 600 s."""
    credited = max(0.0, watched_s)
    if duration_s is not None and duration_s > 0:
        credited = min(credited, duration_s)
    return min(credited, MAX_CREDIT_S)


def split_credit(seconds: float, topic_ids: Sequence[int]) -> dict[int, float]:
    """The view's credit split evenly over its allowlisted topics (sensitive ones never)."""
    allowed = tx.allowlist()
    kept = [t for t in dict.fromkeys(topic_ids) if t in allowed]
    if not kept or seconds <= 0:
        return {}
    share = seconds / len(kept)
    return dict.fromkeys(kept, share)


@dataclass(frozen=True, slots=True)
class EpochTopics:
    """One epoch's top topics; `random_topic` is the substituted one, if any (never shown)."""

    epoch: int
    topics: tuple[int, ...]  # best first
    seconds: Mapping[int, float]
    random_topic: int | None


def _draw(viewer_key: str, epoch: int, purpose: str) -> int:
    digest = hashlib.sha256(f"{purpose}|{viewer_key}|{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def epoch_top(
    viewer_key: str, epoch: int, seconds: Mapping[int, float], *, noise: bool = True
) -> EpochTopics:
    """The epoch's top topics by seconds (ties: lower id), with the 5 % random substitution.

    `noise=False` gives the true top topics: what the viewer is shown of themselves.
    """
    ranked = sorted(
        ((t, s) for t, s in seconds.items() if s > 0), key=lambda item: (-item[1], item[0])
    )
    top = [t for t, _ in ranked[:TOP_PER_EPOCH]]
    weights = {t: seconds[t] for t in top}
    random_topic = None
    if noise and top and _draw(viewer_key, epoch, "substitute") % 10_000 < RANDOM_SHARE * 10_000:
        allowed = sorted(tx.allowlist() - set(top))
        slot = _draw(viewer_key, epoch, "slot") % len(top)
        random_topic = allowed[_draw(viewer_key, epoch, "topic") % len(allowed)]
        replaced = top[slot]
        top[slot] = random_topic
        weights[random_topic] = weights.pop(replaced)
    return EpochTopics(epoch, tuple(top), weights, random_topic)


def profile_vector(
    viewer_key: str,
    rows: Iterable[tuple[int, int, float]],
    current_epoch: int,
    *,
    blocked: frozenset[int] = frozenset(),
    noise: bool = True,
) -> dict[int, float]:
    """The L1-normalised decayed profile from (epoch, topic, seconds) rows.

    Epochs outside the kept window and blocked topics are ignored; an empty
    result means "no profile" (the viewer gets no cohort).
    """
    by_epoch: dict[int, dict[int, float]] = defaultdict(dict)
    oldest = current_epoch - EPOCHS_KEPT + 1
    for epoch, topic, seconds in rows:
        if oldest <= epoch <= current_epoch and topic not in blocked:
            by_epoch[epoch][topic] = by_epoch[epoch].get(topic, 0.0) + seconds
    vector: dict[int, float] = defaultdict(float)
    for epoch, watched in by_epoch.items():
        decay = DECAY_PER_EPOCH ** (current_epoch - epoch)
        for topic, weight in epoch_top(viewer_key, epoch, watched, noise=noise).seconds.items():
            if topic not in blocked:
                vector[topic] += weight * decay
    total = sum(vector.values())
    return {t: w / total for t, w in sorted(vector.items())} if total > 0 else {}
