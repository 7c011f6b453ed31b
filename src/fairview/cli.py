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

from fairview.accountability.cli import register as register_audit
from fairview.audience.cli import cohorts_app, jobs_app
from fairview.eval.cli import app as eval_app
from fairview.report.cli import register as register_repository
from fairview.rights.cli import register as register_rights
from fairview.serve.model_cli import app as model_app
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
    """Serve the HTTP API (OpenAPI docs at /docs). Access logs are off: no client addresses.

    Each process listens on its own socket (SO_REUSEPORT), so the kernel spreads
    connections evenly over them, and the supervisor commits every process's delivery
    records in shared transactions. A decision answers once its records are handed to
    that writer (FAIRVIEW_DELIVERY_COMMIT=behind), or once they are committed
    (before_answer); docs/serving.md.
    """
    from fairview.api.server import serve as run_server

    _settings()  # fail here, with a clear message, on a bad configuration
    try:
        run_server(host, port, workers)
    except OSError as exc:  # the address is taken, or not this machine's
        err.print(f"[red]cannot listen on {host}:{port}:[/red] {exc.strerror or exc}")
        raise typer.Exit(1) from None


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
    from fairview.storage import open_configured

    settings = _settings()
    store = open_configured(settings)
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


def _tcf_app() -> typer.Typer:
    from fairview.consent.cli import app as tcf

    return tcf


app.add_typer(_tcf_app(), name="tcf", help="Decode and encode IAB TCF v2.2/2.3 TC strings.")

consent_app = typer.Typer(help="Consent signals and the decision they allow.", no_args_is_help=True)
app.add_typer(consent_app, name="consent")
app.add_typer(model_app, name="model")
app.add_typer(jobs_app, name="jobs")
app.add_typer(cohorts_app, name="cohorts")
app.add_typer(eval_app, name="eval")
register_rights(app, jobs_app)
register_audit(app)
register_repository(jobs_app)


@consent_app.command("decide")
def consent_decide(
    region: Annotated[str, typer.Option(help="Coarse region, e.g. EU-DE, GB, US-CA.")],
    tc: Annotated[str | None, typer.Option(help="IAB TCF v2.2/2.3 TC string.")] = None,
    gpp: Annotated[str | None, typer.Option(help="IAB GPP string.")] = None,
    gpc: Annotated[bool, typer.Option(help="The request carried Sec-GPC: 1.")] = False,
    age: Annotated[int | None, typer.Option(min=0, max=130, help="Known age.")] = None,
    topic: Annotated[
        list[str] | None,
        typer.Option(
            help="Content topic of the video (IAB Content Taxonomy 3.1 id or a platform "
            "label such as fv-lgbtq); repeat for several."
        ),
    ] = None,
    sensitive: Annotated[
        bool, typer.Option(help="The content is special-category context.")
    ] = False,
    objected: Annotated[bool, typer.Option(help="A stored Art. 21 objection exists.")] = False,
) -> None:
    """Print the permissions the signals allow, with the decision-table rows."""
    from datetime import UTC, datetime

    from fairview.audience.taxonomy import content_taxonomy
    from fairview.consent.policy import decide
    from fairview.consent.signals import RawSignals, read_signals

    settings = _settings()
    taxonomy = content_taxonomy()
    topics = topic or []
    unknown = taxonomy.unknown(topics)
    if unknown:
        error = {
            "error": "unknown_topic",
            "detail": f"Topic {unknown[0]!r} is not in the IAB Content Taxonomy 3.1 or the "
            "platform labels; see docs/targeting.md for the ids.",
        }
        print(orjson.dumps(error).decode())
        raise typer.Exit(2)
    sensitive_topics = [t for t in topics if taxonomy.is_sensitive(t)]
    raw = RawSignals(region, tc, gpp, gpc, age, sensitive or bool(sensitive_topics))
    read = read_signals(raw, today=datetime.now(UTC).date(), objected=objected)
    p = decide(read.signals, vendor_id=settings.tcf_vendor_id, lia_purposes=settings.lia_purposes)
    out = {
        "mode": p.mode.value,
        "storage": p.storage,
        "measurement": p.measurement.value,
        "purposes": sorted(p.purposes),
        "rows": list(p.rows),
        "profiling": p.profiling,
        "first_party_only": p.first_party_only,
        "precise_geo": p.precise_geo,
        "sensitive_topics": sensitive_topics,
        "signal_errors": read.errors,
    }
    print(orjson.dumps(out).decode())


def main() -> None:
    app()
