"""`fairview audit …`: verify and read the hash-chained audit log."""

from __future__ import annotations

import typer


def register(root: typer.Typer) -> None:
    """Add this package's commands to the `fairview` app."""
