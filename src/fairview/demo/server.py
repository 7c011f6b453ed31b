"""The demo's API server: a forked process on the second core, on the shared clock."""

from __future__ import annotations

import multiprocessing
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import httpx
import uvicorn

from fairview.api.app import SERVER_SWITCH_INTERVAL_S, create_app
from fairview.clock import ShiftedClock
from fairview.demo.model import DemoOptions
from fairview.settings import Settings
from fairview.storage import open_configured
from fairview.web.player import Flag, settle_continuously


@contextmanager
def serve_api(
    settings: Settings,
    clock: ShiftedClock,
    options: DemoOptions,
    settle_from: Flag | None = None,
) -> Iterator[tuple[multiprocessing.process.BaseProcess, str]]:
    """Serve the API from a forked process (the second core), sharing the demo clock.

    Once `settle_from` is set (a `multiprocessing` event), the server process also
    settles every second (`fairview.web.player.settle_continuously`), so that the demo
    player page shows its verdicts while the demo keeps serving.
    """
    port = options.port if options.serve else 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((options.host, port))
    except OSError as exc:
        raise SystemExit(
            f"cannot listen on {options.host}:{port} ({exc.strerror}); pass --port "
            "or stop what uses it"
        ) from None
    base_url = f"http://{options.host}:{sock.getsockname()[1]}"
    process = multiprocessing.get_context("fork").Process(
        target=_serve_forever,
        args=(settings, clock, sock, settle_from),
        name="fairview-demo-server",
        daemon=True,
    )
    process.start()
    sock.close()
    try:
        _wait_until_healthy(base_url, process)
        yield process, base_url
    finally:
        if process.is_alive():
            process.terminate()
        process.join(timeout=15)


def _serve_forever(
    settings: Settings, clock: ShiftedClock, sock: socket.socket, settle_from: Flag | None
) -> None:
    sys.setswitchinterval(SERVER_SWITCH_INTERVAL_S)  # as `fairview serve` does
    store = open_configured(settings, upgrade=False)
    app = create_app(settings, store=store, clock=clock)
    if settle_from is not None:
        settle_continuously(store, clock, settings, start=settle_from)
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, loop="uvloop", http="httptools", lifespan="on"
    )
    uvicorn.Server(config).run(sockets=[sock])


def _wait_until_healthy(base_url: str, process: multiprocessing.process.BaseProcess) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not process.is_alive():
            raise SystemExit("the demo server failed to start")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit("the demo server did not answer within 30 s")


def wait_forever(process: multiprocessing.process.BaseProcess) -> None:
    with suppress(KeyboardInterrupt):
        process.join()
