"""Checking the audit log's hash chain, optionally against a head anchored elsewhere.

The chain alone shows that no record was changed, deleted or moved *between*
the first and the last record still present. It cannot show that the newest
records were deleted, nor that someone with write access recomputed every hash
from some point on. For that the operator keeps the head (`fairview audit head`:
the latest `SEQ:HASH`) outside the database, e.g. in a ticket or a signed mail,
and later checks the log against it (`fairview audit verify --head SEQ:HASH`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fairview.storage.audit import AuditLog

_HEAD = re.compile(r"^(\d+):([0-9a-f]{64})$")


@dataclass(frozen=True, slots=True)
class Head:
    """A record's sequence number and hash: `SEQ:HASH`."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Head:
        """`SEQ:HASH` as `fairview audit head` prints it; raises ValueError otherwise."""
        found = _HEAD.match(text.strip().lower())
        if found is None:
            raise ValueError(
                f"{text[:80]!r} is not a head: expected SEQ:HASH, e.g. 42:<64 hex digits>, "
                "as `fairview audit head` prints it"
            )
        return cls(int(found.group(1)), found.group(2))


@dataclass(frozen=True, slots=True)
class Verdict:
    records: int
    head: Head | None
    problems: tuple[str, ...]

    @property
    def intact(self) -> bool:
        return not self.problems


def verify(log: AuditLog, anchor: Head | None = None) -> Verdict:
    """Walk the chain; with `anchor`, also require that record, with that hash, to exist."""
    problems = log.verify()
    records = 0
    head: Head | None = None
    anchored: str | None = None
    for entry in log.entries():
        records += 1
        head = Head(entry.seq, entry.hash)
        if anchor is not None and entry.seq == anchor.seq:
            anchored = entry.hash
    if anchor is not None:
        problems.extend(_against(anchor, anchored))
    return Verdict(records, head, tuple(problems))


def _against(anchor: Head, found: str | None) -> list[str]:
    if found is None:
        return [
            f"record {anchor.seq} (the anchored head) is missing: records were deleted "
            "from the end of the log"
        ]
    if found != anchor.hash:
        return [
            f"record {anchor.seq} does not match the anchored head: the log was rewritten up to it"
        ]
    return []


def head_of(log: AuditLog) -> Head | None:
    """The newest record's `SEQ:HASH`, None for an empty log."""
    head = None
    for entry in log.entries():
        head = Head(entry.seq, entry.hash)
    return head
