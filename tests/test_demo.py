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
    why = data["why_this_ad"]
    assert why["checked"] > 0 and why["consistent"] == why["checked"]
    assert "agreement with ground truth" in done.stdout
    assert (tmp_path / "var" / "demo.sqlite3").exists()
