"""One writer for the delivery records of every server process.

Every ad decision waits until its delivery is durable. With `fairview serve --workers
N`, each process used to commit its own decisions: N writers taking turns on one
SQLite file, each waiting for the others' commits and fsyncs before its own (a commit
took 3.5–4.5 ms of wall time in each of two processes at 2,000 decisions/s, against
about 1.2 ms alone; docs/serving.md). Here the supervisor runs one writer thread
(`SharedWriter`), and each server process's group commit sends its group of rows
(`DeliveryRows`) over a Unix socket and waits for the answer (`SharedWriterClient`).
The writer commits what every process has sent since its last commit in one
transaction, then answers each: groups from all processes share one fsync, and the
processes no longer queue for the database's write lock.

Nothing changes in what an answer means: a process hears "stored" only after the
transaction holding its rows has committed, and "not stored" (so its decisions answer
503 `store_unavailable`) when it failed. The rows travel as JSON (`DeliveryRows.to_json`).
The socket lives in a directory only the server's user can open.

Frames: a 4-byte big-endian length, then the payload; the answer is one byte, `1`
stored, `0` not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import selectors
import socket
import struct
import tempfile
import threading
import time
from pathlib import Path

from fairview.storage.deliveries import Deliveries, DeliveryRows

log = logging.getLogger("fairview.shared_writer")

_LENGTH = struct.Struct("!I")
STORED = b"\x01"
NOT_STORED = b"\x00"
MAX_FRAME = 64 * 1024 * 1024
"""A frame over this is a broken peer, not a group of decisions: it is disconnected."""
ANSWER_TIMEOUT_S = 30.0
LINGER_S = 0.0005
"""Once a group has arrived from one process, how long the writer waits for the other
processes' before it commits (unless all have sent). At 2,000 decisions/s on two
processes, 0.5 ms put both processes' groups into one commit about 85 % of the time
(commits from ~1.05 to ~1.85 groups each) and gave the lowest p50 and p99 of 0, 0.5
and 1 ms (docs/serving.md)."""


class NotStored(RuntimeError):
    def __init__(self) -> None:
        super().__init__("the shared delivery writer could not store the rows")


class SharedWriter:
    """The writer thread: accepts the server processes' connections on a Unix socket
    and commits what they send, grouped, with `deliveries.write`."""

    def __init__(self, deliveries: Deliveries, *, linger_s: float = LINGER_S) -> None:
        self._deliveries = deliveries
        self._linger_s = linger_s
        self._selector = selectors.DefaultSelector()
        self._peers: list[_Peer] = []
        self._directory = _private_directory()
        self.path = str(self._directory / "deliveries.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._listener.bind(self.path)
            self._listener.listen(64)
        except OSError:
            self._listener.close()
            self._directory.rmdir()
            raise
        self._listener.setblocking(False)
        self._wake_read, self._wake_write = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name="fairview-shared-writer")
        self._stopping = False
        self.commits = 0
        """Transactions committed so far (for tests and diagnostics)."""

    def start(self) -> SharedWriter:
        self._thread.start()
        return self

    def alive(self) -> bool:
        """Whether the writer thread is running (the supervisor stops the server if not)."""
        return self._thread.is_alive()

    def close(self) -> None:
        """Stop after committing what has arrived; the socket and its directory are removed."""
        with contextlib.suppress(OSError):
            self._wake_write.send(b"x")
        if self._thread.is_alive():
            self._thread.join()
        for sock in (self._listener, self._wake_read, self._wake_write):
            sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            self._directory.rmdir()

    def __enter__(self) -> SharedWriter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        try:
            while True:
                waiting = self._gather()
                if waiting:
                    self._commit(waiting)
                if self._stopping:
                    return
        finally:
            for peer in self._peers:
                peer.sock.close()
            self._selector.close()

    def _gather(self) -> list[tuple[_Peer, DeliveryRows]]:
        """The next group: once something has arrived, what every process has sent,
        or what arrived within `linger_s`; when asked to stop, what has arrived."""
        waiting: list[tuple[_Peer, DeliveryRows]] = []
        deadline: float | None = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.perf_counter())
            ready = self._selector.select(timeout)
            if not ready and deadline is not None:
                return waiting
            for key, _ in ready:
                if key.fileobj is self._wake_read:
                    self._stopping = True
                    return waiting
                if key.fileobj is self._listener:
                    self._accept()
                else:
                    waiting.extend(self._receive(key.data))
            if not waiting:
                continue
            if len({id(peer) for peer, _ in waiting}) >= len(self._peers):
                return waiting
            if deadline is None:
                deadline = time.perf_counter() + self._linger_s

    def _receive(self, peer: _Peer) -> list[tuple[_Peer, DeliveryRows]]:
        try:
            return [(peer, rows) for rows in peer.receive()]
        except (OSError, ValueError, TypeError) as exc:
            log.warning("shared writer: a server process disconnected (%s)", exc)
            self._selector.unregister(peer.sock)
            self._peers.remove(peer)
            peer.sock.close()
            return []

    def _accept(self) -> None:
        with contextlib.suppress(BlockingIOError):
            sock, _ = self._listener.accept()
            sock.setblocking(False)
            peer = _Peer(sock)
            self._peers.append(peer)
            self._selector.register(sock, selectors.EVENT_READ, peer)

    def _commit(self, waiting: list[tuple[_Peer, DeliveryRows]]) -> None:
        try:
            self._deliveries.write(DeliveryRows.merge([rows for _, rows in waiting]))
            self.commits += 1
            answer = STORED
        except Exception:  # every process waiting learns that nothing was stored
            log.exception("shared writer: a group of %d was not stored", len(waiting))
            answer = NOT_STORED
        for peer, _ in waiting:
            with contextlib.suppress(OSError):  # a process that left reads no answer
                peer.sock.send(answer)


def _private_directory() -> Path:
    """A new directory only this user can open, short enough for a socket path (Unix
    socket paths are limited to about 100 bytes; a long TMPDIR falls back to /tmp)."""
    made = Path(tempfile.mkdtemp(prefix="fairview-"))
    if len(str(made)) > 80:
        made.rmdir()
        made = Path(tempfile.mkdtemp(prefix="fairview-", dir="/tmp"))
    return made


class _Peer:
    """One server process's connection: the bytes received so far."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()

    def receive(self) -> list[DeliveryRows]:
        """Read what has arrived; the complete frames, decoded. Raises when the
        process has gone (`ConnectionError`) or sent something that is not a frame."""
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("connection closed")
        self._buffer += data
        frames = []
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > MAX_FRAME:
                raise ValueError(f"a frame of {length} bytes")
            end = _LENGTH.size + length
            if len(self._buffer) < end:
                break
            frames.append(DeliveryRows.from_json(bytes(self._buffer[_LENGTH.size : end])))
            del self._buffer[:end]
        return frames


class SharedWriterClient:
    """A server process's side: `write(rows)` returns once the shared writer has
    committed them, and raises when it did not (or cannot be reached)."""

    def __init__(self, path: str, timeout_s: float = ANSWER_TIMEOUT_S) -> None:
        self._path = path
        self._timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def write(self, rows: DeliveryRows) -> None:
        if not rows:
            return
        payload = rows.to_json()
        with self._lock:
            sock = self._connected()
            try:
                sock.sendall(_LENGTH.pack(len(payload)) + payload)
                answer = sock.recv(1)
            except OSError:
                self._disconnect()
                raise
            if not answer:
                self._disconnect()
                raise ConnectionError("the shared delivery writer closed the connection")
            if answer != STORED:
                raise NotStored()

    def close(self) -> None:
        with self._lock:
            self._disconnect()

    def _connected(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self._timeout_s)
            try:
                sock.connect(self._path)
            except OSError:
                sock.close()
                raise
            self._sock = sock
        return self._sock

    def _disconnect(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class AsyncSharedWriter:
    """A server process's side on its event loop: `await write(rows)` returns once the
    shared writer has committed them, and raises when it did not (or cannot be reached).

    One group is in flight at a time. What the process's requests add while it is
    travelling waits, and goes as the next group when the answer comes: the process's
    group commit, run on the event loop itself, without a writer thread to wake (and
    without handing the interpreter lock back and forth with one).
    """

    def __init__(self, path: str, timeout_s: float = ANSWER_TIMEOUT_S) -> None:
        self._path = path
        self._timeout_s = timeout_s
        self._link: _Link | None = None
        self._connecting = False
        self._waiting: list[tuple[DeliveryRows, asyncio.Future[None]]] = []
        self._in_flight: list[asyncio.Future[None]] | None = None
        self._deadline: asyncio.TimerHandle | None = None

    async def write(self, rows: DeliveryRows) -> None:
        if not rows:
            return
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((rows, done))
        if self._link is None and not self._connecting:
            await self._connect()
        elif self._in_flight is None and self._link is not None:
            self._send()
        await done

    def close(self) -> None:
        if self._link is not None:
            self._link.transport.close()

    async def _connect(self) -> None:
        self._connecting = True
        try:
            await asyncio.get_running_loop().create_unix_connection(lambda: _Link(self), self._path)
        except OSError as exc:
            self._fail(self._take_waiting(), exc)
        finally:
            self._connecting = False
        if self._link is not None and self._in_flight is None:
            self._send()

    def _send(self) -> None:
        assert self._link is not None
        waiting = self._take_waiting()
        if not waiting:
            return
        payload = DeliveryRows.merge([rows for rows, _ in waiting]).to_json()
        self._in_flight = [done for _, done in waiting]
        self._link.transport.write(_LENGTH.pack(len(payload)) + payload)
        # no answer in time: the connection is dropped, which fails the group
        self._deadline = asyncio.get_running_loop().call_later(
            self._timeout_s, self._link.transport.abort
        )

    def _take_waiting(self) -> list[tuple[DeliveryRows, asyncio.Future[None]]]:
        waiting, self._waiting = self._waiting, []
        return waiting

    def _answered(self, answer: int) -> None:
        self._stop_deadline()
        in_flight, self._in_flight = self._in_flight or [], None
        for done in in_flight:
            if done.done():
                continue
            if answer == STORED[0]:
                done.set_result(None)
            else:
                done.set_exception(NotStored())
        if self._waiting:
            self._send()

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        self._link = None
        in_flight, self._in_flight = self._in_flight or [], None
        error = exc or ConnectionError("the shared delivery writer closed the connection")
        for done in in_flight:
            if not done.done():
                done.set_exception(error)
        self._fail(self._take_waiting(), error)

    @staticmethod
    def _fail(waiting: list[tuple[DeliveryRows, asyncio.Future[None]]], exc: Exception) -> None:
        for _, done in waiting:
            if not done.done():
                done.set_exception(exc)


class _Link(asyncio.Protocol):
    def __init__(self, owner: AsyncSharedWriter) -> None:
        self._owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self._owner._link = self

    def data_received(self, data: bytes) -> None:
        for answer in data:
            self._owner._answered(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._lost(exc)
