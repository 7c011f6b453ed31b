"""Who may ask: the staff roles and the principal a request authenticates as.

Advertisers are a realm of their own (their keys live with their accounts in the
catalog) and viewers are authorised by the platform's signed tokens; this module
names the staff side. docs/access.md has the full table of who may do what.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """A staff key's one role. Separation of duties: no role includes another."""

    OPERATOR = "operator"
    """Platform administration: advertiser accounts, staff keys, ingestion, ops counters."""
    ANALYST = "analyst"
    """Aggregates only (ops counters); never anything per viewer."""
    DPO = "dpo"
    """Data-protection officer: the audit log, rights requests, the cohort audit."""


@dataclass(frozen=True, slots=True)
class StaffMember:
    """An authenticated staff principal: its role, the key's public prefix and its name."""

    role: Role
    key_prefix: str
    name: str

    @property
    def actor(self) -> str:
        """How the audit log names this principal, e.g. `dpo:fvs_1a2b3c4d (Jane Doe)`."""
        return f"{self.role.value}:{self.key_prefix} ({self.name})"


BOOTSTRAP_OPERATOR = StaffMember(Role.OPERATOR, "bootstrap", "FAIRVIEW_ADMIN_API_KEY")
"""The principal of the bootstrap admin key from settings: an operator."""


def advertiser_actor(advertiser_id: str) -> str:
    """How the audit log names an advertiser account acting with its API key."""
    return f"advertiser:{advertiser_id}"
