"""Rights requests, and the registry's rules applied to the relational store.

Export, erasure and retention are one generic implementation each: they read
`fairview.registry` and build their statements from the schema's tables, so a
table of personal data needs only a registry entry. A viewer's rows are found
by `viewer_key`, by `subject` (the audit log), or through the delivery they
belong to (`delivery_id` → `deliveries.viewer_key`).

On SQLite, erasure and retention delete with `secure_delete` on, so freed
space is overwritten with zeros, and `compact` truncates the write-ahead log,
which still holds the old pages until then.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    Table,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)

from fairview.registry import RETAINED, Link, Retained, TableRules, tables
from fairview.storage.engine import writer
from fairview.storage.schema import Base, Delivery, RightsRequest

EXPORT_BATCH = 1000
EXPIRY_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class RightsRequestRecord:
    """A rights request as stored: `viewer_key` is None once the viewer is erased."""

    id: str
    viewer_key: str | None
    kind: str
    received_ms: int
    due_ms: int
    completed_ms: int | None
    status: str
    detail: Mapping[str, Any]


class RightsStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = writer(engine)

    # Requests ---------------------------------------------------------------

    def open(self, request: RightsRequestRecord) -> None:
        with self._write.begin() as conn:
            conn.execute(insert(RightsRequest), _request_row(request))

    def finish(
        self, request_id: str, *, status: str, completed_ms: int | None, detail: Mapping[str, Any]
    ) -> None:
        """Set the request's outcome; `detail` replaces what was there."""
        values = {"status": status, "completed_ms": completed_ms, "detail": _json(detail)}
        with self._write.begin() as conn:
            conn.execute(update(RightsRequest).where(RightsRequest.id == request_id).values(values))

    def get(self, request_id: str) -> RightsRequestRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(RightsRequest).where(RightsRequest.id == request_id)).first()
        return None if row is None else _request(row)

    def requests(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        open_and_due_before_ms: int | None = None,
        limit: int = 100,
    ) -> list[RightsRequestRecord]:
        """Requests newest first, optionally by status, kind, or still open past a due time."""
        query = select(RightsRequest).order_by(
            RightsRequest.received_ms.desc(), RightsRequest.id.desc()
        )
        if status is not None:
            query = query.where(RightsRequest.status == status)
        if kind is not None:
            query = query.where(RightsRequest.kind == kind)
        if open_and_due_before_ms is not None:
            query = query.where(
                RightsRequest.completed_ms.is_(None),
                RightsRequest.due_ms < open_and_due_before_ms,
            )
        with self._engine.connect() as conn:
            return [_request(r) for r in conn.execute(query.limit(limit))]

    # The registry's rules ---------------------------------------------------

    def export(self, viewer_key: str) -> Iterator[tuple[str, Iterator[dict[str, Any]]]]:
        """(table, rows) for every exported table, read from one snapshot.

        Each table's rows must be consumed before the next table is asked for;
        rows arrive in batches of `EXPORT_BATCH`, so memory does not grow with
        the viewer's history.
        """
        with self._snapshot() as conn:
            for rules in tables():
                if rules.exported:
                    yield rules.table, _export_rows(conn, rules, viewer_key)

    def erase(self, viewer_key: str) -> dict[str, int]:
        """Apply every table's erasure rule to the viewer's rows, in one transaction.

        Returns the rows deleted or cleared per table (tables that keep
        everything are not listed). Rows found through deliveries go first,
        while the deliveries still name the viewer.
        """
        order = sorted(tables(), key=lambda r: r.link is not Link.DELIVERY)
        counts: dict[str, int] = {}
        with self._write.begin() as conn, _secure_delete(conn):
            for rules in order:
                table = _table(rules.table)
                where = _viewer_rows(table, rules.link, viewer_key)
                if rules.deletes:
                    counts[rules.table] = _rowcount(conn.execute(delete(table).where(where)))
                elif rules.cleared:
                    cleared = {c: _cleared(table.c[c]) for c in rules.cleared}
                    stmt = update(table).where(where).values(cleared)
                    counts[rules.table] = _rowcount(conn.execute(stmt))
        return counts

    def expire(
        self, cutoffs: Mapping[str, int], *, dry_run: bool = False, batch: int = EXPIRY_BATCH
    ) -> dict[str, int]:
        """Delete rows older than their period's cutoff (epoch ms per retention category).

        Returns rows deleted (or, with `dry_run`, that would be) per table.
        Tables go children first, so no foreign key is ever left dangling, and in
        batches of `batch` rows, each its own transaction, so serving never waits
        long. Running it again removes nothing new.
        """
        found: dict[str, int] = {}
        for table, where in _expiring(cutoffs):
            name = str(table.name)  # a plain str: the report is serialised as JSON
            if dry_run:
                with self._engine.connect() as conn:
                    count = select(func.count()).select_from(table).where(where)
                    found[name] = int(conn.execute(count).scalar_one())
            else:
                found[name] = self._delete_batched(table, where, batch)
        return found

    def compact(self) -> bool:
        """Truncate SQLite's write-ahead log so deleted pages leave the disk; False if busy.

        Other engines (and SQLite in memory) have nothing to do here: True.
        """
        database = self._engine.url.database
        if self._engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
            return True
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            row = cursor.fetchone()
            cursor.close()
        finally:
            raw.close()
        return row is not None and int(row[0]) == 0

    def _delete_batched(self, table: Table, where: ColumnElement[bool], batch: int) -> int:
        key = list(table.primary_key.columns)
        victims = select(*key).where(where).limit(batch)
        target = key[0] if len(key) == 1 else tuple_(*key)
        removed = 0
        while True:
            with self._write.begin() as conn, _secure_delete(conn):
                n = _rowcount(conn.execute(delete(table).where(target.in_(victims))))
            removed += n
            if n < batch:
                return removed

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """A read transaction that sees one state of the database throughout."""
        with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _viewer_rows(table: Table, link: Link, viewer_key: str) -> ColumnElement[bool]:
    if link is Link.DELIVERY:
        mine = select(Delivery.id).where(Delivery.viewer_key == viewer_key)
        return table.c.delivery_id.in_(mine)
    return table.c[link.value] == viewer_key


def _cleared(column: Column[Any]) -> Any:
    """NULL where the column allows it, else its declared empty default."""
    if column.nullable:
        return None
    default = column.server_default
    if default is None or not hasattr(default, "arg"):
        raise ValueError(f"{column.table.name}.{column.name} can be neither NULL nor defaulted")
    return default.arg


def _export_rows(conn: Connection, rules: TableRules, viewer_key: str) -> Iterator[dict[str, Any]]:
    table = _table(rules.table)
    columns = [c for c in table.c if c.name not in rules.hidden]
    query = (
        select(*columns)
        .where(_viewer_rows(table, rules.link, viewer_key))
        .order_by(*table.primary_key.columns)
    )
    names = [c.name for c in columns]
    parse = [name in rules.json_columns for name in names]
    result = conn.execution_options(yield_per=EXPORT_BATCH).execute(query)
    for row in result:
        yield {
            name: (orjson.loads(value) if json and value is not None else value)
            for name, value, json in zip(names, row, parse, strict=True)
        }


def _expiring(cutoffs: Mapping[str, int]) -> list[tuple[Table, ColumnElement[bool]]]:
    """(table, expired rows) for every table with a retention period, children first."""
    found: list[tuple[Table, ColumnElement[bool]]] = []
    for rules in tables():
        if rules.period is not None and rules.clock is not None:
            table = _table(rules.table)
            found.append((table, table.c[rules.clock] < cutoffs[rules.period]))
    found.extend((_table(r.table), _retained_expired(r, cutoffs[r.period])) for r in RETAINED)
    order = {t.name: i for i, t in enumerate(Base.metadata.sorted_tables)}
    return sorted(found, key=lambda item: -order[item[0].name])


def _retained_expired(retained: Retained, cutoff: int) -> ColumnElement[bool]:
    table = _table(retained.table)
    if retained.key is None:
        return table.c[retained.clock] < cutoff
    other_name, clock = retained.clock.split(".")
    other = _table(other_name)
    recent = select(other.c[retained.key]).where(other.c[clock] >= cutoff)
    return table.c[retained.key].not_in(recent)


@contextmanager
def _secure_delete(conn: Connection) -> Iterator[None]:
    """SQLite: overwrite what the statements inside delete with zeros.

    Some builds (Debian's) have it on by default; the connection's own setting
    is restored afterwards.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    before = int(conn.exec_driver_sql("PRAGMA secure_delete").scalar_one())
    conn.exec_driver_sql("PRAGMA secure_delete = 1")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA secure_delete = {before}")


def _rowcount(result: Any) -> int:
    return int(result.rowcount or 0)


def _json(detail: Mapping[str, Any]) -> str:
    return orjson.dumps(dict(detail), option=orjson.OPT_SORT_KEYS).decode()


def _request_row(r: RightsRequestRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "viewer_key": r.viewer_key,
        "kind": r.kind,
        "received_ms": r.received_ms,
        "due_ms": r.due_ms,
        "completed_ms": r.completed_ms,
        "status": r.status,
        "detail": _json(r.detail),
    }


def _request(row: Any) -> RightsRequestRecord:
    return RightsRequestRecord(
        row.id,
        row.viewer_key,
        row.kind,
        int(row.received_ms),
        int(row.due_ms),
        None if row.completed_ms is None else int(row.completed_ms),
        row.status,
        orjson.loads(row.detail or "{}"),
    )
