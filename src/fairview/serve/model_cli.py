"""`fairview model train|report`: the attention model from settled history, and its quality."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from fairview.settings import Settings

if TYPE_CHECKING:  # sklearn loads only when a command runs, not with every `fairview` call
    from fairview.serve.model import Target, TargetReport

app = typer.Typer(
    help="The attention model that ranks ads by expected value.", no_args_is_help=True
)
err = Console(stderr=True)
DEFAULT_PATH = Path("var/attention-model.joblib")

PathOption = Annotated[
    Path, typer.Option(help="Model file (only ever load files fairview wrote: joblib runs code).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]


@app.command()
def train(
    path: PathOption = DEFAULT_PATH,
    seed: Annotated[int, typer.Option(help="Seed of the calibration split and booster.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Train on every settled delivery in the configured store, save, print the held-out report."""
    from fairview.serve.model import train as fit
    from fairview.storage import open_configured
    from fairview.storage.history import History

    try:
        settings = Settings()
    except ValueError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    store = open_configured(settings)
    try:
        rows = History(store.engine).settled()
    finally:
        store.close()
    started = time.perf_counter()
    try:
        model = fit(rows, seed=seed)
    except ValueError as exc:
        err.print(f"[red]cannot train:[/red] {exc}")
        raise typer.Exit(1) from None
    model.save(path)
    err.print(f"trained on {len(rows)} deliveries in {time.perf_counter() - started:.1f} s: {path}")
    _print(model.reports, as_json)


@app.command()
def report(path: PathOption = DEFAULT_PATH, as_json: JsonOption = False) -> None:
    """Print the held-out report stored with a model file."""
    from fairview.serve.model import AttentionModel

    if not path.is_file():
        err.print(f"[red]no model file:[/red] {path} (run `fairview model train` first)")
        raise typer.Exit(2)
    try:
        model = AttentionModel.load(path)
    except ValueError as exc:
        err.print(f"[red]not a model file:[/red] {exc}")
        raise typer.Exit(2) from None
    _print(model.reports, as_json)


def _print(reports: Mapping[Target, TargetReport], as_json: bool) -> None:
    items = list(reports.values())
    if as_json:
        data = {r.target: r.to_json() for r in items}
        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
        return
    console = Console()
    for r in items:
        table = Table(
            title=f"{r.target}: AUC {_f(r.auc)}, log loss {_f(r.log_loss)}, Brier {_f(r.brier)}, "
            f"base rate {_f(r.base_rate)} (fit {r.n_fit}, calibration {r.n_calibration}, "
            f"test {r.n_test})"
        )
        for column in ("predicted", "n", "mean predicted", "observed"):
            table.add_column(column, justify="right")
        for b in r.calibration:
            table.add_row(f"{b.lo:.1f}-{b.hi:.1f}", str(b.n), _f(b.mean_predicted), _f(b.observed))
        console.print(table)


def _f(x: float | None) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.3f}"
