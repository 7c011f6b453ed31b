"""Run the HTTP API in one or several processes, each with its own listening socket.

uvicorn's `--workers` shares one listening socket between its processes. Whichever
process wakes first accepts every connection waiting, so under load one process
serves most connections while the other cores idle: with 16 keep-alive connections
on two workers we measured 417 µs of CPU per request in one process and 4 µs in the
other (docs/benchmarks.md). Here each process binds its own socket to the same port
with `SO_REUSEPORT`, and the kernel spreads new connections over the sockets (by a
hash of the client's address and port), as nginx's `reuseport` does.

The supervisor keeps the sockets open, restarts a process that dies, and on SIGINT
or SIGTERM asks every process to finish its requests and stop. It also runs the one
writer of the decisions' delivery records (`fairview.storage.shared_writer`): the
processes send it their groups and it commits them together, so they do not queue
for the database's write lock one fsync after another.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

from fairview.api.app import app_from_environment
from fairview.api.coalesce import CoalescingHttpToolsProtocol
from fairview.settings import Settings
from fairview.storage import open_configured
from fairview.storage.shared_writer import SharedWriter

log = logging.getLogger("fairview.server")

APP = "fairview.api.app:app_from_environment"
STOP_TIMEOUT_S = 30.0
"""How long a process may take to finish its requests after SIGTERM before it is killed."""


def _config(host: str, port: int, shared_writer: str | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        functools.partial(app_from_environment, shared_writer) if shared_writer else APP,
        factory=True,
        host=host,
        port=port,
        access_log=False,  # no client addresses in logs
        loop="uvloop",
        http=CoalescingHttpToolsProtocol,
        lifespan="on",
    )


def serve(host: str, port: int, workers: int) -> None:
    """Serve until SIGINT or SIGTERM; `workers` processes, each on its own socket.

    One worker runs the same way, supervised, with the same shared writer, so that
    the server behaves the same whatever the count (`FAIRVIEW_DELIVERY_COMMIT`, a
    process restarted when it dies)."""
    # Migrated once, here, before the processes start (each would race to migrate).
    store = open_configured(Settings(), background_checkpoint=True)
    try:
        first = listening_socket(host, port)
        port = first.getsockname()[1]  # with port 0 the first socket chose one
        sockets = [first, *(listening_socket(host, port) for _ in range(workers - 1))]
        with SharedWriter(store.deliveries) as writer:
            # What the supervisor holds now lives as long as it does; a full collection
            # walking it paused the writer thread for 150-175 ms (measured with
            # `gc.callbacks` under load), and every process's decisions with it.
            gc.collect()
            gc.freeze()
            supervisor = Supervisor(
                host, port, sockets, shared_writer=writer.path, healthy=writer.alive
            )
            supervisor.run()
    finally:
        store.close()
    if supervisor.failed:
        raise SystemExit(1)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) with SO_REUSEPORT, so that several can be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _run_worker(host: str, port: int, sock: socket.socket, shared_writer: str | None) -> None:
    """One server process, on its own socket (runs in a spawned process)."""
    _end_with_parent()
    uvicorn.Server(_config(host, port, shared_writer)).run(sockets=[sock])


def _end_with_parent() -> None:
    """Linux: have the kernel send this process SIGTERM if the supervisor dies, even by
    SIGKILL, so that no server process outlives it holding the port."""
    if sys.platform != "linux":
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() == 1:  # the supervisor died before the call
        os.kill(os.getpid(), signal.SIGTERM)


class Supervisor:
    """Starts one process per socket, restarts any that dies, stops all on a signal."""

    def __init__(
        self,
        host: str,
        port: int,
        sockets: list[socket.socket],
        *,
        shared_writer: str | None = None,
        healthy: Callable[[], bool] = lambda: True,
    ) -> None:
        self._host = host
        self._shared_writer = shared_writer
        self._healthy = healthy
        self.failed = False
        """Whether it stopped because `healthy` said no (the shared writer died)."""
        self._port = port
        self._sockets = sockets
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._stop = threading.Event()

    def run(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        self._processes = [self._start(i) for i in range(len(self._sockets))]
        log.info("serving on %s:%d with %d processes", self._host, self._port, len(self._sockets))
        while not self._stop.wait(0.5):
            if not self._healthy():
                log.error("the shared delivery writer stopped; stopping the server")
                self.failed = True
                break
            for i, process in enumerate(self._processes):
                if not process.is_alive() and not self._stop.is_set():
                    log.warning("server process %d exited (%s); restarting", i, process.exitcode)
                    self._processes[i] = self._start(i)
        self._stop_all()

    def _start(self, i: int) -> BaseProcess:
        process = self._context.Process(
            target=_run_worker,
            args=(self._host, self._port, self._sockets[i], self._shared_writer),
            name=f"fairview-server-{i}",
        )
        process.start()
        return process

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop.set()

    def _stop_all(self) -> None:
        for process in self._processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes open requests, then exits
        for process in self._processes:
            process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join()
        for sock in self._sockets:
            sock.close()
