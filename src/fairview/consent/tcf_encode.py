"""Encode a ``TCModel`` into a TC string, bit for bit as ``@iabtechlabtcf/core`` does.

This is a codec, not a CMP: it writes the model as given. The reference's
``TCString.encode`` also applies CMP semantics first (clears purpose LI 1 and 3–6,
drops vendors absent from the GVL, stamps the GVL language); a CMP must do that
before calling ``encode``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice

from fairview.consent.bits import BitWriter
from fairview.consent.errors import TCStringError
from fairview.consent.tcf import CORE, DISCLOSED, MIN_CMP_ID, PUBLISHER_TC, SEGMENT_NAMES
from fairview.consent.tcf_model import (
    ID_SETS,
    INT_FIELDS,
    Ids,
    TCModel,
    time_to_deciseconds,
)

_RANGE_MIN_MAX_ID = 45  # 2 vendor ids + range flag + NumEntries: below this a bitfield wins
_RUN = tuple[int, int]


def encode(model: TCModel, *, segments: Sequence[str] | None = None) -> str:
    """Encode ``model``; refuse a model whose values do not fit the bit layout.

    ``segments`` lists the segments to write (``core`` first); by default the
    reference's choice: core, vendorsDisclosed and publisherTC for a
    service-specific string, core and vendorsDisclosed otherwise.
    """
    check_model(model)
    names = tuple(segments) if segments is not None else default_segments(model)
    if not names or names[0] != CORE or len(set(names)) != len(names):
        raise TCStringError(
            "bad_segments", "Segments must start with 'core' and name each segment once."
        )
    return ".".join(_encode_segment(model, name) for name in names)


def default_segments(model: TCModel) -> tuple[str, ...]:
    if model.is_service_specific:
        return (CORE, DISCLOSED, PUBLISHER_TC)
    return (CORE, DISCLOSED)


def check_model(model: TCModel) -> None:
    """Refuse what the bit layout cannot carry, with the offending field named."""
    if model.version != 2:
        _bad(f"Only version 2 is encoded, not {model.version}.")
    if model.cmp_id < MIN_CMP_ID:
        _bad(f"'cmpId' is {model.cmp_id}; registered CMP ids start at {MIN_CMP_ID}.")
    for attr, name, width in INT_FIELDS:
        value = getattr(model, attr)
        if not 0 <= value < 1 << width:
            _bad(f"'{name}' is {value}; it must be 0–{(1 << width) - 1}.")
    for attr, name, largest in ID_SETS:
        ids = getattr(model, attr)
        if ids and (min(ids) < 1 or max(ids) > largest):
            _bad(f"'{name}' holds an id outside 1–{largest}.")
    custom = model.publisher_custom_consents | model.publisher_custom_legitimate_interests
    if max(custom, default=0) > model.num_custom_purposes:
        _bad("A custom purpose id exceeds 'numCustomPurposes'.")
    for code, name in (
        (model.consent_language, "consentLanguage"),
        (model.publisher_country_code, "publisherCountryCode"),
    ):
        if len(code) != 2 or not all("A" <= c <= "Z" for c in code):
            _bad(f"'{name}' must be two letters A–Z, not {code!r}.")
    for moment in (model.created, model.last_updated):
        if not 0 <= time_to_deciseconds(moment) < 1 << 36:
            _bad("'created' and 'lastUpdated' must lie between 1970 and 2187.")
    _check_restrictions(model)


def _check_restrictions(model: TCModel) -> None:
    keys = [(r.purpose_id, r.restriction_type) for r in model.publisher_restrictions]
    if len(set(keys)) != len(keys) or len(keys) >= 1 << 12:
        _bad("Give each (purposeId, restrictionType) pair once in 'publisherRestrictions'.")
    for r in model.publisher_restrictions:
        if not 1 <= r.purpose_id <= 63 or r.restriction_type not in (0, 1, 2):
            _bad("A restriction needs purposeId 1–63 and restrictionType 0, 1 or 2.")
        if not r.vendor_ids or min(r.vendor_ids) < 1 or max(r.vendor_ids) > 0xFFFF:
            _bad("A restriction needs at least one vendor id, each 1–65535.")
        if len(_runs(r.vendor_ids)) >= 1 << 12:
            _bad("A restriction has more than 4095 vendor ranges.")


def _bad(detail: str) -> None:
    raise TCStringError("bad_model", detail)


def _encode_segment(model: TCModel, name: str) -> str:
    if name not in SEGMENT_NAMES:
        raise TCStringError("unknown_segment", f"There is no segment named {name!r}.")
    w = BitWriter()
    if name == CORE:
        _write_core(w, model)
    else:
        w.put(SEGMENT_NAMES.index(name), 3)
        if name == PUBLISHER_TC:
            _write_publisher_tc(w, model)
        else:
            vendors = model.vendors_disclosed if name == DISCLOSED else model.vendors_allowed
            _write_vendor_vector(w, vendors)
    return w.to_base64url()


def _write_core(w: BitWriter, m: TCModel) -> None:
    w.put(m.version, 6)
    w.put(time_to_deciseconds(m.created), 36)
    w.put(time_to_deciseconds(m.last_updated), 36)
    w.put(m.cmp_id, 12)
    w.put(m.cmp_version, 12)
    w.put(m.consent_screen, 6)
    _write_letters(w, m.consent_language)
    w.put(m.vendor_list_version, 12)
    w.put(m.policy_version, 6)
    w.flag(m.is_service_specific)
    w.flag(m.use_non_standard_texts)
    _write_fixed(w, m.special_feature_optins, 12)
    _write_fixed(w, m.purpose_consents, 24)
    _write_fixed(w, m.purpose_legitimate_interests, 24)
    w.flag(m.purpose_one_treatment)
    _write_letters(w, m.publisher_country_code)
    _write_vendor_vector(w, m.vendor_consents)
    _write_vendor_vector(w, m.vendor_legitimate_interests)
    w.put(len(m.publisher_restrictions), 12)
    for r in m.publisher_restrictions:
        w.put(r.purpose_id, 6)
        w.put(r.restriction_type, 2)
        _write_ranges(w, _runs(r.vendor_ids))


def _write_publisher_tc(w: BitWriter, m: TCModel) -> None:
    _write_fixed(w, m.publisher_consents, 24)
    _write_fixed(w, m.publisher_legitimate_interests, 24)
    w.put(m.num_custom_purposes, 6)
    _write_fixed(w, m.publisher_custom_consents, m.num_custom_purposes)
    _write_fixed(w, m.publisher_custom_legitimate_interests, m.num_custom_purposes)


def _write_letters(w: BitWriter, code: str) -> None:
    for char in code:
        w.put(ord(char) - 65, 6)


def _write_fixed(w: BitWriter, ids: Iterable[int], width: int) -> None:
    bits = bytearray(b"0" * width)
    for i in ids:
        bits[i - 1] = 0x31  # "1"
    w.put_text(bits.decode())


def _write_vendor_vector(w: BitWriter, ids: Ids) -> None:
    max_id = max(ids, default=0)
    w.put(max_id, 16)
    runs = _runs(ids)
    if _range_is_smaller(runs, max_id):
        w.flag(True)
        _write_ranges(w, runs)
    else:
        w.flag(False)
        _write_fixed(w, ids, max_id)


def _range_is_smaller(runs: list[_RUN], max_id: int) -> bool:
    """The reference's choice, quirks included.

    ``VendorVectorEncoder`` keeps a running range length that counts a single id
    as 16 bits (not 17) and decides before it adds the run holding ``max_id``; this
    replays that sum so the same model gives the same string.
    """
    if max_id <= _RANGE_MIN_MAX_ID:
        return False
    length = 16 + 1 + 12
    for start, end in runs[:-1]:
        length += 16 if start == end else 33
    start, end = runs[-1]
    length += 0 if start == end else 17
    return length < 16 + 1 + max_id


def _runs(ids: Ids) -> list[_RUN]:
    """Maximal runs of consecutive ids, as (first, last)."""
    ordered = sorted(ids)
    if not ordered:
        return []
    starts, ends = [ordered[0]], []
    for prev, cur in zip(ordered, islice(ordered, 1, None), strict=False):
        if cur != prev + 1:
            ends.append(prev)
            starts.append(cur)
    ends.append(ordered[-1])
    return list(zip(starts, ends, strict=True))


def _write_ranges(w: BitWriter, runs: list[_RUN]) -> None:
    w.put(len(runs), 12)
    for start, end in runs:
        w.flag(start != end)
        w.put(start, 16)
        if start != end:
            w.put(end, 16)
