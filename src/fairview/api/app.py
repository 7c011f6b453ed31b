"""The one application factory. Nothing opens a database at import time."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from fairview import __version__
from fairview.api import (
    audience,
    buying,
    delivery,
    errors,
    ops,
    reports,
    repository,
    rights,
    sdk,
    staff,
    video,
)
from fairview.api.deps import Services
from fairview.api.direct import DirectDispatch
from fairview.api.middleware import BodyLimit, GlobalPrivacyControl, RateLimit, StripClientIdentity
from fairview.api.schemas import DecisionRequest
from fairview.clock import Clock, SystemClock
from fairview.collect.schema import EventIn
from fairview.collect.service import Collector
from fairview.collect.writer import GroupCommitWriter
from fairview.pseudonym import Pseudonymiser
from fairview.serve.decide import Decider
from fairview.serve.pacing import Pacer
from fairview.serve.ranking import ExpectedValueRanker, Ranker
from fairview.settings import Settings
from fairview.storage import Store, open_configured
from fairview.storage.shared_writer import AsyncSharedWriter, SharedWriterClient
from fairview.tokens import TokenSigner, ViewerTokens
from fairview.web import pages


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    shared_writer: str | None = None,
) -> FastAPI:
    """Build the HTTP API on `store` (opened from settings when not given, and then
    closed with the app; a server's store checkpoints SQLite's WAL in the background).

    `shared_writer`: the socket of the supervisor's delivery writer
    (`fairview.storage.shared_writer`), which then stores the decisions' records.
    """
    owned = store is None
    store = store or open_configured(
        settings, background_checkpoint=True, checkpoints_elsewhere=shared_writer is not None
    )
    clock = clock or SystemClock()
    signer = TokenSigner(settings.token_signing_key.get_secret_value(), settings.token_ttl_s * 1000)
    writer = GroupCommitWriter(store.events)
    pseudonymiser = Pseudonymiser(settings.pseudonym_pepper.get_secret_value())
    remote = SharedWriterClient(shared_writer) if shared_writer else None
    remote_async = (
        AsyncSharedWriter(shared_writer, behind=settings.delivery_commit == "behind")
        if shared_writer
        else None
    )
    services = Services(
        settings=settings,
        store=store,
        clock=clock,
        decider=Decider(
            store,
            signer,
            pseudonymiser,
            vendor_id=settings.tcf_vendor_id,
            lia_purposes=settings.lia_purposes,
            pacer=Pacer() if settings.pacing else None,
            ranker=_ranker(settings),
            cohorts=store.cohorts,
            write_rows=remote.write if remote else None,
            write_rows_async=remote_async.write if remote_async else None,
        ),
        collector=Collector(signer, writer, max_events=settings.max_batch_events),
        pseudonymiser=pseudonymiser,
        viewers=ViewerTokens(settings.viewer_token_key.get_secret_value()),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if remote_async:
            await remote_async.drain()  # what was handed over is committed before we go
        writer.close()
        services.decider.close()
        if remote and remote_async:
            remote.close()
            remote_async.close()
        if owned:
            store.close()

    app = FastAPI(
        title="fairview",
        version=__version__,
        lifespan=lifespan,
        description="Attention-qualified video advertising, private by construction.",
        telemetry=NO_TELEMETRY,
    )
    app.state.services = services
    app.state.writer = writer
    for router in (
        delivery.player,  # first: matched on every ad
        buying.router,
        delivery.router,
        video.router,
        ops.router,
        sdk.router,
        reports.router,
        audience.router,
        rights.router,
        staff.router,
        repository.router,
    ):
        app.include_router(router)
    errors.install(app)
    pages.install(app)
    # add_middleware wraps, so the last added runs first: identity is stripped before
    # anything else sees the request, then the rate limit refuses what is over its limit
    # (before any other work), then GPC is read, then the size limit applies; then the
    # player's routes go straight to their endpoints, everything else to the router.
    app.add_middleware(DirectDispatch, api=app, routes=delivery.player.routes)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(GlobalPrivacyControl)
    app.add_middleware(RateLimit, settings=settings)
    app.add_middleware(StripClientIdentity)
    _document_event_schema(app)
    return app


NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
"""FastAPI's native OpenTelemetry, off. Left on, it would trace every request into
whatever tracer provider a deployment configures globally, before fairview's middleware
runs, with each request's path and query string: `GET /v1/vast` carries consent strings
and the viewer reference in its query. None of that is in the personal-data
registry. It also cost every request a look-up of the global providers (~5 % of a
decision's CPU in the server, measured with py-spy)."""


# The collector's writer thread releases the GIL for every commit and must get it back
# quickly; with CPython's default 5 ms switch interval it queues behind request parsing
# (the "convoy effect"), which cut measured ingestion by about a third (docs/benchmarks.md).
SERVER_SWITCH_INTERVAL_S = 0.0002


def _ranker(settings: Settings) -> Ranker | None:
    """Expected-value ranking when a trained model is configured (its file must exist)."""
    if settings.model_path is None:
        return None
    from fairview.serve.model import AttentionModel

    return ExpectedValueRanker(AttentionModel.load(Path(settings.model_path)))


def app_from_environment(shared_writer: str | None = None) -> FastAPI:
    """The application configured from FAIRVIEW_* variables (for `fairview serve`;
    each of its processes passes its supervisor's `shared_writer`).

    Two process-wide settings are made here, in the server process, and not in
    `create_app`: the interpreter's thread switch interval is shortened, and once the
    application is built every object it holds is moved out of the garbage
    collector's reach (`gc.freeze`). Without that, each full collection walked the
    whole heap of the libraries and the app, pausing every request for 130–170 ms
    (measured with `gc.callbacks`; docs/benchmarks.md). What requests allocate is
    still collected.
    """
    sys.setswitchinterval(SERVER_SWITCH_INTERVAL_S)
    app = create_app(Settings(), shared_writer=shared_writer)
    gc.collect()
    gc.freeze()
    return app


def _document_event_schema(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, object]:
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (EventIn, DecisionRequest):  # bodies validated from raw JSON bytes
            found = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(found.pop("$defs", {}))
            components[model.__name__] = found
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
