"""JSON Lines of events in, one verdict per delivery out: the core of `fairview qualify FILE`.

Each line is one §7.1 event. A line that cannot be an event yields an error
object with a stable code and never stops the run; see docs/qualify.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from fairview.attention.events import ONLY_ON, SEEK_TOL_S, Event, EventType, InteractionKind
from fairview.attention.fast import qualify_many

REQUIRED_FIELDS = ("delivery", "seq", "type", "mono_ms", "media_s")
OPTIONAL_FIELDS = (
    "rate", "muted", "vis", "trusted", "kind", "from_s", "to_s", "duration_s", "recv_ms",
)  # fmt: skip
_ALLOWED = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)
_TYPES = frozenset(t.value for t in EventType)
_KINDS = frozenset(k.value for k in InteractionKind)
_MAX_SEQ = 2**53  # seq stays exact in a float and fits the int64 column
_MAX_DELIVERY_LEN = 128


class EventLineError(ValueError):
    """A line that is not a valid event: a stable `code` and a `detail` a person can act on."""

    def __init__(self, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.code, self.detail, self.field = code, detail, field

    def to_json(self, line: int) -> dict[str, Any]:
        out: dict[str, Any] = {"line": line, "error": self.code, "detail": self.detail}
        if self.field is not None:
            out["field"] = self.field
        return out


def qualify_lines(lines: Iterable[str | bytes]) -> Iterator[dict[str, Any]]:
    """Read JSON Lines of events; yield error objects, then one verdict per delivery.

    Error objects (`{"line", "error", "detail"[, "field"]}`, lines numbered from 1)
    come as the bad lines are read; blank lines are skipped. Verdicts need every
    event of a delivery, so they follow the last line, in first-seen order.
    """
    events: list[Event] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(parse_event(line))
        except EventLineError as err:
            yield err.to_json(number)
    if events:
        for verdict in qualify_many(events):
            yield verdict.to_json()


def parse_event(line: str | bytes) -> Event:
    """One JSON line as an `Event`; raises EventLineError when it is not a valid event."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as err:
        raise EventLineError(
            "invalid_json", f"The line is not valid JSON ({err}); write one JSON object per line."
        ) from None
    if not isinstance(obj, dict):
        raise EventLineError(
            "not_an_object", "The line is JSON but not an object; write one event object per line."
        )
    _check_fields(obj)
    event_type = _event_type(obj)
    return Event(
        delivery=_delivery(obj),
        seq=_seq(obj),
        type=event_type,
        mono_ms=_number(obj, "mono_ms"),
        media_s=_number(obj, "media_s", minimum=0.0),
        rate=_number(obj, "rate", default=1.0, minimum=0.0),
        muted=_flag(obj, "muted"),
        vis=_vis(obj),
        trusted=_flag(obj, "trusted"),
        kind=_kind(obj, event_type),
        from_s=_seek_bound(obj, "from_s", event_type),
        to_s=_to_s(obj, event_type),
        duration_s=_optional_number(obj, "duration_s", positive=True),
        recv_ms=_optional_number(obj, "recv_ms"),
    )


def _check_fields(obj: dict[str, Any]) -> None:
    for name in obj:
        if name not in _ALLOWED:
            raise EventLineError(
                "prohibited_field",
                f"Field {name!r} is not accepted: events carry only the playback fields of "
                f"spec §7.1 ({', '.join(REQUIRED_FIELDS + OPTIONAL_FIELDS)}). Remove it.",
                name,
            )
    for name in REQUIRED_FIELDS:
        if name not in obj:
            raise EventLineError(
                "missing_field", f"Field {name!r} is required on every event; add it.", name
            )


def _invalid(name: str, expected: str) -> EventLineError:
    return EventLineError("invalid_field", f"Field {name!r} must be {expected}.", name)


def _event_type(obj: dict[str, Any]) -> str:
    value = obj["type"]
    if not isinstance(value, str):
        raise _invalid("type", "a string")
    if value not in _TYPES:
        raise EventLineError(
            "unknown_type",
            f"Event type {value!r} is unknown; use one of {', '.join(sorted(_TYPES))}.",
            "type",
        )
    for name, types in ONLY_ON.items():
        if obj.get(name) is not None and value not in types:
            raise _invalid(name, f"left out on {value!r} events (only {', '.join(sorted(types))})")
    return value


def _delivery(obj: dict[str, Any]) -> str:
    value = obj["delivery"]
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_DELIVERY_LEN:
        raise _invalid("delivery", f"the delivery id, a string of 1 to {_MAX_DELIVERY_LEN} chars")
    return value


def _seq(obj: dict[str, Any]) -> int:
    value = obj["seq"]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _MAX_SEQ:
        raise _invalid("seq", "an integer counter from 0 (below 2**53)")
    return value


def _number(
    obj: dict[str, Any], name: str, *, default: float | None = None, minimum: float | None = None
) -> float:
    value = obj.get(name)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid(name, "a finite number")
    if minimum is not None and value < minimum:
        raise _invalid(name, f"at least {minimum}")
    return float(value)


def _optional_number(obj: dict[str, Any], name: str, *, positive: bool = False) -> float | None:
    if obj.get(name) is None:
        return None
    value = _number(obj, name)
    if positive and value <= 0.0:
        raise _invalid(name, "a positive number of seconds")
    return value


def _flag(obj: dict[str, Any], name: str) -> bool:
    value = obj.get(name, False)
    if not isinstance(value, bool):
        raise _invalid(name, "true or false")
    return value


def _vis(obj: dict[str, Any]) -> bool | None:
    value = obj.get("vis")
    if value is not None and not isinstance(value, bool):
        raise _invalid("vis", "true, false, or null when the player cannot tell")
    return value


def _kind(obj: dict[str, Any], event_type: str) -> str | None:
    value = obj.get("kind")
    if event_type != EventType.INTERACTION:
        return None
    if value is None:
        raise EventLineError(
            "missing_field", "Field 'kind' is required on interaction events; add it.", "kind"
        )
    if not isinstance(value, str) or value not in _KINDS:
        raise EventLineError(
            "unknown_kind",
            f"Interaction kind {value!r} is unknown; use one of {', '.join(sorted(_KINDS))}.",
            "kind",
        )
    return value


def _seek_bound(obj: dict[str, Any], name: str, event_type: str) -> float | None:
    if event_type == EventType.SEEK and obj.get(name) is None:
        raise EventLineError(
            "missing_field", f"Field {name!r} is required on seek events; add it.", name
        )
    if obj.get(name) is None:
        return None
    return _number(obj, name, minimum=0.0)


def _to_s(obj: dict[str, Any], event_type: str) -> float | None:
    to_s = _seek_bound(obj, "to_s", event_type)
    if to_s is not None and abs(to_s - _number(obj, "media_s")) > SEEK_TOL_S:
        raise _invalid("to_s", "the playhead after the jump, equal to media_s")
    return to_s
