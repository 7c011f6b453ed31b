"""Property tests: bad input gives a stable TCStringError, valid models round-trip."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fairview.consent import (
    MAX_TC_STRING_LENGTH,
    PublisherRestriction,
    TCModel,
    TCStringError,
    decode,
    encode,
)
from fairview.consent.tcf_encode import _range_is_smaller, _runs
from fairview.consent.tcf_model import EPOCH

from tcf_models import ALL_SEGMENTS, models

STABLE_CODES = {
    "bad_base64",
    "bad_cmp_id",
    "base64_padding",
    "bad_bit_length",
    "bitfield_length_mismatch",
    "bad_letter_code",
    "bad_range",
    "bad_restriction",
    "duplicate_segment",
    "empty_segment",
    "tcf_v1_unsupported",
    "too_long",
    "too_many_vendor_ids",
    "unknown_segment",
    "unsupported_version",
}
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
V1 = "CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA.YAAAAAAAAAAA"
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decode_or_code(text: str) -> str | None:
    try:
        decode(text)
    except TCStringError as exc:
        error = exc
    else:
        return None
    assert error.code in STABLE_CODES
    assert error.detail.endswith(".")
    assert text not in error.detail or len(text) < 8  # never echo the string back
    return error.code


@FAST
@given(st.text(max_size=300))
@example("")
@example(".")
@example("C.")
@example("=")
@example("CPTtLAAPTtLAAAKAAAENAAFgALwAAE=")
def test_any_text_decodes_or_gives_a_stable_error(text: str) -> None:
    _decode_or_code(text)


@FAST
@given(st.text(ALPHABET + ".", max_size=600))
def test_any_base64url_text_decodes_or_gives_a_stable_error(text: str) -> None:
    _decode_or_code(text)


@FAST
@given(st.integers(0, len(V1)))
def test_every_truncation_of_a_real_string_is_handled(cut: int) -> None:
    _decode_or_code(V1[:cut])


@FAST
@given(st.integers(0, len(V1) - 1), st.sampled_from(ALPHABET + ".=+/ "))
def test_every_single_character_change_is_handled(position: int, char: str) -> None:
    _decode_or_code(V1[:position] + char + V1[position + 1 :])


@FAST
@given(models(), st.data())
def test_corrupting_an_encoded_model_never_crashes(model: TCModel, data: st.DataObject) -> None:
    text = encode(model, segments=ALL_SEGMENTS)
    cut = data.draw(st.integers(0, len(text)))
    _decode_or_code(text[:cut])
    _decode_or_code(text[:cut] + data.draw(st.text(ALPHABET, max_size=20)) + text[cut:])


def test_an_oversized_string_is_refused_before_it_is_read() -> None:
    with pytest.raises(TCStringError) as caught:
        decode("C" * (MAX_TC_STRING_LENGTH + 1))
    assert caught.value.code == "too_long"


def test_adversarial_restrictions_are_bounded() -> None:
    # 256 distinct (purpose, type) pairs, each covering vendors 1–65535: 16.7 M ids.
    full = frozenset(range(1, 65536))
    restrictions = tuple(PublisherRestriction(p, t, full) for p in range(1, 64) for t in range(3))
    model = TCModel(
        created=EPOCH, last_updated=EPOCH, cmp_id=2, publisher_restrictions=restrictions
    )
    text = encode(model, segments=("core",))
    assert len(text) < 2_000
    with pytest.raises(TCStringError) as caught:
        decode(text)
    assert caught.value.code == "too_many_vendor_ids"


def test_overlapping_ranges_are_merged_not_expanded_each_time() -> None:
    one = TCModel(
        created=EPOCH, last_updated=EPOCH, cmp_id=2, vendor_consents=frozenset(range(1, 65536))
    )
    text = encode(one, segments=("core",))
    assert decode(text).vendor_consents == one.vendor_consents


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("DBABM", "unsupported_version"),
        ("Bg", "bad_bit_length"),
        (V1.replace(".I", ".A", 1), "duplicate_segment"),
        (V1.replace(".I", ".8", 1), "unknown_segment"),
        (V1.replace(".I", "..I", 1), "empty_segment"),
        (V1 + "=", "base64_padding"),
        (V1.replace("Y", "+", 1), "bad_base64"),
    ],
)
def test_named_errors(text: str, code: str) -> None:
    assert _decode_or_code(text) == code


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models())
def test_random_models_round_trip(model: TCModel) -> None:
    assert decode(encode(model, segments=ALL_SEGMENTS)) == model
    assert TCModel.from_json(model.to_json()) == model


def _reference_range_choice(ids: frozenset[int]) -> bool:
    """A line-by-line port of VendorVectorEncoder.encode's loop in @iabtechlabtcf/core."""
    max_id = max(ids, default=0)
    bitfield_length = 16 + 1 + max_id
    range_length = 16 + 1 + 12
    in_range = False
    range_is_smaller = False
    for i in range(1, max_id + 1):
        range_is_smaller = max_id > 45 and range_length < bitfield_length
        if range_is_smaller and i in ids:
            if i + 1 not in ids:
                range_length += 16
                in_range = False
            elif not in_range:
                in_range = True
                range_length += 1 + 16
    return range_is_smaller


@FAST
@given(
    st.one_of(
        st.frozensets(st.integers(1, 400)),
        st.lists(st.tuples(st.integers(1, 500), st.integers(0, 40))).map(
            lambda runs: frozenset(i for a, n in runs for i in range(a, a + n + 1))
        ),
    )
)
def test_the_encoder_chooses_range_or_bitfield_as_the_reference(ids: frozenset[int]) -> None:
    assert _range_is_smaller(_runs(ids), max(ids, default=0)) == _reference_range_choice(ids)


@example({"created": "0001-01-01T00:00:00+01:00", "cmpId": 2})
@example({"created": "2025-01-01T00:00:00", "cmpId": 2})
@example({"created": "2025-01-01T00:00:00Z", "cmpId": 2, "vendorConsents": [0]})
@FAST
@given(
    st.dictionaries(
        st.text(max_size=30),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
            max_leaves=10,
        ),
    )
)
def test_any_json_object_gives_a_model_or_a_stable_error(data: dict[str, object]) -> None:
    try:
        encode(TCModel.from_json(data))
    except TCStringError as exc:
        code = exc.code
    else:
        return
    assert code in {"bad_model", "bad_segments", "value_out_of_range"}
