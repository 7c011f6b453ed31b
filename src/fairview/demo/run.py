"""`fairview demo`: run the whole demo, from a fresh store to the report."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console

from fairview.clock import ShiftedClock, SystemClock
from fairview.demo.audience import audience_phase
from fairview.demo.driver import buy, buy_demo_player, check_why, drive
from fairview.demo.faces import open_the_faces
from fairview.demo.model import DemoOptions, Run
from fairview.demo.report import build_report, print_summary
from fairview.demo.server import serve_api, wait_forever
from fairview.settings import Environment, Settings
from fairview.settle.worker import Settler
from fairview.sim import simulate
from fairview.storage import open_configured

DEMO_VENDOR_ID = 65_000
"""The demo's stand-in for a Global Vendor List id (no real vendor holds it), so that the
demo's TC strings can carry consent for fairview; a deployment sets its own."""


def run_demo(options: DemoOptions, console: Console | None = None) -> dict[str, Any]:
    """Run the whole demo; returns the report (also written to `options.report`)."""
    console = console or Console()
    options.database.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{options.database}{suffix}").unlink(missing_ok=True)
    settings = Settings(
        env=Environment.DEMO,
        database_url=f"sqlite:///{options.database}",
        tcf_vendor_id=DEMO_VENDOR_ID,
    )
    store = open_configured(settings)
    store.engine.dispose()  # no connection may cross the fork of the server process
    clock = ShiftedClock(SystemClock().now_ms())
    start = clock.now_ms()
    scenario = simulate(
        options.seed, users=options.users, start_ms=start + 60_000, span_ms=10 * 60_000
    )
    settle_from = multiprocessing.get_context("fork").Event()
    with serve_api(settings, clock, options, settle_from) as (server, base_url):
        run = Run()
        with httpx.Client(base_url=base_url, timeout=30) as http:
            buy_demo_player(http, settings, clock.now_ms(), base_url)
            # The first line once the server is up: the page that shows what fairview does.
            console.print(
                f"Open [bold]{base_url}/demo/player[/bold] to watch an ad and see its "
                "focused-view verdict and ledger entry appear"
                + ("." if options.serve else " (while the demo runs)."),
                soft_wrap=True,
            )
            buy(http, scenario, settings, clock, run)
        settler = Settler(store, clock, window_ms=settings.settle_window_s * 1000)
        drive(base_url, scenario, clock, settler, run, console)
        clock.advance_to(clock.now_ms() + settings.settle_window_s * 1000 + 60_000)
        settler.run_once()
        with httpx.Client(base_url=base_url, timeout=30) as http:
            admin = {"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"}
            stats = http.get("/v1/stats", headers=admin).json()["events"]
            why = check_why(http, settings, run, clock.now_ms())
            audience = audience_phase(http, store, scenario, settings, clock, run, options.seed)
            faces = open_the_faces(
                http, store, settings, clock, base_url, run.advertiser_key, run.consenting_adults
            )
        report = build_report(store, run, stats)
        report["why_this_ad"] = why
        report["audience"] = audience
        report["pages"] = faces.summary()
        options.report.write_text(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
        print_summary(console, report, run, options)
        settle_from.set()  # the report is written: the server may settle on its own now
        if options.serve:
            console.print(
                "\nServing fairview at [bold]" + base_url + "[/bold]. Every page, with how to "
                "get in:\n  " + "\n  ".join(faces.lines()) + "\nPress Ctrl-C to stop.",
                soft_wrap=True,
                highlight=False,
            )
            wait_forever(server)
    store.close()
    return report
