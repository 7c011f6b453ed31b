"""Real Chromium and a real fairview server for the browser tests (SDK and web pages).

- `chromium()`: Debian's Chromium, started by us and driven over CDP with
  `no_defaults` (Playwright's own launch emulates focus for every page, which keeps
  every tab "visible" forever, so a real tab switch could not hide an ad).
- `live_server(app)`: the app under uvicorn on a free loopback port, in a thread.
- `generate_clip(path)`: a real VP8/Opus WebM made with ffmpeg.
- `axe_violations(page)`: axe-core (npm, tests/oracle) run in the page; the serious and
  critical violations.
- `screenshot(page, name)`: writes docs/screenshots/<name>.png (committed; README links).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import imageio_ffmpeg  # type: ignore[import-untyped]
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
)
AXE = ROOT / "tests" / "oracle" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing; install Debian's Chromium with `make browser`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def wait_for(condition: Callable[[], object], timeout_s: float, message: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


@contextmanager
def chromium() -> Iterator[Browser]:
    require_chromium()
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    process = subprocess.Popen(
        [str(CHROMIUM), *CHROMIUM_ARGS, "--remote-debugging-port=0", f"--user-data-dir={profile}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port_file = profile / "DevToolsActivePort"
    try:
        # Chromium creates the file before it writes the port into it: wait for both.
        wait_for(
            lambda: port_file.exists() and port_file.read_text().strip(),
            30,
            "Chromium did not open its DevTools port",
        )
        port = port_file.read_text().split()[0]
        with sync_playwright() as playwright:
            browser = playwright.chromium.connect_over_cdp(
                f"http://127.0.0.1:{port}", no_defaults=True
            )
            yield browser
            browser.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 15, "the fairview server did not start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def generate_clip(path: Path, seconds: int) -> Path:
    """A real `seconds`-long 320×240 VP8/Opus clip (the tone keeps it playing when hidden)."""
    lavfi = (f"testsrc=size=320x240:rate=25:duration={seconds}", f"sine=duration={seconds}")
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
        + [arg for source in lavfi for arg in ("-f", "lavfi", "-i", source)]
        + ["-c:v", "libvpx", "-b:v", "200k", "-deadline", "realtime", "-cpu-used", "8"]
        + ["-c:a", "libopus", "-b:a", "32k", str(path)],
        check=True,
        timeout=60,
    )
    return path


@cache
def _axe_source() -> str:
    if not AXE.exists():
        message = f"{AXE} is missing; install the npm oracles with `make oracle`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE.read_text(encoding="utf-8")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.x AA).

    The script is evaluated over CDP, which the page's Content-Security-Policy does
    not apply to, so the pages keep their strict policy under test.
    """
    page.evaluate(_axe_source())
    result: dict[str, Any] = page.evaluate(
        """async (WCAG_TAGS) => await axe.run(document, {
            runOnly: {type: "tag", values: WCAG_TAGS},
            resultTypes: ["violations"],
        })""",
        ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def assert_accessible(page: Page) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}: {violations}"


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as docs/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path
