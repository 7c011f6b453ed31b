"""Consent: TC string decode throughput against the `iab-tcf` PyPI package, and the
policy's cost per request — both measured in the same run on the golden corpus."""

from __future__ import annotations

import gzip
import json
import time
from datetime import date
from pathlib import Path
from typing import Any

import iab_tcf

from fairview.consent import TCStringError, decode
from fairview.consent.policy import decide
from fairview.consent.signals import RawSignals, read_signals

GOLDEN = Path(__file__).parents[1] / "tests" / "data" / "tcf_v2" / "golden.jsonl.gz"


def run(rounds: int = 5) -> dict[str, Any]:
    with gzip.open(GOLDEN, "rt") as lines:
        strings = [json.loads(line)["tc_string"] for line in lines]
    ours = _best(rounds, lambda: [_ours(s) for s in strings])
    listed = _best(rounds, lambda: [_ours_json(s) for s in strings])
    theirs = _best(rounds, lambda: [_theirs(s) for s in strings])
    read = [
        read_signals(RawSignals("EU-DE", s, age=30), today=date(2026, 11, 22)).signals
        for s in strings
    ]
    n = len(read)
    policy = _best(
        rounds, lambda: [decide(x, vendor_id=755, lia_purposes=frozenset({2, 7})) for x in read]
    )
    signals = _best(
        rounds,
        lambda: [
            read_signals(RawSignals("EU-DE", s, age=30), today=date(2026, 11, 22)) for s in strings
        ],
    )
    return {
        "strings": len(strings),
        "decode_per_s": round(len(strings) / ours),
        "decode_and_json_per_s": round(len(strings) / listed),
        "iab_tcf_decode_per_s": round(len(strings) / theirs),
        "speedup": round(theirs / ours, 2),
        "target_speedup": 3.0,
        "policy_us_per_request": round(policy / n * 1e6, 2),
        "signals_and_policy_us_per_request": round((signals + policy) / n * 1e6, 2),
        "target_policy_us": 20.0,
    }


def _ours(s: str) -> object:
    try:
        return decode(s)
    except TCStringError:
        return None


def _ours_json(s: str) -> object:
    """Decode and list every id, as `fairview tcf decode` prints them."""
    try:
        return decode(s).to_json()
    except TCStringError:
        return None


def _theirs(s: str) -> object:
    try:
        return iab_tcf.decode_v2(s)
    except Exception:  # the package raises assorted errors on strings it cannot read
        return None


def _best(rounds: int, fn: Any) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
