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

Two implementations give bit-identical results: `profile_vector` (one viewer,
pure Python: the "your interests" page) and `profile_matrix` (every viewer at
once with numpy: the cohort job). Sums are taken in one fixed order in both
(seconds in row order, an epoch's contributions oldest epoch first, the total
in topic order), so even the floating-point rounding agrees.

The random draws are derived from the viewer pseudonym and the epoch, so the
same stored data always yields the same profile (reproducible cohort runs and a
stable "your interests" page) while the choice looks random to anyone without
the pseudonym. A draw is `draw(viewer_seed(key), epoch, purpose)`: the first 16
hex digits of the 64-hex pseudonym (an HMAC-SHA256 output, so already uniform)
as a 64-bit seed, mixed with splitmix64 — once with a constant per purpose
(`SUBSTITUTE`, `SLOT`, `TOPIC`), once more with the epoch. It is computed the same
way on Python ints (`draw`) and on numpy uint64 arrays (`draws`), which is what
makes the substitution vectorisable. It is not a cryptographic function and
needs not be: whoever holds the pseudonym can recompute the draw either way (as
with the SHA-256 draw it replaced); without it the outcome is unpredictable.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse  # type: ignore[import-untyped]

from fairview.audience import topics as tx

EPOCH_MS = 7 * 24 * 3600 * 1000
EPOCHS_KEPT = 4
"""The current epoch and three completed ones; older watch time is deleted."""
TOP_PER_EPOCH = 5
RANDOM_SHARE = 0.05
DECAY_PER_EPOCH = 0.5
MAX_CREDIT_S = 600.0
"""One view credits at most ten minutes, so a looping video cannot dominate a profile."""

SUBSTITUTE = int.from_bytes(b"fv:subst", "big")
"""Purpose constant of the draw deciding whether an epoch gets a substitution."""
SLOT = int.from_bytes(b"fv:slot.", "big")
"""Purpose constant of the draw choosing which of the top topics is replaced."""
TOPIC = int.from_bytes(b"fv:topic", "big")
"""Purpose constant of the draw choosing the replacing topic."""
_DRAW_RANGE = 10_000
_SUBSTITUTE_BELOW = round(RANDOM_SHARE * _DRAW_RANGE)  # draw % 10,000 < 500: 5 %

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15  # splitmix64's increment and multipliers
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_DECAY = tuple(DECAY_PER_EPOCH**age for age in range(EPOCHS_KEPT))  # exact powers of two


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


# Deterministic draws ----------------------------------------------------------


def viewer_seed(viewer_key: str) -> int:
    """The 64-bit seed of a pseudonym: its first 16 hex digits, big-endian."""
    try:
        raw = bytes.fromhex(viewer_key[:16])
    except ValueError:
        raw = b""
    if len(raw) != 8:  # fromhex skips whitespace: insist on 16 hex digits
        raise ValueError(f"a viewer key starts with 16 hex digits, got {viewer_key[:16]!r}")
    return int.from_bytes(raw, "big")


def viewer_seeds(viewer_keys: Sequence[str]) -> NDArray[np.uint64]:
    """`viewer_seed` of many pseudonyms at once (the same values)."""
    text = "".join(key[:16] for key in viewer_keys)
    try:
        raw = bytes.fromhex(text) if len(text) == 16 * len(viewer_keys) else b""
    except ValueError:
        raw = b""
    if len(raw) != 8 * len(viewer_keys):
        for key in viewer_keys:
            viewer_seed(key)  # raises, naming the first bad key
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64)


def _mix64(z: int) -> int:
    """splitmix64: one step of the generator from state `z` (a bijection on 64-bit ints)."""
    z = (z + _GOLDEN) & _MASK64
    z = ((z ^ (z >> 30)) * _MIX1) & _MASK64
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK64
    return z ^ (z >> 31)


def draw(seed: int, epoch: int, purpose: int) -> int:
    """The viewer's 64-bit draw for `purpose` in `epoch` (seed: `viewer_seed`)."""
    return _mix64(_mix64(seed ^ purpose) ^ (epoch & _MASK64))


def _mix64_np(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    z = z + np.uint64(_GOLDEN)  # uint64 arrays wrap modulo 2**64, as `& _MASK64` does
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
    return z ^ (z >> np.uint64(31))


def draws(seeds: ArrayLike, epochs: ArrayLike, purpose: int) -> NDArray[np.uint64]:
    """`draw` element-wise over uint64 seeds and int epochs (the same values)."""
    mixed = _mix64_np(np.asarray(seeds, dtype=np.uint64) ^ np.uint64(purpose))
    return _mix64_np(mixed ^ np.asarray(epochs, dtype=np.int64).astype(np.uint64))


@cache
def _pool() -> NDArray[np.int64]:
    """The allowlist, sorted: what a substituted topic is drawn from."""
    return np.array(sorted(tx.allowlist()), dtype=np.int64)


# One viewer -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EpochTopics:
    """One epoch's top topics; `random_topic` is the substituted one, if any (never shown)."""

    epoch: int
    topics: tuple[int, ...]  # best first
    seconds: Mapping[int, float]
    random_topic: int | None


def epoch_top(
    viewer_key: str, epoch: int, seconds: Mapping[int, float], *, noise: bool = True
) -> EpochTopics:
    """The epoch's top topics by seconds (ties: lower id), with the 5 % random substitution.

    `noise=False` gives the true top topics: what the viewer is shown of themselves.
    With noise, when `draw(seed, epoch, SUBSTITUTE) % 10,000 < 500` the topic at
    position `draw(…, SLOT) % len(top)` is replaced, keeping its seconds, by the
    allowlisted topic at position `draw(…, TOPIC) % len(pool)` of the sorted
    allowlist minus the epoch's top topics.
    """
    ranked = sorted(
        ((t, s) for t, s in seconds.items() if s > 0), key=lambda item: (-item[1], item[0])
    )
    top = [t for t, _ in ranked[:TOP_PER_EPOCH]]
    weights = {t: seconds[t] for t in top}
    random_topic = None
    seed = viewer_seed(viewer_key) if noise and top else 0
    if noise and top and draw(seed, epoch, SUBSTITUTE) % _DRAW_RANGE < _SUBSTITUTE_BELOW:
        allowed = sorted(tx.allowlist() - set(top))
        slot = draw(seed, epoch, SLOT) % len(top)
        random_topic = allowed[draw(seed, epoch, TOPIC) % len(allowed)]
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
    """The L1-normalised decayed profile from (epoch, topic, seconds) rows, by topic id.

    Epochs outside the kept window and blocked topics are ignored (a blocked topic
    drawn as the substitute is dropped too); an empty result means "no profile"
    (the viewer gets no cohort).
    """
    by_epoch: dict[int, dict[int, float]] = defaultdict(dict)
    oldest = current_epoch - EPOCHS_KEPT + 1
    for epoch, topic, seconds in rows:
        if oldest <= epoch <= current_epoch and topic not in blocked:
            by_epoch[epoch][topic] = by_epoch[epoch].get(topic, 0.0) + seconds
    vector: dict[int, float] = defaultdict(float)
    for epoch in sorted(by_epoch):  # oldest first: the order profile_matrix sums in
        decay = _DECAY[current_epoch - epoch]
        top = epoch_top(viewer_key, epoch, by_epoch[epoch], noise=noise)
        for topic, weight in top.seconds.items():
            if topic not in blocked:
                vector[topic] += weight * decay
    ordered = sorted(vector.items())
    total = 0.0
    for _, weight in ordered:  # a plain left-to-right sum, as np.bincount takes it
        total += weight
    return {t: w / total for t, w in ordered} if total > 0 else {}


# Every viewer at once -------------------------------------------------------


CHUNK_ROWS = 1 << 20
"""Rows per slice of `profile_matrix` (whole viewers): its arrays stay near 8 MB."""


def profile_matrix(
    viewers: ArrayLike,
    epochs: ArrayLike,
    topics: ArrayLike,
    seconds: ArrayLike,
    current_epoch: int,
    *,
    viewer_keys: Sequence[str] | NDArray[np.uint64],
    columns: ArrayLike,
    blocked: tuple[ArrayLike, ArrayLike] | None = None,
    noise: bool = True,
) -> tuple[NDArray[np.int64], Any]:
    """Every viewer's `profile_vector` at once, from rows of watch time.

    One row per (viewer, epoch, topic): `viewers[i]` indexes `viewer_keys`, the
    viewers' 64-hex pseudonyms or their `viewer_seeds` (uint64). Rows in any
    order; rows of the same (viewer, epoch, topic) add up in row order. The
    cohort job passes them as stored, ordered by (viewer, epoch, topic), which
    saves every sort but one small one per slice. `columns` are the sorted topic
    ids of the matrix (the allowlist); a row's topic outside them is an error.
    `blocked` holds (viewer index, topic id) pairs removed by the viewer.

    Returns `(profiled, matrix)`: the indexes of the viewers with a non-empty
    profile, ascending, and the float32 CSR matrix (len(profiled) × len(columns))
    whose row i is `profile_vector` of viewer `profiled[i]`, exactly (sorted
    column indexes, rows summing to 1).

    The rows are worked through in slices of whole viewers (about `CHUNK_ROWS`
    rows each), so the temporaries stay small and their memory is reused rather
    than freshly mapped for every step.
    """
    keys = viewer_keys
    if isinstance(keys, np.ndarray) and keys.dtype.kind in "iu":
        seeds = keys.astype(np.uint64)
    else:
        seeds = viewer_seeds([str(k) for k in keys])
    cols = np.asarray(columns, dtype=np.int64)
    if cols.ndim != 1 or (cols.size and cols[0] < 0) or (cols[1:] <= cols[:-1]).any():
        raise ValueError("columns must be sorted, distinct, non-negative topic ids")
    v = np.asarray(viewers, dtype=np.int64)
    e = np.asarray(epochs, dtype=np.int64)
    t = np.asarray(topics, dtype=np.int64)
    s = np.asarray(seconds, dtype=np.float64)
    if not v.shape == e.shape == t.shape == s.shape or v.ndim != 1:
        raise ValueError("viewers, epochs, topics and seconds must be 1-D and of one length")
    if v.size and (v.min() < 0 or v.max() >= seeds.size):
        raise ValueError("a row's viewer index is outside viewer_keys")
    if t.size and t.min() < 0:
        raise ValueError("topic ids are non-negative")
    pool = _pool()
    if noise and not np.isin(pool, cols).all():
        raise ValueError("columns must include the allowlist: a substitute may be any of it")
    span = int(max(cols.max(initial=0), pool.max(initial=0), t.max(initial=0))) + 1
    blocked_keys = np.zeros(0, dtype=np.int64)
    if blocked is not None:
        bv = np.asarray(blocked[0], dtype=np.int64)
        bt = np.asarray(blocked[1], dtype=np.int64)
        fits = (bt >= 0) & (bt < span)  # a block outside every topic id blocks nothing
        blocked_keys = np.unique(bv[fits] * span + bt[fits])
    column_of = np.full(span, -1, dtype=np.int64)
    column_of[cols] = np.arange(cols.size)
    context = _Context(current_epoch, seeds, cols, column_of, pool, blocked_keys, span, noise)

    if not _ascending(v):
        order = np.argsort(v, kind="stable")  # by viewer; a viewer's rows keep their order
        v, e, t, s = v[order], e[order], t[order], s[order]
    parts = [_profile_rows(v[a:b], e[a:b], t[a:b], s[a:b], context) for a, b in _slices(v)]
    parts = parts or [_NOTHING]
    profiled = np.concatenate([p[0] for p in parts])
    indptr = np.r_[0, np.cumsum(np.concatenate([p[3] for p in parts]))]
    column = np.concatenate([p[1] for p in parts])
    weight = np.concatenate([p[2] for p in parts])
    return profiled, _csr(weight, column, indptr, int(cols.size))


@dataclass(frozen=True, slots=True, eq=False)
class _Context:
    current_epoch: int
    seeds: NDArray[np.uint64]
    cols: NDArray[np.int64]
    column_of: NDArray[np.int64]  # topic id → column, -1 for none
    pool: NDArray[np.int64]
    blocked_keys: NDArray[np.int64]  # viewer * span + topic, sorted
    span: int
    noise: bool


_Part = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]
_NOTHING: _Part = (
    np.zeros(0, dtype=np.int64),
    np.zeros(0, dtype=np.int64),
    np.zeros(0, dtype=np.float64),
    np.zeros(0, dtype=np.int64),
)


def _ascending(v: NDArray[np.int64]) -> bool:
    for a in range(0, v.size - 1, CHUNK_ROWS):
        b = min(a + CHUNK_ROWS, v.size - 1)
        if (v[a + 1 : b + 1] < v[a:b]).any():
            return False
    return True


def _slices(v: NDArray[np.int64]) -> list[tuple[int, int]]:
    """(start, end) row ranges of about CHUNK_ROWS rows that never split a viewer."""
    if v.size == 0:
        return []
    cuts = np.unique(np.searchsorted(v, v[np.arange(CHUNK_ROWS, v.size, CHUNK_ROWS)]))
    bounds = [0, *(int(x) for x in cuts if x > 0), int(v.size)]
    return list(pairwise(bounds))


def _profile_rows(
    v: NDArray[np.int64],
    e: NDArray[np.int64],
    t: NDArray[np.int64],
    s: NDArray[np.float64],
    context: _Context,
) -> _Part:
    """Profiles of the viewers whose rows these are (all of them): profile_matrix's work.

    Returns the profiled viewers (ascending), each one's columns (ascending) and
    normalised weights, concatenated, and the number of columns per viewer.
    """
    current_epoch, seeds, cols, pool = (
        context.current_epoch, context.seeds, context.cols, context.pool
    )  # fmt: skip
    blocked_keys, span, noise, n_cols = (
        context.blocked_keys, context.span, context.noise, int(cols.size)
    )  # fmt: skip
    oldest = current_epoch - EPOCHS_KEPT + 1
    inside = (e >= oldest) & (e <= current_epoch)
    if blocked_keys.size:  # blocked pairs leave before anything else, as in profile_vector
        inside &= ~_member(v * span + t, blocked_keys)
    if not inside.all():
        v, e, t, s = v[inside], e[inside], t[inside], s[inside]
    if v.size == 0:
        return _NOTHING
    c = context.column_of[t]
    if (c < 0).any():
        raise ValueError(f"topic {int(t[np.argmax(c < 0)])} is not one of the columns")

    # 1. Seconds per (viewer, epoch, topic), ordered by that key. Rows as stored
    #    (ordered, distinct, positive) pass through without a copy.
    group_key = v * EPOCHS_KEPT + (e - oldest)  # one per (viewer, epoch)
    key = group_key * n_cols + c
    step = np.diff(key)
    canonical = True
    if (step < 0).any():
        order = np.argsort(key, kind="stable")  # stable: duplicates keep their row order
        key, s = key[order], s[order]
        step = np.diff(key)
        canonical = False
    if not (step > 0).all():  # duplicates: add them up, left to right as profile_vector does
        distinct = np.r_[True, step > 0]
        s = np.asarray(np.bincount(np.cumsum(distinct) - 1, weights=s), np.float64)
        key = key[distinct]
        canonical = False
    del step
    positive = s > 0
    if not positive.all():
        key, s = key[positive], s[positive]
        canonical = False
    if key.size == 0:
        return _NOTHING
    if not canonical:
        c = key % n_cols
        group_key = key // n_cols
        v = group_key // EPOCHS_KEPT
        e = group_key % EPOCHS_KEPT + oldest
    del key

    # 2. Groups (viewer, epoch); ranks by (-seconds, topic id) where they matter:
    #    groups of more than TOP_PER_EPOCH topics, and substituted ones.
    new_group = np.empty(group_key.size, dtype=np.bool_)
    new_group[0] = True
    np.not_equal(group_key[1:], group_key[:-1], out=new_group[1:])
    starts = np.flatnonzero(new_group)
    del new_group, group_key
    sizes = np.diff(np.r_[starts, s.size])
    substituted = np.zeros(starts.size, dtype=np.bool_)
    if noise:
        drawn = draws(seeds[v[starts]], e[starts], SUBSTITUTE)
        substituted = drawn % np.uint64(_DRAW_RANGE) < np.uint64(_SUBSTITUTE_BELOW)
    needs_rank = (sizes > TOP_PER_EPOCH) | substituted
    ranked = np.flatnonzero(needs_rank)
    keep = np.ones(s.size, dtype=np.bool_)  # a group's only topics are its top
    if ranked.size:
        rows = np.flatnonzero(np.repeat(needs_rank, sizes))
        group = np.repeat(ranked, sizes[ranked])  # per ranked row: its group
        rank = _rank_within(group, s[rows], c[rows])
        keep[rows] = rank < TOP_PER_EPOCH

        # 3. The substitution: the slot's row takes the drawn topic (and keeps its seconds).
        if substituted.any():
            _substitute(
                substituted, starts, sizes, rows, group, rank, keep, c, v, seeds, e, cols,
                pool, blocked_keys, span,
            )  # fmt: skip

    # 4. Decay and sum per (viewer, topic), oldest epoch first; then normalise per viewer.
    c, v = c[keep], v[keep]
    weight = s[keep] * np.asarray(_DECAY)[current_epoch - e[keep]]
    cell = v * n_cols + c
    order = np.argsort(cell, kind="stable")  # rows were by epoch: stays oldest first per cell
    cell = cell[order]
    new_cell = np.r_[True, cell[1:] != cell[:-1]]
    summed = np.bincount(np.cumsum(new_cell) - 1, weights=weight[order])
    cell = cell[new_cell]
    viewer, column = cell // n_cols, cell % n_cols
    new_viewer = np.r_[True, viewer[1:] != viewer[:-1]]
    row = np.cumsum(new_viewer) - 1
    total = np.bincount(row, weights=summed)  # left to right in topic order
    profiled = viewer[new_viewer]
    if not (total > 0).all():  # only if every weight underflowed: "no profile", as there
        alive = total[row] > 0
        summed, column, row = summed[alive], column[alive], row[alive]
        profiled, total = profiled[total > 0], total[total > 0]
        row = np.cumsum(np.r_[True, row[1:] != row[:-1]]) - 1 if row.size else row
    return profiled, column, summed / total[row], np.bincount(row, minlength=profiled.size)


def _csr(data: ArrayLike, indices: ArrayLike, indptr: ArrayLike, n_cols: int) -> Any:
    indptr_ = np.asarray(indptr, dtype=np.int64)
    matrix = sparse.csr_matrix(
        (
            np.asarray(data, dtype=np.float32),
            np.asarray(indices, dtype=np.int32),
            indptr_.astype(np.int32) if indptr_[-1] < 2**31 else indptr_,
        ),
        shape=(indptr_.size - 1, n_cols),
    )
    matrix.has_sorted_indices = True
    return matrix


def _member(values: NDArray[np.int64], sorted_keys: NDArray[np.int64]) -> NDArray[np.bool_]:
    """values ∈ sorted_keys, element-wise (binary search: cheap for few keys)."""
    at = np.minimum(np.searchsorted(sorted_keys, values), sorted_keys.size - 1)
    return np.asarray(sorted_keys[at] == values)


def _rank_within(
    group: NDArray[np.int64], seconds: NDArray[np.float64], column: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Each row's 0-based rank in its group by (-seconds, column); rows ordered by (group, column).

    One composite integer sort: seconds are replaced by their dense rank, so the
    key (group, rank of -seconds, column) is exact and distinct for every row.
    """
    group = np.cumsum(np.r_[True, group[1:] != group[:-1]]) - 1  # compact: a smaller key
    by_seconds = np.argsort(seconds)
    ordered = seconds[by_seconds]
    dense = np.empty(seconds.size, dtype=np.int64)
    dense[by_seconds] = np.cumsum(np.r_[True, ordered[1:] != ordered[:-1]]) - 1
    levels = int(dense.max()) + 1
    width = int(column.max()) + 1
    composite = (group * levels + (levels - 1 - dense)) * width + column
    order = np.argsort(composite)
    sorted_group = group[order]
    first = np.r_[True, sorted_group[1:] != sorted_group[:-1]]
    position = np.arange(order.size)
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = position - np.maximum.accumulate(np.where(first, position, 0))
    return rank


def _substitute(
    substituted: NDArray[np.bool_],
    starts: NDArray[np.int64],
    sizes: NDArray[np.int64],
    rows: NDArray[np.int64],
    group: NDArray[np.int64],
    rank: NDArray[np.int64],
    keep: NDArray[np.bool_],
    c: NDArray[np.int64],
    v: NDArray[np.int64],
    seeds: NDArray[np.uint64],
    e: NDArray[np.int64],
    cols: NDArray[np.int64],
    pool: NDArray[np.int64],
    blocked_keys: NDArray[np.int64],
    span: int,
) -> None:
    """Apply the epochs' substitutions in place on `c` (and `keep`), as `epoch_top` does.

    `rows` are the ranked rows (every row of a substituted group among them),
    `group` and `rank` their group and exact rank. The drawn topic is the r-th of
    the sorted allowlist minus the epoch's top topics: r is shifted past each top
    topic's allowlist position at or below it, smallest first (at most
    TOP_PER_EPOCH steps, vectorised over epochs).
    """
    chosen = np.flatnonzero(substituted)  # substituted groups, ascending
    first = starts[chosen]
    seed, epoch = seeds[v[first]], e[first]
    top_size = np.minimum(sizes[chosen], TOP_PER_EPOCH)
    slot = (draws(seed, epoch, SLOT) % top_size.astype(np.uint64)).astype(np.int64)
    # Each chosen group's top rows, in (group, topic id) order.
    index_of = np.full(substituted.size, -1, dtype=np.int64)
    index_of[chosen] = np.arange(chosen.size)
    top = np.flatnonzero(substituted[group] & (rank < TOP_PER_EPOCH))  # among `rows`
    top_rows, top_group = rows[top], index_of[group[top]]
    topic = cols[c[top_rows]]
    in_pool = np.minimum(np.searchsorted(pool, topic), pool.size - 1)
    pooled = pool[in_pool] == topic
    pooled_group, position = top_group[pooled], in_pool[pooled]
    taken = np.bincount(pooled_group, minlength=chosen.size)  # top topics in the allowlist
    free = pool.size - taken
    if (free <= 0).any():
        raise ValueError("the allowlist has no topic left to substitute")
    nth = np.arange(pooled_group.size) - np.r_[0, np.cumsum(taken)][pooled_group]
    excluded = np.full((chosen.size, TOP_PER_EPOCH), pool.size, dtype=np.int64)
    excluded[pooled_group, nth] = position  # ascending per group
    pick = (draws(seed, epoch, TOPIC) % free.astype(np.uint64)).astype(np.int64)
    for j in range(TOP_PER_EPOCH):
        pick += excluded[:, j] <= pick
    drawn = pool[pick]
    column_of = np.searchsorted(cols, drawn)  # columns hold the allowlist (checked)
    # The slot's row: rank == slot within the group (ranks are exact for chosen groups).
    replaced = top_rows[rank[top] == slot[top_group]]
    c[replaced] = column_of
    if blocked_keys.size:
        keep[replaced] &= ~_member(v[replaced] * span + drawn, blocked_keys)
