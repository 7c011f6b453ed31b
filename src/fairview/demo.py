"""`fairview demo`: a simulated platform driven through the real HTTP API, then settled.

The server runs in this process on the embedded engine, on a clock the driver
moves forward (simulated time runs faster than life); the traffic goes over
loopback HTTP exactly as players would send it. At the end every delivery is
final, the ledger is settled, and each verdict is compared with the simulator's
ground truth.
"""

from __future__ import annotations

import heapq
import multiprocessing
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fairview.api.app import SERVER_SWITCH_INTERVAL_S, create_app
from fairview.clock import ShiftedClock, SystemClock
from fairview.settings import Environment, Settings
from fairview.settle.worker import Settler
from fairview.sim import Batch, Playback, Scenario, simulate
from fairview.sim.fraud import RULE_VISIBLE
from fairview.storage import Store, open_store

HOUR_MS = 3_600_000


@dataclass
class DemoOptions:
    users: int = 300
    seed: int = 7
    serve: bool = True
    report: Path = Path("demo-report.json")
    host: str = "127.0.0.1"
    port: int = 8000
    database: Path = Path("var/demo.sqlite3")


@dataclass
class _Run:
    """What the driver saw, delivery by delivery."""

    playbacks: dict[str, Playback] = field(default_factory=dict)
    campaign_names: dict[str, str] = field(default_factory=dict)
    refused_creatives: list[str] = field(default_factory=list)
    events_posted: int = 0
    no_fill: int = 0
    advertiser_key: str = ""


def run_demo(options: DemoOptions, console: Console | None = None) -> dict[str, Any]:
    """Run the whole demo; returns the report (also written to `options.report`)."""
    console = console or Console()
    options.database.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{options.database}{suffix}").unlink(missing_ok=True)
    settings = Settings(env=Environment.DEMO, database_url=f"sqlite:///{options.database}")
    store = open_store(settings.database_url, synchronous=settings.sqlite_synchronous)
    store.engine.dispose()  # no connection may cross the fork of the server process
    clock = ShiftedClock(SystemClock().now_ms())
    start = clock.now_ms()
    scenario = simulate(
        options.seed, users=options.users, start_ms=start + 60_000, span_ms=10 * 60_000
    )
    with _server(settings, clock, options) as (server, base_url):
        run = _Run()
        with httpx.Client(base_url=base_url, timeout=30) as http:
            _buy(http, scenario, settings, clock, run)
        settler = Settler(store, clock, window_ms=settings.settle_window_s * 1000)
        _drive(base_url, scenario, clock, settler, run, console)
        clock.advance_to(clock.now_ms() + settings.settle_window_s * 1000 + 60_000)
        settler.run_once()
        with httpx.Client(base_url=base_url, timeout=30) as http:
            admin = {"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"}
            stats = http.get("/v1/stats", headers=admin).json()["events"]
        report = _report(store, run, stats)
        options.report.write_text(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
        _print_summary(console, report, run, options)
        if options.serve:
            console.print(
                f"\nServing the API at [bold]{base_url}[/bold] — OpenAPI docs at "
                f"{base_url}/docs. Advertiser key of the first demo advertiser: "
                f"{run.advertiser_key}\nPress Ctrl-C to stop."
            )
            _wait_forever(server)
    store.close()
    return report


@contextmanager
def _server(
    settings: Settings, clock: ShiftedClock, options: DemoOptions
) -> Iterator[tuple[multiprocessing.process.BaseProcess, str]]:
    """Serve the API from a forked process (the second core), sharing the demo clock."""
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
        args=(settings, clock, sock),
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


def _serve_forever(settings: Settings, clock: ShiftedClock, sock: socket.socket) -> None:
    sys.setswitchinterval(SERVER_SWITCH_INTERVAL_S)  # as `fairview serve` does
    store = open_store(
        settings.database_url, synchronous=settings.sqlite_synchronous, upgrade=False
    )
    app = create_app(settings, store=store, clock=clock)
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


def _wait_forever(process: multiprocessing.process.BaseProcess) -> None:
    with suppress(KeyboardInterrupt):
        process.join()


def _buy(
    http: httpx.Client, scenario: Scenario, settings: Settings, clock: ShiftedClock, run: _Run
) -> None:
    """Create every simulated advertiser, campaign and creative through the API."""
    admin = {"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"}
    now = clock.now_ms()
    flight = {"starts_at": _iso(now - HOUR_MS), "ends_at": _iso(now + 30 * 24 * HOUR_MS)}
    for adv in scenario.platform.advertisers:
        key = _ok(http.post("/v1/advertisers", json={"name": adv.name}, headers=admin))["api_key"]
        run.advertiser_key = run.advertiser_key or key
        auth = {"Authorization": f"Bearer {key}"}
        for spec in adv.campaigns:
            body = {
                "name": spec.name,
                "billing_model": spec.billing_model,
                "bid": spec.bid_minor,
                "budget_total": spec.total_budget_minor,
                "budget_daily": min(spec.daily_budget_minor, spec.total_budget_minor),
                **flight,
            }
            campaign = _ok(http.post("/v1/campaigns", json=body, headers=auth))
            run.campaign_names[campaign["id"]] = f"{adv.name} / {spec.name}"
            for creative in spec.creatives:
                r = http.post(
                    f"/v1/campaigns/{campaign['id']}/creatives",
                    headers=auth,
                    json={
                        "name": creative.name,
                        "duration_s": creative.duration_s,
                        "media_url": creative.media_url,
                    },
                )
                if r.status_code == 422:
                    run.refused_creatives.append(
                        f"{creative.name}: {r.json()['errors'][0]['detail']}"
                    )
                else:
                    _ok(r)


def _drive(
    base_url: str,
    scenario: Scenario,
    clock: ShiftedClock,
    settler: Settler,
    run: _Run,
    console: Console,
) -> None:
    """Replay requests and their event batches in simulated-time order.

    Everything due within a few simulated seconds is sent concurrently (never
    early), as many players would, which also lets the collector group its
    durable commits.
    """
    queue: list[tuple[int, int, str, Any]] = [
        (r.at_ms, i, "request", r) for i, r in enumerate(scenario.requests)
    ]
    heapq.heapify(queue)
    tie = len(queue)
    next_settle = queue[0][0] + _SETTLE_EVERY_MS if queue else 0
    clients = _ThreadClients(base_url)
    with _progress(console) as progress, ThreadPoolExecutor(_IN_FLIGHT) as pool:
        task = progress.add_task("ad requests", total=len(queue))
        while queue:
            window_end = queue[0][0] + _WINDOW_MS
            due = []
            while queue and queue[0][0] < window_end:
                due.append(heapq.heappop(queue))
            clock.advance_to(due[-1][0])
            if due[-1][0] >= next_settle:
                settler.run_once()
                next_settle = due[-1][0] + _SETTLE_EVERY_MS
            requests = [item for _, _, kind, item in due if kind == "request"]
            batches = [item for _, _, kind, item in due if kind == "batch"]
            posted = [pool.submit(_post_batch, clients, token, batch) for token, batch in batches]
            decided = [pool.submit(_request, clients, scenario, clock, r, run) for r in requests]
            run.events_posted += sum(sent.result() for sent in posted)
            for decision in decided:
                for token, batch in decision.result():
                    tie += 1
                    heapq.heappush(queue, (batch.send_at_ms, tie, "batch", (token, batch)))
            progress.advance(task, len(requests))
    clients.close()


_WINDOW_MS = 5_000
_SETTLE_EVERY_MS = 2 * 60_000
_IN_FLIGHT = 16


class _ThreadClients:
    """One keep-alive HTTP client per worker thread."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._local = threading.local()
        self._all: list[httpx.Client] = []
        self._lock = threading.Lock()

    def get(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(base_url=self._base_url, timeout=60)
            self._local.client = client
            with self._lock:
                self._all.append(client)
        return client

    def close(self) -> None:
        for client in self._all:
            client.close()


def _post_batch(clients: _ThreadClients, token: str, batch: Batch) -> int:
    _ok(clients.get().post("/v1/events", json={"token": token, "events": batch.events}))
    return len(batch.events)


def _request(
    clients: _ThreadClients, scenario: Scenario, clock: ShiftedClock, request: Any, run: _Run
) -> list[tuple[str, Batch]]:
    user = request.user
    body = {
        "placement": "feed",
        "user_ref": user.user_ref,
        "region": user.region,
        "device": user.device,
    }
    ads = _ok(clients.get().post("/v1/decisions", json=body))["ads"]
    if not ads:
        run.no_fill += 1
        return []
    ad = ads[0]
    playback = scenario.play(
        request,
        delivery=ad["delivery"],
        duration_s=ad["creative"]["duration_s"],
        issued_at_ms=clock.now_ms(),
    )
    run.playbacks[ad["delivery"]] = playback
    token = _tamper(ad["token"]) if playback.tamper_token else ad["token"]
    return [(token, batch) for batch in playback.batches]


def _tamper(token: str) -> str:
    head, body, signature = token.split(".")
    return f"{head}.{body}.{signature[::-1]}"


def _report(store: Store, run: _Run, stats: dict[str, int]) -> dict[str, Any]:
    verdicts = store.settlement.verdicts()
    agree = honest_agree = honest = 0
    tp = fp = fn = 0
    for delivery, playback in run.playbacks.items():
        v, truth = verdicts[delivery], playback.truth
        same = bool(v["focused_view"]) == truth.focused_view and bool(v["invalid"]) == truth.invalid
        if not truth.invalid and same:
            same = v["qualified_by"] == truth.qualified_by and _viewable_matches(v, truth.viewable)
        agree += same
        if not truth.invalid:
            honest += 1
            honest_agree += same
        flagged = bool(v["invalid"])
        tp += flagged and truth.invalid
        fp += flagged and not truth.invalid
        fn += (not flagged) and truth.invalid
    deliveries = len(run.playbacks)
    spend = store.settlement.spend_by_campaign()
    invalid_kinds = Counter(p.truth.invalid_kind for p in run.playbacks.values() if p.truth.invalid)
    return {
        "events_sent": run.events_posted,
        "events_accepted": stats["accepted"],
        "events_duplicate": stats["duplicates"],
        "events_rejected": stats["rejected"],
        "deliveries": deliveries,
        "no_fill_requests": run.no_fill,
        "focused_views": sum(bool(v["focused_view"]) for v in verdicts.values()),
        "viewable": sum(v["viewability"] == "viewable" for v in verdicts.values()),
        "invalid_deliveries": sum(bool(v["invalid"]) for v in verdicts.values()),
        "spend_by_campaign": {run.campaign_names[c]: spend.get(c, 0) for c in run.campaign_names},
        "ground_truth_focused_views": sum(p.truth.focused_view for p in run.playbacks.values()),
        "agreement": round(agree / deliveries, 6) if deliveries else None,
        "agreement_honest": round(honest_agree / honest, 6) if honest else None,
        "invalid_traffic": {
            "precision": round(tp / (tp + fp), 6) if tp + fp else None,
            "recall": round(tp / (tp + fn), 6) if tp + fn else None,
            "recall_rule_visible": _recall_visible(run, verdicts),
            "by_kind": dict(sorted((str(k), n) for k, n in invalid_kinds.items())),
        },
        "refused_creatives": run.refused_creatives,
    }


def _recall_visible(run: _Run, verdicts: dict[str, dict[str, Any]]) -> float | None:
    visible = [d for d, p in run.playbacks.items() if p.truth.invalid_kind in RULE_VISIBLE]
    if not visible:
        return None
    return round(sum(bool(verdicts[d]["invalid"]) for d in visible) / len(visible), 6)


def _viewable_matches(verdict: dict[str, Any], truth: bool | None) -> bool:
    expected = {True: "viewable", False: "not_viewable", None: "undetermined"}[truth]
    return bool(verdict["viewability"] == expected)


def _print_summary(
    console: Console, report: dict[str, Any], run: _Run, options: DemoOptions
) -> None:
    from rich.table import Table

    table = Table(title="fairview demo", show_header=False)
    for label, key in (
        ("events sent", "events_sent"),
        ("accepted", "events_accepted"),
        ("duplicates", "events_duplicate"),
        ("rejected", "events_rejected"),
        ("deliveries", "deliveries"),
        ("focused views", "focused_views"),
        ("ground-truth focused views", "ground_truth_focused_views"),
        ("MRC-viewable", "viewable"),
        ("invalid deliveries", "invalid_deliveries"),
        ("agreement with ground truth", "agreement"),
        ("agreement, honest traffic", "agreement_honest"),
    ):
        table.add_row(label, str(report[key]))
    ivt = report["invalid_traffic"]
    table.add_row("invalid traffic precision / recall", f"{ivt['precision']} / {ivt['recall']}")
    table.add_row("recall of rule-visible fraud", str(ivt["recall_rule_visible"]))
    console.print(table)
    spend = Table("campaign", "spend (minor units)", title="Ledger")
    for name, amount in report["spend_by_campaign"].items():
        spend.add_row(name, str(amount))
    console.print(spend)
    for line in run.refused_creatives:
        console.print(f"[yellow]creative refused by the API[/yellow] {line}")
    console.print(f"report written to {options.report}")


@contextmanager
def _progress(console: Console) -> Iterator[Progress]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        yield progress


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    return response.json()


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
