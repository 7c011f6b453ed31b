"""Open the relational store (SQLite by default, PostgreSQL at scale) and migrate it."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import StaticPool

_MIGRATIONS = Path(__file__).with_name("migrations")


def open_engine(url: str, *, synchronous: str = "FULL", schema: str | None = None) -> Engine:
    """Create an engine for `url`. SQLite gets WAL and the given durability level.

    `schema` (PostgreSQL only) puts every table in that schema, which lets tests
    isolate themselves inside one database.
    """
    if url.startswith("sqlite"):
        return _sqlite_engine(url, synchronous)
    connect_args: dict[str, Any] = {}
    if schema is not None:
        connect_args["options"] = f"-csearch_path={schema}"
    return create_engine(url, connect_args=connect_args, pool_size=10, max_overflow=20)


def _sqlite_engine(url: str, synchronous: str) -> Engine:
    path = url.removeprefix("sqlite:///")
    memory = path in ("", ":memory:")
    if not memory:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself so that transactions are real.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: the log index stays in memory
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Writers take the lock at BEGIN, so two of them queue instead of failing when a
        # read transaction upgrades; readers stay deferred and never block a writer.
        immediate = conn.get_execution_options().get("immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Writer:
    """Opens write transactions (SQLite: BEGIN IMMEDIATE).

    On a SQLite file, writers from every thread and process first queue on an OS
    file lock: SQLite's own busy handler would make them sleep and poll, which
    starves group commits when several server processes share one file.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine.execution_options(immediate=True)
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._lock_path = None if database in (None, "", ":memory:") else f"{database}.writer-lock"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self._exclusive(), self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        if self._lock_path is None:
            yield
            return
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # blocks without holding the GIL
            yield
        finally:
            os.close(fd)  # closing releases the lock


def writer(engine: Engine) -> Writer:
    """Write transactions on `engine`."""
    return Writer(engine)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    command.upgrade(alembic_config(engine), "head")
