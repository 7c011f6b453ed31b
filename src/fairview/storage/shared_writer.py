"""One writer for the delivery records of every server process.

With `fairview serve --workers N`, each process used to commit its own decisions: N
writers taking turns on one SQLite file, each waiting for the others' commits and fsyncs
before its own (a commit took 3.5–4.5 ms of wall time in each of two processes at 2,000
decisions/s, against about 1.2 ms alone; docs/serving.md). Here the supervisor runs one
writer thread (`SharedWriter`), and each server process sends its groups of rows
(`DeliveryRows`) over a Unix socket (`AsyncSharedWriter`, or `SharedWriterClient` from
a thread). The writer commits what every process has sent since its last commit in one
transaction, then answers each frame: groups from all processes share one fsync, and
the processes no longer queue for the database's write lock.

A process hears "stored" only after the transaction holding its rows has committed,
and "not stored" when it failed. The rows travel as JSON (`DeliveryRows.to_json`). The
socket lives in a directory only the server's user can open.

Frames: a 4-byte big-endian length of the payload, one byte saying whether the sender
waits (`ANSWER`) or has answered its requests already (`KEEP`), then the payload; the
answer to every frame is one byte, `1` stored, `0` not stored, in the order the frames
were sent.

**When a decision answers** (`FAIRVIEW_DELIVERY_COMMIT`, docs/serving.md):

- `before_answer`: the process waits for its group's answer, as described above.
- `behind` (the default): the process sends its rows (`KEEP`) and answers at once; the
  writer commits them within about a millisecond. A failed commit does not drop them:
  the writer keeps them and tries again every `RETRY_S` on their own, so that they
  cannot hold up newer groups, and answers "not stored", on which the process waits for
  each answer (as `before_answer`, so its decisions answer 503 while the store fails)
  until one says "stored" again. A process that has more than `MAX_UNANSWERED` frames
  unanswered (the writer is stalled) waits too. What `behind` gives up: rows the writer
  has received but not committed, or that the kernel holds for it, are lost if the
  supervisor dies or the machine loses power before the commit; the stop path commits
  them. A server process that dies loses only rows it had not yet written to the socket.
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
from collections import deque
from pathlib import Path
from typing import NamedTuple

from fairview.storage.deliveries import Deliveries, DeliveryRows

log = logging.getLogger("fairview.shared_writer")

_HEADER = struct.Struct("!IB")
ANSWER = 0
"""A frame whose sender waits for the answer: on failure its rows are dropped."""
KEEP = 1
"""A frame whose sender has answered already: on failure its rows are kept and retried."""
STORED = b"\x01"
NOT_STORED = b"\x00"
RETRY_S = 0.5
"""How often the writer tries again to store `KEEP` rows whose commit failed."""
MAX_UNANSWERED = 5_000
"""`behind`: frames a process may have unanswered before it waits for each answer."""
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
        self._kept: list[DeliveryRows] = []
        self._retry_at = 0.0
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
                if waiting or self._kept:
                    self._commit(waiting)
                if self._stopping:
                    self._retry_at = 0.0
                    self._commit([])  # a last try for rows kept after a failure
                    if self._kept:
                        log.error(
                            "shared writer: %d deliveries whose decisions had answered could "
                            "not be stored before the server stopped, and are lost",
                            sum(len(rows.deliveries) for rows in self._kept),
                        )
                    return
        finally:
            for peer in self._peers:
                peer.sock.close()
            self._selector.close()

    def _gather(self) -> list[_Frame]:
        """The next group: once something has arrived, what every process has sent,
        or what arrived within `linger_s`; when asked to stop, what has arrived; when
        rows are kept after a failure, nothing once it is time to retry them."""
        waiting: list[_Frame] = []
        deadline: float | None = None
        while True:
            if deadline is not None:
                timeout: float | None = max(0.0, deadline - time.perf_counter())
            elif self._kept:
                timeout = max(0.0, self._retry_at - time.perf_counter())
            else:
                timeout = None
            ready = self._selector.select(timeout)
            if not ready:
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
            if len({id(frame.peer) for frame in waiting}) >= len(self._peers):
                return waiting
            if deadline is None:
                deadline = time.perf_counter() + self._linger_s

    def _receive(self, peer: _Peer) -> list[_Frame]:
        try:
            return peer.receive()
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

    def _commit(self, waiting: list[_Frame]) -> None:
        """Store `waiting` in one transaction and answer each frame; before that, when
        it is time, retry the rows kept after a failure, in a transaction of their own."""
        if self._kept and time.perf_counter() >= self._retry_at:
            kept = DeliveryRows.merge(self._kept)
            if self._store(kept):
                log.warning(
                    "shared writer: stored %d deliveries kept after a failure",
                    len(kept.deliveries),
                )
                self._kept = []
            else:
                self._retry_at = time.perf_counter() + RETRY_S
        if not waiting:
            return
        stored = self._store(DeliveryRows.merge([frame.rows for frame in waiting]))
        if not stored:
            self._kept.extend(frame.rows for frame in waiting if frame.kind == KEEP)
            self._retry_at = time.perf_counter() + RETRY_S
        answer = STORED if stored else NOT_STORED
        for frame in waiting:
            with contextlib.suppress(OSError):  # a process that left reads no answer
                frame.peer.sock.send(answer)

    def _store(self, rows: DeliveryRows) -> bool:
        try:
            self._deliveries.write(rows)
        except Exception:  # every process waiting learns that nothing was stored
            log.exception("shared writer: %d deliveries were not stored", len(rows.deliveries))
            return False
        self.commits += 1
        return True


def _private_directory() -> Path:
    """A new directory only this user can open, short enough for a socket path (Unix
    socket paths are limited to about 100 bytes; a long TMPDIR falls back to /tmp)."""
    made = Path(tempfile.mkdtemp(prefix="fairview-"))
    if len(str(made)) > 80:
        made.rmdir()
        made = Path(tempfile.mkdtemp(prefix="fairview-", dir="/tmp"))
    return made


class _Frame(NamedTuple):
    peer: _Peer
    kind: int
    rows: DeliveryRows


class _Peer:
    """One server process's connection: the bytes received so far."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()

    def receive(self) -> list[_Frame]:
        """Read what has arrived; the complete frames, decoded. Raises when the
        process has gone (`ConnectionError`) or sent something that is not a frame."""
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("connection closed")
        self._buffer += data
        frames = []
        while len(self._buffer) >= _HEADER.size:
            length, kind = _HEADER.unpack_from(self._buffer)
            if length > MAX_FRAME or kind not in (ANSWER, KEEP):
                raise ValueError(f"a frame of {length} bytes, of kind {kind}")
            end = _HEADER.size + length
            if len(self._buffer) < end:
                break
            rows = DeliveryRows.from_json(bytes(self._buffer[_HEADER.size : end]))
            frames.append(_Frame(self, kind, rows))
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
                sock.sendall(_HEADER.pack(len(payload), ANSWER) + payload)
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
    """A server process's side on its event loop.

    `before_answer` (the default here): `await write(rows)` returns once the shared
    writer has committed them, and raises when it did not (or cannot be reached). One
    group is in flight at a time. What the process's requests add while it is
    travelling waits, and goes as the next group when the answer comes: the process's
    group commit, run on the event loop itself, without a writer thread to wake (and
    without handing the interpreter lock back and forth with one).

    `behind=True` (`FAIRVIEW_DELIVERY_COMMIT=behind`): `write` hands the rows over and
    returns; the rows handed over in one step of the event loop leave as one `KEEP`
    frame. It waits as above while the writer's last answer was "not stored", while
    the connection is being made, and while `MAX_UNANSWERED` frames are unanswered.
    """

    def __init__(
        self, path: str, timeout_s: float = ANSWER_TIMEOUT_S, *, behind: bool = False
    ) -> None:
        self._path = path
        self._timeout_s = timeout_s
        self._behind = behind
        self._link: _Link | None = None
        self._connecting = False
        self._waiting: list[tuple[DeliveryRows, asyncio.Future[None]]] = []
        self._answering = False
        """Whether a group whose callers wait is in flight."""
        self._handed: list[DeliveryRows] = []
        """`behind`: rows handed over in this step of the event loop, not yet sent."""
        self._sent: deque[list[asyncio.Future[None]] | None] = deque()
        """Per frame sent and not yet answered, in order: its waiting callers (`ANSWER`),
        or None (`KEEP`)."""
        self._failing = False
        self._deadline: asyncio.TimerHandle | None = None

    async def write(self, rows: DeliveryRows) -> None:
        if not rows:
            return
        if (
            self._behind
            and self._link is not None
            and not self._failing
            and len(self._sent) < MAX_UNANSWERED
        ):
            if not self._handed:
                asyncio.get_running_loop().call_soon(self._hand_over)
            self._handed.append(rows)
            return
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((rows, done))
        if self._link is None and not self._connecting:
            await self._connect()
        elif not self._answering and self._link is not None:
            self._send()
        await done

    async def drain(self, timeout_s: float = ANSWER_TIMEOUT_S) -> None:
        """Wait until every frame sent has been answered (a stopping process calls it,
        so that what it handed over is committed before it goes)."""
        if self._handed:
            self._hand_over()
        deadline = time.monotonic() + timeout_s
        while self._sent and self._link is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

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
        if self._link is not None and not self._answering:
            self._send()

    def _send(self) -> None:
        waiting = self._take_waiting()
        if not waiting:
            return
        self._answering = True
        self._frame(
            ANSWER, DeliveryRows.merge([rows for rows, _ in waiting]), [d for _, d in waiting]
        )

    def _hand_over(self) -> None:
        handed, self._handed = self._handed, []
        if not handed:
            return
        if self._link is None:  # lost since they were handed over
            log.error(
                "%d deliveries whose decisions had answered were not sent to the shared "
                "writer: the connection to it was lost",
                sum(len(rows.deliveries) for rows in handed),
            )
            return
        self._frame(KEEP, DeliveryRows.merge(handed), None)

    def _frame(
        self, kind: int, rows: DeliveryRows, callers: list[asyncio.Future[None]] | None
    ) -> None:
        assert self._link is not None
        payload = rows.to_json()
        self._link.transport.write(_HEADER.pack(len(payload), kind) + payload)
        self._sent.append(callers)
        if self._deadline is None:
            self._restart_deadline()

    def _take_waiting(self) -> list[tuple[DeliveryRows, asyncio.Future[None]]]:
        waiting, self._waiting = self._waiting, []
        return waiting

    def _answered(self, answer: int) -> None:
        callers = self._sent.popleft() if self._sent else []
        self._stop_deadline()
        if self._sent:
            self._restart_deadline()
        stored = answer == STORED[0]
        if not stored and not self._failing:
            log.warning(
                "the shared writer could not store a group of deliveries; decisions wait "
                "for the store (and answer 503 while it fails) until it can again"
            )
        self._failing = not stored
        if callers is not None:  # (KEEP: the writer keeps what it could not store)
            self._answering = False
            for done in callers:
                if done.done():
                    continue
                if stored:
                    done.set_result(None)
                else:
                    done.set_exception(NotStored())
        if self._waiting and not self._answering:
            self._send()

    def _restart_deadline(self) -> None:
        """No answer in time: the connection is dropped, which fails what waits."""
        assert self._link is not None
        self._deadline = asyncio.get_running_loop().call_later(
            self._timeout_s, self._link.transport.abort
        )

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        self._link = None
        self._answering = False
        error = exc or ConnectionError("the shared delivery writer closed the connection")
        unconfirmed = 0
        for callers in self._sent:
            if callers is None:
                unconfirmed += 1
                continue
            for done in callers:
                if not done.done():
                    done.set_exception(error)
        self._sent.clear()
        if unconfirmed:
            log.error(
                "the connection to the shared writer was lost with %d groups of answered "
                "decisions unconfirmed: their deliveries may not have been stored",
                unconfirmed,
            )
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
