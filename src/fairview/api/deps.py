"""The services a request may use, and who is asking (as `Annotated` aliases).

Credentials come in three realms, each checked only where it applies
(docs/access.md): advertiser keys (`AdvertiserDep`), staff keys with one role
(`StaffDep`, `OperatorDep`, `AggregatesDep`, `DpoDep`; the bootstrap admin key
from settings is an operator) and the platform's viewer tokens (the viewer's own
routes). A credential of another realm is unknown where it is sent: 401. A staff
key whose role the endpoint does not allow: 403.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from fairview.accountability.roles import BOOTSTRAP_OPERATOR, Role, StaffMember
from fairview.accountability.trail import DPO_ACTION_PREFIX, MAX_PURPOSE_CHARS, AuditTrail
from fairview.clock import Clock
from fairview.collect.service import Collector
from fairview.domain import AdvertiserRecord
from fairview.errors import Forbidden, Unauthorized
from fairview.pseudonym import Pseudonymiser
from fairview.serve.decide import Decider
from fairview.settings import Settings
from fairview.storage import Store
from fairview.tokens import ViewerTokens


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    clock: Clock
    decider: Decider
    collector: Collector
    pseudonymiser: Pseudonymiser
    viewers: ViewerTokens


def services_of(request: Request) -> Services:
    """The application's services (for endpoints that take the request alone)."""
    services: Services = request.app.state.services
    return services


async def _services(request: Request) -> Services:
    # async so that FastAPI does not hop to a worker thread just to read app state
    return services_of(request)


ServicesDep = Annotated[Services, Depends(_services)]


def _bearer(authorization: str | None) -> str:
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthorized("unauthorized", "Send 'Authorization: Bearer <key>'.")
    return authorization.removeprefix("Bearer ").strip()


def _advertiser(
    services: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> AdvertiserRecord:
    advertiser = services.store.catalog.advertiser_for_key(_bearer(authorization))
    if advertiser is None:
        raise Unauthorized("unauthorized", "The API key is unknown or revoked.")
    return advertiser


AdvertiserDep = Annotated[AdvertiserRecord, Depends(_advertiser)]


def _staff(
    services: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> StaffMember:
    key = _bearer(authorization)
    admin = services.settings.admin_api_key.get_secret_value()
    if hmac.compare_digest(key.encode(), admin.encode()):
        return BOOTSTRAP_OPERATOR
    record = services.store.staff.for_key(key)
    if record is None:
        raise Unauthorized(
            "unauthorized",
            "This needs a staff key (operator, analyst or dpo); the key sent is not one, "
            "or it was revoked.",
        )
    return StaffMember(record.role, record.prefix, record.name)


StaffDep = Annotated[StaffMember, Depends(_staff)]


def _role(*allowed: Role) -> Callable[[StaffMember], StaffMember]:
    names = " or ".join(r.value for r in allowed)

    def check(staff: StaffDep) -> StaffMember:
        if staff.role not in allowed:
            raise Forbidden(
                "forbidden", f"This needs the {names} role; this key has the {staff.role} role."
            )
        return staff

    return check


OperatorDep = Annotated[StaffMember, Depends(_role(Role.OPERATOR))]
"""Platform administration: the bootstrap admin key or an operator staff key."""
AggregatesDep = Annotated[StaffMember, Depends(_role(Role.OPERATOR, Role.ANALYST))]
"""Aggregate figures (nothing per viewer): operators and analysts."""
_DpoRole = Annotated[StaffMember, Depends(_role(Role.DPO))]


def _trail(
    services: ServicesDep,
    x_purpose: Annotated[
        str | None,
        Header(
            max_length=MAX_PURPOSE_CHARS,
            description="Why (e.g. the data-subject request it answers); written to the "
            "audit log. Required for the data-protection officer's access to personal data.",
        ),
    ] = None,
) -> AuditTrail:
    return AuditTrail(services.store.audit, services.clock, x_purpose)


AuditDep = Annotated[AuditTrail, Depends(_trail)]


def _dpo(request: Request, staff: _DpoRole, trail: AuditDep) -> StaffMember:
    """The data-protection officer, with a stated purpose, recorded before anything is read.

    Every endpoint behind this dependency is access to personal data (rights
    requests, the audit log, the cohort audit): the record is `dpo.<endpoint>`,
    its subject the path asked for. No purpose: 400 `purpose_required`, nothing read.
    """
    record_dpo_access(request, staff, trail)
    return staff


def record_dpo_access(request: Request, staff: StaffMember, trail: AuditTrail) -> None:
    """Write `dpo.<route name>` for this request, before anything is read (also the pages').

    Its subject is the path asked for; `detail` has the method, the route and the
    query. Refuses (400 `purpose_required`) a trail without a stated purpose.
    """
    route = request.scope.get("route")
    trail.access(
        staff.actor,
        DPO_ACTION_PREFIX + str(getattr(route, "name", "request")),
        request.url.path,
        {
            "method": request.method,
            "route": str(getattr(route, "path", request.url.path)),
            "query": request.url.query[:MAX_PURPOSE_CHARS],
        },
    )


DpoDep = Annotated[StaffMember, Depends(_dpo)]
