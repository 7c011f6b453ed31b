"""`fairview ropa` and `fairview jobs retention`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from fairview.settings import Settings

err = Console(stderr=True)
out = Console()


class Format(StrEnum):
    MD = "md"
    JSON = "json"


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def ropa(
    fmt: Annotated[Format, typer.Option("--format", help="md or json.")] = Format.MD,
    controller: Annotated[
        str | None, typer.Option(help="Controller's name and contact (else a TO FILL mark).")
    ] = None,
    dpo: Annotated[
        str | None, typer.Option(help="The DPO's contact details (else a TO FILL mark).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output.")
    ] = None,
) -> None:
    """Print the records of processing (GDPR Art. 30), generated from the registry."""
    from fairview.registry import retention_days
    from fairview.rights.ropa import markdown, records

    settings = _settings()
    found = records(retention_days(settings.retention_days), controller=controller, dpo=dpo)
    if fmt is Format.JSON:
        text = orjson.dumps(found, option=orjson.OPT_INDENT_2).decode() + "\n"
    else:
        text = markdown(found)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def retention(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would go; delete nothing.")
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Delete personal data past its retention period, per registry category; report counts."""
    from fairview.clock import SystemClock
    from fairview.registry import retention_days
    from fairview.rights.retention import run_retention
    from fairview.storage import open_configured

    settings = _settings()
    store = open_configured(settings)
    try:
        days = retention_days(settings.retention_days)
        report = run_retention(store, days, SystemClock().now_ms(), dry_run=dry_run)
    finally:
        store.close()
    if json:
        typer.echo(
            orjson.dumps(
                {
                    "dry_run": report.dry_run,
                    "now_ms": report.now_ms,
                    "days": report.days,
                    "removed": report.removed,
                    "total": report.total,
                    "storage_compacted": report.storage_compacted,
                }
            ).decode()
        )
        return
    verb = "would remove" if dry_run else "removed"
    table = Table("table or store", verb, title="Retention")
    for name, n in report.removed.items():
        table.add_row(name, "not counted" if n is None else f"{n:,}")
    out.print(table)
    out.print(f"{report.total:,} rows {verb}.")


def register(root: typer.Typer, jobs: typer.Typer) -> None:
    """Add this package's commands to the `fairview` app and its `jobs` group."""
    root.command("ropa")(ropa)
    jobs.command("retention")(retention)
