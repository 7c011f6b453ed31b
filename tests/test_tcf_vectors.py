"""Conformance: the 18 IAB test-suite vectors and the 1,024-string golden corpus."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fairview.consent import TCModel, TCStringError, decode, encode, segments_of, validate

DATA = Path(__file__).parent / "data" / "tcf_v2"
VECTORS = json.loads((DATA / "tc_string_vectors.json").read_text())["vectors"]
with gzip.open(DATA / "golden.jsonl.gz", "rt") as _rows:
    GOLDEN = [json.loads(line) for line in _rows]
NOT_ROUND_TRIPPING = set(json.loads((DATA / "golden_not_round_tripping.json").read_text())["rows"])

# The reference decoder's error messages and the code we give the same input.
REFERENCE_ERRORS = {
    "Invalidly encoded Base64URL string": "base64_padding",
    "invalid bit length": "bad_bit_length",
    "bitfield encoding length mismatch": "bitfield_length_mismatch",
}
V1_VECTORS = [v for v in VECTORS if v["tc_string"].startswith("BO")]
REJECTED = [v for v in VECTORS if "reference_decode_error" in v]
ACCEPTED = [v for v in VECTORS if v not in V1_VECTORS and v not in REJECTED]


def _id(vector: dict[str, Any]) -> str:
    return str(vector["source"]["test"])[:40]


def test_the_vector_file_is_complete() -> None:
    assert len(VECTORS) == 18
    assert (len(ACCEPTED), len(REJECTED), len(V1_VECTORS)) == (13, 3, 2)


@pytest.mark.parametrize("vector", ACCEPTED, ids=_id)
def test_vector_decodes_as_the_reference(vector: dict[str, Any]) -> None:
    ours = decode(vector["tc_string"]).to_json()
    reference = dict(vector["reference_decoding"])
    restrictions = reference.pop("publisherRestrictions")
    for name, value in reference.items():
        assert ours[name] == value, name
    assert {
        f"purpose{r['purposeId']}_type{r['restrictionType']}": r["vendorIds"]
        for r in ours["publisherRestrictions"]
    } == restrictions


@pytest.mark.parametrize("vector", REJECTED, ids=_id)
def test_vector_is_rejected_as_the_reference_rejects_it(vector: dict[str, Any]) -> None:
    with pytest.raises(TCStringError) as caught:
        decode(vector["tc_string"])
    assert caught.value.code == REFERENCE_ERRORS[vector["reference_decode_error"]]
    assert caught.value.detail


@pytest.mark.parametrize("vector", V1_VECTORS, ids=_id)
def test_tcf_v1_is_refused(vector: dict[str, Any]) -> None:
    assert vector["reference_decoding"]["version"] == 1
    with pytest.raises(TCStringError, match="tcf_v1_unsupported"):
        decode(vector["tc_string"])


def test_padding_policy_rejects_a_trailing_pad_and_accepts_the_unpadded_string() -> None:
    padded = next(v["tc_string"] for v in REJECTED if v["tc_string"].endswith("="))
    with pytest.raises(TCStringError) as caught:
        decode(padded)
    assert caught.value.code == "base64_padding"
    assert decode(padded.rstrip("=")).vendors_disclosed


@pytest.mark.parametrize("vector", ACCEPTED, ids=_id)
def test_vector_round_trips_when_the_string_is_canonical(vector: dict[str, Any]) -> None:
    string = vector["tc_string"]
    model = decode(string)
    again = encode(model, segments=segments_of(string))
    assert decode(again) == model
    assert TCModel.from_json(json.loads(json.dumps(model.to_json()))) == model


V9 = "CQd924AQd924AASACCENCNFsAP_gAEIAACiQL6QBAAGAAOANmAcAF9IAIADgAA"  # core only, 2026-01-13


def _at(model: TCModel, **changes: object) -> str:
    return encode(replace(model, **changes), segments=("core", "vendorsDisclosed"))


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"policy_version": 2}, "policy_version_too_old"),
        ({"policy_version": 3}, "policy_version_too_old"),
        ({"is_service_specific": False}, "not_service_specific"),
    ],
)
def test_validation_refuses_what_spec_section_7_forbids(
    changes: dict[str, object], code: str
) -> None:
    model = decode(V9)
    with pytest.raises(TCStringError) as caught:
        validate(_at(model, **changes), now=model.created + timedelta(days=1))
    assert caught.value.code == code


def test_validation_accepts_a_current_tcf_22_string_and_returns_its_model() -> None:
    model = decode(V9)
    assert validate(_at(model), now=model.created + timedelta(days=30)).cmp_id == 18


def test_validation_requires_disclosed_vendors_from_2026_02_28() -> None:
    model = decode(V9)
    late = replace(model, created=datetime(2026, 2, 28, tzinfo=UTC))
    core_only = encode(late, segments=("core",))
    with pytest.raises(TCStringError) as caught:
        validate(core_only, now=late.created)
    assert caught.value.code == "disclosed_vendors_missing"
    assert validate(V9, now=model.created)  # created before the deadline: core alone is fine


def test_validation_refuses_strings_older_than_13_months() -> None:
    model = decode(V9)
    validate(V9, now=model.created + timedelta(days=396))
    with pytest.raises(TCStringError) as caught:
        validate(V9, now=model.created + timedelta(days=397))
    assert caught.value.code == "expired"


def test_golden_corpus_has_1024_strings() -> None:
    assert len(GOLDEN) == 1024
    assert not any(row["expect_failure"] for row in GOLDEN)


def test_golden_corpus_decodes_equal_on_every_field_present() -> None:
    mismatches = [
        (i, field)
        for i, row in enumerate(GOLDEN)
        for field in _golden_mismatches(decode(row["tc_string"]), row["tests"]["to_json"])
    ]
    assert mismatches == []


def test_golden_corpus_reencodes_exactly_where_the_reference_does() -> None:
    reproduced = {
        i
        for i, row in enumerate(GOLDEN)
        if encode(decode(row["tc_string"]), segments=segments_of(row["tc_string"]))
        == row["tc_string"]
    }
    assert len(reproduced) == 948
    assert reproduced == set(range(1024)) - NOT_ROUND_TRIPPING


def _ids(mapping: dict[str, bool]) -> list[int]:
    return sorted(int(k) for k, on in mapping.items() if on)


def _seconds(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _golden_mismatches(model: TCModel, golden: dict[str, Any]) -> list[str]:
    ours = model.to_json()
    expected: dict[str, Any] = {
        "version": golden["version"],
        "cmpId": golden["cmp_id"],
        "cmpVersion": golden["cmp_version"],
        "consentScreen": golden["consent_screen"],
        "consentLanguage": golden["consent_language"],
        "vendorListVersion": golden["vendor_list_version"],
        "policyVersion": golden["policy_version"],
        "isServiceSpecific": golden["is_service_specific"],
        "useNonStandardTexts": golden["use_non_standard_stacks"],
        "purposeOneTreatment": golden["purpose_one_treatment"],
        "publisherCountryCode": golden["publisher_country_code"],
        "specialFeatureOptins": _ids(golden["special_features_opt_in"]),
        "purposeConsents": _ids(golden["purpose"]["consents"]),
        "purposeLegitimateInterests": _ids(golden["purpose"]["legitimate_interests"]),
        "vendorConsents": _ids(golden["vendor"]["consents"]),
        "vendorLegitimateInterests": _ids(golden["vendor"]["legitimate_interests"]),
    }
    if "disclosed" in golden["vendor"]:
        expected["vendorsDisclosed"] = _ids(golden["vendor"]["disclosed"])
    publisher = golden["publisher"]
    if "consents" in publisher:
        expected["publisherConsents"] = _ids(publisher["consents"])
        expected["publisherLegitimateInterests"] = _ids(publisher["legitimate_interests"])
        custom = publisher["custom_purposes"]
        expected["publisherCustomConsents"] = _ids(custom["consents"])
        expected["publisherCustomLegitimateInterests"] = _ids(custom["legitimate_interests"])
    wrong = [name for name, value in expected.items() if ours[name] != value]
    # The golden JSON truncates times to whole seconds.
    if model.created.replace(microsecond=0) != _seconds(golden["created"]):
        wrong.append("created")
    if model.last_updated.replace(microsecond=0) != _seconds(golden["last_updated"]):
        wrong.append("lastUpdated")
    if not _restrictions_match(model, publisher["restrictions"]):
        wrong.append("publisherRestrictions")
    return wrong


def _restrictions_match(model: TCModel, golden: dict[str, dict[str, int]]) -> bool:
    """Golden keeps one type per (purpose, vendor); ours must hold that pair with that type."""
    ours: dict[int, dict[int, frozenset[int]]] = {}
    for r in model.publisher_restrictions:
        ours.setdefault(r.purpose_id, {})[r.restriction_type] = r.vendor_ids
    if set(ours) != {int(p) for p in golden}:
        return False
    for purpose, vendors in golden.items():
        by_type: dict[int, set[int]] = {}
        for vendor, kind in vendors.items():
            by_type.setdefault(kind, set()).add(int(vendor))
        mine = ours[int(purpose)]
        if frozenset().union(*mine.values()) != {int(v) for v in vendors}:
            return False
        if any(not ids <= mine.get(kind, frozenset()) for kind, ids in by_type.items()):
            return False
    return True
