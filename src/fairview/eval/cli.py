"""`fairview eval privacy`: the leakage evaluation of issue 5 on the command line.

The exit code is 0 whenever the run completes, whether or not the bars are
met: the command measures and reports (`passed` in the JSON, a column in the
table); it is not a gate. A test or CI job that wants a gate asserts on
`passed`. Bad options exit 2 (Typer's usage error).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # sklearn loads only when the command runs, not with every `fairview` call
    from fairview.eval.privacy import PipelineResult, PrivacyEval

DEFAULT_USERS = 50_000  # mirrors fairview.eval.privacy.DEFAULT_USERS (not imported: see above)
DEFAULT_SEED = 7

app = typer.Typer(
    help="Evaluations on simulated data: what an advertiser could learn, at what utility.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def evaluations() -> None:
    """Evaluations on simulated data: what an advertiser could learn, at what utility."""
    # A callback keeps `privacy` a subcommand when this app is invoked on its own too.


@app.command()
def privacy(
    users: Annotated[int, typer.Option(min=100, help="Simulated viewers.")] = DEFAULT_USERS,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the whole run.")] = DEFAULT_SEED,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Plant a hidden sensitive trait, attack fairview's cohorts and a naive baseline's.

    Prints the attacker's cross-validated ROC AUC for both pipelines, the
    focused-view rate and lift of cohort-targeted campaigns for both, and the
    three bars of issue 5. Exit 0 when the run completes, met or not.
    """
    from fairview.eval.privacy import evaluate_privacy

    result = evaluate_privacy(users, seed)
    if as_json:
        typer.echo(orjson.dumps(result.to_json()).decode())
        return
    _print(result)


def _print(r: PrivacyEval) -> None:
    console = Console()
    table = Table(
        title=f"Leakage evaluation: {r.users:,} viewers, seed {r.seed}, "
        f"trait prevalence {r.prevalence:.1%}, K = {r.clusters}, k_min = {r.k_min}"
    )
    table.add_column("")
    table.add_column("fairview", justify="right")
    table.add_column("naive", justify="right")
    fv, nv = r.fairview, r.naive
    rows = [
        ("attacker AUC (mean ± sd over folds)", _auc(fv), _auc(nv)),
        (
            "attacker AUC, served viewers only",
            _f(fv.attacker_auc_served),
            _f(nv.attacker_auc_served),
        ),
        ("cohorts fitted / served / blocked", _counts(fv), _counts(nv)),
        ("viewers served", f"{fv.viewers_served:,}", f"{nv.viewers_served:,}"),
        ("smallest served cohort", f"{fv.smallest_served:,}", f"{nv.smallest_served:,}"),
        ("trait rate without a cohort", _pct(fv.unserved_trait_rate), _pct(nv.unserved_trait_rate)),
        ("focused-view rate, targeted", _pct(fv.focused_view_rate), _pct(nv.focused_view_rate)),
        ("lift over untargeted", _pct(fv.lift), _pct(nv.lift)),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(
        f"untargeted focused-view rate {_pct(r.untargeted_rate)}; "
        f"utility ratio (fairview lift / naive lift) {_f(r.utility_ratio)}"
    )
    console.print(
        "an attacker with each viewer's whole allowlisted profile (proxy strength): "
        f"AUC {_f(r.profile_attacker_auc)}; proxies: Topics v2 "
        + ", ".join(map(str, r.proxy_topics))
    )
    a = r.audit
    console.print(
        f"audit: {a.viewers_blocked:,} viewers blocked; null group ok: {a.null_ok} "
        f"(planted-label gap {_f(a.null_gap_planted)}); re-cluster needed: {a.recluster_needed}; "
        f"epoch publishable under docs/cohorts.md: {a.publishable} (served here regardless)"
    )
    console.print(f"scaled k_min: {r.k_min_rule}")
    for bar, met in r.passed.items():
        console.print(f"{'[green]met[/green]' if met else '[red]not met[/red]'}  {bar}")
    console.print(f"{r.seconds:.1f} s")


def _auc(p: PipelineResult) -> str:
    return f"{_f(p.attacker_auc)} ± {_f(p.attacker_auc_std)}"


def _counts(p: PipelineResult) -> str:
    return f"{p.clusters_fitted} / {p.cohorts_served} / {p.cohorts_blocked}"


def _f(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3f}"


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.1%}"
