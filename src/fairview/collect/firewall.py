"""The privacy firewall: names that no event may carry, refused by name.

fairview measures attention from playback and interaction facts only. A field
that could hold a biometric, emotion, gaze, heart-rate, camera, microphone,
keystroke or free-text value is refused wherever it appears in an event, at any
depth, before anything else is looked at (ARCHITECTURE §4).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

# Matched against the field name lower-cased with separators removed.
_PROHIBITED_PARTS = (
    "biometric",
    "emotion",
    "sentiment",
    "mood",
    "affect",
    "arousal",
    "valence",
    "feeling",
    "gaze",
    "eyetrack",
    "eye",
    "pupil",
    "blink",
    "saccade",
    "fixation",
    "heart",
    "pulse",
    "bpm",
    "ecg",
    "eeg",
    "gsr",
    "skin",
    "sweat",
    "breath",
    "respirat",
    "temperature",
    "bloodpressure",
    "spo2",
    "oxygen",
    "camera",
    "webcam",
    "video_frame",
    "face",
    "facial",
    "smile",
    "expression",
    "microphone",
    "mic",
    "voice",
    "audiolevel",
    "speech",
    "recording",
    "keystroke",
    "keypress",
    "keylog",
    "typing",
    "keyboard",
    "text",
    "comment",
    "message",
    "note",
    "freeform",
    "transcript",
    "search",
    "query",
)
# Short names that are prohibited only as the whole name (too short to match inside words).
_PROHIBITED_EXACT = frozenset({"hr", "hrv", "rr", "bp", "stress"})
_NORMALISE = re.compile(r"[^a-z0-9]")


_PARTS = re.compile("|".join(re.escape(_NORMALISE.sub("", p)) for p in _PROHIBITED_PARTS))


@lru_cache(maxsize=4096)
def prohibited_reason(name: str) -> str | None:
    """The prohibited concept a field name refers to, or None if it is not prohibited."""
    plain = _NORMALISE.sub("", name.lower())
    if plain in _PROHIBITED_EXACT:
        return plain
    found = _PARTS.search(plain)
    return None if found is None else found.group(0)


def find_prohibited(payload: Mapping[str, Any], _prefix: str = "") -> Iterator[str]:
    """Dotted paths of every prohibited field name in `payload`, nested ones included."""
    for key, value in payload.items():
        plain_value = not isinstance(value, Mapping | list)
        if (
            plain_value
            and isinstance(key, str)
            and len(key) < 64
            and prohibited_reason(key) is None
        ):
            continue  # the common case, answered from the cache
        path = f"{_prefix}{key}"
        if prohibited_reason(str(key)[:200]) is not None:
            yield path
        if isinstance(value, Mapping):
            yield from find_prohibited(value, f"{path}.")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    yield from find_prohibited(item, f"{path}[{i}].")


def prohibited_detail(path: str) -> str:
    return (
        f"Field '{path}' is refused: fairview never accepts biometric, emotion, gaze, "
        "heart-rate, camera, microphone, keystroke or free-text data. Send only the playback "
        "fields listed in docs/events.md."
    )
