"""The demo: the simulated platform through the real HTTP API agrees with ground truth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

KEYS = {
    "events_sent",
    "events_accepted",
    "events_rejected",
    "deliveries",
    "focused_views",
    "viewable",
    "invalid_deliveries",
    "spend_by_campaign",
    "ground_truth_focused_views",
    "agreement",
}


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fairview",
            "demo",
            "--users",
            "60",
            "--seed",
            "3",
            "--no-serve",
            "--report",
            str(report),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    data = orjson.loads(report.read_bytes())
    assert set(data) >= KEYS
    assert data["deliveries"] == 300
    assert data["agreement_honest"] == 1.0
    assert (
        data["events_accepted"] + data["events_duplicate"] + data["events_rejected"]
        == data["events_sent"]
    )
    assert data["focused_views"] > 0 and sum(data["spend_by_campaign"].values()) > 0
    assert data["invalid_traffic"]["precision"] == 1.0
    audience = data["audience"]
    assert audience["views_by_reason"]["profiled"] > 0
    assert audience["views_by_reason"]["no_profiling_permission"] > 0
    assert audience["cohort_run"]["status"] == "served"
    assert audience["cohort_run"]["served"] >= 1
    assert any("below the default" in n for n in audience["cohort_run"]["notes"])
    campaign = audience["cohort_campaign"]
    assert campaign["members_shown_it"] > 0
    assert campaign["shown_while_paused"] is False and campaign["shown_after_resume"] is True
    assert audience["dp_report"]["epsilon_spent"] == 3.0
    why = data["why_this_ad"]
    assert why["checked"] > 0 and why["consistent"] == why["checked"]
    assert "agreement with ground truth" in done.stdout
    assert (tmp_path / "var" / "demo.sqlite3").exists()
    pages = data["pages"]  # every page has something to show
    assert pages["repository_ads"] > 0  # reach cells need more viewers than these 60
    assert pages["privacy_centre_viewer_found"] is True
