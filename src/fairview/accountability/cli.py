"""`fairview audit …`: verify and read the hash-chained audit log.

These commands run with the database credentials (FAIRVIEW_DATABASE_URL), which
are outside the API's roles: whoever holds them can read the table anyway. The
API's reads of the log are the data-protection officer's, and are audited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from fairview.settings import Settings

if TYPE_CHECKING:
    from fairview.storage import Store
    from fairview.storage.audit import AuditEntry

audit_app = typer.Typer(
    help="The hash-chained audit log: verify it, anchor its head, read it.",
    no_args_is_help=True,
)
err = Console(stderr=True)
out = Console()


def register(root: typer.Typer) -> None:
    """Add this package's commands to the `fairview` app."""
    root.add_typer(audit_app, name="audit")


def _store() -> Store:
    from fairview.storage import open_configured

    try:
        settings = Settings()
    except ValueError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    return open_configured(settings)


@audit_app.command("verify")
def verify_command(
    head: Annotated[
        str | None,
        typer.Option(
            help="SEQ:HASH kept from an earlier `fairview audit head`: also detects records "
            "deleted from the end and a log rewritten up to that record."
        ),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Check the hash chain: exit 0 when intact, 1 with every problem listed."""
    from fairview.accountability.chain import Head, verify

    try:
        anchor = None if head is None else Head.parse(head)
    except ValueError as exc:
        err.print(f"[red]bad --head:[/red] {exc}")
        raise typer.Exit(2) from None
    store = _store()
    try:
        verdict = verify(store.audit, anchor)
    finally:
        store.close()
    latest = None if verdict.head is None else str(verdict.head)
    if json:
        data = {"intact": verdict.intact, "records": verdict.records, "head": latest}
        print(orjson.dumps(data | {"problems": list(verdict.problems)}).decode())
    else:
        for problem in verdict.problems:
            print(problem)
        state = "intact" if verdict.intact else f"NOT intact ({len(verdict.problems)} problems)"
        against = "" if anchor is None else f", checked against head {anchor.seq}"
        err.print(f"audit log {state}: {verdict.records} records{against}; head {latest}")
    if not verdict.intact:
        raise typer.Exit(1)


@audit_app.command("head")
def head_command() -> None:
    """Print the newest record as SEQ:HASH, to keep outside the database (exit 1: empty log)."""
    from fairview.accountability.chain import head_of

    store = _store()
    try:
        head = head_of(store.audit)
    finally:
        store.close()
    if head is None:
        err.print("the audit log is empty: nothing to anchor yet")
        raise typer.Exit(1)
    print(head)


@audit_app.command("show")
def show_command(
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. staff.key.created.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only records from this time on: ISO 8601 date or time (UTC if none)."),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print JSON Lines, one per record.")] = False,
) -> None:
    """List audit records, oldest first: who, when, what, why, on what."""
    since_ms = _since_ms(since)
    store = _store()
    try:
        entries = [e for e in store.audit.entries(action=action) if e.at_ms >= since_ms]
    finally:
        store.close()
    if json:
        for entry in entries:
            print(orjson.dumps(entry_json(entry)).decode())
        return
    table = Table("seq", "at (UTC)", "actor", "action", "purpose", "subject", "detail")
    for e in entries:
        table.add_row(
            str(e.seq),
            _iso(e.at_ms),
            e.actor,
            e.action,
            e.purpose,
            e.subject,
            orjson.dumps(dict(e.detail)).decode(),
        )
    out.print(table)
    err.print(f"{len(entries)} records")


def entry_json(entry: AuditEntry) -> dict[str, object]:
    """One record as JSON (the shape `fairview audit show --json` prints)."""
    return {
        "seq": entry.seq,
        "at": _iso(entry.at_ms),
        "actor": entry.actor,
        "action": entry.action,
        "purpose": entry.purpose,
        "subject": entry.subject,
        "detail": dict(entry.detail),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _since_ms(text: str | None) -> int:
    if text is None:
        return 0
    try:
        found = datetime.fromisoformat(text)  # a date alone means its midnight
    except ValueError:
        err.print(f"[red]bad --since:[/red] {text!r} is not an ISO 8601 date or time")
        raise typer.Exit(2) from None
    if found.tzinfo is None:
        found = found.replace(tzinfo=UTC)
    return int(found.timestamp() * 1000)
