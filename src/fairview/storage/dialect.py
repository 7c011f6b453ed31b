"""The few statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignore(conn: Connection, table: Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the connection's dialect."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def add_to_counter(
    conn: Connection, table: Table, key: dict[str, Any], column: str, delta: int
) -> None:
    """Upsert `key` and add `delta` to `column` atomically."""
    if delta != 0:
        conn.execute(upsert(conn, table, list(key), add=[column]), [{**key, column: delta}])


def upsert(
    conn: Connection,
    table: Table,
    key: Sequence[str],
    *,
    add: Sequence[str] = (),
    replace: Sequence[str] = (),
) -> Any:
    """INSERT … ON CONFLICT (key) DO UPDATE: `add` columns are summed, `replace` overwritten.

    With neither, a conflicting row is left as it is (DO NOTHING). Works with executemany.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    updates = {c: table.c[c] + stmt.excluded[c] for c in add}
    updates.update({c: stmt.excluded[c] for c in replace})
    if not updates:
        return stmt.on_conflict_do_nothing(index_elements=list(key))
    return stmt.on_conflict_do_update(index_elements=list(key), set_=updates)


def serialise_appends(conn: Connection) -> None:
    """Make appends commit in offset order, so a consumer never skips a late commit.

    SQLite already has one writer; PostgreSQL takes a transaction-level advisory lock.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(72217001)")


def insert_sql(conn: Connection, table: str, columns: Sequence[str]) -> str:
    """A driver-level INSERT for executemany (the hot paths skip SQLAlchemy's compiler)."""
    return insert_sql_for(conn.dialect.name, table, columns)


def insert_sql_for(dialect: str, table: str, columns: Sequence[str]) -> str:
    """`insert_sql` for a dialect named "postgresql" or "sqlite"."""
    marker = "%s" if dialect == "postgresql" else "?"
    values = ", ".join([marker] * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"
