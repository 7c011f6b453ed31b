"""`fairview jobs cohorts` and `fairview cohorts …`: run the cohort job, audit it, staff access."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from fairview.audience import topics as tx
from fairview.audience.classify import VideoMeta
from fairview.clock import SystemClock
from fairview.errors import FairviewError
from fairview.pseudonym import Pseudonymiser
from fairview.settings import Settings

if TYPE_CHECKING:
    from fairview.audience.job import HistoryView, JobResult
    from fairview.storage import Store

DEFAULT_K_MIN = 2000
"""The job's default (fairview.audience.job.DEFAULT_K_MIN; kept here so --help stays fast)."""

jobs_app = typer.Typer(help="Batch jobs.", no_args_is_help=True)
cohorts_app = typer.Typer(
    help="Interest cohorts: the current run, its audit, audited staff access.",
    no_args_is_help=True,
)
err = Console(stderr=True)
out = Console()


def _store(settings: Settings) -> Store:
    from fairview.storage import open_configured

    return open_configured(settings)


def read_history(path: str) -> Iterator[HistoryView]:
    """JSON Lines: {"user_ref", "video_id"} or {"user_ref", "video": {id, title, …}}."""
    with ExitStack() as stack:
        stream = (
            sys.stdin if path == "-" else stack.enter_context(Path(path).open(encoding="utf-8"))
        )
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
                yield _history_view(row)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise FairviewError(
                    "bad_history_line",
                    f"Line {number} of the history is not a view: {exc}. Each line needs "
                    '"user_ref" and "video_id" (or "video": {"id", "title", "hashtags", '
                    '"category"}).',
                ) from None


def _history_view(row: dict[str, Any]) -> HistoryView:
    from fairview.audience.job import HistoryView

    video = row.get("video")
    if isinstance(video, dict):
        meta = VideoMeta(
            str(video.get("title") or ""),
            tuple(str(h) for h in video.get("hashtags") or ()),
            str(video.get("category") or ""),
        )
        return HistoryView(str(row["user_ref"]), str(video["id"]), meta)
    return HistoryView(str(row["user_ref"]), str(row["video_id"]))


@jobs_app.command("cohorts")
def cohorts_job(
    history: Annotated[
        str | None,
        typer.Option(
            help="The platform's watch history of the window (JSON Lines, '-' for stdin), "
            "read in memory for the sensitivity audit. Without it no cohort is served."
        ),
    ] = None,
    k_min: Annotated[
        int, typer.Option(min=1, help="Minimum cohort size; 2,000 unless the population is tiny.")
    ] = DEFAULT_K_MIN,
    clusters: Annotated[
        int | None, typer.Option(min=2, help="k-means K; default one per 10,000 viewers.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed (reproducible run); default: random per run.")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Cluster profiles into k-anonymous cohorts, audit them, and serve those that pass."""
    from fairview.audience.job import run_cohort_job

    settings = Settings()
    if history is not None and history != "-" and not Path(history).is_file():
        err.print(f"[red]no such file:[/red] {history}")
        raise typer.Exit(2)
    store = _store(settings)
    try:
        result = run_cohort_job(
            store,
            Pseudonymiser(settings.pseudonym_pepper.get_secret_value()),
            now_ms=SystemClock().now_ms(),
            history=None if history is None else read_history(history),
            k_min=k_min,
            clusters=clusters,
            seed=seed,
        )
    except FairviewError as exc:
        err.print(f"[red]{exc.code}:[/red] {exc.detail}")
        raise typer.Exit(2) from None
    finally:
        store.close()
    if json:
        print(orjson.dumps(job_json(result)).decode())
    else:
        _print_run(result)


def job_json(result: JobResult) -> dict[str, Any]:
    run = result.run
    return {
        "run": run.id,
        "status": run.status,
        "epoch": run.epoch,
        "k_min": run.k_min,
        "viewers": run.viewers,
        "cohorts": len(result.cohorts),
        "served": len(result.served),
        "members_written": result.members_written,
        "notes": list(result.notes),
        "summary": dict(run.summary),
        "audit": [_cohort_json(c) for c in result.cohorts],
    }


def _cohort_json(c: Any) -> dict[str, Any]:
    return {
        "cohort": str(c.id),
        "size": c.size,
        "topics": [tx.topics_v2()[t].path for t in c.topics],
        "served": c.served,
        "reason": c.reason,
        "max_gap": c.max_gap,
        "max_lift": c.max_lift,
    }


def _print_run(result: JobResult) -> None:
    run = result.run
    out.print(
        f"run {run.id}: [bold]{run.status}[/bold], {run.viewers} profiled viewers, "
        f"{len(result.cohorts)} cohorts, {len(result.served)} served (k_min {run.k_min})"
    )
    for note in result.notes:
        out.print(f"[yellow]note:[/yellow] {note}")
    table = Table("cohort", "size", "topics", "served", "reason", "max gap", "max lift")
    for c in result.cohorts:
        table.add_row(
            str(c.id),
            str(c.size),
            ", ".join(tx.topics_v2()[t].name for t in c.topics),
            "yes" if c.served else "no",
            c.reason,
            f"{c.max_gap:.3f}",
            f"{c.max_lift:.2f}",
        )
    out.print(table)


@cohorts_app.command("audit")
def cohorts_audit(
    json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The current run's audit: per cohort size, topics, decision and distances (for auditors)."""
    settings = Settings()
    store = _store(settings)
    try:
        run = store.cohorts.current_run()
        if run is None:
            err.print("no cohort run yet: run `fairview jobs cohorts`")
            raise typer.Exit(1)
        cohorts = tuple(store.cohorts.cohorts(run.id))
    finally:
        store.close()
    from fairview.audience.job import JobResult

    result = JobResult(run, cohorts, 0, tuple(run.summary.get("notes", ())))
    if json:
        data = job_json(result)
        data.pop("members_written")
        print(orjson.dumps(data).decode())
    else:
        _print_run(result)


@cohorts_app.command("members")
def cohorts_members(
    cohort: Annotated[int, typer.Argument(help="The cohort's id.")],
    actor: Annotated[str, typer.Option(help="Who is asking (name or staff id).")],
    purpose: Annotated[
        str, typer.Option(help="Why (e.g. the data-subject request it answers); audited.")
    ],
) -> None:
    """List a cohort's viewer pseudonyms: staff only, with a stated purpose; audited."""
    settings = Settings()
    store = _store(settings)
    try:
        members = store.cohorts.members_for_staff(
            cohort, actor=actor, purpose=purpose, audit=store.audit, now_ms=SystemClock().now_ms()
        )
    except FairviewError as exc:
        err.print(f"[red]{exc.code}:[/red] {exc.detail}")
        raise typer.Exit(2) from None
    finally:
        store.close()
    err.print(f"{len(members)} members; this access is recorded in the audit log")
    for member in members:
        print(member)
