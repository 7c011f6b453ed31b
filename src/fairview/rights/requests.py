"""Rights requests: their kinds and states, and the Art. 12(3) one-month deadline.

Every request is recorded when it is received, with the day it is due (one
calendar month later, GDPR Art. 12(3)), and again when it is answered, so the
data-protection officer sees what is open and what is late.
"""

from __future__ import annotations

import calendar
import hashlib
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from fairview.storage.rights import RightsRequestRecord


class Kind(StrEnum):
    ACCESS = "access"  # Art. 15
    PORTABILITY = "portability"  # Art. 20
    ERASURE = "erasure"  # Art. 17
    OBJECTION = "objection"  # Art. 21(2)-(3)


class Status(StrEnum):
    RECEIVED = "received"  # open: being answered, or an attempt failed and can be retried
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"  # an export stream the viewer did not read to the end


def one_month_after(ms: int) -> int:
    """The same time one calendar month later (UTC), on the month's last day if shorter.

    31 January is due on 28 (or 29) February: Art. 12(3) counts calendar months.
    """
    at = datetime.fromtimestamp(ms / 1000, tz=UTC)
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    day = min(at.day, calendar.monthrange(year, month)[1])
    return int(at.replace(year=year, month=month, day=day).timestamp() * 1000)


def received(
    kind: Kind, viewer_key: str | None, now_ms: int, detail: Mapping[str, Any] | None = None
) -> RightsRequestRecord:
    """A new request as received now, due in one month."""
    return RightsRequestRecord(
        id=f"rr_{secrets.token_urlsafe(12)}",
        viewer_key=viewer_key,
        kind=kind.value,
        received_ms=now_ms,
        due_ms=one_month_after(now_ms),
        completed_ms=None,
        status=Status.RECEIVED.value,
        detail=dict(detail or {}),
    )


def overdue(request: RightsRequestRecord, now_ms: int) -> bool:
    """Still open after its due time."""
    return request.completed_ms is None and now_ms > request.due_ms


def answered_late(request: RightsRequestRecord) -> bool:
    return request.completed_ms is not None and request.completed_ms > request.due_ms


def subject_digest(viewer_key: str) -> str:
    """A one-way hash of the pseudonym: what an erasure request keeps as its proof.

    Only someone who holds the pseudonym (fairview, given the viewer's reference
    and the pepper) can recompute it, so it shows that a viewer's erasure was
    answered without keeping anything that finds their data.
    """
    return "sha256:" + hashlib.sha256(b"fairview erasure proof\0" + viewer_key.encode()).hexdigest()
