"""`fairview jobs repository`: release the ad repository's reach figures."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer


def register(jobs: typer.Typer) -> None:
    """Add this package's commands to the `jobs` group."""

    @jobs.command("repository")
    def repository_job(
        epsilon: Annotated[
            float, typer.Option(min=0.01, max=10.0, help="ε of this release (default 1).")
        ] = 1.0,
    ) -> None:
        """Release reach per ad and member state for the DSA ad repository (DP), and prune."""
        from dataclasses import asdict

        from fairview.clock import SystemClock
        from fairview.registry import retention_days
        from fairview.report.repository import run_repository_job
        from fairview.settings import Settings
        from fairview.storage import open_configured
        from fairview.storage.repository import Repository

        settings = Settings()
        store = open_configured(settings)
        try:
            kept = retention_days(settings.retention_days)["ad_repository"]
            run = run_repository_job(
                Repository(store.engine, kept_days=kept), SystemClock().now_ms(), epsilon=epsilon
            )
        finally:
            store.close()
        print(orjson.dumps(asdict(run)).decode())
