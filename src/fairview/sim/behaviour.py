"""Viewer archetypes and the parameters of how each one watches an ad.

Each honest user has one archetype. A `Profile` gives the viewer model in
`player` its odds: when the viewer leaves (a mix of "early", mostly before 6 s,
and "late"), how the session starts, and hazard rates (events per second of
foreground playback) for every other action.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from fairview.attention.events import InteractionKind


class Archetype(StrEnum):
    """How a person tends to treat an ad in the feed."""

    ATTENTIVE = "attentive"
    SKIPPER = "skipper"
    MUTED_SCROLLER = "muted-scroller"
    INTERACTOR = "interactor"
    BACKGROUND_LISTENER = "background-listener"
    SPEED_WATCHER = "speed-watcher"


ARCHETYPE_SHARES: Mapping[str, float] = {
    Archetype.ATTENTIVE: 0.25,
    Archetype.SKIPPER: 0.25,
    Archetype.MUTED_SCROLLER: 0.20,
    Archetype.INTERACTOR: 0.12,
    Archetype.BACKGROUND_LISTENER: 0.10,
    Archetype.SPEED_WATCHER: 0.08,
}
"""Default share of honest users per archetype (sums to 1)."""


@dataclass(frozen=True, slots=True)
class Profile:
    """Odds for one archetype; rates are events per second of foreground play."""

    early_exit: float
    early_median_s: float
    late_median_s: float
    start_muted: float
    first_second_tap: float
    pause: float
    seek: float
    speed: float
    scroll: float
    background: float
    mute_toggle: float
    interact: float
    neg_feedback: float
    stall: float = 0.03
    untrusted: float = 0.03
    bg_keeps_playing: float = 0.4
    exit_sigma: float = 0.55


PROFILES: Mapping[Archetype, Profile] = {
    Archetype.ATTENTIVE: Profile(
        early_exit=0.15,
        early_median_s=4.0,
        late_median_s=26.0,
        start_muted=0.3,
        first_second_tap=0.02,
        pause=0.03,
        seek=0.02,
        speed=0.004,
        scroll=0.02,
        background=0.01,
        mute_toggle=0.05,
        interact=0.03,
        neg_feedback=0.002,
    ),
    Archetype.SKIPPER: Profile(
        early_exit=0.75,
        early_median_s=2.3,
        late_median_s=9.0,
        start_muted=0.4,
        first_second_tap=0.12,
        pause=0.01,
        seek=0.06,
        speed=0.01,
        scroll=0.05,
        background=0.01,
        mute_toggle=0.03,
        interact=0.01,
        neg_feedback=0.03,
    ),
    Archetype.MUTED_SCROLLER: Profile(
        early_exit=0.5,
        early_median_s=3.0,
        late_median_s=11.0,
        start_muted=0.95,
        first_second_tap=0.04,
        pause=0.01,
        seek=0.01,
        speed=0.005,
        scroll=0.35,
        background=0.01,
        mute_toggle=0.06,
        interact=0.02,
        neg_feedback=0.01,
    ),
    Archetype.INTERACTOR: Profile(
        early_exit=0.3,
        early_median_s=3.5,
        late_median_s=12.0,
        start_muted=0.35,
        first_second_tap=0.3,
        pause=0.03,
        seek=0.03,
        speed=0.005,
        scroll=0.05,
        background=0.01,
        mute_toggle=0.05,
        interact=0.3,
        neg_feedback=0.02,
        untrusted=0.05,
    ),
    Archetype.BACKGROUND_LISTENER: Profile(
        early_exit=0.2,
        early_median_s=3.5,
        late_median_s=18.0,
        start_muted=0.1,
        first_second_tap=0.02,
        pause=0.02,
        seek=0.01,
        speed=0.003,
        scroll=0.03,
        background=0.3,
        mute_toggle=0.02,
        interact=0.02,
        neg_feedback=0.005,
        bg_keeps_playing=0.8,
    ),
    Archetype.SPEED_WATCHER: Profile(
        early_exit=0.35,
        early_median_s=3.0,
        late_median_s=10.0,
        start_muted=0.4,
        first_second_tap=0.04,
        pause=0.05,
        seek=0.25,
        speed=0.3,
        scroll=0.03,
        background=0.01,
        mute_toggle=0.03,
        interact=0.03,
        neg_feedback=0.01,
    ),
}

INTERACTION_WEIGHTS: Mapping[str, float] = {
    InteractionKind.LIKE: 0.36,
    InteractionKind.SHARE: 0.09,
    InteractionKind.CLICKTHROUGH: 0.14,
    InteractionKind.FOLLOW: 0.08,
    InteractionKind.COMMENT_OPEN: 0.08,
    InteractionKind.PROFILE_VISIT: 0.06,
    InteractionKind.HASHTAG: 0.03,
    InteractionKind.MUSIC: 0.03,
    InteractionKind.ANCHOR: 0.02,
    InteractionKind.INTERACTIVE_ADDON: 0.03,
    InteractionKind.FULLSCREEN: 0.05,
    InteractionKind.SKIP: 0.03,
}
"""Kinds of a tap during playback; fullscreen and skip never qualify (§7.3)."""

FIRST_SECOND_WEIGHTS: Mapping[str, float] = {
    InteractionKind.LIKE: 0.5,
    InteractionKind.CLICKTHROUGH: 0.2,
    InteractionKind.SKIP: 0.2,
    InteractionKind.FULLSCREEN: 0.1,
}
"""Kinds of an early, often accidental tap in the first second."""
