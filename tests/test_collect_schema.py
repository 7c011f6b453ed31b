"""The two event decoders (msgspec fast path, pydantic detailed path) accept the same events."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from fairview.collect.schema import EventIn, decode_fast, parse_events

_numbers = st.one_of(
    st.integers(-5, 10**8),
    st.floats(-1.0, 1e8, allow_nan=False),
    st.sampled_from([0, 0.0, 1, 1.0, 2**63, 1e300]),
)
_events = st.fixed_dictionaries(
    {
        "seq": st.one_of(st.integers(-2, 10**7 + 2), st.just(1.0), st.just("1")),
        "type": st.sampled_from(
            ["heartbeat", "first_frame", "seek", "interaction", "warp", "ended"]
        ),
        "mono_ms": _numbers,
        "media_s": _numbers,
    },
    optional={
        "rate": _numbers,
        "muted": st.one_of(st.booleans(), st.just(0)),
        "vis": st.one_of(st.booleans(), st.none(), st.just("yes")),
        "trusted": st.booleans(),
        "kind": st.sampled_from(["like", "share", "hug", None]),
        "from_s": _numbers,
        "to_s": _numbers,
        "duration_s": _numbers,
        "token": st.text(max_size=5),
        "delivery": st.text(max_size=45),
        "colour": st.just("red"),
    },
)


@settings(max_examples=400, deadline=None)
@given(event=_events)
def test_fast_and_detailed_paths_accept_the_same_events(event: dict[str, Any]) -> None:
    body = orjson.dumps({"events": [event]})
    fast = decode_fast(body)
    detailed = parse_events([orjson.loads(body)["events"][0]])[0]
    assert (fast is not None) == isinstance(detailed, EventIn), (event, detailed)
    if fast is not None:
        assert isinstance(detailed, EventIn)
        for name in EventIn.model_fields:
            assert getattr(fast.events[0], name) == getattr(detailed, name)


def test_fast_path_refuses_what_it_cannot_name() -> None:
    assert (
        decode_fast(
            b'{"events": [{"seq": 0, "type": "heartbeat", "mono_ms": 0, '
            b'"media_s": 0, "heart_rate": 80}]}'
        )
        is None
    )
    assert decode_fast(b"not json") is None


def test_struct_fields_match_the_model() -> None:
    from fairview.collect.schema import FastEvent

    assert {f.name for f in msgspec.structs.fields(FastEvent)} == set(EventIn.model_fields)
