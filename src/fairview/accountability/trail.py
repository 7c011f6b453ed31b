"""Writing the audit log from a request: the actions, the purpose rule, `AuditTrail`.

Administrative changes are recorded after they succeed, with the purpose the
request stated (`X-Purpose`) or the action's default. Staff access to personal
data is recorded before the data is read and needs a stated purpose
(`stated_purpose`); without one it is refused, and nothing is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from fairview.clock import Clock
from fairview.errors import FairviewError
from fairview.storage.audit import AuditEntry, AuditLog
from fairview.storage.cohorts import MIN_PURPOSE_CHARS

MAX_PURPOSE_CHARS: Final = 500

ACTIONS: Final[Mapping[str, str]] = {
    "advertiser.created": "account administration",
    "staff.key.created": "access administration",
    "staff.key.revoked": "access administration",
    "campaign.created": "campaign management",
    "campaign.targeting.changed": "campaign management",
    "campaign.changed": "campaign management",
    "campaign.paused": "campaign management",
    "campaign.resumed": "campaign management",
    "creative.added": "campaign management",
    "creative.changed": "campaign management",
    "advertiser.key.created": "access administration",
    "advertiser.key.revoked": "access administration",
}
"""Every administrative action recorded, with the purpose used when none is stated.

Staff access to personal data is recorded as `dpo.<endpoint>` (over HTTP, see
`fairview.api.deps`) and `cohort.members.read` (the CLI); both need a stated purpose.
"""

DPO_ACTION_PREFIX: Final = "dpo."


def stated_purpose(text: str | None) -> str:
    """The purpose a person stated, trimmed; refuses a missing or too short one.

    Raises `purpose_required` (400): access to personal data needs a reason a
    reviewer can check, such as the number of the request it answers.
    """
    purpose = (text or "").strip()
    if len(purpose) < MIN_PURPOSE_CHARS:
        raise FairviewError(
            "purpose_required",
            "Access to personal data needs a stated purpose of at least "
            f"{MIN_PURPOSE_CHARS} characters in the X-Purpose header (for example the "
            "data-subject request it answers); it is written to the audit log.",
            status=400,
        )
    return purpose[:MAX_PURPOSE_CHARS]


@dataclass(frozen=True, slots=True)
class AuditTrail:
    """The audit log as one request sees it: its clock and the purpose it stated, if any."""

    log: AuditLog
    clock: Clock
    stated: str | None = None

    def record(
        self, actor: str, action: str, subject: str, detail: Mapping[str, Any]
    ) -> AuditEntry:
        """Append an administrative change (`action` must be one of `ACTIONS`)."""
        purpose = (self.stated or "").strip()[:MAX_PURPOSE_CHARS] or ACTIONS[action]
        return self.log.append(
            actor=actor,
            action=action,
            purpose=purpose,
            subject=subject,
            detail=detail,
            now_ms=self.clock.now_ms(),
        )

    def access(
        self, actor: str, action: str, subject: str, detail: Mapping[str, Any]
    ) -> AuditEntry:
        """Append an access to personal data, before it happens; needs a stated purpose."""
        return self.log.append(
            actor=actor,
            action=action,
            purpose=stated_purpose(self.stated),
            subject=subject,
            detail=detail,
            now_ms=self.clock.now_ms(),
        )
