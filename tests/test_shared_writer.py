"""The serving path's shared pieces: the supervisor's delivery writer and its clients,
the coalescing HTTP transport, the delivery ids' random parts, and FastAPI's telemetry
staying off. Real sockets, real event loops, real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import struct
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from fairview.api.app import create_app
from fairview.api.coalesce import CoalescingHttpToolsProtocol, CoalescingTransport
from fairview.consent.signals import RawSignals
from fairview.domain import DeliveryRecord
from fairview.errors import FairviewError
from fairview.pseudonym import Pseudonymiser
from fairview.serve.decide import AdRequest, Decider, _random_part, delivery_id
from fairview.storage import Store
from fairview.storage.deliveries import DeliveryRows
from fairview.storage.shared_writer import (
    AsyncSharedWriter,
    NotStored,
    SharedWriter,
    SharedWriterClient,
)
from fairview.tokens import TokenSigner

from conftest import make_settings
from factories import T0, campaign


def _rows(store: Store, n: int, *, first: int = 0) -> tuple[DeliveryRows, list[str]]:
    record, creative = campaign(store)
    deliveries = [
        DeliveryRecord(
            delivery_id(T0 + i),
            record.id,
            creative.id,
            "feed",
            None,
            "EU-DE",
            "mobile",
            "contextual",
            creative.duration_ms,
            T0 + i,
            {"mode": "contextual"},
        )
        for i in range(first, first + n)
    ]
    return DeliveryRows.of(deliveries), [d.id for d in deliveries]


def _stored(store: Store, ids: list[str]) -> int:
    return sum(store.deliveries.get(i) is not None for i in ids)


def test_rows_merge_sums_the_counts_and_survive_json() -> None:
    a = DeliveryRows([("d1",)], [("d1",)], [("c2", "2026-11-23", 1), ("c1", "2026-11-23", 2)], [])
    b = DeliveryRows([("d2",)], [("d2",)], [("c1", "2026-11-23", 3)], [("e",)])
    merged = DeliveryRows.merge([a, b])
    assert merged.issued == [("c1", "2026-11-23", 5), ("c2", "2026-11-23", 1)]  # sorted
    assert [r[0] for r in merged.deliveries] == ["d1", "d2"] and len(merged.evidence) == 1
    back = DeliveryRows.from_json(merged.to_json())
    assert back.issued == merged.issued and [list(r) for r in merged.deliveries] == back.deliveries
    assert not DeliveryRows([], [], [], []) and back


def test_two_processes_groups_share_one_commit(store: Store) -> None:
    first, first_ids = _rows(store, 3)
    second, second_ids = _rows(store, 2, first=10)
    with SharedWriter(store.deliveries, linger_s=5.0) as writer:
        clients = [SharedWriterClient(writer.path) for _ in range(2)]
        for client in clients:  # both connected before either writes
            client._connected()
        _wait(lambda: len(writer._peers) == 2)
        threads = [
            threading.Thread(target=c.write, args=(rows,))
            for c, rows in zip(clients, (first, second), strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        # the first group waited (up to 5 s) for the other process's: one transaction
        assert writer.commits == 1
        for client in clients:
            client.close()
    assert _stored(store, first_ids + second_ids) == 5
    day_counts = store.settlement.pacing_inputs(_day(T0))
    assert sum(i.pending_today for i in day_counts.values()) == 5


def test_a_failed_group_answers_not_stored_and_the_writer_goes_on(store: Store) -> None:
    rows, ids = _rows(store, 2)
    with SharedWriter(store.deliveries, linger_s=0) as writer:
        client = SharedWriterClient(writer.path)
        client.write(rows)
        with pytest.raises(NotStored):
            client.write(rows)  # the same ids again: the transaction fails, nothing is kept
        more, more_ids = _rows(store, 1, first=5)
        client.write(more)  # the same connection, the next group
        client.close()
    assert _stored(store, ids + more_ids) == 3


def test_a_broken_peer_is_dropped_and_the_others_are_served(sqlite_store: Store) -> None:
    rows, ids = _rows(sqlite_store, 1)
    with SharedWriter(sqlite_store.deliveries, linger_s=0) as writer:
        with socket.socket(socket.AF_UNIX) as broken:
            broken.connect(writer.path)
            broken.sendall(struct.pack("!IB", 1 << 31, 0))  # not a frame anybody sends
            assert broken.recv(1) == b""  # disconnected
        with socket.socket(socket.AF_UNIX) as garbled:
            garbled.connect(writer.path)
            garbled.sendall(struct.pack("!IB", 3, 0) + b"{x]")  # not JSON
            assert garbled.recv(1) == b""
        with socket.socket(socket.AF_UNIX) as unknown:
            unknown.connect(writer.path)
            unknown.sendall(struct.pack("!IB", 2, 7) + b"[]")  # no such kind of frame
            assert unknown.recv(1) == b""
        client = SharedWriterClient(writer.path)
        client.write(rows)
        client.close()
    assert _stored(sqlite_store, ids) == 1


def test_async_writes_on_one_loop_go_in_groups(store: Store) -> None:
    groups = [_rows(store, 1, first=i) for i in range(40)]
    with SharedWriter(store.deliveries, linger_s=0) as writer:

        async def main() -> None:
            remote = AsyncSharedWriter(writer.path)
            await remote.write(groups[0][0])  # connected
            await asyncio.gather(*(remote.write(rows) for rows, _ in groups[1:]))
            remote.close()

        asyncio.run(main())
        # the first of the 39 goes at once; the 38 others wait for its answer and go
        # together as the next group
        assert writer.commits == 3
    assert _stored(store, [i for _, ids in groups for i in ids]) == 40


def test_async_writer_failures_reach_every_waiting_caller(
    sqlite_store: Store, short_dir: Path
) -> None:
    rows, _ = _rows(sqlite_store, 1)

    async def unreachable() -> None:
        await AsyncSharedWriter(str(short_dir / "nobody.sock")).write(rows)

    with pytest.raises(FileNotFoundError):
        asyncio.run(unreachable())

    with SharedWriter(sqlite_store.deliveries, linger_s=0) as writer:

        async def twice() -> list[Any]:
            remote = AsyncSharedWriter(writer.path)
            await remote.write(rows)
            again = await asyncio.gather(
                remote.write(rows), remote.write(rows), return_exceptions=True
            )
            remote.close()
            return again

        assert [type(e) for e in asyncio.run(twice())] == [NotStored, NotStored]


def test_decider_answers_503_when_the_shared_writer_does_not_store(
    sqlite_store: Store, short_dir: Path
) -> None:
    campaign(sqlite_store)
    decider = Decider(
        sqlite_store,
        TokenSigner("k" * 40, 60_000),
        Pseudonymiser("p" * 32),
        write_rows_async=AsyncSharedWriter(str(short_dir / "gone.sock")).write,
    )
    request = AdRequest("feed", None, "EU-DE", "mobile", 1, RawSignals(region="EU-DE"))

    with pytest.raises(FairviewError) as raised:
        asyncio.run(decider.decide_async(request, T0))
    assert raised.value.code == "store_unavailable" and raised.value.status == 503
    decider.close()


class _Recording:
    """A transport that records each write (the coalescing transport's far side)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


def test_writes_within_one_loop_step_leave_as_one() -> None:
    async def main() -> _Recording:
        far = _Recording()
        near = CoalescingTransport(far, asyncio.get_running_loop())  # type: ignore[arg-type]
        near.write(b"HTTP/1.1 200 OK\r\n\r\n")
        near.write(b"body")
        assert far.writes == [] and near.get_write_buffer_size() == 23
        await asyncio.sleep(0)
        assert far.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
        near.write(b"last")
        near.close()  # flushes first
        assert far.writes[-1] == b"last" and far.closed
        assert near.get_extra_info("peername") == ("127.0.0.1", 1)
        return far

    asyncio.run(main())


def test_coalescing_protocol_serves_http_as_uvicorn_does() -> None:
    app = create_app(make_settings())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        app, port=port, http=CoalescingHttpToolsProtocol, loop="uvloop", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait(lambda: server.started, 20)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(3):  # kept alive
                assert client.get("/healthz").status_code == 200
                decided = client.post("/v1/decisions", json={"placement": "feed"})
                assert decided.status_code == 200 and "consent" in decided.json()
            assert client.head("/healthz").status_code in (200, 405)
            big = client.get("/sdk/fairview-player.js")
            assert big.status_code == 200 and len(big.content) > 1000
            assert client.post("/v1/decisions", content=b"{").status_code == 422
        with socket.create_connection(("127.0.0.1", port)) as raw:  # Connection: close
            raw.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            answer = b""
            while chunk := raw.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"}")
    finally:
        server.should_exit = True
        thread.join(20)


def test_random_parts_are_unique_and_a_forked_child_draws_its_own() -> None:
    parts = {_random_part() for _ in range(5000)}
    assert len(parts) == 5000 and all(len(p) == 16 for p in parts)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what it draws next must not be what the parent draws next
        os.write(write, _random_part().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 16).decode()
    os.close(read)
    os.close(write)
    assert child != _random_part()


def test_fastapi_telemetry_stays_off_with_a_global_tracer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry import trace

    started: list[str] = []

    class Tracer(trace.NoOpTracer):
        def start_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
            started.append(name)
            return super().start_span(name, *args, **kwargs)

    class Provider(trace.TracerProvider):
        def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
            return Tracer()

    monkeypatch.setattr(trace, "get_tracer_provider", lambda: Provider())
    with TestClient(create_app(make_settings())) as client:
        assert client.get("/v1/vast", params={"placement": "feed", "gdpr": "1"}).status_code
    assert started == []


@pytest.fixture
def short_dir() -> Any:
    """A directory with a short path: Unix socket paths are limited to ~100 bytes, and
    pytest's tmp_path can be longer."""
    made = Path(tempfile.mkdtemp(prefix="fv-", dir="/tmp"))
    yield made
    shutil.rmtree(made, ignore_errors=True)


def _wait(predicate: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _day(ms: int) -> str:
    from fairview.clock import day_of

    return day_of(ms)


def test_an_unanswered_group_fails_after_the_timeout(short_dir: Path) -> None:
    path = str(short_dir / "silent.sock")
    rows = DeliveryRows([("d",)], [("d",)], [("c", "2026-11-23", 1)], [])
    with socket.socket(socket.AF_UNIX) as silent:  # accepts, reads, never answers
        silent.bind(path)
        silent.listen()

        async def main() -> float:
            began = time.monotonic()
            with pytest.raises(ConnectionError):
                await AsyncSharedWriter(path, timeout_s=0.3).write(rows)
            return time.monotonic() - began

        assert 0.25 < asyncio.run(main()) < 5


def test_the_supervisor_stops_when_the_shared_writer_has_stopped() -> None:
    from fairview.api.server import Supervisor

    handlers = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)}
    supervisor = Supervisor("127.0.0.1", 0, [], healthy=lambda: False)
    try:
        supervisor.run()
    finally:
        for n, handler in handlers.items():
            signal.signal(n, handler)
    assert supervisor.failed


def test_stopping_commits_what_has_arrived(sqlite_store: Store) -> None:
    rows, ids = _rows(sqlite_store, 2)
    writer = SharedWriter(sqlite_store.deliveries, linger_s=60.0).start()
    active = SharedWriterClient(writer.path)
    with socket.socket(socket.AF_UNIX) as idle:
        idle.connect(writer.path)  # a second process that sends nothing: the writer lingers
        answered = threading.Thread(target=active.write, args=(rows,))
        answered.start()
        time.sleep(0.5)  # the group has arrived; the writer waits for the idle process's
        writer.close()
        answered.join(10)
        active.close()
    assert not answered.is_alive() and _stored(sqlite_store, ids) == 2


class _Failing:
    """The store's deliveries, with a switch that makes every commit fail (the database
    is down); what goes through is written to the real store."""

    def __init__(self, store: Store) -> None:
        self._deliveries = store.deliveries
        self.down = False
        self.attempts = 0

    def write(self, rows: DeliveryRows) -> None:
        self.attempts += 1
        if self.down:
            raise ConnectionError("the database is down")
        self._deliveries.write(rows)


def test_behind_answers_before_the_commit_and_stopping_stores_it(sqlite_store: Store) -> None:
    rows, ids = _rows(sqlite_store, 3)
    writer = SharedWriter(sqlite_store.deliveries, linger_s=60.0).start()
    idle = socket.socket(socket.AF_UNIX)

    async def main() -> int:
        remote = AsyncSharedWriter(writer.path, behind=True)
        await remote.write(_rows(sqlite_store, 1, first=50)[0])  # connects, waits
        idle.connect(writer.path)  # a second process that sends nothing: the writer lingers
        _wait(lambda: len(writer._peers) == 2)
        began = time.monotonic()
        await asyncio.wait_for(remote.write(rows), 5)  # returns without the commit
        assert time.monotonic() - began < 1
        await asyncio.sleep(0.1)  # the frame leaves on the next step of the loop
        stored_then = _stored(sqlite_store, ids)
        remote.close()
        return stored_then

    try:
        assert asyncio.run(main()) == 0
        writer.close()  # commits what has arrived
    finally:
        idle.close()
    assert _stored(sqlite_store, ids) == 3


def test_behind_keeps_what_failed_retries_it_and_waits_while_the_store_fails(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fairview.storage.shared_writer.RETRY_S", 0.05)
    deliveries = _Failing(store)
    handed, handed_ids = _rows(store, 2)
    during, during_ids = _rows(store, 1, first=10)
    after, after_ids = _rows(store, 1, first=20)
    with SharedWriter(deliveries, linger_s=0) as writer:  # type: ignore[arg-type]

        async def main() -> None:
            remote = AsyncSharedWriter(writer.path, behind=True)
            await remote.write(_rows(store, 1, first=30)[0])  # connects (and waits)
            deliveries.down = True
            await remote.write(handed)  # answered at once; its commit fails
            for _ in range(200):  # the writer's "not stored" arrives
                if remote._failing:
                    break
                await asyncio.sleep(0.01)
            assert remote._failing
            with pytest.raises(NotStored):
                await remote.write(during)  # now the decision waits, and hears the failure
            attempts = deliveries.attempts
            await asyncio.sleep(0.3)
            assert deliveries.attempts > attempts  # the kept rows are tried again
            deliveries.down = False
            await remote.write(after)  # waits once more, is stored: behind again
            assert not remote._failing
            remote.close()

        asyncio.run(main())
        _wait(lambda: _stored(store, handed_ids) == 2)
    assert _stored(store, after_ids) == 1
    assert _stored(store, during_ids) == 0  # its request was told 503: not kept


def test_kept_rows_that_never_store_do_not_hold_up_new_ones_and_are_reported(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("fairview.storage.shared_writer.RETRY_S", 0.05)
    rows, _ = _rows(sqlite_store, 2)
    with SharedWriter(sqlite_store.deliveries, linger_s=0) as writer:

        async def main() -> None:
            remote = AsyncSharedWriter(writer.path, behind=True)
            await remote.write(rows)  # connects and stores them
            await remote.write(rows)  # the same ids again: this commit can never succeed
            await asyncio.sleep(0.3)  # kept, retried, failing each time
            assert remote._failing
            more, more_ids = _rows(sqlite_store, 3, first=40)
            await remote.write(more)  # waits after the failure, and is stored all the same
            assert _stored(sqlite_store, more_ids) == 3 and not remote._failing
            remote.close()

        with caplog.at_level("ERROR", logger="fairview.shared_writer"):
            asyncio.run(main())
            writer.close()
    assert "2 deliveries whose decisions had answered could not be stored" in caplog.text


def test_drain_waits_until_what_was_handed_over_is_answered(sqlite_store: Store) -> None:
    rows, ids = _rows(sqlite_store, 4)
    with SharedWriter(sqlite_store.deliveries, linger_s=0) as writer:

        async def main() -> None:
            remote = AsyncSharedWriter(writer.path, behind=True)
            await remote.write(_rows(sqlite_store, 1, first=90)[0])
            await remote.write(rows)
            await remote.drain()
            assert not remote._sent
            remote.close()

        asyncio.run(main())
        assert _stored(sqlite_store, ids) == 4  # while the writer still runs
