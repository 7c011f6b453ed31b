"""The decision path's machinery: group commit on event loops, the dedicated delivery
writer, the catalog's row cache and kept index, the direct routes, and the server's
processes on one port."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from fairview.api.app import create_app
from fairview.clock import day_of
from fairview.consent.signals import RawSignals
from fairview.domain import BillingModel, DeliveryRecord, Targeting
from fairview.errors import FairviewError
from fairview.groupcommit import GroupCommit
from fairview.pseudonym import Pseudonymiser
from fairview.serve.decide import AdRequest, Decider, delivery_id
from fairview.storage import Store, open_store
from fairview.storage.catalog import CampaignSpec, CreativeSpec
from fairview.tokens import TokenSigner

from conftest import make_settings
from factories import DAY_MS, T0, campaign

KEY = "k" * 40


def _failure() -> Exception:
    return FairviewError("store_unavailable", "not stored", status=503)


def test_group_commit_answers_every_async_caller_in_one_wakeup_per_group() -> None:
    groups: list[list[int]] = []
    release = threading.Event()

    def commit(jobs: list[int]) -> list[int]:
        release.wait(5)  # the first group waits, so the others queue behind it
        groups.append(jobs)
        return [j * 10 for j in jobs]

    group: GroupCommit[int, int] = GroupCommit(commit, failure=_failure)

    async def main() -> list[int]:
        first = asyncio.ensure_future(group.run_async(0))
        await asyncio.sleep(0.05)  # the writer holds job 0
        rest = [asyncio.ensure_future(group.run_async(i)) for i in range(1, 50)]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.gather(first, *rest)

    try:
        assert asyncio.run(main()) == [i * 10 for i in range(50)]
    finally:
        group.close()
    assert groups[0] == [0]
    assert sorted(j for g in groups[1:] for j in g) == list(range(1, 50))
    assert len(groups) <= 3  # the 49 queued callers were committed together


def test_group_commit_failure_reaches_async_and_threaded_callers_alike() -> None:
    def commit(jobs: list[int]) -> list[int]:
        raise OSError("disk gone")

    group: GroupCommit[int, int] = GroupCommit(commit, failure=_failure)

    async def main() -> list[BaseException | int]:
        return await asyncio.gather(*(group.run_async(i) for i in range(5)), return_exceptions=True)

    try:
        answers = asyncio.run(main())
        with pytest.raises(FairviewError) as threaded:
            group.run(7)
    finally:
        group.close()
    assert all(isinstance(a, FairviewError) and a.code == "store_unavailable" for a in answers)
    assert threaded.value.code == "store_unavailable"


def test_group_commit_survives_a_caller_that_gave_up() -> None:
    gate = threading.Event()

    def commit(jobs: list[int]) -> list[int]:
        gate.wait(5)
        return jobs

    group: GroupCommit[int, int] = GroupCommit(commit, failure=_failure)

    async def main() -> int:
        impatient = asyncio.ensure_future(group.run_async(1))
        await asyncio.sleep(0.02)
        impatient.cancel()  # a client that disconnected: its job is still committed
        gate.set()
        return await group.run_async(2)

    try:
        assert asyncio.run(main()) == 2
    finally:
        group.close()


def _delivery(store: Store, n: int) -> DeliveryRecord:
    record, creative = campaign(store)
    return DeliveryRecord(
        delivery_id(T0 + n), record.id, creative.id, "feed", None, "EU-DE", "mobile",
        "contextual", creative.duration_ms, T0 + n, {"mode": "contextual"},
    )  # fmt: skip


def test_delivery_writer_rolls_back_a_failed_group_and_keeps_writing(store: Store) -> None:
    first, second = _delivery(store, 1), _delivery(store, 2)
    store.deliveries.record_many([first])
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        store.deliveries.record_many([second, first])  # first is already stored
    assert store.deliveries.get(second.id) is None  # nothing of the failed group
    store.deliveries.record_many([second])  # the same connection writes on
    stored = store.deliveries.get(second.id)
    assert stored is not None and stored.why == {"mode": "contextual"}


def test_delivery_writer_stores_consent_evidence_with_the_group(store: Store) -> None:
    from fairview.storage.consents import ConsentEvidence

    evidence = ConsentEvidence(
        "viewer-key", T0, "EU-DE", "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA", 10, 1, 5,
        None, False, "personalised", "A1",
    )  # fmt: skip
    store.deliveries.record_many([_delivery(store, 3)], [evidence])
    assert store.consents.latest("viewer-key") == evidence


def test_catalog_gives_back_the_same_records_until_a_row_changes(store: Store) -> None:
    record, _ = campaign(store)
    other, _ = campaign(store)
    day = day_of(T0)
    before = store.catalog.candidates(T0, day)
    again = store.catalog.candidates(T0, day)
    assert [c.campaign for c in again] == [c.campaign for c in before]
    assert all(a.campaign is b.campaign for a, b in zip(again, before, strict=True))
    store.catalog.set_targeting(record.id, Targeting(regions=("DE",)))
    after = {c.campaign.id: c.campaign for c in store.catalog.candidates(T0, day)}
    assert after[record.id].targeting.regions == ("DE",)
    assert after[other.id] is next(c.campaign for c in before if c.campaign.id == other.id)
    # flight dates are bound per call, not frozen in the cached statement
    assert store.catalog.candidates(T0 + 31 * DAY_MS, day_of(T0 + 31 * DAY_MS)) == []


def test_decider_keeps_its_index_while_the_catalog_is_unchanged(sqlite_store: Store) -> None:
    record, _ = campaign(sqlite_store)
    decider = Decider(sqlite_store, TokenSigner(KEY, 60_000), Pseudonymiser("p" * 40))
    request = AdRequest("feed", None, "EU-DE", "mobile", 1, RawSignals(region="EU-DE"))
    try:
        assert decider.choose(request, T0).ads
        index = decider._index(T0)
        assert decider._index(T0 + 5_000) is index  # refreshed, nothing changed
        sqlite_store.catalog.set_targeting(record.id, Targeting(regions=("FR",)))
        assert decider._index(T0 + 10_000) is not index
        assert not decider.choose(request, T0 + 10_000).ads  # DE no longer matches
    finally:
        decider.close()


def test_each_decider_refreshes_its_index_at_its_own_phase(sqlite_store: Store) -> None:
    campaign(sqlite_store)
    deciders = [
        Decider(sqlite_store, TokenSigner(KEY, 60_000), Pseudonymiser("p" * 40), index_phase_ms=p)
        for p in (0, 500)
    ]
    start = T0 - T0 % 1000 + 50  # just past the unshifted decider's period boundary
    try:
        for decider in deciders:
            decider._index(start)
        built = [lambda d=d: d._index_state[0] for d in deciders]  # type: ignore[index]
        for decider in deciders:
            decider._index(start + 400)
        assert [b() for b in built] == [start, start]  # both still in their periods
        for decider in deciders:
            decider._index(start + 600)  # the shifted decider's period ended at +450
        assert [b() for b in built] == [start, start + 600]
        for decider in deciders:
            decider._index(start + 960)  # the unshifted one's ended at +950
        assert [b() for b in built] == [start + 960, start + 600]
    finally:
        for decider in deciders:
            decider.close()
    phases = set()
    for _ in range(20):  # by default, each decider draws its own phase
        decider = Decider(sqlite_store, TokenSigner(KEY, 60_000), Pseudonymiser("p" * 40))
        phases.add(decider._index_phase_ms)
        decider.close()
    assert len(phases) > 1 and all(0 <= p < 1000 for p in phases)


def test_direct_routes_keep_their_documentation_and_their_errors() -> None:
    with TestClient(create_app(make_settings())) as client:
        schema = client.get("/openapi.json").json()
        decisions = schema["paths"]["/v1/decisions"]["post"]
        assert decisions["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/DecisionRequest"
        }
        assert "/v1/events" in schema["paths"]
        bad = client.post("/v1/decisions", content=b'{"placement": 5}')
        assert bad.status_code == 422
        assert bad.json()["error"] == "validation_error"
        assert client.post("/v1/events", content=b"nope").status_code in (400, 422)
        assert client.get("/v1/decisions").status_code == 405
        ok = client.post("/v1/decisions", json={"placement": "feed", "region": "EU-DE"})
        assert ok.status_code == 200 and "consent" in ok.json()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _accepted(pid: int, port: int) -> int:
    """How many established connections to `port` the process `pid` holds (Linux /proc)."""
    established = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            established.add(fields[9])  # the socket's inode
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            held.add(target[8:-1])
    return len(established & held)


def _wait(predicate: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(what)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _is_spawned(pid: int) -> bool:
    return "multiprocessing.spawn" in _cmdline(pid) and "resource_tracker" not in _cmdline(pid)


@pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT spreading is Linux's")
def test_serve_spreads_connections_over_its_processes_and_restarts_one(tmp_path: Path) -> None:
    port = _free_port()
    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    with closing(open_store(url)) as store:  # one campaign in flight now, so decisions serve ads
        now = int(time.time() * 1000)
        advertiser = store.catalog.create_advertiser("Acme", "EUR", now)[0].id
        spec = CampaignSpec("now", BillingModel.CPFV, 10, 10**9, None, now - DAY_MS, now + DAY_MS)
        live = store.catalog.create_campaign(advertiser, spec, now)
        spot = CreativeSpec("spot", 15_000, "https://cdn.example/a.mp4")
        store.catalog.add_creative(live.id, spot, now)
    env = {
        **os.environ,
        "FAIRVIEW_DATABASE_URL": url,
        "FAIRVIEW_TOKEN_SIGNING_KEY": KEY,
    }
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fairview", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: len([p for p in _children(proc.pid) if _is_spawned(p)]) == 2, 30, "no 2")
        servers = [p for p in _children(proc.pid) if _is_spawned(p)]

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(up, 60, "the server did not answer")
        clients = [httpx.Client(base_url=base, timeout=10) for _ in range(16)]
        served: list[str] = []
        for _ in range(5):
            for client in clients:  # 16 kept-alive connections, spread by the kernel
                answer = client.post("/v1/decisions", json={"placement": "feed"})
                assert answer.status_code == 200
                served += [ad["delivery"] for ad in answer.json()["ads"]]
        held = [_accepted(p, port) for p in servers]
        for client in clients:
            client.close()
        # each process accepted some of them (all 16 on one socket: chance 2 in 65,536)
        assert sum(held) == 16 and all(held), held
        # every ad either process served was stored, by the supervisor's shared writer,
        # within moments of its answer (FAIRVIEW_DELIVERY_COMMIT=behind, the default)
        with closing(open_store(url, upgrade=False)) as store:
            _wait(lambda: store.deliveries.count() == 80, 10, "not every delivery was stored")
            assert len(served) == 80
            assert all(store.deliveries.get(d) is not None for d in served)

        os.kill(servers[0], signal.SIGKILL)
        _wait(
            lambda: (
                len([p for p in _children(proc.pid) if _is_spawned(p)]) == 2
                and servers[0] not in _children(proc.pid)
            ),
            30,
            "the killed server process was not replaced",
        )
        _wait(up, 60, "the server did not answer after the restart")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        assert not [p for p in servers[1:] if Path(f"/proc/{p}").exists() and _cmdline(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert b"Traceback" not in (tmp_path / "serve.log").read_bytes()


def test_serve_says_so_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {
            **os.environ,
            "FAIRVIEW_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
            "FAIRVIEW_TOKEN_SIGNING_KEY": KEY,
        }
        port = str(taken.getsockname()[1])
        done = subprocess.run(
            [sys.executable, "-m", "fairview", "serve", "--port", port, "--workers", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
