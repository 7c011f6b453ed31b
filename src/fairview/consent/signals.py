"""From the raw signals of one request to the policy's `Signals`.

Reads the TC string with the TCF codec and the GPP string with the GPP decoder;
a malformed string never raises here: it counts as an invalid signal, which the
policy treats like no signal (the strictest reading), and its error code is kept
so the caller can report it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from fairview.consent.errors import TCStringError
from fairview.consent.gpp import GppError, decode_gpp, us_privacy
from fairview.consent.policy import Signals, TcfSignal
from fairview.consent.tcf import DISCLOSED, decode_with_segments


@dataclass(frozen=True)
class RawSignals:
    """What a request carries: coarse region, TC and GPP strings, GPC, age, context."""

    region: str | None
    tc_string: str | None = None
    gpp_string: str | None = None
    gpc: bool = False
    age: int | None = None
    sensitive_context: bool = False


@dataclass(frozen=True)
class ReadSignals:
    signals: Signals
    errors: dict[str, str]  # signal name -> stable error code


def read_signals(raw: RawSignals, *, today: date, objected: bool = False) -> ReadSignals:
    errors: dict[str, str] = {}
    tcf = None
    if raw.tc_string:
        try:
            tcf = tcf_signal(raw.tc_string)
        except TCStringError as exc:
            errors["tc_string"] = exc.code
    us = None
    if raw.gpp_string:
        try:
            us = us_privacy(decode_gpp(raw.gpp_string), raw.region)
        except GppError as exc:
            errors["gpp_string"] = exc.code
    signals = Signals(
        region=raw.region,
        today=today,
        tcf=tcf,
        tcf_invalid="tc_string" in errors,
        us=us,
        gpc=raw.gpc,
        age=raw.age,
        sensitive_context=raw.sensitive_context,
        objected=objected,
    )
    return ReadSignals(signals, errors)


@lru_cache(maxsize=4096)
def tcf_signal(tc_string: str) -> TcfSignal:
    """The policy's view of a TC string; raises TCStringError when it cannot be read.

    A viewer's player sends the same string with every request, so decoded strings
    are kept in a small in-memory cache (transient; never written anywhere).
    """
    model, segments = decode_with_segments(tc_string)
    restrictions = tuple(
        (r.purpose_id, r.restriction_type, r.vendor_ids) for r in model.publisher_restrictions
    )
    return TcfSignal(
        created=model.created.date(),
        policy_version=model.policy_version,
        is_service_specific=model.is_service_specific,
        purpose_one_treatment=model.purpose_one_treatment,
        purpose_consents=model.purpose_consents,
        purpose_li=model.purpose_legitimate_interests,
        vendor_consents=model.vendor_consents,
        vendor_li=model.vendor_legitimate_interests,
        vendors_disclosed=model.vendors_disclosed if DISCLOSED in segments else None,
        restrictions=restrictions,
        special_features=model.special_feature_optins,
    )
