"""Erasure (Art. 17) and objection (Art. 21(2)-(3)), each recorded as a rights request.

Erasure applies every registry entry's rule in one database transaction, then
erases the non-relational stores (Redis counters), then truncates SQLite's
write-ahead log; the request is completed when all of that is done, before the
response. Nothing of the viewer is remembered: the erasure request keeps only a
one-way hash of the pseudonym, and no objection is recorded, so a later
signal from the same viewer starts from nothing.

An objection is the opposite: it is remembered for good (it overrides every
later consent signal in `Decider.permissions`), and the profile built for the
purposes objected to is deleted at once.
"""

from __future__ import annotations

from fairview.registry import kept_columns
from fairview.rights.mirrors import mirrors
from fairview.rights.requests import Kind, Status, received, subject_digest
from fairview.storage import Store
from fairview.storage.rights import RightsRequestRecord

VIEWER = "viewer (own request, verified viewer token)"


def erase_viewer(store: Store, viewer_key: str, now_ms: int) -> RightsRequestRecord:
    """Erase the viewer everywhere the registry says; idempotent (a repeat removes nothing).

    If a store fails, the request stays `received` (and shows as open to the
    data-protection officer); repeating the request finishes the work.
    """
    digest = subject_digest(viewer_key)
    request = received(Kind.ERASURE, None, now_ms, {"subject": digest})
    store.rights.open(request)
    removed = store.rights.erase(viewer_key)
    for name, mirror in mirrors(store).items():
        removed[name] = mirror.erase(viewer_key)
    detail = {
        "subject": digest,
        "removed": removed,
        "kept": sorted({table for table, _ in kept_columns()}),
        "storage_compacted": store.rights.compact(),
    }
    store.rights.finish(
        request.id, status=Status.COMPLETED.value, completed_ms=now_ms, detail=detail
    )
    _audit(store, request.id, "rights.erasure", "GDPR Art. 17 request of the viewer", now_ms)
    return _done(store, request.id)


def object_to_profiling(store: Store, viewer_key: str, now_ms: int) -> RightsRequestRecord:
    """Record the objection (it stands for good) and delete the profile and cohort membership.

    Decisions stop personalising at once (policy row D16, whatever later TC
    strings say); views no longer build a profile. Removed topics and the pause
    stay: they are the viewer's own choices.
    """
    request = received(Kind.OBJECTION, viewer_key, now_ms)
    store.rights.open(request)
    store.consents.object(viewer_key, Kind.OBJECTION.value, now_ms)
    profile_rows = store.audience.forget_profile(viewer_key)
    store.rights.finish(
        request.id,
        status=Status.COMPLETED.value,
        completed_ms=now_ms,
        detail={"profile_rows_removed": profile_rows},
    )
    _audit(store, request.id, "rights.objection", "GDPR Art. 21 objection of the viewer", now_ms)
    return _done(store, request.id)


def _audit(store: Store, request_id: str, action: str, purpose: str, now_ms: int) -> None:
    """Record the change in the audit log, by request id: never the pseudonym."""
    store.audit.append(
        actor=VIEWER,
        action=action,
        purpose=purpose,
        subject=f"rights_request:{request_id}",
        detail={},
        now_ms=now_ms,
    )


def _done(store: Store, request_id: str) -> RightsRequestRecord:
    record = store.rights.get(request_id)
    assert record is not None, "a request just written is readable"
    return record
