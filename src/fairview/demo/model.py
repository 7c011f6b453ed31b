"""What the demo is asked to do, and what its driver saw."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fairview.sim import Playback

HOUR_MS = 3_600_000


@dataclass
class DemoOptions:
    users: int = 300
    seed: int = 7
    serve: bool = True
    report: Path = Path("demo-report.json")
    host: str = "127.0.0.1"
    port: int = 8000
    database: Path = Path("var/demo.sqlite3")


@dataclass
class Run:
    """What the driver saw, delivery by delivery."""

    playbacks: dict[str, Playback] = field(default_factory=dict)
    campaign_names: dict[str, str] = field(default_factory=dict)
    refused_creatives: list[str] = field(default_factory=list)
    events_posted: int = 0
    no_fill: int = 0
    advertiser_key: str = ""
    topic_targeted: set[str] = field(default_factory=set)  # campaign ids
    consenting_adults: list[str] = field(default_factory=list)
    """Viewers the audience phase gave personalisation consent (for the privacy-centre link)."""
    shown: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """delivery -> (user_ref, campaign id, IAB topic id of the video it ran next to)"""
