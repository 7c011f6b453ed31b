"""The viewer's rights (export, erasure, objection) and their tracking.

- `GET /v1/me/data`: everything held about the viewer, as one streamed JSON
  document (Art. 15 access; `?right=portability` for Art. 20).
- `POST /v1/me/erasure`: erase the viewer (Art. 17), complete before the answer.
- `POST /v1/me/objection`: no more profiling or personalised ads, for good (Art. 21).
- `GET /v1/rights/requests` (data-protection officer): every request with its
  Art. 12(3) deadline, open and overdue ones first to see.

The viewer's routes are authorised by the platform's signed viewer token
(`Authorization: Bearer <token>`); each request is recorded with its times.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from fairview.api.deps import DpoDep, Services, ServicesDep
from fairview.api.schemas import to_datetime
from fairview.rights.erasure import erase_viewer, object_to_profiling
from fairview.rights.export import open_export
from fairview.rights.requests import Kind, Status, answered_late, overdue
from fairview.storage.rights import RightsRequestRecord

router = APIRouter(prefix="/v1")

ViewerAuth = Annotated[str | None, Header(alias="Authorization")]


class RightsRequestPublic(BaseModel):
    id: str = Field(description="The request's receipt number.")
    kind: Literal["access", "portability", "erasure", "objection"]
    status: Literal["received", "completed", "interrupted"] = Field(
        description="received: open (being answered, or an attempt failed: repeat it); "
        "interrupted: an export the reader did not read to the end."
    )
    received_at: datetime
    due_at: datetime = Field(description="One calendar month after receipt (GDPR Art. 12(3)).")
    completed_at: datetime | None
    overdue: bool = Field(description="Still open after its due time.")
    answered_late: bool = Field(description="Completed after its due time.")
    detail: dict[str, Any] = Field(description="What was done, per table or store.")

    @classmethod
    def of(cls, r: RightsRequestRecord, now_ms: int) -> RightsRequestPublic:
        return cls(
            id=r.id,
            kind=r.kind,
            status=r.status,
            received_at=to_datetime(r.received_ms),
            due_at=to_datetime(r.due_ms),
            completed_at=None if r.completed_ms is None else to_datetime(r.completed_ms),
            overdue=overdue(r, now_ms),
            answered_late=answered_late(r),
            detail=dict(r.detail),
        )


class RightsRequestsPublic(BaseModel):
    requests: list[RightsRequestPublic]


def _viewer(services: Services, authorization: str | None) -> str:
    token = authorization.removeprefix("Bearer ").strip() if authorization else None
    user_ref = services.viewers.user_ref(token, services.clock.now_ms())
    return services.pseudonymiser.viewer_key(user_ref)


@router.get(
    "/me/data",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/json": {}}, "description": "The export."}},
)
def my_data(
    services: ServicesDep,
    authorization: ViewerAuth = None,
    right: Annotated[
        Literal["access", "portability"],
        Query(description="Recorded as an Art. 15 access or an Art. 20 portability request."),
    ] = "access",
) -> StreamingResponse:
    """Everything fairview holds about the viewer, streamed as one JSON document.

    Sections per table say what the data is, why it is held, on what basis and
    for how long; the document ends with `"complete": true`.
    """
    viewer = _viewer(services, authorization)
    request, body = open_export(services.store, viewer, Kind(right), services.clock)
    return StreamingResponse(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="fairview-export.json"',
            "Cache-Control": "no-store",
            "X-Rights-Request": request.id,
        },
    )


@router.post("/me/erasure", response_model=RightsRequestPublic)
def erase_me(services: ServicesDep, authorization: ViewerAuth = None) -> RightsRequestPublic:
    """Erase everything held about the viewer, except what a stated legal obligation keeps.

    Complete when this answers: the next decision finds no profile, cohort,
    frequency history or stored consent. No objection is recorded, so later
    signals start from nothing. Repeating it is harmless.
    """
    viewer = _viewer(services, authorization)
    now_ms = services.clock.now_ms()
    return RightsRequestPublic.of(erase_viewer(services.store, viewer, now_ms), now_ms)


@router.post("/me/objection", response_model=RightsRequestPublic)
def object_me(services: ServicesDep, authorization: ViewerAuth = None) -> RightsRequestPublic:
    """Object to profiling and personalised ads, permanently, whatever later TC strings say."""
    viewer = _viewer(services, authorization)
    now_ms = services.clock.now_ms()
    return RightsRequestPublic.of(object_to_profiling(services.store, viewer, now_ms), now_ms)


@router.get("/rights/requests", response_model=RightsRequestsPublic)
def rights_requests(
    services: ServicesDep,
    _: DpoDep,
    status: Annotated[Status | None, Query(description="Only requests in this state.")] = None,
    kind: Annotated[Kind | None, Query(description="Only requests of this kind.")] = None,
    overdue_only: Annotated[
        bool, Query(alias="overdue", description="Only open requests past their due time.")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RightsRequestsPublic:
    """Rights requests, newest first, with their deadline state (no viewer pseudonyms)."""
    now_ms = services.clock.now_ms()
    found = services.store.rights.requests(
        status=None if status is None else status.value,
        kind=None if kind is None else kind.value,
        open_and_due_before_ms=now_ms if overdue_only else None,
        limit=limit,
    )
    return RightsRequestsPublic(requests=[RightsRequestPublic.of(r, now_ms) for r in found])
