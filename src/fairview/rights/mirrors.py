"""The registry's data held outside the relational store (the Redis counters at scale)."""

from __future__ import annotations

from typing import Protocol

from fairview.storage import Store
from fairview.storage.frequency import SqlFrequency


class Mirror(Protocol):
    """What export, erasure and retention need from a non-relational store."""

    def entries(self, viewer: str) -> list[tuple[str, int]]: ...

    def erase(self, viewer: str) -> int: ...

    def expire(self, now_ms: int) -> int: ...


MIRROR_FIELDS = {"frequency_counters": ("campaign_id", "at_ms")}
"""The fields of each mirror's entries, named as the registry table it mirrors names them."""


def mirrors(store: Store) -> dict[str, Mirror]:
    """The non-relational stores in use, by the registry's `mirror` name.

    A role kept in the relational store itself is left out: its table is
    already covered by the registry's entry.
    """
    found: dict[str, Mirror] = {}
    if not isinstance(store.frequency, SqlFrequency):
        found["frequency_counters"] = store.frequency
    return found
