"""A VAST tracking ping as one collector event (docs/events.md), judged by the same rule.

A VAST player sends only pings (`fairview.serve.vast` renders their URIs): no seq,
no visibility, no monotonic clock. `ping_event` turns one ping into one event dict
for `POST /v1/events`, so the collector and the attention rule treat VAST
deliveries like any other.

Ping -> event, and the rank that orders pings fired at the same playhead:

    rank  ping           event                              nominal playhead
    0     impression     first_frame (duration_s = D)       0
    1     start          play                               0
    2     resume         play                               (needs [ADPLAYHEAD])
    3     unmute         unmute                             (needs [ADPLAYHEAD])
    4     mute           mute                               (needs [ADPLAYHEAD])
    5     firstQuartile  heartbeat                          D/4
    6     progress       heartbeat (the 00:00:06 offset)    6 s
    7     midpoint       heartbeat                          D/2
    8     thirdQuartile  heartbeat                          3D/4
    9     clickthrough   interaction kind=clickthrough      (needs [ADPLAYHEAD])
    10    pause          pause                              (needs [ADPLAYHEAD])
    11    skip           interaction kind=skip              (needs [ADPLAYHEAD])
    12    complete       ended                              D
    13    closeLinear    close                              (needs [ADPLAYHEAD])

`seq = playhead_ms * 16 + rank`, `mono_ms = playhead_ms`, `media_s = playhead_ms / 1000`.
The seq is a pure function of the ping and its playhead, so a resent ping is an
identical duplicate (never counted twice, never a conflicting one), and `seq` order
is playhead order, so `mono_ms` never decreases along it. Fixed seqs per ping kind
(impression 0, start 1, ...) would break both: a `mute` at 2 s numbered after
`firstQuartile` at 3.75 s makes `mono_ms` decrease, and a quartile re-fired after a
replay at another playhead conflicts with the first; either makes the delivery
invalid. So pause/resume/mute/unmute/skip/click pings each count once per playhead
millisecond: a repeat at the same playhead is a duplicate, a repeat at another
playhead is a further event. Gaps in seq are the rule: consecutive pings are never
adjacent except impression and start at the same playhead. Playheads above
MAX_PLAYHEAD_MS (about 10 min) do not fit in the collector's seq range.

What a VAST-only delivery can earn under the unchanged rule (spec §7; the tests in
tests/test_vast_pings.py run the rule on these events):

- `vis` is always null, and §7.2 credits only visible pairs, so coverage is 0 and a
  delivery can never be a focused view: not by watch (W), not even after `progress`
  and `complete`, and not by interaction (I), which needs `vis` true (a click ping is
  also untrusted). VAST-only deliveries are never billed.
- Viewability is `undetermined` once the playhead got 2 s in (§7.4: NotViewable needs
  visibility data, and pings carry none), `not_viewable` when it never did (e.g. only
  impression and start, or a creative shorter than 2 s); never `viewable`.
- A delivery whose impression ping arrived is valid (an impression is counted),
  also with `complete` but no quartiles or progress (the seq gaps excuse the jump).
  It is invalid with `no_first_frame` when the impression ping is lost, with
  `interaction_before_first_frame` when a click or skip ping has an earlier
  playhead than the impression, and with `ended_without_coverage` only when every
  ping up to `complete` was fired at one playhead. Pings never cause
  `mono_decreasing` or `conflicting_duplicate`.
"""

from __future__ import annotations

import re
from typing import Final

from fairview.errors import FairviewError

MAX_PLAYHEAD_MS: Final = 624_999
"""Largest playhead whose seq (`ms * 16 + rank`) fits the collector's MAX_SEQ."""

_SLOTS: Final = 16
# ping -> (rank, event type, interaction kind)
_PINGS: Final[dict[str, tuple[int, str, str | None]]] = {
    "impression": (0, "first_frame", None),
    "start": (1, "play", None),
    "resume": (2, "play", None),
    "unmute": (3, "unmute", None),
    "mute": (4, "mute", None),
    "firstQuartile": (5, "heartbeat", None),
    "progress": (6, "heartbeat", None),
    "midpoint": (7, "heartbeat", None),
    "thirdQuartile": (8, "heartbeat", None),
    "clickthrough": (9, "interaction", "clickthrough"),
    "pause": (10, "pause", None),
    "skip": (11, "interaction", "skip"),
    "complete": (12, "ended", None),
    "closeLinear": (13, "close", None),
}

VAST_EVENTS: Final = frozenset(_PINGS)
"""The ping names (`e=`) that map to a collector event."""

NON_EVENT_PINGS: Final = frozenset({"error", "viewable", "notViewable", "viewUndetermined"})
"""Pings fairview renders that carry no playback evidence; `ping_event` refuses them."""

_PLAYHEAD = re.compile(r"(\d{2,}):([0-5]\d):([0-5]\d)(?:\.(\d{1,3}))?")


def ping_event(event: str, adplayhead: str | None, duration_ms: int) -> dict[str, object]:
    """The collector event for VAST ping `event` of a creative of `duration_ms`.

    `adplayhead` is the player's [ADPLAYHEAD] (`HH:MM:SS.mmm`) or None when the ping
    did not carry it; milestones then fall back to their nominal playhead.
    Raises FairviewError (422): `unknown_vast_event`, `not_a_playback_ping`,
    `bad_playhead` (unreplaced macro, -1, -2, garbage, out of range) or
    `missing_playhead` (a user-control ping without a playhead). Raises
    ValueError when `duration_ms` is not in (0, MAX_PLAYHEAD_MS].
    """
    if not 0 < duration_ms <= MAX_PLAYHEAD_MS:
        raise ValueError(f"duration_ms must be in (0, {MAX_PLAYHEAD_MS}], got {duration_ms}")
    rank, kind, interaction = _mapping(event)
    at_ms = _nominal_ms(event, duration_ms) if adplayhead is None else parse_playhead(adplayhead)
    if at_ms is None:
        raise FairviewError(
            "missing_playhead",
            f"The '{event}' ping needs the playhead: add ph=[ADPLAYHEAD] to its URI.",
            status=422,
            field="ph",
        )
    out: dict[str, object] = {
        "seq": at_ms * _SLOTS + rank,
        "type": kind,
        "mono_ms": at_ms,
        "media_s": at_ms / 1000,
        "vis": None,  # a ping cannot tell whether the ad was in view
    }
    if kind == "first_frame":
        out["duration_s"] = duration_ms / 1000
    if interaction is not None:
        out["kind"] = interaction
        out["trusted"] = False  # nothing shows the ping came from real user input
    return out


def parse_playhead(text: str) -> int:
    """`HH:MM:SS.mmm` (ms optional, 1-3 digits) as integer milliseconds.

    Raises FairviewError `bad_playhead` (422) for anything else: the unreplaced
    macro, VAST's -1 (unknown) and -2 (withheld), garbage, or a playhead above
    MAX_PLAYHEAD_MS.
    """
    m = _PLAYHEAD.fullmatch(text)
    if m is None:
        raise _bad_playhead(text, "is not a playhead in HH:MM:SS.mmm")
    hours, minutes, seconds, fraction = m.groups()
    millis = int((fraction or "0").ljust(3, "0"))
    total = ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + millis
    if total > MAX_PLAYHEAD_MS:
        raise _bad_playhead(text, f"is past the longest supported ad ({MAX_PLAYHEAD_MS} ms)")
    return total


def _mapping(event: str) -> tuple[int, str, str | None]:
    if event in NON_EVENT_PINGS:
        raise FairviewError(
            "not_a_playback_ping",
            f"The '{event}' ping carries no playback event; acknowledge it without recording.",
            status=422,
            field="e",
        )
    try:
        return _PINGS[event]
    except KeyError:
        raise FairviewError(
            "unknown_vast_event",
            f"Unknown VAST ping {event[:40]!r}; use one of {', '.join(sorted(VAST_EVENTS))}.",
            status=422,
            field="e",
        ) from None


def _nominal_ms(event: str, duration_ms: int) -> int | None:
    """Where a milestone fires in a straight play-through; None for user-control pings."""
    nominal = {
        "impression": 0,
        "start": 0,
        "firstQuartile": duration_ms // 4,
        "progress": 6_000,
        "midpoint": duration_ms // 2,
        "thirdQuartile": duration_ms * 3 // 4,
        "complete": duration_ms,
    }
    return nominal.get(event)


def _bad_playhead(text: str, problem: str) -> FairviewError:
    hint = " (the player did not replace the macro)" if text.startswith("[") else ""
    return FairviewError(
        "bad_playhead",
        f"ph={text[:40]!r} {problem}{hint}; send the ad playhead as [ADPLAYHEAD], "
        "e.g. 00:00:06.250.",
        status=422,
        field="ph",
    )
