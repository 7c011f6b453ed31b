"""The services a request may use, and who is asking (as `Annotated` aliases)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from fairview.clock import Clock
from fairview.collect.service import Collector
from fairview.domain import AdvertiserRecord
from fairview.errors import Unauthorized
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


async def _services(request: Request) -> Services:
    # async so that FastAPI does not hop to a worker thread just to read app state
    services: Services = request.app.state.services
    return services


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


def _operator(services: ServicesDep, authorization: Annotated[str | None, Header()] = None) -> None:
    expected = services.settings.admin_api_key.get_secret_value()
    if not hmac.compare_digest(_bearer(authorization).encode(), expected.encode()):
        raise Unauthorized("unauthorized", "This needs the platform operator's key.")


AdvertiserDep = Annotated[AdvertiserRecord, Depends(_advertiser)]
OperatorDep = Annotated[None, Depends(_operator)]


def _dpo(services: ServicesDep, authorization: Annotated[str | None, Header()] = None) -> None:
    """The data-protection officer (rights requests, audit log, cohort audit).

    Until staff keys with roles exist, the operator's key stands in.
    """
    _operator(services, authorization)


DpoDep = Annotated[None, Depends(_dpo)]
