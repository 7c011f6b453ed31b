"""Rendering pages: the Jinja2 environment, the security headers, and server timing.

Every HTML response fairview sends carries a strict Content-Security-Policy (only
fairview's own scripts, styles, images and media; no inline script; no framing),
`Referrer-Policy: no-referrer` (a viewer token in a privacy-centre URL never leaks
to another site), `Cache-Control: no-store` and a `Server-Timing` header with the
time fairview spent on the page, which the page benchmark reads (bench/pages.py).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fairview import __version__
from fairview.web import is_page

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
"""The Content-Security-Policy of every page: fairview's own files only, no inline script."""

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), browsing-topics=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)


@cache
def templates() -> Environment:
    env = Environment(
        loader=PackageLoader("fairview.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(static=static_url, version=__version__)
    env.filters.update(money=money, when=when, number=number)
    return env


@cache
def static_url(name: str) -> str:
    """`/static/<name>?v=<content hash>`: cacheable for long, refreshed when it changes."""
    data = files("fairview.web").joinpath("static", name).read_bytes()
    return f"/static/{name}?v={hashlib.sha256(data).hexdigest()[:12]}"


def page(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render `template` with `context` (plus `request` and `path`) as an HTML response."""
    body = (
        templates()
        .get_template(template)
        .render(request=request, path=request.url.path, **(context or {}))
    )
    return HTMLResponse(body, status_code=status, headers=dict(headers or {}))


def money(value: float | int | None, currency: str = "") -> str:
    """12345.5 → '12,345.50 EUR' (amounts are stored in major units)."""
    if value is None:
        return "—"
    return f"{value:,.2f} {currency}".rstrip()


def number(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def when(ms: int | None) -> str:
    """Epoch milliseconds → '2026-11-23 14:05 UTC'."""
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


class PageHeaders:
    """Adds the security headers and `Server-Timing` to the HTML responses of the pages.

    Only fairview's own pages (`fairview.web.is_page`): an HTML file some deployment
    mounts beside fairview keeps its own policy.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_page(scope["path"]):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                kind = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if kind.startswith(b"text/html"):
                    present = {k.lower() for k, _ in headers}
                    headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                    elapsed = (time.perf_counter() - started) * 1000
                    headers.append((b"server-timing", f"app;dur={elapsed:.1f}".encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
