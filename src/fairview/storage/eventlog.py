"""The embedded event log: durable append with dedup by (delivery, seq), read by offset."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import NamedTuple, Protocol

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from fairview.storage.dialect import add_to_counter, insert_sql, serialise_appends
from fairview.storage.engine import writer
from fairview.storage.schema import Counter, Delivery, EventRecord, FailedEvent, table_of


class LogEvent(NamedTuple):
    """One accepted playback event as the log keeps it. `vis`: 1, 0, or -1 for unknown.

    A named tuple rather than a dataclass: it is built once per ingested event and
    is already the row the log inserts, so the hot path allocates nothing else.
    """

    delivery_id: str
    seq: int
    type: str
    mono_ms: float
    media_s: float
    rate: float
    muted: bool
    vis: int
    trusted: bool
    kind: str | None
    from_s: float | None
    to_s: float | None
    duration_s: float | None
    received_ms: int

    def payload(self) -> tuple[object, ...]:
        """What the player sent (receipt time aside): equal payloads are exact repeats."""
        return tuple(self[1:13])


@dataclass(frozen=True, slots=True)
class Refusal:
    """An event the collector refused, kept with its reason and without prohibited values."""

    received_ms: int
    delivery_id: str | None
    seq: int | None
    code: str
    field: str | None
    detail: str
    payload: str


@dataclass(frozen=True, slots=True)
class LogHead:
    pos: int
    delivery_id: str
    seq: int
    type: str


@dataclass(frozen=True, slots=True)
class IngestStats:
    accepted: int
    duplicates: int
    rejected: int

    @property
    def sent(self) -> int:
        return self.accepted + self.duplicates + self.rejected


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"


class EventLog(Protocol):
    def append(self, events: Sequence[LogEvent], refusals: Sequence[Refusal]) -> list[Outcome]:
        """Durably append in one transaction; one outcome per event, in order."""
        ...

    def read_after(self, pos: int, limit: int) -> list[LogHead]: ...

    def events_for(self, delivery_ids: Iterable[str]) -> list[LogEvent]: ...

    def stats(self) -> IngestStats: ...


_EVENT_FIELDS = list(LogEvent._fields)
_COUNTERS = {
    Outcome.ACCEPTED: "events_accepted",
    Outcome.DUPLICATE: "events_duplicate",
    Outcome.CONFLICT: "events_rejected",
}


class SqlEventLog:
    """EventLog on the relational store (SQLite embedded, or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = writer(engine)

    def append(self, events: Sequence[LogEvent], refusals: Sequence[Refusal]) -> list[Outcome]:
        firsts, outcomes = _dedup_within(events)
        with self._write.begin() as conn:
            # Appends are serialised (SQLite's single writer, PostgreSQL's advisory lock),
            # so "look up, then insert what is new" cannot race with another append.
            serialise_appends(conn)
            stored = _stored_payloads(conn, list(firsts))
            fresh = [e for key, e in firsts.items() if key not in stored]
            if fresh:
                conn.exec_driver_sql(insert_sql(conn, "events", _EVENT_FIELDS), fresh)
            conflicts: set[str] = set()
            for i, event in enumerate(events):
                key = (event.delivery_id, event.seq)
                if outcomes[i] is None:
                    known = stored.get(key)
                    outcomes[i] = (
                        Outcome.ACCEPTED
                        if known is None
                        else (Outcome.DUPLICATE if known == event.payload() else Outcome.CONFLICT)
                    )
                if outcomes[i] is Outcome.CONFLICT:
                    conflicts.add(event.delivery_id)
            if conflicts:
                conn.execute(
                    update(Delivery).where(Delivery.id.in_(conflicts)).values(conflict=True)
                )
            all_refusals = [*refusals, *_conflict_refusals(events, outcomes)]
            if all_refusals:
                conn.execute(insert(FailedEvent), [_refusal_row(r) for r in all_refusals])
            for outcome, name in _COUNTERS.items():
                delta = sum(1 for o in outcomes if o is outcome)
                if outcome is Outcome.CONFLICT:
                    delta += len(refusals)
                add_to_counter(conn, table_of(Counter), {"name": name}, "value", delta)
        return [o for o in outcomes if o is not None]

    def read_after(self, pos: int, limit: int) -> list[LogHead]:
        query = (
            select(EventRecord.pos, EventRecord.delivery_id, EventRecord.seq, EventRecord.type)
            .where(EventRecord.pos > pos)
            .order_by(EventRecord.pos)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [LogHead(*row) for row in conn.execute(query).fetchall()]

    def events_for(self, delivery_ids: Iterable[str]) -> list[LogEvent]:
        wanted = list(delivery_ids)
        columns = [table_of(EventRecord).c[name] for name in _EVENT_FIELDS]
        out: list[LogEvent] = []
        with self._engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                query = select(*columns).where(
                    EventRecord.delivery_id.in_(wanted[start : start + 500])
                )
                rows = conn.execute(query.order_by(EventRecord.pos)).fetchall()
                out.extend(map(LogEvent._make, rows))
        return out

    def stats(self) -> IngestStats:
        with self._engine.connect() as conn:
            values = dict(conn.execute(select(Counter.name, Counter.value)).all())
        return IngestStats(
            accepted=values.get("events_accepted", 0),
            duplicates=values.get("events_duplicate", 0),
            rejected=values.get("events_rejected", 0),
        )


def _dedup_within(
    events: Sequence[LogEvent],
) -> tuple[dict[tuple[str, int], LogEvent], list[Outcome | None]]:
    """First occurrence of each key wins; repeats inside the batch are classified here."""
    firsts: dict[tuple[str, int], LogEvent] = {}
    outcomes: list[Outcome | None] = []
    for event in events:
        key = (event.delivery_id, event.seq)
        first = firsts.get(key)
        if first is None:
            firsts[key] = event
            outcomes.append(None)
        else:
            same = first.payload() == event.payload()
            outcomes.append(Outcome.DUPLICATE if same else Outcome.CONFLICT)
    return firsts, outcomes


def _stored_payloads(
    conn: Connection, keys: list[tuple[str, int]]
) -> dict[tuple[str, int], tuple[object, ...]]:
    """Payloads of the events already stored under `keys`.

    One indexed range query per delivery, over the seqs the batch carries: for the
    usual fresh batch it reads nothing.
    """
    spans: dict[str, list[int]] = {}
    for delivery, seq in keys:
        span = spans.setdefault(delivery, [seq, seq])
        span[0], span[1] = min(span[0], seq), max(span[1], seq)
    wanted = set(keys)
    found: dict[tuple[str, int], tuple[object, ...]] = {}
    for delivery, (low, high) in spans.items():
        rows = conn.execute(_STORED, {"d": delivery, "low": low, "high": high})
        found.update(((delivery, r[0]), _normal(r)) for r in rows if (delivery, r[0]) in wanted)
    return found


def _normal(row: Sequence[object]) -> tuple[object, ...]:
    """A stored payload as the collector builds it (drivers return booleans as 0/1)."""
    seq, type_, mono, media, rate, muted, vis, trusted, *rest = row
    return (seq, type_, mono, media, rate, bool(muted), vis, bool(trusted), *rest)


_STORED = select(*(table_of(EventRecord).c[name] for name in list(LogEvent._fields)[1:13])).where(
    EventRecord.delivery_id == bindparam("d"),
    EventRecord.seq.between(bindparam("low"), bindparam("high")),
)


def _conflict_refusals(events: Sequence[LogEvent], outcomes: list[Outcome | None]) -> list[Refusal]:
    return [
        Refusal(
            received_ms=e.received_ms,
            delivery_id=e.delivery_id,
            seq=e.seq,
            code="conflicting_duplicate",
            field="seq",
            detail=f"seq {e.seq} of delivery {e.delivery_id} was already received with a "
            "different payload; the delivery is now invalid and will not be billed.",
            payload=repr(tuple(e)),
        )
        for e, o in zip(events, outcomes, strict=True)
        if o is Outcome.CONFLICT
    ]


def _refusal_row(refusal: Refusal) -> dict[str, object]:
    return {f.name: getattr(refusal, f.name) for f in fields(Refusal)}
