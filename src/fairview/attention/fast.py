"""Settlement fast path: the §7 rule compiled with numba over columns of many deliveries.

It computes exactly what `reference.qualify` computes (same float operations in
the same order; the property tests compare every field), but over numpy columns:
`EventColumns` holds the events of any number of deliveries in any order, and
`qualify_columns` returns one row per delivery in `VerdictColumns`. The kernel
releases the GIL, so a caller may run several batches on threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from numba import njit

from fairview.attention.events import QUALIFYING_INTERACTIONS, Event, EventType, InteractionKind
from fairview.attention.rule import (
    CLOCK_TOL,
    DRIFT_TOL_FRACTION,
    DRIFT_TOL_S,
    END_TOL,
    ENDED_MIN_FRACTION,
    EPS,
    GAP_MAX,
    RATE_TOL,
    T_FOCUS,
    T_MIN_INTERACT,
    T_VIEWABLE,
)
from fairview.attention.verdict import InvalidReason, QualifiedBy, Verdict, Viewability

F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]

TYPE_CODES: Mapping[str, int] = {t.value: i for i, t in enumerate(EventType)}
"""`type` column code of each event type."""

_KINDS = sorted(QUALIFYING_INTERACTIONS) + sorted(set(InteractionKind) - QUALIFYING_INTERACTIONS)
KIND_CODES: Mapping[str, int] = {str(k): i for i, k in enumerate(_KINDS)}
"""`kind` column code of each known kind; qualifying kinds come first. -1 = no kind."""
_N_QUALIFYING = len(QUALIFYING_INTERACTIONS)
_FIRST_UNKNOWN_KIND = 1000  # unknown kind strings get codes from here, per batch

REASONS: tuple[InvalidReason, ...] = tuple(InvalidReason)
"""`invalid_reason` code k > 0 is REASONS[k - 1]; 0 = valid."""
_N_REASONS = len(REASONS)
VIEWABILITY: tuple[Viewability, ...] = (
    Viewability.NOT_VIEWABLE,
    Viewability.VIEWABLE,
    Viewability.UNDETERMINED,
)
QUALIFIED_BY: tuple[QualifiedBy | None, ...] = (None, QualifiedBy.WATCH, QualifiedBy.INTERACTION)

_FIRST_FRAME = TYPE_CODES[EventType.FIRST_FRAME]
_HEARTBEAT = TYPE_CODES[EventType.HEARTBEAT]
_PLAY = TYPE_CODES[EventType.PLAY]
_PAUSE = TYPE_CODES[EventType.PAUSE]
_SEEK = TYPE_CODES[EventType.SEEK]
_MUTE = TYPE_CODES[EventType.MUTE]
_UNMUTE = TYPE_CODES[EventType.UNMUTE]
_VIS_ON = TYPE_CODES[EventType.VIS_ON]
_VIS_OFF = TYPE_CODES[EventType.VIS_OFF]
_BG = TYPE_CODES[EventType.BG]
_LOOP = TYPE_CODES[EventType.LOOP]
_ENDED = TYPE_CODES[EventType.ENDED]
_INTERACTION = TYPE_CODES[EventType.INTERACTION]
_SWIPE_AWAY = TYPE_CODES[EventType.SWIPE_AWAY]
_CLOSE = TYPE_CODES[EventType.CLOSE]

_BIT = {r: 1 << i for i, r in enumerate(REASONS)}
_CONFLICT = _BIT[InvalidReason.CONFLICTING_DUPLICATE]
_MONO = _BIT[InvalidReason.MONO_DECREASING]
_CLOCK = _BIT[InvalidReason.CLOCK_INFLATION]
_NO_FF = _BIT[InvalidReason.NO_FIRST_FRAME]
_EARLY_INTERACTION = _BIT[InvalidReason.INTERACTION_BEFORE_FIRST_FRAME]
_DRIFT = _BIT[InvalidReason.DRIFT_INFLATION]
_ENDED_EARLY = _BIT[InvalidReason.ENDED_WITHOUT_COVERAGE]

_F = TypeVar("_F", bound=Callable[..., Any])


def _jit(fn: _F) -> _F:
    return cast(_F, njit(cache=True, nogil=True)(fn))


def _inline(fn: _F) -> _F:
    """A small helper of the kernel, inlined where it is called (no call overhead)."""
    return cast(_F, njit(cache=True, nogil=True, inline="always")(fn))


# dtypes of the EventColumns arrays, in field order (delivery .. recv_ms)
_DTYPES = (
    np.int32, np.int64, np.int8, np.float64, np.float64, np.float64, np.int8, np.int8, np.int8,
    np.int16, np.float64, np.float64, np.float64, np.float64,
)  # fmt: skip


@dataclass(frozen=True, slots=True, eq=False)
class EventColumns:
    """Events of many deliveries as parallel columns (one row per received event).

    `delivery` indexes `delivery_ids`. Missing floats are NaN; `vis` is 1/0/-1
    (-1 = unknown); `kind` is a KIND_CODES code, -1 for none.
    """

    delivery_ids: tuple[str, ...]
    delivery: npt.NDArray[np.int32]
    seq: npt.NDArray[np.int64]
    type: I8
    mono_ms: F64
    media_s: F64
    rate: F64
    muted: I8
    vis: I8
    trusted: I8
    kind: npt.NDArray[np.int16]
    from_s: F64
    to_s: F64
    duration_s: F64
    recv_ms: F64

    def __len__(self) -> int:
        return len(self.seq)

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> EventColumns:
        """Columns of `events`; deliveries are numbered in first-seen order.

        Raises ValueError for an unknown event type.
        """
        ids: dict[str, int] = {}
        kinds = dict(KIND_CODES)
        rows: list[tuple[Any, ...]] = []
        for e in events:
            code = TYPE_CODES.get(e.type)
            if code is None:
                raise ValueError(f"unknown event type {e.type!r}")
            kind = (
                -1 if e.kind is None else kinds.setdefault(e.kind, _FIRST_UNKNOWN_KIND + len(kinds))
            )
            rows.append(
                (
                    ids.setdefault(e.delivery, len(ids)),
                    e.seq,
                    code,
                    e.mono_ms,
                    e.media_s,
                    e.rate,
                    e.muted,
                    -1 if e.vis is None else int(e.vis),
                    e.trusted,
                    kind,
                    _nan(e.from_s),
                    _nan(e.to_s),
                    _nan(e.duration_s),
                    _nan(e.recv_ms),
                )
            )
        cols = list(zip(*rows, strict=True)) if rows else [()] * len(_DTYPES)
        arrays = [np.asarray(c, dtype=t) for c, t in zip(cols, _DTYPES, strict=True)]
        return cls(tuple(ids), *arrays)


def _nan(x: float | None) -> float:
    return np.nan if x is None else x


@dataclass(frozen=True, slots=True, eq=False)
class VerdictColumns:
    """One row per delivery of `delivery_ids`; codes index QUALIFIED_BY, VIEWABILITY, REASONS."""

    delivery_ids: tuple[str, ...]
    focused_view: npt.NDArray[np.bool_]
    qualified_by: I8
    qualified_at_media_s: F64
    coverage_s: F64
    audible_coverage_s: F64
    viewability: I8
    invalid_reason: I8

    def to_verdicts(self) -> list[Verdict]:
        """The rows as `Verdict`s, in `delivery_ids` order."""
        return [self.verdict(i) for i in range(len(self.delivery_ids))]

    def verdict(self, i: int) -> Verdict:
        by = QUALIFIED_BY[int(self.qualified_by[i])]
        reason = int(self.invalid_reason[i])
        at = float(self.qualified_at_media_s[i])
        return Verdict(
            delivery=self.delivery_ids[i],
            focused_view=bool(self.focused_view[i]),
            qualified_by=None if by is None else by.value,
            qualified_at_media_s=None if np.isnan(at) else at,
            coverage_s=float(self.coverage_s[i]),
            audible_coverage_s=float(self.audible_coverage_s[i]),
            viewability=VIEWABILITY[int(self.viewability[i])].value,
            invalid=reason != 0,
            invalid_reason=None if reason == 0 else REASONS[reason - 1].value,
        )


def qualify_columns(cols: EventColumns, *, duration_s: F64 | None = None) -> VerdictColumns:
    """Apply the §7 rule to every delivery in `cols` at once.

    `duration_s`, one per delivery (NaN = take it from `first_frame`), overrides
    the creative duration. Rows may be in any order and contain duplicates.
    """
    n_deliveries = len(cols.delivery_ids)
    durations = np.full(n_deliveries, np.nan) if duration_s is None else np.asarray(duration_s)
    if durations.shape != (n_deliveries,):
        raise ValueError("duration_s needs one value per delivery")
    if np.any(~np.isnan(durations) & ~(durations > 0.0)):
        raise ValueError("duration_s must be positive seconds or NaN")
    if len(cols) and not (cols.delivery.min() >= 0 and cols.delivery.max() < n_deliveries):
        raise ValueError("delivery indexes must lie in range(len(delivery_ids))")
    out = _kernel(cols.delivery, _kernel_columns(cols), durations.astype(np.float64))
    return VerdictColumns(cols.delivery_ids, *out)


def _kernel_columns(cols: EventColumns) -> tuple[npt.NDArray[Any], ...]:
    """The `cols` tuple the kernel reads (every column but `delivery`)."""
    return (
        cols.seq, cols.type, cols.mono_ms, cols.media_s, cols.rate, cols.muted, cols.vis,
        cols.trusted, cols.kind, cols.from_s, cols.to_s, cols.duration_s, cols.recv_ms,
    )  # fmt: skip


def qualify_many(
    events: Iterable[Event], *, duration_s: Mapping[str, float] | None = None
) -> list[Verdict]:
    """The fast path over `Event`s of any number of deliveries, in first-seen order."""
    cols = EventColumns.from_events(events)
    durations = None
    if duration_s is not None:
        durations = np.array([duration_s.get(d, np.nan) for d in cols.delivery_ids], dtype=float)
    return qualify_columns(cols, duration_s=durations).to_verdicts()


# ---------------------------------------------------------------------------
# Compiled kernel. Each function names the reference code it mirrors; the float
# operations are the same, in the same order, so the results are identical.
#
# `cols` is the tuple (seq, type, mono_ms, media_s, rate, muted, vis, trusted,
# kind, from_s, to_s, duration_s, recv_ms) of EventColumns arrays. One delivery's rows
# are first copied, in seq order, into the float matrix `rows` (columns _R_*), so
# the walk reads one small array. `_walk` is one loop with its state in locals:
# calls that pass arrays cost more than the work of a pair.

(
    _R_TYPE, _R_MONO, _R_MEDIA, _R_RATE, _R_MUTED, _R_VIS, _R_TRUSTED, _R_KIND, _R_FROM,
    _R_TO, _R_DUR, _R_RECV, _R_ADJ,
) = range(13)  # fmt: skip
_N_R = 13  # _R_TYPE.._R_DUR are the client payload; _R_ADJ = 1.0 when seq = previous + 1
_IV_COV, _IV_AUD, _IV_PLAYED = range(3)  # the interval sets of `ivs`
_SMALL_GROUP = 64  # insertion-sort a delivery's rows up to this many, else mergesort


@_jit
def _kernel(delivery: Any, cols: Any, durations: Any) -> tuple[Any, ...]:
    """Qualify every delivery; one output row per delivery index."""
    n_d = durations.shape[0]
    focused = np.zeros(n_d, dtype=np.bool_)
    by = np.zeros(n_d, dtype=np.int8)
    at = np.empty(n_d)
    cov = np.zeros(n_d)
    aud = np.zeros(n_d)
    view = np.zeros(n_d, dtype=np.int8)
    reason = np.empty(n_d, dtype=np.int8)
    order, starts, biggest = _row_order(delivery, cols[0], n_d)
    rows = np.empty((biggest, _N_R))
    seqs = np.empty(biggest, dtype=np.int64)
    ivs = np.empty((3, biggest + 2, 2))
    pieces = np.empty((biggest + 2, 2))
    for d in range(n_d):
        lo, hi = starts[d], starts[d + 1]
        _gather(order, lo, hi, cols, rows, seqs)
        n, bits, max_recv = _dedupe(rows, seqs, hi - lo)
        dur = durations[d]
        if np.isnan(dur):
            dur = _duration(rows, n)
        bits |= _integrity(rows, n, max_recv)
        bits, q_by, q_at, cov[d], aud[d], view[d] = _walk(rows, n, dur, bits, ivs, pieces)
        reason[d] = _reason_code(bits)
        at[d] = q_at if bits == 0 and q_by != 0 else np.nan
        by[d] = q_by if bits == 0 else 0
        focused[d] = by[d] != 0
    return focused, by, at, cov, aud, view, reason


@_jit
def _row_order(delivery: Any, seq: Any, n_d: int) -> tuple[Any, Any, int]:
    """Rows by (delivery, seq) (reference: by seq, never by arrival).

    A counting sort by delivery, then each delivery's rows by seq: linear when
    they already arrive in order, as they mostly do. Returns (order, starts of
    each delivery's rows in order, the largest delivery's row count).
    """
    n = delivery.shape[0]
    starts = np.zeros(n_d + 1, dtype=np.int64)
    for i in range(n):
        starts[delivery[i] + 1] += 1
    biggest = 0
    for d in range(n_d):
        biggest = max(biggest, starts[d + 1])
        starts[d + 1] += starts[d]
    order = np.empty(n, dtype=np.int64)
    fill = np.empty(n_d + 1, dtype=np.int64)
    for d in range(n_d + 1):  # (a loop: an array slice assignment costs seconds to compile)
        fill[d] = starts[d]
    for i in range(n):
        order[fill[delivery[i]]] = i
        fill[delivery[i]] += 1
    scratch = np.empty(biggest, dtype=np.int64)
    for d in range(n_d):
        if starts[d + 1] - starts[d] <= _SMALL_GROUP:
            _insertion_sort(order, starts[d], starts[d + 1], seq)
        else:
            _merge_sort(order, starts[d], starts[d + 1], seq, scratch)
    return order, starts, biggest


@_jit
def _insertion_sort(order: Any, lo: int, hi: int, seq: Any) -> None:
    """Sort order[lo:hi] by seq; linear on sorted input."""
    for i in range(lo + 1, hi):
        row, k = order[i], i
        while k > lo and seq[order[k - 1]] > seq[row]:
            order[k] = order[k - 1]
            k -= 1
        order[k] = row


@_jit
def _merge_sort(order: Any, lo: int, hi: int, seq: Any, scratch: Any) -> None:
    """Sort order[lo:hi] by seq: insertion-sorted runs, then bottom-up merges."""
    for run_lo in range(lo, hi, _SMALL_GROUP):
        _insertion_sort(order, run_lo, min(run_lo + _SMALL_GROUP, hi), seq)
    width = _SMALL_GROUP
    while width < hi - lo:
        for left in range(lo, hi, 2 * width):
            mid, right = min(left + width, hi), min(left + 2 * width, hi)
            i, j = left, mid
            for k in range(right - left):
                if j >= right or (i < mid and seq[order[i]] <= seq[order[j]]):
                    scratch[k], i = order[i], i + 1
                else:
                    scratch[k], j = order[j], j + 1
            for k in range(right - left):
                order[left + k] = scratch[k]
        width *= 2


@_jit
def _reason_code(bits: int) -> int:
    """The first InvalidReason whose bit is set, as a 1-based code; 0 = valid."""
    for k in range(_N_REASONS):
        if bits & (1 << k):
            return k + 1
    return 0


@_jit
def _gather(order: Any, lo: int, hi: int, cols: Any, rows: Any, seqs: Any) -> None:
    """Copy rows order[lo:hi] into `rows` and `seqs`."""
    seq, type_, mono, media, rate, muted, vis, trusted, kind, from_s, to_s, duration, recv = cols
    for m in range(hi - lo):
        o = order[lo + m]
        seqs[m] = seq[o]
        rows[m, _R_TYPE], rows[m, _R_MONO], rows[m, _R_MEDIA] = type_[o], mono[o], media[o]
        rows[m, _R_RATE], rows[m, _R_MUTED], rows[m, _R_VIS] = rate[o], muted[o], vis[o]
        rows[m, _R_TRUSTED], rows[m, _R_KIND], rows[m, _R_FROM] = trusted[o], kind[o], from_s[o]
        rows[m, _R_TO], rows[m, _R_DUR], rows[m, _R_RECV] = to_s[o], duration[o], recv[o]


@_jit
def _dedupe(rows: Any, seqs: Any, n: int) -> tuple[int, int, float]:
    """reference._dedupe, compacting `rows` in place: (n kept, reason bits, max recv_ms|NaN)."""
    n_kept, bits, max_recv, g = 0, 0, np.nan, 0
    while g < n:
        h, same = g, True
        while h < n and seqs[h] == seqs[g]:
            for c in range(_R_TYPE, _R_RECV):  # reference._payload: all but recv_ms
                u, v = rows[h, c], rows[g, c]
                same = same and (u == v or (np.isnan(u) and np.isnan(v)))
            r = rows[h, _R_RECV]
            if not np.isnan(r) and not r <= max_recv:
                max_recv = r
            h += 1
        if same:
            for c in range(_N_R):
                rows[n_kept, c] = rows[g, c]
            adjacent = n_kept > 0 and seqs[g] == seqs[n_kept - 1] + 1
            seqs[n_kept] = seqs[g]
            rows[n_kept, _R_ADJ] = 1.0 if adjacent else 0.0
            n_kept += 1
        else:
            bits |= _CONFLICT  # the whole seq is dropped: it becomes a gap
        g = h
    return n_kept, bits, max_recv


@_jit
def _duration(rows: Any, n: int) -> float:
    """reference._duration: the first first_frame's positive, finite duration_s."""
    for m in range(n):
        d = rows[m, _R_DUR]
        if rows[m, _R_TYPE] == _FIRST_FRAME and np.isfinite(d) and d > 0.0:
            return float(d)
    return np.nan


@_jit
def _integrity(rows: Any, n: int, max_recv: float) -> int:
    """reference._integrity_reasons: mono order, the clock bound, first_frame present."""
    bits = _NO_FF
    last_mono = -np.inf
    for m in range(n):
        if m > 0 and rows[m, _R_MONO] < rows[m - 1, _R_MONO]:
            bits |= _MONO
        last_mono = max(last_mono, rows[m, _R_MONO])
        if rows[m, _R_TYPE] == _FIRST_FRAME:
            bits &= ~_NO_FF
    if n > 0 and not np.isnan(max_recv) and last_mono / 1000.0 > max_recv / 1000.0 + CLOCK_TOL:
        bits |= _CLOCK
    return bits


@_inline
def _vis(t: int, v: float) -> int:
    """reference._vis as 1 / 0 / -1 (unknown)."""
    if t == _VIS_ON:
        return 1
    if t in (_VIS_OFF, _BG):
        return 0
    return int(v)


@_inline
def _muted(t: int, v: float) -> bool:
    """reference._muted."""
    if t == _MUTE:
        return True
    if t == _UNMUTE:
        return False
    return v != 0.0


@_inline
def _union_add(ivs: Any, iv: int, n: int, a: float, b: float, pieces: Any) -> tuple[int, int]:
    """reference._Union.add on set `iv` of n intervals: (new n, number of new pieces)."""
    lo = n
    while lo > 0 and ivs[iv, lo - 1, 1] >= a:
        lo -= 1
    hi = n - 1
    while hi >= 0 and ivs[iv, hi, 0] > b:
        hi -= 1
    k, cur, start, end = 0, a, a, b
    for m in range(lo, hi + 1):
        s, e = ivs[iv, m, 0], ivs[iv, m, 1]
        if s > cur:
            pieces[k, 0], pieces[k, 1] = cur, s
            k += 1
        cur, start, end = max(cur, e), min(start, s), max(end, e)
    if cur < b:
        pieces[k, 0], pieces[k, 1] = cur, b
        k += 1
    removed = hi - lo + 1
    if removed == 0:
        for m in range(n, lo, -1):
            ivs[iv, m, 0], ivs[iv, m, 1] = ivs[iv, m - 1, 0], ivs[iv, m - 1, 1]
    else:
        for m in range(hi + 1, n):
            ivs[iv, m - removed + 1, 0], ivs[iv, m - removed + 1, 1] = ivs[iv, m, 0], ivs[iv, m, 1]
    ivs[iv, lo, 0], ivs[iv, lo, 1] = start, end
    return n + 1 - removed, k


@_jit
def _walk(
    rows: Any, n: int, dur: float, bits: int, ivs: Any, pieces: Any
) -> tuple[int, int, float, float, float, int]:
    """reference._Walk over one delivery's kept rows.

    Returns (reason bits, qualified-by code, qualified-at, coverage, audible,
    viewability code). Row m-1 is the pair's p, row m its q and the event applied.
    """
    started = closed = playing = ended_seen = jumped = gapped = saw_vis = False
    n_cov = n_aud = n_played = 0
    cov = aud = played = run = best = mrun = mbest = furthest = 0.0
    q_by, q_at = 0, np.nan
    # reference._Walk._watch_target; for D < T_FOCUS it is set by the first ended/loop
    target = T_FOCUS if np.isnan(dur) or dur >= T_FOCUS else np.nan
    for m in range(n):
        t = int(rows[m, _R_TYPE])
        saw_vis = saw_vis or _vis(t, rows[m, _R_VIS]) != -1
        furthest = max(furthest, rows[m, _R_MEDIA])
        jump = t in (_SEEK, _LOOP)
        is_open = started and not closed
        b = rows[m, _R_FROM] if jump else rows[m, _R_MEDIA]  # reference._arrival
        if m > 0 and rows[m, _R_ADJ] == 0.0:  # _Walk.pair: a gap
            gapped, playing = True, False
        if m > 0 and (rows[m, _R_ADJ] == 0.0 or np.isnan(b)):  # _Walk.pair: not a pair
            run = mrun = 0.0
        elif m > 0:  # _Walk.pair(p = m - 1, q = m), by the state at p
            tp = int(rows[m - 1, _R_TYPE])
            a, rate = rows[m - 1, _R_MEDIA], rows[m - 1, _R_RATE]
            dt = (rows[m, _R_MONO] - rows[m - 1, _R_MONO]) / 1000.0
            dm = b - a
            tol = DRIFT_TOL_S + DRIFT_TOL_FRACTION * dt
            ca = max(a, 0.0)  # _Walk._clip
            cb = b if np.isnan(dur) else min(b, dur)
            length = max(cb - ca, 0.0)
            if is_open and not ended_seen and 0.0 < dm <= max(rate, 1.0) * dt + tol and cb > ca:
                n_played, k = _union_add(ivs, _IV_PLAYED, n_played, ca, cb, pieces)
                for j in range(k):
                    played += pieces[j, 1] - pieces[j, 0]
            v = _vis(tp, rows[m - 1, _R_VIS])
            base = is_open and playing and abs(rate - 1.0) <= RATE_TOL and dt <= GAP_MAX
            media_ok = 0.0 < dm <= dt + tol and dm >= dt - tol
            if base and v == 1 and dm > dt + tol:
                bits |= _DRIFT
            if base and media_ok and v == 1:  # _Walk._credit
                if cb > ca:
                    n_cov, k = _union_add(ivs, _IV_COV, n_cov, ca, cb, pieces)
                    for j in range(k):
                        s, e = pieces[j, 0], pieces[j, 1]
                        if q_by == 0 and not np.isnan(target) and cov + (e - s) >= target - EPS:
                            q_by, q_at = 1, min(e, s + max(0.0, target - cov))
                        cov += e - s
                    if not _muted(tp, rows[m - 1, _R_MUTED]):
                        n_aud, k = _union_add(ivs, _IV_AUD, n_aud, ca, cb, pieces)
                        for j in range(k):
                            aud += pieces[j, 1] - pieces[j, 0]
                run += length
                mrun += length
            elif base and media_ok and v == -1:
                run = 0.0
                mrun += length
            elif not (base and dt == 0.0 and dm == 0.0 and v != 0):
                run = mrun = 0.0
            best, mbest = max(best, run), max(mbest, mrun)
            if jump:
                run = mrun = 0.0
        # _Walk.apply(row m)
        if t == _FIRST_FRAME:
            started = True
        elif t == _INTERACTION and not started:
            bits |= _EARLY_INTERACTION
        elif t == _INTERACTION:
            if (
                q_by == 0 and is_open and rows[m, _R_TRUSTED] != 0.0
                and 0.0 <= rows[m, _R_KIND] < _N_QUALIFYING
                and _vis(t, rows[m, _R_VIS]) == 1 and cov >= T_MIN_INTERACT - EPS
            ):  # fmt: skip
                q_by, q_at = 2, rows[m, _R_MEDIA]
                q_at = max(q_at if np.isnan(dur) else min(q_at, dur), 0.0)  # _Walk._clip_point
        elif (t in (_ENDED, _LOOP)) and is_open:  # _Walk._completion
            if not np.isnan(dur) and dur < T_FOCUS:
                target = dur - END_TOL
                if q_by == 0 and cov > 0.0 and cov >= dur - END_TOL - EPS:
                    q_by, q_at = 1, dur
            if t == _ENDED and not ended_seen:
                ended_seen = True
                if (
                    not np.isnan(dur) and not jumped and not gapped
                    and played < ENDED_MIN_FRACTION * dur - EPS
                ):  # fmt: skip
                    bits |= _ENDED_EARLY
        jumped = jumped or jump
        if t in (_FIRST_FRAME, _PLAY, _HEARTBEAT, _LOOP):
            playing = True
        elif t in (_PAUSE, _ENDED, _SWIPE_AWAY, _CLOSE):
            playing = False
        closed = closed or t in (_ENDED, _SWIPE_AWAY, _CLOSE)
    view = 1 if best >= T_VIEWABLE - EPS else (2 if mbest >= T_VIEWABLE - EPS else 0)
    reached = furthest if np.isnan(dur) else min(furthest, dur)
    if view == 0 and not saw_vis and reached >= T_VIEWABLE - EPS:
        view = 2  # reference._Walk.verdict: no visibility data, playhead 2 s in
    return bits, q_by, q_at, cov, aud, view
