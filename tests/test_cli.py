"""The command line: qualify, settle, migrate."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from fairview.cli import app

runner = CliRunner()


def _lines(seconds: float, delivery: str = "d1") -> str:
    events = [
        {
            "delivery": delivery,
            "seq": 0,
            "type": "first_frame",
            "mono_ms": 0,
            "media_s": 0,
            "vis": True,
            "duration_s": 15,
        }
    ]
    steps = int(seconds * 4)
    events += [
        {
            "delivery": delivery,
            "seq": i,
            "type": "heartbeat",
            "mono_ms": i * 250,
            "media_s": i / 4,
            "vis": True,
        }
        for i in range(1, steps + 1)
    ]
    return "\n".join(orjson.dumps(e).decode() for e in events) + "\n"


def test_qualify_prints_one_verdict_per_delivery(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(_lines(7.0, "a") + _lines(3.0, "b"))
    result = runner.invoke(app, ["qualify", str(path)])
    assert result.exit_code == 0, result.output
    verdicts = [orjson.loads(line) for line in result.output.splitlines()]
    assert [(v["delivery"], v["focused_view"], v["qualified_by"]) for v in verdicts] == [
        ("a", True, "watch"),
        ("b", False, None),
    ]
    assert verdicts[0]["qualified_at_media_s"] == 6.0


def test_qualify_reports_bad_lines_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(_lines(1.0) + "{not json\n")
    result = runner.invoke(app, ["qualify", str(path)])
    assert result.exit_code == 1
    assert any("error" in orjson.loads(line) for line in result.output.splitlines())


def test_qualify_missing_file() -> None:
    result = runner.invoke(app, ["qualify", "/nonexistent.jsonl"])
    assert result.exit_code == 2


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "cli.sqlite3"
    monkeypatch.setenv("FAIRVIEW_DATABASE_URL", f"sqlite:///{db}")
    return db


def test_migrate_then_settle_on_an_empty_store(env: Path) -> None:
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    result = runner.invoke(app, ["settle"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output.splitlines()[-1])["deliveries_settled"] == 0


def test_bad_configuration_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRVIEW_ENV", "prod")
    result = runner.invoke(app, ["settle"])
    assert result.exit_code == 2


def test_consent_decide_prints_permissions_with_rows() -> None:
    result = runner.invoke(app, ["consent", "decide", "--region", "EU-DE", "--gpc"])
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.output)
    assert (out["mode"], out["rows"], out["profiling"]) == ("non_personalised", ["D01"], False)


def test_consent_decide_reports_a_bad_tc_string() -> None:
    result = runner.invoke(app, ["consent", "decide", "--region", "FR", "--tc", "not a tc"])
    out = orjson.loads(result.output)
    assert out["signal_errors"]["tc_string"] == "bad_base64"
    assert out["rows"] == ["D01"]


def test_consent_decide_in_california() -> None:
    gpp = "DBABrw~CAAQAAAAAABA.YA~BAIAAABA.QA"
    result = runner.invoke(app, ["consent", "decide", "--region", "US-CA", "--gpp", gpp, "--gpc"])
    out = orjson.loads(result.output)
    assert (out["mode"], out["rows"], out["first_party_only"]) == ("contextual", ["D21"], True)
