"""The `fairview` command: serve, settle, qualify, demo, migrate."""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from fairview.settings import Settings

app = typer.Typer(
    help="fairview: attention-qualified video advertising, private by construction.",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Server processes; one per core is a good start.")
    ] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs). Access logs are off: no client addresses."""
    import uvicorn

    _settings()  # fail here, with a clear message, on a bad configuration
    uvicorn.run(
        "fairview.api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from fairview.storage import open_store

    settings = _settings()
    open_store(settings.database_url).close()
    err.print("schema is up to date")


@app.command()
def settle(
    watch: Annotated[bool, typer.Option(help="Keep settling every --interval seconds.")] = False,
    interval: Annotated[float, typer.Option(min=0.1)] = 5.0,
) -> None:
    """Consume the event log, qualify final deliveries and post ledger entries."""
    from fairview.clock import SystemClock
    from fairview.settle.worker import Settler
    from fairview.storage import open_store

    settings = _settings()
    store = open_store(settings.database_url, synchronous=settings.sqlite_synchronous)
    settler = Settler(store, SystemClock(), window_ms=settings.settle_window_s * 1000)
    while True:
        report = settler.run_once()
        print(orjson.dumps(asdict(report)).decode(), flush=True)
        if not watch:
            return
        time.sleep(interval)


@app.command()
def qualify(
    file: Annotated[str, typer.Argument(help="JSON Lines of playback events; '-' for stdin.")],
) -> None:
    """Print one focused-view verdict per delivery (format: docs/qualify.md)."""
    if file != "-" and not Path(file).is_file():
        err.print(f"[red]no such file:[/red] {file}")
        raise typer.Exit(2)
    from fairview.attention.jsonl import qualify_lines

    failed = False
    with ExitStack() as stack:
        stream = (
            sys.stdin
            if file == "-"
            else stack.enter_context(Path(file).open(encoding="utf-8", errors="replace"))
        )
        for obj in qualify_lines(stream):
            failed = failed or "error" in obj
            sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    if failed:
        raise typer.Exit(1)


@app.command()
def demo(
    users: Annotated[int, typer.Option(min=1, max=100_000, help="Simulated viewers.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the simulated platform.")] = 7,
    serve: Annotated[bool, typer.Option(help="Keep serving the API afterwards.")] = True,
    report: Annotated[Path, typer.Option(help="Where to write the JSON report.")] = Path(
        "demo-report.json"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
) -> None:
    """Simulate a platform through the real HTTP API, settle, and compare with ground truth."""
    from fairview.demo import DemoOptions, run_demo

    run_demo(DemoOptions(users=users, seed=seed, serve=serve, report=report, port=port))


def main() -> None:
    app()
