"""The decoded TC string: a frozen model and its JSON form.

Attribute names are the snake_case spelling of the fields of the IAB reference
library ``@iabtechlabtcf/core``; ``to_json`` writes the reference's camelCase names.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fairview.consent.errors import TCStringError
from fairview.consent.idset import IdSet

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_VENDOR_ID = 0xFFFF

Ids = Set[int]  # decoding yields an IdSet; a model built by hand may hold a frozenset
NO_IDS = IdSet()

# (attribute, JSON name, largest id) for every id set except publisher restrictions.
ID_SETS: tuple[tuple[str, str, int], ...] = (
    ("special_feature_optins", "specialFeatureOptins", 12),
    ("purpose_consents", "purposeConsents", 24),
    ("purpose_legitimate_interests", "purposeLegitimateInterests", 24),
    ("vendor_consents", "vendorConsents", MAX_VENDOR_ID),
    ("vendor_legitimate_interests", "vendorLegitimateInterests", MAX_VENDOR_ID),
    ("vendors_disclosed", "vendorsDisclosed", MAX_VENDOR_ID),
    ("vendors_allowed", "vendorsAllowed", MAX_VENDOR_ID),
    ("publisher_consents", "publisherConsents", 24),
    ("publisher_legitimate_interests", "publisherLegitimateInterests", 24),
    ("publisher_custom_consents", "publisherCustomConsents", 63),
    ("publisher_custom_legitimate_interests", "publisherCustomLegitimateInterests", 63),
)

# (attribute, JSON name, bit width) for the integer header fields.
INT_FIELDS: tuple[tuple[str, str, int], ...] = (
    ("version", "version", 6),
    ("cmp_id", "cmpId", 12),
    ("cmp_version", "cmpVersion", 12),
    ("consent_screen", "consentScreen", 6),
    ("vendor_list_version", "vendorListVersion", 12),
    ("policy_version", "policyVersion", 6),
    ("num_custom_purposes", "numCustomPurposes", 6),
)

BOOL_FIELDS: tuple[tuple[str, str], ...] = (
    ("is_service_specific", "isServiceSpecific"),
    ("use_non_standard_texts", "useNonStandardTexts"),
    ("purpose_one_treatment", "purposeOneTreatment"),
)


@dataclass(frozen=True, slots=True)
class PublisherRestriction:
    """Vendors for which the publisher restricts one purpose (type 0, 1 or 2)."""

    purpose_id: int
    restriction_type: int
    vendor_ids: Ids

    def to_json(self) -> dict[str, Any]:
        return {
            "purposeId": self.purpose_id,
            "restrictionType": self.restriction_type,
            "vendorIds": sorted(self.vendor_ids),
        }


@dataclass(frozen=True, slots=True)
class TCModel:
    """One TC string's fields; id sets hold 1-based ids (``IdSet`` when decoded).

    ``created`` and ``last_updated`` are UTC datetimes at decisecond precision.
    ``publisher_restrictions`` keep the order of first appearance in the string,
    one entry per (purpose, type) pair, as the reference library keeps them.
    """

    created: datetime
    last_updated: datetime
    cmp_id: int
    cmp_version: int = 0
    consent_screen: int = 0
    consent_language: str = "EN"
    vendor_list_version: int = 0
    policy_version: int = 5
    is_service_specific: bool = True
    use_non_standard_texts: bool = False
    special_feature_optins: Ids = NO_IDS
    purpose_consents: Ids = NO_IDS
    purpose_legitimate_interests: Ids = NO_IDS
    purpose_one_treatment: bool = False
    publisher_country_code: str = "AA"
    vendor_consents: Ids = NO_IDS
    vendor_legitimate_interests: Ids = NO_IDS
    publisher_restrictions: tuple[PublisherRestriction, ...] = ()
    vendors_disclosed: Ids = NO_IDS
    vendors_allowed: Ids = NO_IDS
    publisher_consents: Ids = NO_IDS
    publisher_legitimate_interests: Ids = NO_IDS
    num_custom_purposes: int = 0
    publisher_custom_consents: Ids = NO_IDS
    publisher_custom_legitimate_interests: Ids = NO_IDS
    version: int = 2

    def to_json(self) -> dict[str, Any]:
        """The JSON object ``fairview tcf decode`` prints (reference field names)."""
        out: dict[str, Any] = {
            "version": self.version,
            "created": format_time(self.created),
            "lastUpdated": format_time(self.last_updated),
            "cmpId": self.cmp_id,
            "cmpVersion": self.cmp_version,
            "consentScreen": self.consent_screen,
            "consentLanguage": self.consent_language,
            "vendorListVersion": self.vendor_list_version,
            "policyVersion": self.policy_version,
            "isServiceSpecific": self.is_service_specific,
            "useNonStandardTexts": self.use_non_standard_texts,
            "purposeOneTreatment": self.purpose_one_treatment,
            "publisherCountryCode": self.publisher_country_code,
            "numCustomPurposes": self.num_custom_purposes,
        }
        for attr, name, _ in ID_SETS:
            out[name] = sorted(getattr(self, attr))
        out["publisherRestrictions"] = [r.to_json() for r in self.publisher_restrictions]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TCModel:
        """Build a model from ``to_json`` output; refuses unknown keys and bad types.

        Missing keys take the dataclass defaults, except ``created`` and ``cmpId``
        which are required; ``lastUpdated`` defaults to ``created`` and ``numCustomPurposes``
        to the highest custom purpose id.
        """
        if not isinstance(data, Mapping):
            raise _bad_json("The model must be a JSON object.")
        unknown = set(data) - _JSON_NAMES
        if unknown:
            raise _bad_json(f"Unknown field(s) {sorted(unknown)}; use the names `decode` prints.")
        if "created" not in data or "cmpId" not in data:
            raise _bad_json("The fields 'created' (ISO-8601 UTC time) and 'cmpId' are required.")
        kwargs: dict[str, Any] = {"created": parse_time(data["created"], "created")}
        kwargs["last_updated"] = parse_time(data.get("lastUpdated", data["created"]), "lastUpdated")
        for attr, name, _ in INT_FIELDS:
            if name in data:
                kwargs[attr] = _json_int(data[name], name)
        for attr, name in BOOL_FIELDS:
            if name in data:
                kwargs[attr] = _json_bool(data[name], name)
        for attr, name in (
            ("consent_language", "consentLanguage"),
            ("publisher_country_code", "publisherCountryCode"),
        ):
            if name in data:
                kwargs[attr] = _json_letters(data[name], name)
        for attr, name, _ in ID_SETS:
            if name in data:
                kwargs[attr] = _json_ids(data[name], name)
        if "publisherRestrictions" in data:
            kwargs["publisher_restrictions"] = _json_restrictions(data["publisherRestrictions"])
        if "numCustomPurposes" not in data:
            custom = kwargs.get("publisher_custom_consents", frozenset()) | kwargs.get(
                "publisher_custom_legitimate_interests", frozenset()
            )
            kwargs["num_custom_purposes"] = max(custom, default=0)
        return cls(**kwargs)


_JSON_NAMES = (
    {name for _, name, _ in INT_FIELDS}
    | {name for _, name in BOOL_FIELDS}
    | {name for _, name, _ in ID_SETS}
    | {"created", "lastUpdated", "consentLanguage", "publisherCountryCode"}
    | {"publisherRestrictions"}
)


def deciseconds_to_time(deciseconds: int) -> datetime:
    return EPOCH + timedelta(milliseconds=100 * deciseconds)


def time_to_deciseconds(moment: datetime) -> int:
    """Round to deciseconds half up, as the reference's ``Math.round(ms / 100)``."""
    delta = moment - EPOCH
    millis = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    return (millis + 50) // 100


def format_time(moment: datetime) -> str:
    """ISO-8601 with milliseconds and ``Z``, as JavaScript's ``toISOString``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise _bad_json(f"'{name}' must be an ISO-8601 string such as 2025-06-03T00:00:00.000Z.")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _bad_json(
            f"'{name}' is not ISO-8601; write it as 2025-06-03T00:00:00.000Z."
        ) from None
    if moment.tzinfo is None:
        raise _bad_json(f"'{name}' needs a time zone; end it with Z for UTC.")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise _bad_json(f"'{name}' lies outside the years 1970–2187.") from None


def _bad_json(detail: str) -> TCStringError:
    return TCStringError("bad_model", detail)


def _json_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad_json(f"'{name}' must be an integer.")
    return value


def _json_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise _bad_json(f"'{name}' must be true or false.")
    return value


def _json_letters(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise _bad_json(f"'{name}' must be a two-letter code such as EN or DE.")
    return value.upper()


def _json_ids(value: Any, name: str) -> Ids:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise _bad_json(f"'{name}' must be a list of integer ids.")
    return frozenset(value)


def _json_restrictions(value: Any) -> tuple[PublisherRestriction, ...]:
    if not isinstance(value, list):
        raise _bad_json("'publisherRestrictions' must be a list of objects.")
    return tuple(_json_restriction(item) for item in value)


def _json_restriction(item: Any) -> PublisherRestriction:
    keys = {"purposeId", "restrictionType", "vendorIds"}
    if not isinstance(item, Mapping) or set(item) != keys:
        raise _bad_json(
            "Each publisher restriction must be {purposeId, restrictionType, vendorIds}."
        )
    return PublisherRestriction(
        purpose_id=_json_int(item["purposeId"], "purposeId"),
        restriction_type=_json_int(item["restrictionType"], "restrictionType"),
        vendor_ids=_json_ids(item["vendorIds"], "vendorIds"),
    )
