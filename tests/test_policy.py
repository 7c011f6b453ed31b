"""The consent policy: one test per decision-table row (D01–D25) and per policy assertion."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairview.consent.policy import (
    Measurement,
    Mode,
    Permissions,
    Signals,
    TcfSignal,
    UsPrivacy,
    decide,
)
from fairview.consent.regions import Jurisdiction, art8_age, jurisdiction

VENDOR = 1234
LIA = frozenset({2, 7, 9, 10})
TODAY = date(2026, 11, 22)
ALL = frozenset(range(1, 12))


def _tc(**overrides: object) -> TcfSignal:
    """A valid TC string in which the viewer consented to everything for our vendor."""
    tc = TcfSignal(
        created=date(2026, 10, 1), policy_version=5, is_service_specific=True,
        purpose_one_treatment=False, purpose_consents=ALL, purpose_li=frozenset({2, 7, 9, 10}),
        vendor_consents=frozenset({VENDOR}), vendor_li=frozenset({VENDOR}),
        vendors_disclosed=frozenset({VENDOR}), special_features=frozenset({1}),
    )  # fmt: skip
    return replace(tc, **overrides)  # type: ignore[arg-type]


def _decide(region: str | None = "DE", **signals: object) -> Permissions:
    base = {"tcf": _tc()}
    base.update(signals)
    return decide(
        Signals(region=region, today=TODAY, **base),
        vendor_id=VENDOR,  # type: ignore[arg-type]
        lia_purposes=LIA,
    )


def _is(p: Permissions, mode: Mode, storage: bool, measurement: Measurement, row: str) -> None:
    assert (p.mode, p.storage, p.measurement) == (mode, storage, measurement), p
    assert row in p.rows, p.rows


@pytest.mark.parametrize("tcf", [None, "invalid", "v_old", "not_service_specific", "stale"])
def test_d01_invalid_or_absent_tc_string(tcf: str | None) -> None:
    tc = {
        None: None,
        "invalid": _tc(),
        "v_old": _tc(policy_version=3),
        "not_service_specific": _tc(is_service_specific=False),
        "stale": _tc(created=date(2025, 9, 1)),
    }[tcf]
    p = _decide(tcf=tc, tcf_invalid=tcf == "invalid")
    _is(p, Mode.NON_PERSONALISED, False, Measurement.AGGREGATE, "D01")
    assert p.purposes == {"SP1", "SP2"}


def test_d02_full_consent_adult_is_personalised() -> None:
    p = _decide(age=30)
    _is(p, Mode.PERSONALISED, True, Measurement.USER, "D02")
    assert {"P1", "P2", "P3", "P4", "P7"} <= p.purposes
    assert p.profiling


def test_d03_li_bits_for_profiling_are_ignored() -> None:
    tc = _tc(purpose_consents=frozenset({1, 2, 7}), purpose_li=frozenset({2, 3, 4, 7}))
    p = _decide(tcf=tc)
    _is(p, Mode.CONTEXTUAL, True, Measurement.USER, "D03")
    assert not {"P3", "P4"} & p.purposes


def test_d04_no_p1_means_no_device_storage() -> None:
    tc = _tc(purpose_consents=frozenset(), purpose_li=frozenset({2, 7}))
    _is(_decide(tcf=tc), Mode.CONTEXTUAL, False, Measurement.EVENT, "D04")


def test_d05_no_basis_for_measurement_is_aggregate() -> None:
    tc = _tc(purpose_consents=frozenset({1, 2}), purpose_li=frozenset())
    _is(_decide(tcf=tc), Mode.CONTEXTUAL, True, Measurement.AGGREGATE, "D05")


def test_d06_profiles_without_p1_are_not_used() -> None:
    tc = _tc(purpose_consents=frozenset({2, 3, 4, 7}), purpose_li=frozenset())
    p = _decide(tcf=tc)
    _is(p, Mode.CONTEXTUAL, False, Measurement.EVENT, "D06")
    assert not p.profiling


def test_d07_vendor_consent_bit_zero() -> None:
    with_li = _decide(tcf=_tc(vendor_consents=frozenset()))
    _is(with_li, Mode.CONTEXTUAL, False, Measurement.EVENT, "D07")
    without = _decide(tcf=_tc(vendor_consents=frozenset(), vendor_li=frozenset()))
    _is(without, Mode.NON_PERSONALISED, False, Measurement.AGGREGATE, "D07")


def test_d08_publisher_restriction_on_profiling() -> None:
    tc = _tc(restrictions=((3, 0, frozenset({VENDOR})),))
    _is(_decide(tcf=tc), Mode.CONTEXTUAL, True, Measurement.USER, "D08")


def test_d09_vendor_not_disclosed_after_the_tcf_23_date() -> None:
    assert "D09" in _decide(tcf=_tc(vendors_disclosed=frozenset({1}))).rows
    missing = _decide(tcf=_tc(vendors_disclosed=None))
    _is(missing, Mode.NON_PERSONALISED, False, Measurement.AGGREGATE, "D09")
    older = _decide(tcf=_tc(created=date(2026, 1, 10), vendors_disclosed=None))
    assert older.mode is Mode.PERSONALISED


def test_d10_gpc_is_an_objection_to_profiling_in_the_eu() -> None:
    p = _decide(gpc=True)
    _is(p, Mode.CONTEXTUAL, True, Measurement.EVENT, "D10")
    assert p.first_party_only
    assert p.purposes <= {"P1", "P2", "P7", "SP1", "SP2"}


@pytest.mark.parametrize(("region", "age"), [("DE", 15), ("FR", 14), ("BE", 12), (None, 15)])
def test_d11_below_the_national_consent_age(region: str | None, age: int) -> None:
    _is(_decide(region=region, age=age), Mode.NON_PERSONALISED, False, Measurement.AGGREGATE, "D11")


@pytest.mark.parametrize(("region", "age"), [("DE", 16), ("FR", 15), ("BE", 13), ("DE", 17)])
def test_d12_minors_above_the_consent_age_get_no_profiling(region: str, age: int) -> None:
    p = _decide(region=region, age=age)
    _is(p, Mode.CONTEXTUAL, True, Measurement.EVENT, "D12")
    assert not p.profiling


def test_d13_special_category_context_is_never_profiled() -> None:
    p = _decide(sensitive_context=True)
    _is(p, Mode.CONTEXTUAL, True, Measurement.AGGREGATE, "D13")
    assert not p.profiling


def test_d14_purpose_one_treatment_reads_as_no_p1() -> None:
    tc = _tc(
        purpose_one_treatment=True, purpose_consents=frozenset({1}), purpose_li=frozenset({2, 7})
    )
    _is(_decide(tcf=tc), Mode.CONTEXTUAL, False, Measurement.EVENT, "D04")


def test_d15_objected_to_everything() -> None:
    tc = _tc(purpose_consents=frozenset(), purpose_li=frozenset())
    _is(_decide(tcf=tc), Mode.NON_PERSONALISED, False, Measurement.AGGREGATE, "D15")


def test_d16_a_stored_objection_overrides_any_later_consent() -> None:
    p = _decide(objected=True)
    assert p.mode is Mode.CONTEXTUAL and "D16" in p.rows
    assert not p.profiling


def test_d17_uk_full_consent() -> None:
    _is(_decide(region="GB", age=40), Mode.PERSONALISED, True, Measurement.USER, "D17")


def test_d18_uk_without_a_valid_string() -> None:
    _is(_decide(region="UK", tcf=None), Mode.NON_PERSONALISED, False, Measurement.AGGREGATE, "D18")


def test_d19_uk_teenagers() -> None:
    p = _decide(region="GB", age=14)
    _is(p, Mode.CONTEXTUAL, True, Measurement.EVENT, "D19")
    assert "D11" in _decide(region="GB", age=12).rows


def test_d20_california_without_opt_out() -> None:
    p = _decide(region="US-CA", tcf=None, us=UsPrivacy(sale_opt_out=2, sharing_opt_out=2), age=30)
    _is(p, Mode.PERSONALISED, True, Measurement.USER, "D20")


@pytest.mark.parametrize("age", [16, 17])
def test_d20_california_minors_aged_16_and_17_are_never_profiled(age: int) -> None:
    p = _decide(region="US-CA", tcf=None, us=UsPrivacy(sale_opt_out=2, sharing_opt_out=2), age=age)
    assert p.mode is Mode.CONTEXTUAL and not p.profiling
    assert p.rows == ("D20", "D12")


@pytest.mark.parametrize("signal", ["gpc", "sale", "sharing"])
def test_d21_california_opt_out_or_gpc(signal: str) -> None:
    us = UsPrivacy(
        sale_opt_out=1 if signal == "sale" else 2, sharing_opt_out=1 if signal == "sharing" else 2
    )
    p = _decide(region="US-CA", tcf=None, us=us, gpc=signal == "gpc")
    _is(p, Mode.CONTEXTUAL, True, Measurement.EVENT, "D21")
    assert p.first_party_only


def test_d22_california_minors_need_an_opt_in() -> None:
    teen = _decide(region="US-CA", tcf=None, age=14)
    _is(teen, Mode.CONTEXTUAL, True, Measurement.AGGREGATE, "D22")
    child = _decide(region="US-CA", tcf=None, age=12)
    _is(child, Mode.NON_PERSONALISED, False, Measurement.AGGREGATE, "D22")
    opted_in = _decide(region="US-CA", tcf=None, age=14, us=UsPrivacy(known_child_consents=(2, 2)))
    assert "D20" in opted_in.rows


@pytest.mark.parametrize("region", ["US-CO", "US-CT", "US-TX"])
def test_d23_universal_opt_out_states(region: str) -> None:
    p = _decide(region=region, tcf=None, gpc=True)
    _is(p, Mode.CONTEXTUAL, True, Measurement.EVENT, "D23")
    assert (
        "D23" in _decide(region=region, tcf=None, us=UsPrivacy(targeted_advertising_opt_out=1)).rows
    )


@pytest.mark.parametrize("region", ["JP", "BR", "US-WA"])
def test_d24_elsewhere_is_contextual_with_nothing_on_the_device(region: str) -> None:
    _is(_decide(region=region, tcf=None), Mode.CONTEXTUAL, False, Measurement.AGGREGATE, "D24")


@pytest.mark.parametrize("region", [None, "", "ZZ", "EU"])
def test_d25_unknown_region_gets_the_eu_rules(region: str | None) -> None:
    assert "D25" in _decide(region=region).rows
    assert _decide(region=region, tcf=None).mode is Mode.NON_PERSONALISED
    assert "D11" in _decide(region=region, age=15).rows  # the strictest consent age


def test_t1_legitimate_interest_never_grants_p1_or_p3_to_p6() -> None:
    tc = _tc(purpose_consents=frozenset(), purpose_li=ALL)
    p = decide(Signals("DE", TODAY, tcf=tc), vendor_id=VENDOR, lia_purposes=ALL)
    assert not {"P1", "P3", "P4", "P5", "P6"} & p.purposes
    assert not p.storage
    assert not p.profiling


def test_li_needs_a_stored_assessment() -> None:
    tc = _tc(purpose_consents=frozenset(), purpose_li=frozenset({2, 7}))
    without = decide(Signals("DE", TODAY, tcf=tc), vendor_id=VENDOR, lia_purposes=frozenset())
    assert "D15" in without.rows


def test_t2_precise_geo_only_with_special_feature_one() -> None:
    assert _decide().precise_geo
    assert not _decide(tcf=_tc(special_features=frozenset())).precise_geo


def test_regions() -> None:
    assert jurisdiction("EU-DE") is Jurisdiction.EU
    assert jurisdiction("DE-BY") is Jurisdiction.EU
    assert jurisdiction("NO") is Jurisdiction.EU
    assert jurisdiction("US-DE") is Jurisdiction.US_UOOM
    assert jurisdiction("US-CA") is Jurisdiction.US_CA
    assert (art8_age("EU-FR"), art8_age("SE"), art8_age("GB"), art8_age(None)) == (15, 13, 13, 16)


_ids = st.frozensets(st.integers(1, 11))


@settings(max_examples=300, deadline=None)
@given(
    region=st.sampled_from(["DE", "FR", "GB", "US-CA", "US-CO", "JP", None, "ZZ"]),
    consents=_ids, li=_ids, vendor_consent=st.booleans(), vendor_li=st.booleans(),
    gpc=st.booleans(), age=st.none() | st.integers(5, 90), sensitive=st.booleans(),
    objected=st.booleans(), p1t=st.booleans(),
)  # fmt: skip
def test_t6_and_the_invariants_hold_for_any_signals(
    region: str | None,
    consents: frozenset[int],
    li: frozenset[int],
    vendor_consent: bool,
    vendor_li: bool,
    gpc: bool,
    age: int | None,
    sensitive: bool,
    objected: bool,
    p1t: bool,
) -> None:
    tc = _tc(
        purpose_consents=consents,
        purpose_li=li,
        purpose_one_treatment=p1t,
        vendor_consents=frozenset({VENDOR} if vendor_consent else ()),
        vendor_li=frozenset({VENDOR} if vendor_li else ()),
    )
    p = decide(
        Signals(
            region, TODAY, tcf=tc, gpc=gpc, age=age, sensitive_context=sensitive, objected=objected
        ),
        vendor_id=VENDOR,
        lia_purposes=LIA,
    )
    assert p.rows  # every decision says why
    assert p.profiling == (p.mode is Mode.PERSONALISED)  # T6: only PERS may touch a profile
    if p.profiling:
        assert not (objected or sensitive or gpc)
        assert age is None or age >= 18
        assert {3, 4} <= consents or jurisdiction(region) is Jurisdiction.US_CA
    if jurisdiction(region) in (Jurisdiction.EU, Jurisdiction.UK, Jurisdiction.UNKNOWN):
        assert not p.storage or (1 in consents and vendor_consent and not p1t)
    assert {"SP1", "SP2"} <= p.purposes
