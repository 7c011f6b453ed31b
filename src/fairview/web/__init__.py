"""The web pages fairview serves to people, and the files it serves to browsers.

Server-rendered (Jinja2) on the same services as the JSON API: every page calls the
function its API route calls, so there is one logic path (docs/web.md). Areas:

- `/console`: the advertiser console (signed in with an advertiser key);
- `/privacy-centre`: the viewer's privacy centre (the platform's signed viewer token);
- `/audit`: the auditor / DPO view (a staff key; role-gated);
- `/repository`: the public ad repository (no sign-in);
- `/demo/player`: the demo player page (demo and test deployments only).

Nothing here loads a third-party asset: the CSS and the few lines of JS are in
`static/`, served by fairview under a strict Content-Security-Policy (`render.py`).
"""

from __future__ import annotations

PAGE_PREFIXES = ("/console", "/privacy-centre", "/audit", "/repository", "/demo")
"""Paths whose errors are answered as HTML pages rather than JSON (besides `/`)."""


def is_page(path: str) -> bool:
    """Whether `path` is one of the web pages (its errors render as HTML)."""
    return path == "/" or any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES)
