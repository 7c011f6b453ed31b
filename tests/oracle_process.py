"""Run a reference library from npm (in tests/oracle) as a JSON-lines oracle process."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

ORACLE = Path(__file__).parent / "oracle"


def require_oracle(package: str) -> Path:
    """The oracle folder; skips locally when `npm ci` has not run there, fails under CI."""
    installed = ORACLE / "node_modules" / package
    if shutil.which("node") and installed.is_dir():
        return ORACLE
    reason = f"the npm oracle {package} is not installed (run: make oracle)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def ask(script: str, package: str, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send every request to one node process and return its answers, in order."""
    folder = require_oracle(package)
    lines = b"".join(orjson.dumps(r) + b"\n" for r in requests)
    done = subprocess.run(
        ["node", str(folder / script)],
        input=lines,
        capture_output=True,
        cwd=folder,
        timeout=300,
        check=True,
    )
    answers = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == len(requests), done.stderr.decode()[-2000:]
    return answers
