"""Mounting the web pages on the application: the areas' routers, static files, headers."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from fairview.api.deps import ServicesDep
from fairview.settings import Environment
from fairview.web import audit, console, player, privacy_centre, public
from fairview.web.render import PageHeaders, page

router = APIRouter(include_in_schema=False)

DEMO_ENVIRONMENTS = (Environment.DEMO, Environment.TEST, Environment.DEV)
"""Where the demo player page exists: never in production."""


@router.get("/", response_class=HTMLResponse)
def start(request: Request, services: ServicesDep) -> HTMLResponse:
    return page(request, "index.html", {"demo": services.settings.env in DEMO_ENVIRONMENTS})


def install(app: FastAPI) -> None:
    """Add the pages, `/static`, and the security headers of every HTML response."""
    app.include_router(router)
    for area in (console, privacy_centre, audit, public, player):
        app.include_router(area.router, include_in_schema=False)
    app.mount("/static", StaticFiles(packages=[("fairview.web", "static")]), name="static")
    app.add_middleware(PageHeaders)
