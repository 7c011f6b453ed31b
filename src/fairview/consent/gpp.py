"""IAB Global Privacy Platform strings: the header and the US sections the policy reads.

A GPP string is `header~section~…`; the header (type 3, version 1) lists the
section ids, in order, as a Fibonacci-coded range. fairview decodes the header,
`usnat` (id 7) and `usca` (id 8) field by field, with the field names of the IAB
reference library `@iabgpp/cmpapi` (its test oracle), and passes every other
section through as its raw string (`tcfeuv2`, id 2, is a TC string for the TCF
codec). Pure: no I/O.

Values follow the sections' specs: for notices and opt-outs 0 = not applicable,
1 = yes / opted out, 2 = no / did not opt out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fairview.consent.policy import UsPrivacy

MAX_LENGTH = 8192
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}

SECTION_NAMES: dict[int, str] = {
    2: "tcfeuv2", 5: "tcfcav1", 6: "uspv1", 7: "usnat", 8: "usca", 9: "usva", 10: "usco",
    11: "usut", 12: "usct", 13: "usfl", 14: "usmt", 15: "usor", 16: "ustx", 17: "usde",
    18: "usia", 19: "usne", 20: "usnh", 21: "usnj", 22: "ustn", 23: "usmn", 24: "usmd",
    25: "usin", 26: "usky", 27: "usri",
}  # fmt: skip


class GppError(ValueError):
    """A GPP string fairview cannot read: a stable `code` and a sentence to act on."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class GppString:
    section_ids: tuple[int, ...]
    sections: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"sectionIds": list(self.section_ids), "sections": self.sections}


# (name, width in bits, count): count None is a single int, else a list of `count` ints.
_Layout = tuple[tuple[str, int, int | None], ...]
_USNAT_HEAD: _Layout = (
    ("Version", 6, None), ("SharingNotice", 2, None), ("SaleOptOutNotice", 2, None),
    ("SharingOptOutNotice", 2, None), ("TargetedAdvertisingOptOutNotice", 2, None),
    ("SensitiveDataProcessingOptOutNotice", 2, None), ("SensitiveDataLimitUseNotice", 2, None),
    ("SaleOptOut", 2, None), ("SharingOptOut", 2, None), ("TargetedAdvertisingOptOut", 2, None),
)  # fmt: skip
_MSPA: _Layout = (
    ("PersonalDataConsents", 2, None), ("MspaCoveredTransaction", 2, None),
    ("MspaOptOutOptionMode", 2, None), ("MspaServiceProviderMode", 2, None),
)  # fmt: skip
# usnat version 1 had 12 sensitive categories and 2 child consents; version 2 has 16
# and 3. Each is reported in its own version's shape, as the reference library does.
_USNAT = {
    1: (*_USNAT_HEAD, ("SensitiveDataProcessing", 2, 12),
        ("KnownChildSensitiveDataConsents", 2, 2), *_MSPA),
    2: (*_USNAT_HEAD, ("SensitiveDataProcessing", 2, 16),
        ("KnownChildSensitiveDataConsents", 2, 3), *_MSPA),
}  # fmt: skip
_USCA: _Layout = (
    ("Version", 6, None), ("SaleOptOutNotice", 2, None), ("SharingOptOutNotice", 2, None),
    ("SensitiveDataLimitUseNotice", 2, None), ("SaleOptOut", 2, None),
    ("SharingOptOut", 2, None), ("SensitiveDataProcessing", 2, 9),
    ("KnownChildSensitiveDataConsents", 2, 2), *_MSPA,
)  # fmt: skip


def decode_gpp(value: str) -> GppString:
    """Decode a GPP string; raises GppError with a stable code for anything malformed."""
    if not isinstance(value, str) or not value:
        raise GppError("empty_gpp", "The GPP string is empty; omit it or send a full string.")
    if len(value) > MAX_LENGTH:
        raise GppError("too_long", f"The GPP string is longer than {MAX_LENGTH} characters.")
    header, *parts = value.split("~")
    ids = _header(header)
    if len(ids) != len(parts):
        raise GppError(
            "section_count_mismatch",
            f"The header lists {len(ids)} sections but "
            f"{len(parts)} follow it; send the string exactly as the CMP made it.",
        )
    sections: dict[str, Any] = {}
    for section_id, part in zip(ids, parts, strict=True):
        name = SECTION_NAMES.get(section_id, f"section_{section_id}")
        sections[name] = _section(section_id, name, part)
    return GppString(tuple(ids), sections)


def _header(text: str) -> list[int]:
    bits = _Bits(text, "header")
    if bits.read(6) != 3:
        raise GppError(
            "bad_gpp_header",
            "The first segment is not a GPP header (type 3); a GPP string starts with 'D'.",
        )
    version = bits.read(6)
    if version != 1:
        raise GppError(
            "unsupported_gpp_version",
            f"GPP header version {version} is not supported (only version 1).",
        )
    return bits.fibonacci_range()


def _section(section_id: int, name: str, part: str) -> Any:
    if section_id == 7:
        return _us_section(part, name, _USNAT.get)
    if section_id == 8:
        return _us_section(part, name, {1: _USCA}.get)
    return part


def _us_section(part: str, name: str, layout_of: Callable[[int], _Layout | None]) -> dict[str, Any]:
    core, *subsections = part.split(".")
    version = _Bits(core, name).read(6)
    layout = layout_of(version)
    if layout is None:
        raise GppError(
            "unsupported_section_version", f"Section {name} version {version} is not supported."
        )
    bits = _Bits(core, name)
    out: dict[str, Any] = {}
    for field_name, width, count in layout:
        if count is None:
            out[field_name] = bits.read(width)
        else:
            out[field_name] = [bits.read(width) for _ in range(count)]
    out["GpcSegmentType"], out["Gpc"] = 1, False
    for sub in subsections:
        sub_bits = _Bits(sub, f"{name} subsection")
        kind = sub_bits.read(2)
        if kind != 1:
            raise GppError("bad_section", f"Section {name} has an unknown subsection type {kind}.")
        out["Gpc"] = sub_bits.read(1) == 1
    return out


class _Bits:
    """Big-endian bits of a base64url segment, read front to back."""

    def __init__(self, text: str, where: str) -> None:
        try:
            self._bits = "".join(format(_INDEX[c], "06b") for c in text)
        except KeyError:
            raise GppError(
                "bad_base64",
                f"The {where} of the GPP string has a character "
                "outside base64url (A–Z, a–z, 0–9, '-', '_').",
            ) from None
        if not text:
            raise GppError("bad_section", f"The {where} of the GPP string is empty.")
        self._where = where
        self._pos = 0

    def read(self, width: int) -> int:
        end = self._pos + width
        if end > len(self._bits):
            raise GppError("bad_bit_length", f"The {self._where} of the GPP string is too short.")
        value = int(self._bits[self._pos : end], 2)
        self._pos = end
        return value

    def fibonacci(self) -> int:
        end = self._bits.find("11", self._pos)
        if end < 0:
            raise GppError(
                "bad_bit_length", f"The {self._where} of the GPP string ends inside a number."
            )
        weights = [1, 2]
        value = 0
        for i, bit in enumerate(self._bits[self._pos : end + 1]):
            while len(weights) <= i:
                weights.append(weights[-1] + weights[-2])
            if bit == "1":
                value += weights[i]
        self._pos = end + 2
        return value

    def fibonacci_range(self) -> list[int]:
        ids: list[int] = []
        last = 0
        for _ in range(self.read(12)):
            is_range = self.read(1) == 1
            start = last + self.fibonacci()
            last = start
            if is_range:
                last = start + self.fibonacci()
                if last - start > 64:
                    raise GppError("bad_gpp_header", "The header's section range is implausible.")
                ids.extend(range(start, last + 1))
            else:
                ids.append(start)
        return ids


def us_privacy(gpp: GppString, region: str | None) -> UsPrivacy:
    """The opt-outs the policy reads: the state's own section first, else `usnat`."""
    state = (region or "").upper().removeprefix("US-").lower()
    section = gpp.sections.get(f"us{state}") or gpp.sections.get("usnat")
    if not isinstance(section, dict):
        return UsPrivacy()
    return UsPrivacy(
        sale_opt_out=int(section.get("SaleOptOut", 0)),
        sharing_opt_out=int(section.get("SharingOptOut", 0)),
        targeted_advertising_opt_out=int(section.get("TargetedAdvertisingOptOut", 0)),
        known_child_consents=tuple(section.get("KnownChildSensitiveDataConsents", ())),
    )
