"""Playback events as the attention rule sees them (spec/attention.md §7.1).

This is the whole vocabulary a player may send: ordinary playback and interaction
facts. Nothing here can carry a biometric, emotion, gaze or free-text value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventType(StrEnum):
    """The event types of §7.1, spelled as they travel on the wire."""

    FIRST_FRAME = "first_frame"
    HEARTBEAT = "heartbeat"
    PLAY = "play"
    PAUSE = "pause"
    SEEK = "seek"
    RATE = "rate"
    MUTE = "mute"
    UNMUTE = "unmute"
    VIS_ON = "vis_on"
    VIS_OFF = "vis_off"
    FG = "fg"
    BG = "bg"
    LOOP = "loop"
    ENDED = "ended"
    INTERACTION = "interaction"
    SWIPE_AWAY = "swipe_away"
    CLOSE = "close"
    NEG_FEEDBACK = "neg_feedback"


class InteractionKind(StrEnum):
    """Kinds an `interaction` event may name.

    The positive kinds (§7.3 (I)) can qualify a focused view; the others are
    accepted so that a player can report them, but never qualify.
    """

    LIKE = "like"
    FOLLOW = "follow"
    SHARE = "share"
    COMMENT_OPEN = "comment_open"
    CLICKTHROUGH = "clickthrough"
    PROFILE_VISIT = "profile_visit"
    HASHTAG = "hashtag"
    MUSIC = "music"
    ANCHOR = "anchor"
    INTERACTIVE_ADDON = "interactive_addon"
    # never qualifying (§7.3 "Excluded")
    FULLSCREEN = "fullscreen"
    SKIP = "skip"


QUALIFYING_INTERACTIONS: frozenset[str] = frozenset(
    {
        InteractionKind.LIKE,
        InteractionKind.FOLLOW,
        InteractionKind.SHARE,
        InteractionKind.COMMENT_OPEN,
        InteractionKind.CLICKTHROUGH,
        InteractionKind.PROFILE_VISIT,
        InteractionKind.HASHTAG,
        InteractionKind.MUSIC,
        InteractionKind.ANCHOR,
        InteractionKind.INTERACTIVE_ADDON,
    }
)

# Events after which the viewer has left the ad: the delivery can be settled
# once every seq up to the last event is present.
TERMINAL_TYPES: frozenset[str] = frozenset({EventType.ENDED, EventType.SWIPE_AWAY, EventType.CLOSE})


# Fields that only some event types may carry: field -> the types that may carry it.
# The collector and `fairview qualify` both refuse them anywhere else.
ONLY_ON: dict[str, frozenset[str]] = {
    "kind": frozenset({EventType.INTERACTION.value}),
    "from_s": frozenset({EventType.SEEK.value, EventType.LOOP.value}),
    "to_s": frozenset({EventType.SEEK.value, EventType.LOOP.value}),
    "duration_s": frozenset({EventType.FIRST_FRAME.value}),
}
SEEK_TOL_S = 0.0005
"""A jump's `to_s` and its `media_s` are the same playhead, to the millisecond."""


@dataclass(frozen=True, slots=True)
class Event:
    """One playback event of one delivery.

    `mono_ms` is the player's monotonic clock in ms since the first frame;
    `media_s` the ad playhead in seconds (ms precision). `vis` is None when the
    player could not tell visibility. `duration_s` is the creative duration and
    travels on `first_frame`. `recv_ms` is the server receipt time in ms after
    the delivery was issued (the collector fills it; None when unknown).
    For `seek`, `from_s` is the playhead before and `to_s` after (= `media_s`).
    """

    delivery: str
    seq: int
    type: str
    mono_ms: float
    media_s: float
    rate: float = 1.0
    muted: bool = False
    vis: bool | None = None
    trusted: bool = False
    kind: str | None = None
    from_s: float | None = None
    to_s: float | None = None
    duration_s: float | None = None
    recv_ms: float | None = None
