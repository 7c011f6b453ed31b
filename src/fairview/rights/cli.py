"""`fairview ropa` and `fairview jobs retention`."""

from __future__ import annotations

import typer


def register(root: typer.Typer, jobs: typer.Typer) -> None:
    """Add this package's commands to the `fairview` app and its `jobs` group."""
