"""The viewer's export (Art. 15 access, Art. 20 portability): one JSON document, streamed.

Every table the registry marks as exported contributes a section with what the
registry says about it (category, purpose, legal basis, retention) and the
viewer's rows; non-relational stores in use (Redis counters) add their own
section. Rows are read in batches from one database snapshot and written out
in chunks of about `CHUNK_BYTES`, so memory stays flat however long the
viewer's history is. The document ends with the row counts and
`"complete": true`: a cut-off download is visible as such.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from fairview.clock import Clock
from fairview.registry import REGISTRY, PersonalData
from fairview.rights.mirrors import MIRROR_FIELDS, mirrors
from fairview.rights.requests import Kind, Status, received
from fairview.storage import Store
from fairview.storage.rights import RightsRequestRecord

FORMAT = "fairview.viewer-export/1"
CHUNK_BYTES = 64 * 1024
ABOUT = (
    "Everything fairview holds about you, found by your pseudonym: a keyed hash of the "
    "reference your platform gave us (we never store the reference itself). Each section "
    "says what the data is, why it is held, on what legal basis and for how long."
)


def open_export(
    store: Store, viewer_key: str, kind: Kind, clock: Clock
) -> tuple[RightsRequestRecord, Generator[bytes]]:
    """Record the request, then return it with the export's bytes (read lazily).

    The request is completed when the last byte has been produced, and marked
    interrupted if the reader stops early.
    """
    request = received(kind, viewer_key, clock.now_ms())
    store.rights.open(request)
    return request, _tracked(store, viewer_key, request, clock)


def _tracked(
    store: Store, viewer_key: str, request: RightsRequestRecord, clock: Clock
) -> Generator[bytes]:
    counts: dict[str, int] = {}
    finished = False
    try:
        yield from _document(store, viewer_key, request, clock.now_ms(), counts)
        finished = True
    finally:
        status = Status.COMPLETED if finished else Status.INTERRUPTED
        store.rights.finish(
            request.id,
            status=status.value,
            completed_ms=clock.now_ms() if finished else None,
            detail={"rows": counts},
        )


def _document(
    store: Store, viewer_key: str, request: RightsRequestRecord, now_ms: int, counts: dict[str, int]
) -> Iterator[bytes]:
    out = _Chunks()
    head = {
        "format": FORMAT,
        "request": request.id,
        "right": request.kind,
        "generated_at": _iso(now_ms),
        "pseudonym": viewer_key,
        "about": ABOUT,
    }
    yield from out.add(orjson.dumps(head)[:-1] + b',"data":{')
    first = True
    for table, rows in store.rights.export(viewer_key):
        yield from _section(out, table, _about(table), rows, counts, first)
        first = False
    for name, mirror in mirrors(store).items():
        fields = MIRROR_FIELDS[name]
        entries = (dict(zip(fields, e, strict=True)) for e in mirror.entries(viewer_key))
        yield from _section(out, name, _about_mirror(name), entries, counts, first)
        first = False
    tail = {"not_included": _not_included(), "rows": counts, "complete": True}
    yield from out.add(b"}," + orjson.dumps(tail)[1:])
    yield from out.flush()


def _section(
    out: _Chunks,
    name: str,
    about: list[dict[str, Any]],
    rows: Iterator[dict[str, Any]],
    counts: dict[str, int],
    first: bool,
) -> Iterator[bytes]:
    opening = b"" if first else b","
    yield from out.add(opening + orjson.dumps(name) + b':{"about":' + orjson.dumps(about))
    yield from out.add(b',"rows":[')
    n = 0
    for row in rows:
        yield from out.add((b"," if n else b"") + orjson.dumps(row))
        n += 1
    yield from out.add(b"]}")
    counts[name] = n


class _Chunks:
    """Collects small writes and hands them out in chunks of about CHUNK_BYTES."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def add(self, data: bytes) -> Iterator[bytes]:
        self._buffer += data
        if len(self._buffer) >= CHUNK_BYTES:
            yield from self.flush()

    def flush(self) -> Iterator[bytes]:
        if self._buffer:
            chunk = bytes(self._buffer)
            self._buffer.clear()
            yield chunk


def _about(table: str) -> list[dict[str, Any]]:
    return [_describe(e) for e in REGISTRY if e.table == table and e.exported]


def _about_mirror(name: str) -> list[dict[str, Any]]:
    return [{**_describe(e), "store": name} for e in REGISTRY if e.mirror == name]


def _describe(entry: PersonalData) -> dict[str, Any]:
    return {
        "columns": list(entry.columns),
        "category": entry.category,
        "purpose": entry.purpose,
        "legal_basis": entry.legal_basis,
        "retention": entry.retention,
    }


def _not_included() -> list[dict[str, Any]]:
    return [
        {"table": e.table, "columns": list(e.columns), "reason": e.not_exported_because}
        for e in REGISTRY
        if not e.exported
    ]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
