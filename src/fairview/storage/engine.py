"""Open the relational store (SQLite by default, PostgreSQL at scale) and migrate it."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import StaticPool

from fairview.storage.dialect import insert_sql_for

_MIGRATIONS = Path(__file__).with_name("migrations")
log = logging.getLogger("fairview.storage")


def open_engine(
    url: str,
    *,
    synchronous: str = "FULL",
    schema: str | None = None,
    background_checkpoint: bool = False,
) -> Engine:
    """Create an engine for `url`. SQLite gets WAL and the given durability level.

    `schema` (PostgreSQL only) puts every table in that schema, which lets tests
    isolate themselves inside one database. `background_checkpoint` (SQLite files):
    commits never checkpoint the WAL; a `Checkpointer` thread must (see there).
    """
    if url.startswith("sqlite"):
        return _sqlite_engine(url, synchronous, background_checkpoint)
    connect_args: dict[str, Any] = {}
    if schema is not None:
        connect_args["options"] = f"-csearch_path={schema}"
    return create_engine(url, connect_args=connect_args, pool_size=10, max_overflow=20)


def _sqlite_engine(url: str, synchronous: str, background_checkpoint: bool) -> Engine:
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
        if background_checkpoint and not memory:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
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
        self._lock_path = _writer_lock_path(engine)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.exclusive(), self._engine.begin() as conn:
            yield conn

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the writer lock (no transaction): every writer of the file waits."""
        if self._lock_path is None:
            yield
            return
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # blocks without holding the GIL
            yield
        finally:
            os.close(fd)  # closing releases the lock


def _writer_lock_path(engine: Engine) -> str | None:
    """The file every writer of a SQLite file locks first (None: no file, or not SQLite)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    return None if database in (None, "", ":memory:") else f"{database}.writer-lock"


def writer(engine: Engine) -> Writer:
    """Write transactions on `engine`."""
    return Writer(engine)


class DedicatedWriter:
    """Write transactions for one hot append path, on one connection kept open.

    `Writer.begin` checks a connection out of the pool, runs SQLAlchemy's transaction
    events and resets the connection on check-in: about 0.25 ms of CPU per transaction,
    which a path committing on every ad decision pays hundreds of times a second. This
    keeps one pooled DB-API connection (and, on SQLite, the writer-lock file) open and
    hands out its cursor inside BEGIN … COMMIT. Callers are serialised by a lock: the
    path it serves has one writer thread (a group commit). A connection that fails is
    invalidated and replaced by the next transaction.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._lock_path = _writer_lock_path(engine)
        self._lock = threading.Lock()
        self._connection: Any = None
        self._lock_fd: int | None = None

    @property
    def marker(self) -> str:
        """The driver's parameter marker."""
        return "?" if self._sqlite else "%s"

    def insert_sql(self, table: str, columns: Sequence[str]) -> str:
        """A driver-level INSERT for this connection's `executemany`."""
        return insert_sql_for(self._engine.dialect.name, table, columns)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A DB-API cursor inside a write transaction, committed when the block ends."""
        with self._lock:
            if self._connection is None:
                self._connection = self._engine.raw_connection()
            connection = self._connection
            with self._exclusive():
                cursor = connection.cursor()
                try:
                    if self._sqlite:
                        cursor.execute("BEGIN IMMEDIATE")
                    yield cursor
                    if self._sqlite:
                        cursor.execute("COMMIT")
                    else:
                        connection.commit()
                except BaseException:
                    self._abandon(connection)
                    raise
                finally:
                    cursor.close()

    def _abandon(self, connection: Any) -> None:
        try:
            connection.rollback()
        except Exception:  # a broken connection: never reuse it
            connection.invalidate()
            self._connection = None

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        if self._lock_path is None:
            yield
            return
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # blocks without holding the GIL
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()  # back to the pool
                self._connection = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


class Checkpointer:
    """Checkpoints a SQLite file's WAL from a background thread, off the commit path.

    By default SQLite checkpoints inside the commit that pushes the WAL past 1,000
    pages: that request then copies the pages into the database file and fsyncs it,
    which costs it several milliseconds. With `background_checkpoint`, commits only
    append to the WAL, and this thread runs a PASSIVE checkpoint (which never blocks
    readers or writers) every `interval_s`. A crash loses nothing: the WAL is
    replayed when the file is next opened.

    PASSIVE alone lets the WAL grow without end under steady writes. SQLite starts the
    log over only when a writer begins while every frame is already copied, and with
    commits every millisecond there are always new frames. In a 60 s run at 2,000
    decisions/s the WAL reached 650,000 pages (2.6 GB), and after about 40 s requests
    waited up to a second. So once the WAL holds `restart_pages` (by default 32,000
    pages, 128 MiB: a few seconds of writes at 2,000 decisions/s), this thread takes
    the writer lock (writers queue on it as for any commit), copies the few frames the
    PASSIVE pass left, and RESTARTs the log: the next commit writes from its start.
    The RESTART waits at most `restart_wait_ms` for readers still on the old log, and
    otherwise tries again next time.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        interval_s: float = 0.2,
        restart_pages: int = 32000,
        restart_wait_ms: int = 50,
    ) -> None:
        self._engine = engine
        self._writer = Writer(engine)
        self._interval_s = interval_s
        self._restart_pages = restart_pages
        self._restart_wait_ms = restart_wait_ms
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fairview-checkpoint", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.checkpoint()
            except Exception:  # the next round tries again; the WAL only grows meanwhile
                log.exception("WAL checkpoint failed")

    def checkpoint(self) -> bool:
        """One round; True when the log was restarted (the next commit writes from its start)."""
        with self._engine.connect() as conn:
            pages = int(conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()[1])
            if pages < self._restart_pages:
                return False
            conn.exec_driver_sql(f"PRAGMA busy_timeout={self._restart_wait_ms}").close()
            try:
                with self._writer.exclusive():
                    busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)").one()[0]
            finally:
                conn.exec_driver_sql("PRAGMA busy_timeout=30000").close()
            return not busy

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    command.upgrade(alembic_config(engine), "head")
