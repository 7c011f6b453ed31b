"""Bit strings and the base64url alphabet of the TC string.

A segment is held as one Python int plus its bit length, so that reading a
field is a shift and a mask rather than a slice of a ``"0101"`` string.
"""

from __future__ import annotations

import base64
import re

from fairview.consent.errors import TCStringError

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_BAD_CHAR = re.compile(r"[^A-Za-z0-9_-]")
_LCM = 24


class BitReader:
    """Reads big-endian fields left to right from one decoded segment."""

    __slots__ = ("_bits", "_pos")

    def __init__(self, bits: str) -> None:
        self._bits = bits  # "0"/"1" text: slicing and int(…, 2) are both linear
        self._pos = 0

    def remaining(self) -> int:
        return len(self._bits) - self._pos

    def take_text(self, width: int, code: str = "bad_bit_length") -> str:
        """Return the next ``width`` bits as text; refuse to read past the end."""
        end = self._pos + width
        if end > len(self._bits):
            raise TCStringError(
                code,
                f"The segment ends after {len(self._bits)} bits but a field needs bits "
                f"{self._pos}–{end - 1}; the TC string is truncated or corrupt.",
            )
        text = self._bits[self._pos : end]
        self._pos = end
        return text

    def take(self, width: int) -> int:
        """Return the next ``width`` bits as an unsigned int."""
        return int(self.take_text(width), 2)

    def flag(self) -> bool:
        return self.take_text(1) == "1"


class BitWriter:
    """Appends big-endian fields; ``to_base64url`` pads as the reference encoder does."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[str] = []

    def put(self, value: int, width: int) -> None:
        """Append ``value`` in ``width`` bits; refuse a value that does not fit."""
        if value < 0 or value >> width:
            raise TCStringError(
                "value_out_of_range",
                f"The value {value} does not fit in a {width}-bit field; "
                "check the model against the TC string bit layout.",
            )
        if width:
            self._parts.append(format(value, f"0{width}b"))

    def put_text(self, bits: str) -> None:
        self._parts.append(bits)

    def flag(self, value: bool) -> None:
        self._parts.append("1" if value else "0")

    def to_base64url(self) -> str:
        """Pad with 0 bits to a multiple of 24 and encode without ``=``."""
        bits = "".join(self._parts)
        bits += "0" * (-len(bits) % _LCM)
        # 24-bit blocks are whole bytes and whole base64 quanta: no '=' is produced.
        raw = int(bits, 2).to_bytes(len(bits) // 8, "big")
        return base64.urlsafe_b64encode(raw).decode("ascii")


def base64url_to_bits(segment: str) -> BitReader:
    """Decode one base64url segment (no ``=``, no other characters) into a reader."""
    if not segment:
        raise TCStringError("empty_segment", "A segment between two '.' is empty.")
    if not _BASE64URL.fullmatch(segment):
        bad = _BAD_CHAR.search(segment)
        raise TCStringError(
            "bad_base64",
            f"The character {bad.group() if bad else '?'!r} is not in the base64url "
            "alphabet (A–Z a–z 0–9 - _).",
        )
    raw = base64.urlsafe_b64decode(segment + "A" * (-len(segment) % 4))
    bits = format(int.from_bytes(raw, "big"), f"0{8 * len(raw)}b")
    return BitReader(bits[: 6 * len(segment)])
