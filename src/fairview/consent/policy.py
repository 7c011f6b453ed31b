"""The consent policy: signals in, `Permissions` out (spec/consent.md, rows D01–D25).

Pure: no I/O, no clock (the decision date is passed in). Every decision names the
table rows that produced it, so that a decision can be explained and audited.
Legitimate interest never grants purpose 1 or 3–6, and any purpose it does grant
needs a stored legitimate-interest assessment (passed in as `lia_purposes`).
"""

from __future__ import annotations

import functools
from collections.abc import Set
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum

from fairview.consent.regions import Jurisdiction, art8_age, jurisdiction

NEVER_LI = frozenset({1, 3, 4, 5, 6})
DISCLOSED_VENDORS_REQUIRED_FROM = date(2026, 2, 28)
MAX_AGE_DAYS = 396  # 13 months: a CMP must re-surface choices at least that often
ADULT = 18


class Mode(StrEnum):
    PERSONALISED = "personalised"
    CONTEXTUAL = "contextual"
    NON_PERSONALISED = "non_personalised"
    NONE = "none"


class Measurement(StrEnum):
    USER = "user"
    EVENT = "event"
    AGGREGATE = "aggregate"
    NONE = "none"


@dataclass(frozen=True)
class TcfSignal:
    """What the policy reads of a decoded TC string (our vendor's view of it)."""

    created: date
    policy_version: int
    is_service_specific: bool
    purpose_one_treatment: bool
    purpose_consents: Set[int]
    purpose_li: Set[int]
    vendor_consents: Set[int]
    vendor_li: Set[int]
    vendors_disclosed: Set[int] | None  # None: no disclosed-vendors segment
    # publisher restrictions: (purpose, restriction type, vendor ids)
    restrictions: tuple[tuple[int, int, Set[int]], ...] = ()
    special_features: Set[int] = frozenset()


@dataclass(frozen=True)
class UsPrivacy:
    """The GPP US fields the table reads (1 = opted out, 2 = did not; 0 = n/a)."""

    sale_opt_out: int = 0
    sharing_opt_out: int = 0
    targeted_advertising_opt_out: int = 0
    known_child_consents: tuple[int, ...] = ()


@dataclass(frozen=True)
class Signals:
    region: str | None
    today: date
    tcf: TcfSignal | None = None
    tcf_invalid: bool = False
    us: UsPrivacy | None = None
    gpc: bool = False
    age: int | None = None
    sensitive_context: bool = False
    objected: bool = False  # a stored Art. 21 objection (an erasure is not one)


@dataclass(frozen=True)
class Permissions:
    mode: Mode
    storage: bool
    measurement: Measurement
    purposes: frozenset[str]
    rows: tuple[str, ...]
    first_party_only: bool = False
    precise_geo: bool = False

    @property
    def profiling(self) -> bool:
        """Only a personalised decision may read or write a viewer's profile (T6)."""
        return self.mode is Mode.PERSONALISED


SERVICE = frozenset({"SP1", "SP2"})
_NPA = Permissions(Mode.NON_PERSONALISED, False, Measurement.AGGREGATE, SERVICE, ())


@dataclass(frozen=True)
class _Vendor:
    """Our vendor's effective legal bases, per purpose, after §7 and restrictions."""

    consent: frozenset[int]
    li: frozenset[int]
    listed_for_consent: bool
    precise_geo: bool = False
    denied: frozenset[int] = field(default_factory=frozenset)

    def basis(self, purpose: int) -> bool:
        return purpose in self.consent or purpose in self.li


def decide(signals: Signals, *, vendor_id: int, lia_purposes: frozenset[int]) -> Permissions:
    """The permissions for one request. Never raises: missing or odd signals mean less."""
    law = jurisdiction(signals.region)
    if law in (Jurisdiction.EU, Jurisdiction.UK, Jurisdiction.UNKNOWN):
        result = _european(signals, law, vendor_id, lia_purposes)
    elif law is Jurisdiction.US_CA:
        result = _california(signals)
    elif law is Jurisdiction.US_UOOM:
        result = _opt_out_state(signals)
    else:
        result = _elsewhere(signals)
    if signals.objected and result.mode is Mode.PERSONALISED:
        result = _contextual(result, "D16", storage=result.storage, measurement=Measurement.EVENT)
    elif signals.objected:
        result = replace(result, rows=(*result.rows, "D16"))
    if law is Jurisdiction.UNKNOWN:
        result = replace(result, rows=(*result.rows, "D25"))
    return result


def _european(s: Signals, law: Jurisdiction, vendor_id: int, lia: frozenset[int]) -> Permissions:
    uk = law is Jurisdiction.UK
    if s.tcf is None or s.tcf_invalid or not _tcf_valid(s.tcf, s.today):
        return _npa("D18" if uk else "D01")
    if _missing_disclosure(s.tcf, vendor_id):
        return _npa("D09")
    if not s.tcf.purpose_consents and not s.tcf.purpose_li:  # refused or objected to all
        return _npa("D15")
    vendor = _vendor_view(s.tcf, vendor_id, lia)
    if s.age is not None and s.age < art8_age(s.region):
        return _npa("D11")
    base = _by_bases(vendor, uk)
    if base.mode is Mode.NON_PERSONALISED:
        return base
    if s.age is not None and s.age < ADULT:
        base = _contextual(
            base,
            "D19" if uk else "D12",
            measurement=Measurement.EVENT,
            purposes=_present(vendor, 1, 2, 7),
        )
    if s.sensitive_context:
        base = _contextual(
            base, "D13", measurement=Measurement.AGGREGATE, purposes=_present(vendor, 1, 2)
        )
    if s.gpc:
        base = _contextual(
            base,
            "D10",
            measurement=Measurement.EVENT,
            first_party_only=True,
            purposes=_present(vendor, 1, 2, 7),
        )
    return replace(base, precise_geo=vendor.precise_geo and base.mode is not Mode.NONE)


@functools.cache
def _npa(row: str) -> Permissions:
    """Non-personalised ads for the table row `row` (one shared, immutable value)."""
    return replace(_NPA, rows=(row,))


def _by_bases(v: _Vendor, uk: bool) -> Permissions:
    """Rows D02–D08 and D14: what the legal bases for our vendor allow."""
    p1, p2, p7 = 1 in v.consent, v.basis(2), v.basis(7)
    profiles = {3, 4} <= v.consent
    if not v.listed_for_consent:  # D07: the vendor consent bit is 0
        mode = Mode.CONTEXTUAL if 2 in v.li else Mode.NON_PERSONALISED
        measurement = Measurement.EVENT if 7 in v.li else Measurement.AGGREGATE
        return Permissions(mode, False, measurement, _li_present(v, 2, 7) | SERVICE, ("D07",))
    if p1 and p2 and profiles and p7:
        return Permissions(
            Mode.PERSONALISED,
            True,
            Measurement.USER,
            _present(v, 1, 2, 3, 4, 7, 9, 10),
            ("D17" if uk else "D02",),
        )
    if p1 and p2 and {3, 4} & v.denied:
        return Permissions(Mode.CONTEXTUAL, True, Measurement.USER, _present(v, 1, 2, 7), ("D08",))
    if p1 and p2 and p7:
        return Permissions(Mode.CONTEXTUAL, True, Measurement.USER, _present(v, 1, 2, 7), ("D03",))
    if p1 and p2:
        return Permissions(
            Mode.CONTEXTUAL, True, Measurement.AGGREGATE, _present(v, 1, 2), ("D05",)
        )
    if p2:
        row = "D06" if profiles else "D04"
        measurement = Measurement.EVENT if p7 else Measurement.AGGREGATE
        return Permissions(Mode.CONTEXTUAL, False, measurement, _present(v, 2, 7), (row,))
    # No basis for even limited-data ad selection (P2): only delivery and security run.
    return _npa("D15")


def _contextual(
    base: Permissions,
    row: str,
    *,
    measurement: Measurement,
    storage: bool | None = None,
    purposes: frozenset[str] | None = None,
    first_party_only: bool = False,
) -> Permissions:
    """Cap a decision at contextual: never more than it already allowed."""
    keep = base.mode if base.mode is not Mode.PERSONALISED else Mode.CONTEXTUAL
    return Permissions(
        mode=keep,
        storage=base.storage if storage is None else storage and base.storage,
        measurement=_lesser(base.measurement, measurement),
        purposes=(base.purposes if purposes is None else purposes & base.purposes) | SERVICE,
        rows=(*base.rows, row),
        first_party_only=first_party_only or base.first_party_only,
    )


_RANK = [Measurement.NONE, Measurement.AGGREGATE, Measurement.EVENT, Measurement.USER]


def _lesser(a: Measurement, b: Measurement) -> Measurement:
    return min(a, b, key=_RANK.index)


def _present(v: _Vendor, *purposes: int) -> frozenset[str]:
    return frozenset(f"P{p}" for p in purposes if v.basis(p)) | SERVICE


def _li_present(v: _Vendor, *purposes: int) -> frozenset[str]:
    return frozenset(f"P{p}" for p in purposes if p in v.li)


def _tcf_valid(tc: TcfSignal, today: date) -> bool:
    """§7 validation: policy ≥ 4, service-specific, no older than 13 months."""
    fresh = 0 <= (today - tc.created).days <= MAX_AGE_DAYS
    return tc.policy_version >= 4 and tc.is_service_specific and fresh


def _missing_disclosure(tc: TcfSignal, vendor_id: int) -> bool:
    """TCF 2.3: strings created from 2026-02-28 must disclose our vendor."""
    if tc.created < DISCLOSED_VENDORS_REQUIRED_FROM:
        return False
    return tc.vendors_disclosed is None or vendor_id not in tc.vendors_disclosed


def _vendor_view(tc: TcfSignal, vendor_id: int, lia: frozenset[int]) -> _Vendor:
    """Per-purpose bases for our vendor (§7), publisher restrictions applied."""
    restricted = {(p, t) for p, t, vendors in tc.restrictions if vendor_id in vendors}
    denied = frozenset(p for p, t in restricted if t == 0)
    no_li = frozenset(p for p, t in restricted if t == 1) | denied
    no_consent = frozenset(p for p, t in restricted if t == 2) | denied
    listed = vendor_id in tc.vendor_consents
    consent = frozenset(tc.purpose_consents if listed else ()) - no_consent
    if tc.purpose_one_treatment:  # D14: every EU/EEA request needs a real P1 consent
        consent -= {1}
    disclosed = tc.vendors_disclosed is None or vendor_id in tc.vendors_disclosed
    li: frozenset[int] = frozenset()
    if vendor_id in tc.vendor_li and disclosed:
        li = (frozenset(tc.purpose_li) - NEVER_LI - no_li) & lia
    return _Vendor(consent, li, listed, precise_geo=1 in tc.special_features, denied=denied)


def _california(s: Signals) -> Permissions:
    us = s.us or UsPrivacy()
    if s.age is not None and s.age < 16 and 2 not in us.known_child_consents:
        if s.age < 13:
            return replace(_NPA, rows=("D22",))
        return Permissions(
            Mode.CONTEXTUAL,
            True,
            Measurement.AGGREGATE,
            SERVICE | {"P2"},
            ("D22",),
            first_party_only=True,
        )
    if s.gpc or us.sale_opt_out == 1 or us.sharing_opt_out == 1:
        return _us_opted_out("D21")
    if s.sensitive_context:
        return Permissions(
            Mode.CONTEXTUAL, True, Measurement.EVENT, SERVICE | {"P2", "P7"}, ("D20", "D13")
        )
    if s.age is not None and s.age < ADULT:
        # CCPA would allow it from 16; fairview never profiles a known minor (D12's rule,
        # applied everywhere).
        return Permissions(
            Mode.CONTEXTUAL, True, Measurement.EVENT, SERVICE | {"P2", "P7"}, ("D20", "D12")
        )
    return Permissions(
        Mode.PERSONALISED,
        True,
        Measurement.USER,
        SERVICE | {"P1", "P2", "P3", "P4", "P7"},
        ("D20",),
    )


def _opt_out_state(s: Signals) -> Permissions:
    us = s.us or UsPrivacy()
    if s.gpc or us.targeted_advertising_opt_out == 1 or us.sale_opt_out == 1:
        return _us_opted_out("D23")
    return _elsewhere(s)


def _us_opted_out(row: str) -> Permissions:
    """No sale, sharing or cross-context targeting: first-party context and measurement."""
    return Permissions(
        Mode.CONTEXTUAL,
        True,
        Measurement.EVENT,
        SERVICE | {"P2", "P7"},
        (row,),
        first_party_only=True,
    )


def _elsewhere(s: Signals) -> Permissions:
    """D24: no law we read, no signal: contextual by design, nothing on the device."""
    del s
    return Permissions(Mode.CONTEXTUAL, False, Measurement.AGGREGATE, SERVICE | {"P2"}, ("D24",))
