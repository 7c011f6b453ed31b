"""Consent signals: the IAB TCF v2 TC string codec (pure, no I/O)."""

from fairview.consent.errors import TCStringError
from fairview.consent.tcf import (
    MAX_TC_STRING_LENGTH,
    decode,
    decode_with_segments,
    segments_of,
    validate,
)
from fairview.consent.tcf_encode import default_segments, encode
from fairview.consent.tcf_model import PublisherRestriction, TCModel

__all__ = [
    "MAX_TC_STRING_LENGTH",
    "PublisherRestriction",
    "TCModel",
    "TCStringError",
    "decode",
    "decode_with_segments",
    "default_segments",
    "encode",
    "segments_of",
    "validate",
]
