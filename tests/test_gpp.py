"""GPP strings: the header, usnat and usca, checked against the IAB reference library."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairview.consent.gpp import GppError, decode_gpp, us_privacy

from oracle_process import ask

TC = "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA"


@pytest.mark.parametrize(
    ("gpp", "ids"),
    [(f"DBABM~{TC}", (2,)), (f"DBACNY~{TC}~1YNN", (2, 6)), (f"DBABjw~{TC}~1YNN", (5, 6))],
)
def test_spec_header_examples(gpp: str, ids: tuple[int, ...]) -> None:
    decoded = decode_gpp(gpp)
    assert decoded.section_ids == ids
    assert decoded.sections.get("tcfeuv2", TC) == TC  # the TC string passes through as is


def test_usnat_and_usca_fields() -> None:
    decoded = decode_gpp("DBABrw~CAAQAAAAAABA.YA~BAIAAABA.QA")
    usnat, usca = decoded.sections["usnat"], decoded.sections["usca"]
    assert (usnat["Version"], usnat["SaleOptOut"], usnat["Gpc"]) == (2, 1, True)
    assert len(usnat["SensitiveDataProcessing"]) == 16
    assert (usca["SharingOptOut"], usca["Gpc"], usca["KnownChildSensitiveDataConsents"]) == (
        2,
        False,
        [0, 0],
    )


@pytest.mark.parametrize(
    ("gpp", "code"),
    [
        ("", "empty_gpp"),
        ("CPXxRfAPXxRfA", "bad_gpp_header"),
        ("DBABM", "section_count_mismatch"),
        (f"DBABM~{TC}~extra", "section_count_mismatch"),
        ("DBA*M~x", "bad_base64"),
        ("DB", "bad_bit_length"),
        ("DBABrw~C~B", "bad_bit_length"),
        ("DBABrw~~", "bad_section"),
        ("D" * 9000, "too_long"),
    ],
)
def test_malformed_strings_have_stable_codes(gpp: str, code: str) -> None:
    with pytest.raises(GppError) as caught:
        decode_gpp(gpp)
    assert caught.value.code == code
    assert caught.value.detail


@settings(max_examples=400, deadline=None)
@given(
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~.*=", max_size=80
    )
)
def test_arbitrary_input_never_crashes(gpp: str) -> None:
    try:
        decode_gpp(gpp)
        code = "ok"
    except GppError as exc:
        code = exc.code
    assert code.isidentifier()


def _random_fields(rng: random.Random) -> dict[str, dict[str, Any]]:
    fields: dict[str, dict[str, Any]] = {}
    if rng.random() < 0.8:
        version = rng.choice([1, 2])
        categories, children = (12, 2) if version == 1 else (16, 3)
        fields["usnat"] = {
            "Version": version,
            **{n: rng.randint(0, 2) for n in (
                "SharingNotice", "SaleOptOutNotice", "SharingOptOutNotice",
                "TargetedAdvertisingOptOutNotice", "SensitiveDataProcessingOptOutNotice",
                "SensitiveDataLimitUseNotice", "SaleOptOut", "SharingOptOut",
                "TargetedAdvertisingOptOut", "PersonalDataConsents", "MspaOptOutOptionMode",
                "MspaServiceProviderMode")},
            "MspaCoveredTransaction": rng.randint(1, 2),
            "SensitiveDataProcessing": [rng.randint(0, 2) for _ in range(categories)],
            "KnownChildSensitiveDataConsents": [rng.randint(0, 2) for _ in range(children)],
            "Gpc": rng.random() < 0.5,
        }  # fmt: skip
    if rng.random() < 0.6 or not fields:
        fields["usca"] = {
            **{n: rng.randint(0, 2) for n in (
                "SaleOptOutNotice", "SharingOptOutNotice", "SensitiveDataLimitUseNotice",
                "SaleOptOut", "SharingOptOut", "PersonalDataConsents", "MspaOptOutOptionMode",
                "MspaServiceProviderMode")},
            "MspaCoveredTransaction": rng.randint(1, 2),
            "SensitiveDataProcessing": [rng.randint(0, 2) for _ in range(9)],
            "KnownChildSensitiveDataConsents": [rng.randint(0, 2) for _ in range(2)],
            "Gpc": rng.random() < 0.5,
        }  # fmt: skip
    return fields


def test_decoding_agrees_with_the_iab_reference_library() -> None:
    rng = random.Random(20261122)
    models = [_random_fields(rng) for _ in range(2_000)]
    encoded = ask("gpp.cjs", "@iabgpp/cmpapi", [{"op": "encode", "fields": m} for m in models])
    strings = [e["s"] for e in encoded if "s" in e]
    assert len(strings) == len(models), [e for e in encoded if "error" in e][:3]
    reference = ask("gpp.cjs", "@iabgpp/cmpapi", [{"op": "decode", "s": s} for s in strings])
    differences = [
        (s, ref)
        for s, ref in zip(strings, reference, strict=True)
        if decode_gpp(s).to_json() != {"sectionIds": ref["sectionIds"], "sections": ref["sections"]}
    ]
    assert differences == []


def test_us_privacy_prefers_the_state_section() -> None:
    gpp = decode_gpp("DBABrw~CAAQAAAAAABA.YA~BAIAAABA.QA")  # usnat: sale opt-out; usca: sharing
    california = us_privacy(gpp, "US-CA")
    assert (california.sale_opt_out, california.sharing_opt_out) == (0, 2)
    national = us_privacy(gpp, "US-TX")
    assert national.sale_opt_out == 1
    assert us_privacy(decode_gpp(f"DBABM~{TC}"), "US-CA") == us_privacy(
        decode_gpp(f"DBABM~{TC}"), None
    )
