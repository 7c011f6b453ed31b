"""`qualify_lines`: JSON Lines of events in, verdicts and error objects out."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import orjson
import pytest

from fairview.attention import Event, qualify
from fairview.attention.jsonl import qualify_lines

from streams import Stream, shuffled

VERDICT_KEYS = [
    "delivery",
    "focused_view",
    "qualified_by",
    "qualified_at_media_s",
    "coverage_s",
    "audible_coverage_s",
    "viewability",
    "invalid",
    "invalid_reason",
]


def _line(event: Event, **changes: Any) -> str:
    obj = {k: v for k, v in asdict(event).items() if v is not None}
    obj.update(changes)
    return orjson.dumps(obj).decode()


def _lines(events: list[Event]) -> list[str]:
    return [_line(e) for e in events]


def test_one_delivery_gives_the_reference_verdict() -> None:
    events = Stream(15).play(2).mute().play(5).swipe_away().events
    (out,) = qualify_lines(_lines(shuffled(events)))
    assert list(out) == VERDICT_KEYS
    assert out == qualify(events).to_json()
    assert out["focused_view"] is True
    assert out["qualified_at_media_s"] == 6.0


def test_deliveries_come_out_in_first_seen_order() -> None:
    b = Stream(15, delivery="b").play(6).events
    a = Stream(15, delivery="a").play(1).events
    lines = _lines([b[0], a[0], *a[1:], *b[1:]])
    assert [o["delivery"] for o in qualify_lines(lines)] == ["b", "a"]


def test_bytes_lines_and_blank_lines() -> None:
    events = Stream(15).play(6).events
    lines: list[str | bytes] = [_line(e).encode() for e in events]
    lines[3:3] = ["", "   \n"]
    (out,) = qualify_lines(lines)
    assert out["focused_view"] is True


@pytest.mark.parametrize(
    ("line", "code", "field"),
    [
        ("{not json", "invalid_json", None),
        ("[1, 2]", "not_an_object", None),
        ('{"delivery": "d1", "seq": 1, "type": "heartbeat", "mono_ms": 250}', "missing_field",
         "media_s"),
        ('{"delivery": "d1", "seq": 1, "type": "heartbeat", "mono_ms": 250, "media_s": 0.25,'
         ' "heart_rate": 71}', "prohibited_field", "heart_rate"),
        ('{"delivery": "d1", "seq": 1, "type": "heartbeat", "mono_ms": 250, "media_s": 0.25,'
         ' "ifa": "x"}', "prohibited_field", "ifa"),
        ('{"delivery": "d1", "seq": 1, "type": "gaze", "mono_ms": 250, "media_s": 0.25}',
         "unknown_type", "type"),
        ('{"delivery": "d1", "seq": 1, "type": 3, "mono_ms": 250, "media_s": 0.25}',
         "invalid_field", "type"),
        ('{"delivery": "d1", "seq": true, "type": "pause", "mono_ms": 250, "media_s": 0.25}',
         "invalid_field", "seq"),
        ('{"delivery": "d1", "seq": -1, "type": "pause", "mono_ms": 250, "media_s": 0.25}',
         "invalid_field", "seq"),
        ('{"delivery": "", "seq": 1, "type": "pause", "mono_ms": 250, "media_s": 0.25}',
         "invalid_field", "delivery"),
        ('{"delivery": "d1", "seq": 1, "type": "pause", "mono_ms": "250", "media_s": 0.25}',
         "invalid_field", "mono_ms"),
        ('{"delivery": "d1", "seq": 1, "type": "pause", "mono_ms": 250, "media_s": -1}',
         "invalid_field", "media_s"),
        ('{"delivery": "d1", "seq": 1, "type": "pause", "mono_ms": 250, "media_s": 1, "vis": 1}',
         "invalid_field", "vis"),
        ('{"delivery": "d1", "seq": 1, "type": "pause", "mono_ms": 250, "media_s": 1,'
         ' "muted": "no"}', "invalid_field", "muted"),
        ('{"delivery": "d1", "seq": 1, "type": "pause", "mono_ms": 250, "media_s": 1,'
         ' "kind": "like"}', "invalid_field", "kind"),
        ('{"delivery": "d1", "seq": 1, "type": "interaction", "mono_ms": 250, "media_s": 1}',
         "missing_field", "kind"),
        ('{"delivery": "d1", "seq": 1, "type": "interaction", "mono_ms": 250, "media_s": 1,'
         ' "kind": "smile"}', "unknown_kind", "kind"),
        ('{"delivery": "d1", "seq": 1, "type": "seek", "mono_ms": 250, "media_s": 9,'
         ' "to_s": 9}', "missing_field", "from_s"),
        ('{"delivery": "d1", "seq": 1, "type": "seek", "mono_ms": 250, "media_s": 9,'
         ' "from_s": 1, "to_s": 8}', "invalid_field", "to_s"),
        ('{"delivery": "d1", "seq": 1, "type": "heartbeat", "mono_ms": 250, "media_s": 1,'
         ' "duration_s": 15}', "invalid_field", "duration_s"),
        ('{"delivery": "d1", "seq": 0, "type": "first_frame", "mono_ms": 0, "media_s": 0,'
         ' "duration_s": 0}', "invalid_field", "duration_s"),
    ],
)  # fmt: skip
def test_a_bad_line_yields_an_error_object(line: str, code: str, field: str | None) -> None:
    (out,) = qualify_lines([line])
    assert out["line"] == 1
    assert out["error"] == code
    assert out.get("field") == field
    assert isinstance(out["detail"], str)
    assert out["detail"].endswith(".")


def test_errors_do_not_stop_the_run() -> None:
    events = Stream(15).play(6).events
    lines = _lines(events)
    lines[10] = _line(events[10], heart_rate=70)
    lines.insert(3, "garbage")
    out = list(qualify_lines(lines))
    assert [o.get("error") for o in out] == ["invalid_json", "prohibited_field", None]
    assert [o.get("line") for o in out[:2]] == [4, 12]
    verdict = out[-1]
    # the rejected event is a lost seq: its two pairs are not credited
    assert verdict["coverage_s"] == 5.5
    assert verdict["focused_view"] is False


def test_seek_and_first_frame_fields_round_trip() -> None:
    events = Stream(15).play(3).seek(10).play(3).events
    assert events[-13].type == "seek"
    (out,) = qualify_lines(_lines(events))
    assert out == qualify(events).to_json()
    assert out["coverage_s"] == 6.0


def test_invalid_delivery_is_reported_not_dropped() -> None:
    events = Stream(15).play(6).events
    lines = [*_lines(events), _line(replace(events[5], media_s=3.0))]
    (out,) = qualify_lines(lines)
    assert out["invalid"] is True
    assert out["invalid_reason"] == "conflicting_duplicate"


def test_only_bad_lines_gives_only_errors() -> None:
    assert [o["error"] for o in qualify_lines(["1", "null"])] == ["not_an_object", "not_an_object"]
