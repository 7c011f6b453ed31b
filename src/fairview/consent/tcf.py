"""Decode and validate IAB TCF v2 TC strings (core, disclosed/allowed vendors, publisher TC).

``decode`` checks structure only and returns what the string says, as the
reference library ``@iabtechlabtcf/core`` does; ``validate`` adds the rules of
spec §7 (policy version, service-specific scope, disclosed vendors, age) that
decide whether the signal may be used at all.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fairview.consent.bits import BitReader, base64url_to_bits
from fairview.consent.errors import TCStringError
from fairview.consent.idset import IdSet
from fairview.consent.tcf_model import (
    PublisherRestriction,
    TCModel,
    deciseconds_to_time,
)

MAX_TC_STRING_LENGTH = 16_384
MAX_RESTRICTION_IDS = 1 << 20
MIN_POLICY_VERSION = 4
MIN_CMP_ID = 2
DISCLOSED_VENDORS_MANDATORY_FROM = datetime(2026, 2, 28, tzinfo=UTC)
MAX_AGE = timedelta(days=396)  # 13 months of 30.44 days

CORE, DISCLOSED, ALLOWED, PUBLISHER_TC = (
    "core",
    "vendorsDisclosed",
    "vendorsAllowed",
    "publisherTC",
)
SEGMENT_NAMES = (CORE, DISCLOSED, ALLOWED, PUBLISHER_TC)

Interval = tuple[int, int]


def decode(tc_string: str) -> TCModel:
    """Decode a TC string; raise ``TCStringError`` for anything not a well-formed v2 string.

    Refuses: more than ``MAX_TC_STRING_LENGTH`` characters, ``=`` padding or any
    character outside base64url, TCF v1 and other versions, a missing core
    segment, unknown or repeated segment types, truncated fields, vendor ranges
    that run backwards or name vendor 0, restrictions of type 3 or purpose 0, and
    a CmpId below 2 (as the reference does).
    Accepts policy versions below 4 and ``IsServiceSpecific`` = 0: see ``validate``.
    """
    return _decode(tc_string)[0]


def segments_of(tc_string: str) -> tuple[str, ...]:
    """The segment names of a well-formed TC string, in order (``core`` first)."""
    return _decode(tc_string)[1]


def decode_with_segments(tc_string: str) -> tuple[TCModel, tuple[str, ...]]:
    """``decode`` and ``segments_of`` in one pass."""
    return _decode(tc_string)


def validate(tc_string: str, *, now: datetime) -> TCModel:
    """Decode and apply spec §7: the model only when the signal may be used.

    Error codes: ``policy_version_too_old`` (< 4), ``not_service_specific``,
    ``disclosed_vendors_missing`` (created on or after 2026-02-28 without a
    DisclosedVendors segment), ``expired`` (created more than 396 days before
    ``now``), plus every ``decode`` error.
    """
    model, segments = _decode(tc_string)
    if model.policy_version < MIN_POLICY_VERSION:
        raise TCStringError(
            "policy_version_too_old",
            f"TcfPolicyVersion is {model.policy_version}; strings below "
            f"{MIN_POLICY_VERSION} (TCF 2.2) are invalid since 2023-09-30. Ask the CMP "
            "to re-collect consent.",
        )
    if not model.is_service_specific:
        raise TCStringError(
            "not_service_specific",
            "IsServiceSpecific is 0; global-scope strings are invalid since 2021-09-01.",
        )
    if model.created >= DISCLOSED_VENDORS_MANDATORY_FROM and DISCLOSED not in segments:
        raise TCStringError(
            "disclosed_vendors_missing",
            "Strings created from 2026-02-28 (TCF 2.3) must carry a DisclosedVendors segment.",
        )
    if now - model.created > MAX_AGE:
        raise TCStringError(
            "expired",
            "The string was created more than 13 months ago; the CMP must ask again.",
        )
    return model


def _decode(tc_string: str) -> tuple[TCModel, tuple[str, ...]]:
    if not isinstance(tc_string, str):
        raise TCStringError("bad_base64", "A TC string must be text.")
    if len(tc_string) > MAX_TC_STRING_LENGTH:
        raise TCStringError(
            "too_long",
            f"The TC string has {len(tc_string)} characters; the limit is {MAX_TC_STRING_LENGTH}.",
        )
    if "=" in tc_string:
        raise TCStringError(
            "base64_padding",
            "TC strings are base64url without '=' padding (as the IAB reference decoder "
            "requires); remove the trailing '='.",
        )
    parts = tc_string.split(".")
    fields: dict[str, object] = {}
    core = base64url_to_bits(parts[0])
    _read_core(core, fields)
    seen = [CORE]
    for part in parts[1:]:
        reader = base64url_to_bits(part)
        name = _segment_name(reader, seen)
        seen.append(name)
        _SEGMENT_READERS[name](reader, fields)
    return TCModel(**fields), tuple(seen)  # type: ignore[arg-type]


def _segment_name(reader: BitReader, seen: list[str]) -> str:
    kind = reader.take(3)
    if kind >= len(SEGMENT_NAMES):
        raise TCStringError(
            "unknown_segment",
            f"Segment type {kind} is not defined by TCF v2 (0 core, 1 disclosed vendors, "
            "2 allowed vendors, 3 publisher TC).",
        )
    name = SEGMENT_NAMES[kind]
    if name in seen:
        raise TCStringError(
            "duplicate_segment", f"The {name} segment appears more than once; send it once."
        )
    return name


def _read_core(r: BitReader, out: dict[str, object]) -> None:
    version = r.take(6)
    if version not in (1, 2):
        raise TCStringError(
            "unsupported_version",
            f"The string declares version {version}; only TCF v2 TC strings (starting "
            "with 'C') are read. GPP strings start with 'D' and have their own decoder.",
        )
    out["version"] = version
    # v1 shares this header; reading it first reports a truncated v1 string as
    # bad_bit_length, as the reference does.
    out["created"] = deciseconds_to_time(r.take(36))
    out["last_updated"] = deciseconds_to_time(r.take(36))
    out["cmp_id"] = _cmp_id(r.take(12))
    out["cmp_version"] = r.take(12)
    out["consent_screen"] = r.take(6)
    consent_language = (r.take(6), r.take(6))
    out["vendor_list_version"] = r.take(12)
    if version == 1:
        raise TCStringError(
            "tcf_v1_unsupported",
            "This is a TCF v1 consent string, invalid since 2020-09-30; only TCF v2 is read.",
        )
    out["consent_language"] = _letters(consent_language, "consent language")
    out["policy_version"] = r.take(6)
    out["is_service_specific"] = r.flag()
    out["use_non_standard_texts"] = r.flag()
    out["special_feature_optins"] = _fixed(r, 12)
    out["purpose_consents"] = _fixed(r, 24)
    out["purpose_legitimate_interests"] = _fixed(r, 24)
    out["purpose_one_treatment"] = r.flag()
    out["publisher_country_code"] = _letters((r.take(6), r.take(6)), "publisher country code")
    out["vendor_consents"] = _vendor_vector(r)
    out["vendor_legitimate_interests"] = _vendor_vector(r)
    out["publisher_restrictions"] = _restrictions(r)


def _read_disclosed(r: BitReader, out: dict[str, object]) -> None:
    out["vendors_disclosed"] = _vendor_vector(r)


def _read_allowed(r: BitReader, out: dict[str, object]) -> None:
    out["vendors_allowed"] = _vendor_vector(r)


def _read_publisher_tc(r: BitReader, out: dict[str, object]) -> None:
    out["publisher_consents"] = _fixed(r, 24)
    out["publisher_legitimate_interests"] = _fixed(r, 24)
    count = r.take(6)
    out["num_custom_purposes"] = count
    out["publisher_custom_consents"] = _fixed(r, count)
    out["publisher_custom_legitimate_interests"] = _fixed(r, count)


_SEGMENT_READERS = {
    DISCLOSED: _read_disclosed,
    ALLOWED: _read_allowed,
    PUBLISHER_TC: _read_publisher_tc,
}


def _cmp_id(cmp_id: int) -> int:
    if cmp_id < MIN_CMP_ID:
        raise TCStringError(
            "bad_cmp_id",
            f"CmpId is {cmp_id}; registered CMP ids start at {MIN_CMP_ID}, and the IAB "
            "reference library refuses smaller ones.",
        )
    return cmp_id


def _letters(values: tuple[int, int], what: str) -> str:
    first, second = values
    if first > 25 or second > 25:
        raise TCStringError(
            "bad_letter_code",
            f"The {what} holds a letter value above 25; each letter must be A–Z (0–25).",
        )
    return chr(65 + first) + chr(65 + second)


def _fixed(r: BitReader, width: int) -> IdSet:
    return IdSet.from_bits(r.take_text(width))


def _vendor_vector(r: BitReader) -> IdSet:
    max_id = r.take(16)
    if not r.flag():
        return _fixed(r, max_id) if r.remaining() >= max_id else _bitfield_mismatch(max_id, r)
    return IdSet.from_intervals(_range_entries(r))


def _bitfield_mismatch(max_id: int, r: BitReader) -> IdSet:
    raise TCStringError(
        "bitfield_length_mismatch",
        f"MaxVendorId is {max_id} but only {r.remaining()} bits follow; the string is "
        "truncated or its vendor section is corrupt.",
    )


def _range_entries(r: BitReader) -> list[Interval]:
    entries = []
    for _ in range(r.take(12)):
        is_range = r.flag()
        start = r.take(16)
        end = r.take(16) if is_range else start
        if start == 0 or end < start:
            raise TCStringError(
                "bad_range",
                f"The vendor range {start}–{end} is invalid; ids start at 1 and a range "
                "must not run backwards.",
            )
        entries.append((start, end))
    return entries


def _merge(intervals: list[Interval]) -> list[Interval]:
    """Disjoint inclusive intervals covering the same ids, so overlaps cost nothing."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + 1:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _restrictions(r: BitReader) -> tuple[PublisherRestriction, ...]:
    groups: dict[tuple[int, int], list[Interval]] = {}
    for _ in range(r.take(12)):
        key = (r.take(6), r.take(2))
        entries = _range_entries(r)
        if not entries:
            continue  # the reference keeps no restriction without vendors
        if key[0] == 0 or key[1] == 3:
            raise TCStringError(
                "bad_restriction",
                f"A publisher restriction names purpose {key[0]} with type {key[1]}; "
                "purposes start at 1 and types are 0, 1 or 2.",
            )
        groups.setdefault(key, []).extend(entries)
    merged = {key: _merge(entries) for key, entries in groups.items()}
    total = sum(end - start + 1 for entries in merged.values() for start, end in entries)
    if total > MAX_RESTRICTION_IDS:
        raise TCStringError(
            "too_many_vendor_ids",
            f"The publisher restrictions name {total} vendor ids; the limit is "
            f"{MAX_RESTRICTION_IDS}.",
        )
    return tuple(
        PublisherRestriction(purpose, kind, IdSet.from_intervals(entries))
        for (purpose, kind), entries in merged.items()
    )
