"""Cross-check against the IAB reference library `@iabtechlabtcf/core`, run by Node.

One Node process answers every request in one batch. Needs `npm ci` in tests/oracle
(`make oracle`); skipped without it unless CI is set, where a missing oracle fails.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fairview.consent import TCStringError, decode, encode, segments_of

from oracle_process import ask, require_oracle
from tcf_models import random_model, random_segments

DATA = Path(__file__).parent / "data" / "tcf_v2"
N_MODELS = 5_000
SEED = 20261122


_PACKAGE = "@iabtechlabtcf/core"


def _ask(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return ask("tcf.mjs", _PACKAGE, requests)


@pytest.fixture(scope="module")
def random_cases() -> list[tuple[dict[str, Any], tuple[str, ...], str]]:
    require_oracle(_PACKAGE)  # before the 5,000 models are built, not after
    rng = np.random.default_rng(SEED)
    cases = []
    for _ in range(N_MODELS):
        model = random_model(rng)
        segments = random_segments(rng, model)
        cases.append((model.to_json(), segments, encode(model, segments=segments)))
    return cases


@pytest.mark.slow
def test_random_models_encode_and_decode_as_the_reference(
    random_cases: list[tuple[dict[str, Any], tuple[str, ...], str]],
) -> None:
    requests: list[dict[str, Any]] = []
    for model_json, segments, ours in random_cases:
        requests.append({"op": "encode", "model": model_json, "segments": list(segments)})
        requests.append({"op": "decode", "s": ours})
    answers = _ask(requests)
    encode_diffs = decode_diffs = 0
    for k, (_, _, ours) in enumerate(random_cases):
        ref_encoded, ref_decoded = answers[2 * k], answers[2 * k + 1]
        encode_diffs += ref_encoded != {"s": ours}
        decode_diffs += ref_decoded != decode(ours).to_json()
    print(f"oracle: {len(random_cases)} models; differences {encode_diffs} enc, {decode_diffs} dec")
    assert (len(random_cases), encode_diffs, decode_diffs) == (N_MODELS, 0, 0)


@pytest.mark.slow
def test_golden_corpus_and_vectors_match_the_reference() -> None:
    with gzip.open(DATA / "golden.jsonl.gz", "rt") as rows:
        strings = [json.loads(line)["tc_string"] for line in rows]
    vectors = json.loads((DATA / "tc_string_vectors.json").read_text())["vectors"]
    strings += [v["tc_string"] for v in vectors]
    requests: list[dict[str, Any]] = [{"op": "decode", "s": s} for s in strings]
    ours: list[dict[str, Any]] = []
    for s in strings:
        try:
            model = decode(s)
        except TCStringError as exc:
            ours.append({"error": exc.code})
            continue
        ours.append(model.to_json())
        requests.append({"op": "encode", "model": ours[-1], "segments": list(segments_of(s))})
    answers = _ask(requests)
    decoded, encoded = answers[: len(strings)], iter(answers[len(strings) :])
    differences = []
    for s, mine, theirs in zip(strings, ours, decoded, strict=True):
        if "error" in mine:
            # We refuse TCF v1; the reference decodes it as version 1.
            if "error" not in theirs and theirs["version"] != 1:
                differences.append(("refused", mine["error"]))
            continue
        if mine != theirs:
            differences.append(("decode", s[:20]))
        if next(encoded) != {"s": encode(decode(s), segments=segments_of(s))}:
            differences.append(("encode", s[:20]))
    assert differences == []
