"""Which law a coarse region falls under, and its digital-consent age (GDPR Art. 8).

Regions arrive as `DE`, `EU-DE`, `DE-BY`, `GB`, `UK`, `US-CA`, … (ARCHITECTURE §4:
country or first-level subdivision). An unknown or missing region gets the
strictest rules (row D25): the EU's, with the highest consent age.
"""

from __future__ import annotations

import functools
from enum import StrEnum


class Jurisdiction(StrEnum):
    EU = "eu"  # the EU and the EEA
    UK = "uk"
    US_CA = "us-ca"
    US_UOOM = "us-uoom"  # US states where GPC is a universal opt-out mechanism
    OTHER = "other"
    UNKNOWN = "unknown"


# SWD(2020) 115 as summarised in spec/consent.md §5; Slovenia 15 (ZVOP-2); every
# EU/EEA state not listed (including NO, IS, LI, unverified) uses the default 16.
_ART8_AGE = {
    "BE": 13, "DK": 13, "EE": 13, "FI": 13, "LV": 13, "MT": 13, "PT": 13, "SE": 13,
    "AT": 14, "BG": 14, "CY": 14, "IT": 14, "LT": 14, "ES": 14,
    "CZ": 15, "FR": 15, "GR": 15, "EL": 15, "SI": 15,
    "HR": 16, "DE": 16, "HU": 16, "IE": 16, "LU": 16, "NL": 16, "PL": 16, "RO": 16, "SK": 16,
}  # fmt: skip
EEA = frozenset(_ART8_AGE) | {"NO", "IS", "LI"}
DEFAULT_ART8_AGE = 16
UK_ART8_AGE = 13
# Colorado, Connecticut and the other states that recognise a universal opt-out signal.
UOOM_STATES = frozenset({"CO", "CT", "TX", "OR", "MT", "DE", "NJ", "NH", "MN", "MD", "NE"})


@functools.lru_cache(maxsize=4096)  # read several times per decision; regions are few
def split_region(region: str | None) -> tuple[str | None, str | None]:
    """`EU-DE` → (DE, None); `US-CA` → (US, CA); `DE` → (DE, None)."""
    if not region:
        return None, None
    parts = region.upper().split("-")
    if parts[0] == "EU" and len(parts) == 2:
        return parts[1], None
    return parts[0], parts[1] if len(parts) > 1 else None


def jurisdiction(region: str | None) -> Jurisdiction:
    country, part = split_region(region)
    if country is None or country in ("ZZ", "XX", "EU"):
        return Jurisdiction.UNKNOWN
    if country in EEA:
        return Jurisdiction.EU
    if country in ("GB", "UK"):
        return Jurisdiction.UK
    if country == "US":
        if part == "CA":
            return Jurisdiction.US_CA
        if part in UOOM_STATES:
            return Jurisdiction.US_UOOM
        return Jurisdiction.OTHER
    return Jurisdiction.OTHER


def art8_age(region: str | None) -> int:
    """The age below which a child's own consent is not valid there (strictest if unknown)."""
    country, _ = split_region(region)
    if country in ("GB", "UK"):
        return UK_ART8_AGE
    return _ART8_AGE.get(country or "", DEFAULT_ART8_AGE)
