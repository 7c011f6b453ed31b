"""A read-only set of TCF ids held as a bitmap.

A TC string can name tens of thousands of vendors, as a bitfield or as ranges.
Building a ``frozenset`` of every id is most of the cost of decoding such a
string, while the policy asks only "is vendor N in it?". ``IdSet`` keeps the
bitmap instead: building it is a few C-level passes over the bits, membership
is one byte lookup, and iteration (for JSON) yields ids in ascending order.
It is a ``collections.abc.Set``, so it compares equal to a ``frozenset`` with
the same ids and supports ``&``, ``|`` and ``-`` (which return frozensets).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Set
from itertools import compress
from typing import Any

_BITS_TO_FLAGS = bytes.maketrans(b"01", b"\x00\x01")
_FLAGS_TO_BITS = bytes.maketrans(b"\x00\x01", b"01")


class IdSet(Set[int]):
    """Ids ≥ 1; bit ``n`` of the bitmap is id ``n``."""

    __slots__ = ("_hash_value", "_mask", "_packed")

    def __init__(self, ids: Iterable[int] = ()) -> None:
        mask = 0
        for i in ids:
            mask |= 1 << i
        self._set_mask(mask)

    def _set_mask(self, mask: int) -> None:
        self._mask = mask
        self._packed = mask.to_bytes((mask.bit_length() + 7) >> 3, "little")
        self._hash_value: int | None = None

    @classmethod
    def from_mask(cls, mask: int) -> IdSet:
        ids = cls.__new__(cls)
        ids._set_mask(mask)
        return ids

    @classmethod
    def from_bits(cls, bits: str) -> IdSet:
        """A TCF bitfield: character ``i`` (0-based) of ``"0"``/``"1"`` text is id ``i + 1``."""
        return cls.from_mask(int(bits[::-1], 2) << 1 if bits else 0)

    @classmethod
    def from_intervals(cls, intervals: Iterable[tuple[int, int]]) -> IdSet:
        """Inclusive ``(first, last)`` intervals, in any order, overlaps allowed."""
        spans = list(intervals)
        if not spans:
            return cls.from_mask(0)
        flags = bytearray(max(last for _, last in spans) + 1)
        for first, last in spans:
            flags[first : last + 1] = b"\x01" * (last - first + 1)
        return cls.from_mask(int(flags[::-1].translate(_FLAGS_TO_BITS), 2))

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> frozenset[Any]:
        return frozenset(it)

    def __contains__(self, item: object) -> bool:
        if type(item) is not int or item < 0:
            return False
        byte = item >> 3
        return byte < len(self._packed) and (self._packed[byte] >> (item & 7)) & 1 == 1

    def __iter__(self) -> Iterator[int]:
        if not self._mask:
            return iter(())
        flags = bin(self._mask)[:1:-1].encode("ascii").translate(_BITS_TO_FLAGS)
        return compress(range(len(flags)), flags)

    def __len__(self) -> int:
        return self._mask.bit_count()

    def __bool__(self) -> bool:
        return self._mask != 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IdSet):
            return self._mask == other._mask
        return super().__eq__(other)

    def __hash__(self) -> int:
        if self._hash_value is None:
            self._hash_value = hash(frozenset(self))
        return self._hash_value

    def max(self) -> int:
        """The largest id, 0 for the empty set."""
        return max(self._mask.bit_length() - 1, 0)

    def __repr__(self) -> str:
        return f"IdSet({list(self)!r})"
