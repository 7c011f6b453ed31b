"""IdSet, the bitmap a decoded TC string keeps its id sets in, behaves as a frozenset."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fairview.consent.idset import IdSet

ids = st.frozensets(st.integers(1, 65535), max_size=60)
intervals = st.lists(
    st.tuples(st.integers(1, 65535), st.integers(0, 300)).map(
        lambda t: (t[0], min(65535, t[0] + t[1]))
    ),
    max_size=12,
)


@given(ids)
def test_same_members_order_and_size_as_a_frozenset(members: frozenset[int]) -> None:
    bitmap = IdSet(members)
    assert list(bitmap) == sorted(members)
    assert len(bitmap) == len(members)
    assert bitmap == members and members == bitmap
    assert hash(bitmap) == hash(members)
    assert bool(bitmap) == bool(members)
    assert bitmap.max() == max(members, default=0)
    for probe in (*members, 0, 1, 2, 65535, 65536, 1 << 20):
        assert (probe in bitmap) == (probe in members)


@given(st.text(alphabet="01", max_size=300))
def test_bitfield_character_i_is_id_i_plus_1(bits: str) -> None:
    expected = frozenset(i + 1 for i, c in enumerate(bits) if c == "1")
    assert IdSet.from_bits(bits) == expected


@given(intervals)
def test_intervals_overlapping_or_not_cover_exactly_their_ids(spans: list[tuple[int, int]]) -> None:
    expected = frozenset(i for first, last in spans for i in range(first, last + 1))
    assert IdSet.from_intervals(spans) == expected


def test_things_that_are_not_ids_are_never_members() -> None:
    bitmap = IdSet({1, 2, 3})
    for probe in (-1, "1", 1.0, None, True):
        assert probe not in bitmap


def test_set_operations_give_frozensets() -> None:
    a, b = IdSet({1, 2, 3}), IdSet({3, 4})
    assert a & b == frozenset({3})
    assert a | b == frozenset({1, 2, 3, 4})
    assert a - b == frozenset({1, 2})
    assert isinstance(a - b, frozenset)
    assert IdSet() == frozenset() and not IdSet()
    assert IdSet({5}) != IdSet({6}) and IdSet({5}) == IdSet.from_bits("00001")
