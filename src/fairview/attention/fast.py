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
        cols = list(zip(*rows, strict=True)) if rows else [()] * 14
        dtypes = (
            np.int32,
            np.int64,
            np.int8,
            np.float64,
            np.float64,
            np.float64,
            np.int8,
            np.int8,
            np.int8,
            np.int16,
            np.float64,
            np.float64,
            np.float64,
            np.float64,
        )
        arrays = [np.asarray(c, dtype=t) for c, t in zip(cols, dtypes, strict=True)]
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
    columns = (
        cols.seq, cols.type, cols.mono_ms, cols.media_s, cols.rate, cols.muted, cols.vis,
        cols.trusted, cols.kind, cols.from_s, cols.duration_s, cols.recv_ms,
    )  # fmt: skip
    out = _kernel(cols.delivery, columns, durations.astype(np.float64))
    return VerdictColumns(cols.delivery_ids, *out)


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
# kind, from_s, duration_s, recv_ms) of EventColumns arrays. One delivery's rows
# are first copied, in seq order, into the float matrix `rows` (columns _R_*),
# so the per-event code reads one small array. The walk keeps its state in two
# small arrays, `st` (floats, _S_*) and `fl` (ints, _F_*).

(
    _R_ADJ, _R_TYPE, _R_MONO, _R_MEDIA, _R_RATE, _R_MUTED, _R_VIS, _R_TRUSTED, _R_KIND,
    _R_FROM, _R_DUR, _R_RECV,
) = range(12)  # fmt: skip
_N_R = 12  # _R_ADJ: 1.0 when the row's seq is the previous kept row's seq + 1
_S_COV, _S_AUD, _S_PLAYED, _S_RUN, _S_BEST, _S_MRUN, _S_MBEST, _S_Q_AT = range(8)
(
    _F_STARTED, _F_CLOSED, _F_PLAYING, _F_MARKED, _F_ENDED_SEEN, _F_JUMPED, _F_GAPPED,
    _F_Q_BY, _F_BITS, _F_N_COV, _F_N_AUD, _F_N_PLAYED,
) = range(12)  # fmt: skip
_IV_COV, _IV_AUD, _IV_PLAYED = range(3)  # which interval set of `ivs`
_SMALL_GROUP = 64  # insertion-sort a delivery's rows up to this many, else mergesort


@_jit
def _kernel(delivery: Any, cols: Any, durations: Any) -> tuple[Any, ...]:
    """Qualify every delivery; one output row per delivery index."""
    n_d = durations.shape[0]
    focused = np.zeros(n_d, dtype=np.bool_)
    by = np.zeros(n_d, dtype=np.int8)
    at = np.full(n_d, np.nan)
    cov = np.zeros(n_d)
    aud = np.zeros(n_d)
    view = np.zeros(n_d, dtype=np.int8)
    reason = np.full(n_d, _reason_code(_NO_FF), dtype=np.int8)  # deliveries with no rows
    order, starts = _row_order(delivery, cols[0], n_d)
    biggest = np.max(np.diff(starts)) if n_d > 0 else 0
    rows = np.empty((biggest, _N_R))
    seqs = np.empty(biggest, dtype=np.int64)
    ivs = np.empty((3, biggest + 2, 2))
    pieces = np.empty((biggest + 2, 2))
    st = np.zeros(8)
    fl = np.zeros(12, dtype=np.int64)
    for d in range(n_d):
        if starts[d + 1] == starts[d]:
            continue
        st[:] = 0.0
        fl[:] = 0
        _gather(order, starts[d], starts[d + 1], cols, rows, seqs)
        n_kept, max_recv = _dedupe(rows, seqs, starts[d + 1] - starts[d], fl)
        dur = durations[d]
        if np.isnan(dur):
            dur = _duration(rows, n_kept)
        _walk(rows, n_kept, dur, max_recv, ivs, pieces, st, fl)
        cov[d], aud[d] = st[_S_COV], st[_S_AUD]
        view[d] = _viewability(st)
        reason[d] = _reason_code(fl[_F_BITS])
        if reason[d] == 0 and fl[_F_Q_BY] != 0:
            focused[d], by[d], at[d] = True, fl[_F_Q_BY], st[_S_Q_AT]
    return focused, by, at, cov, aud, view, reason


@_jit
def _row_order(delivery: Any, seq: Any, n_d: int) -> tuple[Any, Any]:
    """Rows by (delivery, seq), stable (reference: sorted by seq, never by arrival).

    A counting sort by delivery, then each delivery's rows by seq: linear when
    the rows already arrive in order, as they mostly do.
    """
    starts = np.zeros(n_d + 1, dtype=np.int64)
    for i in range(delivery.shape[0]):
        starts[delivery[i] + 1] += 1
    starts = np.cumsum(starts)
    order = np.empty(delivery.shape[0], dtype=np.int64)
    fill = starts[:-1].copy()
    for i in range(delivery.shape[0]):
        order[fill[delivery[i]]] = i
        fill[delivery[i]] += 1
    for d in range(n_d):
        lo, hi = starts[d], starts[d + 1]
        if hi - lo > _SMALL_GROUP:
            sub = order[lo:hi].copy()
            order[lo:hi] = sub[np.argsort(seq[sub], kind="mergesort")]
            continue
        for i in range(lo + 1, hi):
            row, k = order[i], i
            while k > lo and seq[order[k - 1]] > seq[row]:
                order[k] = order[k - 1]
                k -= 1
            order[k] = row
    return order, starts


@_jit
def _reason_code(bits: int) -> int:
    """The first InvalidReason whose bit is set, as a 1-based code; 0 = valid."""
    for k in range(_N_REASONS):
        if bits & (1 << k):
            return k + 1
    return 0


@_jit
def _viewability(st: Any) -> int:
    """reference._Walk.verdict: the index into VIEWABILITY."""
    if st[_S_BEST] >= T_VIEWABLE - EPS:
        return 1
    if st[_S_MBEST] >= T_VIEWABLE - EPS:
        return 2
    return 0


@_jit
def _gather(order: Any, lo: int, hi: int, cols: Any, rows: Any, seqs: Any) -> None:
    """Copy rows order[lo:hi] into `rows` and `seqs`."""
    seq, type_, mono, media, rate, muted, vis, trusted, kind, from_s, duration, recv = cols
    for m in range(hi - lo):
        o = order[lo + m]
        seqs[m] = seq[o]
        rows[m, _R_TYPE], rows[m, _R_MONO], rows[m, _R_MEDIA] = type_[o], mono[o], media[o]
        rows[m, _R_RATE], rows[m, _R_MUTED], rows[m, _R_VIS] = rate[o], muted[o], vis[o]
        rows[m, _R_TRUSTED], rows[m, _R_KIND], rows[m, _R_FROM] = trusted[o], kind[o], from_s[o]
        rows[m, _R_DUR], rows[m, _R_RECV] = duration[o], recv[o]


@_jit
def _same_payload(rows: Any, x: int, y: int) -> bool:
    """reference._payload equality: every client field (NaN equals NaN), `recv_ms` aside."""
    for c in range(_R_TYPE, _R_RECV):
        u, v = rows[x, c], rows[y, c]
        if u != v and not (np.isnan(u) and np.isnan(v)):
            return False
    return True


@_jit
def _dedupe(rows: Any, seqs: Any, n: int, fl: Any) -> tuple[int, float]:
    """reference._dedupe, compacting `rows` in place; returns (n kept, max recv_ms or NaN)."""
    n_kept, max_recv, g = 0, np.nan, 0
    while g < n:
        h, same = g, True
        while h < n and seqs[h] == seqs[g]:
            same = same and (h == g or _same_payload(rows, g, h))
            r = rows[h, _R_RECV]
            if not np.isnan(r) and not r <= max_recv:
                max_recv = r
            h += 1
        if same:
            rows[n_kept, :] = rows[g, :]
            adjacent = n_kept > 0 and seqs[g] == seqs[n_kept - 1] + 1
            seqs[n_kept] = seqs[g]
            rows[n_kept, _R_ADJ] = 1.0 if adjacent else 0.0
            n_kept += 1
        else:
            fl[_F_BITS] |= _CONFLICT  # the whole seq is dropped: it becomes a gap
        g = h
    return n_kept, max_recv


@_jit
def _duration(rows: Any, n: int) -> float:
    """reference._duration: the first first_frame's positive, finite duration_s."""
    for m in range(n):
        d = rows[m, _R_DUR]
        if rows[m, _R_TYPE] == _FIRST_FRAME and np.isfinite(d) and d > 0.0:
            return float(d)
    return np.nan


@_jit
def _integrity(rows: Any, n: int, max_recv: float, fl: Any) -> None:
    """reference._integrity_reasons: mono order, the clock bound, first_frame present."""
    fl[_F_BITS] |= _NO_FF
    last_mono = -np.inf
    for m in range(n):
        if m > 0 and rows[m, _R_MONO] < rows[m - 1, _R_MONO]:
            fl[_F_BITS] |= _MONO
        last_mono = max(last_mono, rows[m, _R_MONO])
        if rows[m, _R_TYPE] == _FIRST_FRAME:
            fl[_F_BITS] &= ~_NO_FF
    if n > 0 and not np.isnan(max_recv) and last_mono / 1000.0 > max_recv / 1000.0 + CLOCK_TOL:
        fl[_F_BITS] |= _CLOCK


@_jit
def _walk(
    rows: Any, n: int, dur: float, max_recv: float, ivs: Any, pieces: Any, st: Any, fl: Any
) -> None:
    """reference.qualify after _dedupe: fill `st` and `fl` for one delivery."""
    _integrity(rows, n, max_recv, fl)
    st[_S_Q_AT] = np.nan
    for m in range(n):
        if m > 0:
            _pair(rows, m - 1, m, dur, ivs, pieces, st, fl)
        _apply(rows, m, dur, st, fl)


@_jit
def _is_jump(t: int) -> bool:
    return t in (_SEEK, _LOOP)


@_jit
def _vis(t: int, v: float) -> int:
    """reference._vis as 1/0/-1."""
    if t == _VIS_ON:
        return 1
    if t in (_VIS_OFF, _BG):
        return 0
    return int(v)


@_jit
def _muted(t: int, v: float) -> bool:
    if t == _MUTE:
        return True
    if t == _UNMUTE:
        return False
    return v != 0.0


@_jit
def _is_open(fl: Any) -> bool:
    return bool(fl[_F_STARTED] != 0 and fl[_F_CLOSED] == 0)


@_jit
def _pair(rows: Any, p: int, q: int, dur: float, ivs: Any, pieces: Any, st: Any, fl: Any) -> None:
    """reference._Walk.pair: credit the pair (rows p, q) under §7.2 by the state at p."""
    jump = _is_jump(int(rows[q, _R_TYPE]))
    b = rows[q, _R_FROM] if jump else rows[q, _R_MEDIA]
    if rows[q, _R_ADJ] == 0.0 or np.isnan(b):
        if rows[q, _R_ADJ] == 0.0:
            fl[_F_GAPPED] = 1
        st[_S_RUN] = st[_S_MRUN] = 0.0
        return
    a = rows[p, _R_MEDIA]
    rate = rows[p, _R_RATE]
    dt = (rows[q, _R_MONO] - rows[p, _R_MONO]) / 1000.0
    dm = b - a
    tol = DRIFT_TOL_S + DRIFT_TOL_FRACTION * dt
    if _is_open(fl) and fl[_F_ENDED_SEEN] == 0 and 0.0 < dm <= max(rate, 1.0) * dt + tol:
        _add(_IV_PLAYED, _F_N_PLAYED, _S_PLAYED, a, b, dur, ivs, pieces, st, fl)
    t_p = int(rows[p, _R_TYPE])
    v = _vis(t_p, rows[p, _R_VIS])
    base = _is_open(fl) and fl[_F_PLAYING] != 0 and abs(rate - 1.0) <= RATE_TOL and dt <= GAP_MAX
    media_ok = 0.0 < dm <= dt + tol and dm >= dt - tol
    if base and v == 1 and dm > dt + tol:
        fl[_F_BITS] |= _DRIFT
    if base and media_ok and v == 1:
        length = _credit(a, b, _muted(t_p, rows[p, _R_MUTED]), dur, ivs, pieces, st, fl)
        st[_S_RUN] += length
        st[_S_MRUN] += length
    elif base and media_ok and v == -1:
        st[_S_RUN] = 0.0
        st[_S_MRUN] += _clipped_length(a, b, dur)
    elif not (base and dt == 0.0 and dm == 0.0 and v != 0):
        st[_S_RUN] = st[_S_MRUN] = 0.0
    st[_S_BEST] = max(st[_S_BEST], st[_S_RUN])
    st[_S_MBEST] = max(st[_S_MBEST], st[_S_MRUN])
    if jump:
        st[_S_RUN] = st[_S_MRUN] = 0.0


@_jit
def _clip(a: float, b: float, dur: float) -> tuple[float, float]:
    """reference._Walk._clip."""
    a = max(a, 0.0)
    if not np.isnan(dur):
        b = min(b, dur)
    return a, b


@_jit
def _clipped_length(a: float, b: float, dur: float) -> float:
    a, b = _clip(a, b, dur)
    return max(b - a, 0.0)


@_jit
def _add(
    iv: int, n_at: int, measure_at: int, a: float, b: float, dur: float, ivs: Any,
    pieces: Any, st: Any, fl: Any,
) -> int:  # fmt: skip
    """reference._Walk._add into interval set `iv`; returns the number of new pieces."""
    a, b = _clip(a, b, dur)
    if b <= a:
        return 0
    fl[n_at], k = _union_add(ivs, iv, fl[n_at], a, b, pieces)
    for j in range(k):
        st[measure_at] += pieces[j, 1] - pieces[j, 0]
    return k


@_jit
def _union_add(ivs: Any, iv: int, n: int, a: float, b: float, pieces: Any) -> tuple[int, int]:
    """reference._Union.add: insert [a, b); write the uncovered pieces; (new n, n pieces)."""
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
def _watch_target(dur: float, fl: Any) -> float:
    """reference._Walk._watch_target; NaN = none yet."""
    if np.isnan(dur) or dur >= T_FOCUS:
        return T_FOCUS
    return dur - END_TOL if fl[_F_MARKED] != 0 else np.nan


@_jit
def _credit(
    a: float, b: float, muted: bool, dur: float, ivs: Any, pieces: Any, st: Any, fl: Any
) -> float:
    """reference._Walk._credit: coverage (noting the §7.3 (W) crossing) and audible."""
    target = _watch_target(dur, fl)
    before = st[_S_COV]
    k = _add(_IV_COV, _F_N_COV, _S_COV, a, b, dur, ivs, pieces, st, fl)
    for j in range(k):
        s, e = pieces[j, 0], pieces[j, 1]
        if not np.isnan(target) and before + (e - s) >= target - EPS:
            _qualify(1, min(e, s + max(0.0, target - before)), st, fl)
        before += e - s
    if not muted:
        _add(_IV_AUD, _F_N_AUD, _S_AUD, a, b, dur, ivs, pieces, st, fl)
    return _clipped_length(a, b, dur)


@_jit
def _qualify(by: int, at_media_s: float, st: Any, fl: Any) -> None:
    if fl[_F_Q_BY] == 0:
        fl[_F_Q_BY] = by
        st[_S_Q_AT] = at_media_s


@_jit
def _apply(rows: Any, q: int, dur: float, st: Any, fl: Any) -> None:
    """reference._Walk.apply: move the carried state past row q."""
    t = int(rows[q, _R_TYPE])
    if t == _FIRST_FRAME:
        fl[_F_STARTED] = 1
    elif t == _INTERACTION:
        if fl[_F_STARTED] == 0:
            fl[_F_BITS] |= _EARLY_INTERACTION
        elif (
            _is_open(fl) and rows[q, _R_TRUSTED] != 0.0
            and 0.0 <= rows[q, _R_KIND] < _N_QUALIFYING
            and _vis(t, rows[q, _R_VIS]) == 1 and st[_S_COV] >= T_MIN_INTERACT - EPS
        ):  # fmt: skip
            _qualify(2, rows[q, _R_MEDIA], st, fl)
    elif t in (_ENDED, _LOOP) and _is_open(fl):
        _completion(t, dur, st, fl)
    if _is_jump(t):
        fl[_F_JUMPED] = 1
    if t in (_FIRST_FRAME, _PLAY, _HEARTBEAT, _LOOP):
        fl[_F_PLAYING] = 1
    elif t in (_PAUSE, _ENDED, _SWIPE_AWAY, _CLOSE):
        fl[_F_PLAYING] = 0
    if t in (_ENDED, _SWIPE_AWAY, _CLOSE):
        fl[_F_CLOSED] = 1


@_jit
def _completion(t: int, dur: float, st: Any, fl: Any) -> None:
    """reference._Walk._completion."""
    fl[_F_MARKED] = 1
    covered = st[_S_COV]
    if not np.isnan(dur) and dur < T_FOCUS and covered > 0.0 and covered >= dur - END_TOL - EPS:
        _qualify(1, dur, st, fl)
    if t == _ENDED and fl[_F_ENDED_SEEN] == 0:
        fl[_F_ENDED_SEEN] = 1
        if (
            not np.isnan(dur) and fl[_F_JUMPED] == 0 and fl[_F_GAPPED] == 0
            and st[_S_PLAYED] < ENDED_MIN_FRACTION * dur - EPS
        ):  # fmt: skip
            fl[_F_BITS] |= _ENDED_EARLY
