"""The public ad repository pages (`/repository`): no sign-in, no cookie, no viewer data.

- `/repository`: search ads by advertiser, payer, content topic and the period
  they were shown, a page of results at a time;
- `/repository/ads/{id}`: one ad, its payer, period, main targeting parameters and
  its differentially private reach per member state.

Both call the JSON API's own route functions (`search_ads`, `get_ad`), so the
pages and `/v1/repository/ads` answer the same.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from fairview.api.deps import Services
from fairview.api.repository import REACH_NOTE, get_ad, search_ads
from fairview.errors import FairviewError, NotFound
from fairview.web.render import page

router = APIRouter()

PAGE_SIZE = 20
MAX_PAGE = 10_000
FIELDS = ("advertiser", "payer", "topic", "from", "to")
LIMITS = {"advertiser": 200, "payer": 200, "topic": 100, "from": 10, "to": 10}


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


@router.get("/repository", response_class=HTMLResponse)
def search_page(request: Request) -> HTMLResponse:
    services: Services = request.app.state.services
    params = request.query_params
    query = {f: params.get(f, "").strip()[: LIMITS[f]] for f in FIELDS}
    try:
        number = min(max(int(params.get("page", "1")), 1), MAX_PAGE)
    except ValueError:
        number = 1
    errors: dict[str, str] = {}
    first = _date(query["from"]) if query["from"] else None
    last = _date(query["to"]) if query["to"] else None
    if query["from"] and first is None:
        errors["from"] = "Enter the first day as a date, e.g. 2026-10-01."
    if query["to"] and last is None:
        errors["to"] = "Enter the last day as a date, e.g. 2026-10-31."
    found = None
    if not errors:
        try:
            found = search_ads(
                services,
                advertiser=query["advertiser"] or None,
                payer=query["payer"] or None,
                topic=query["topic"] or None,
                first=first,
                last=last,
                limit=PAGE_SIZE,
                offset=(number - 1) * PAGE_SIZE,
            )
        except FairviewError as exc:
            if exc.code != "bad_period":
                raise
            errors["to"] = "The last day is before the first day: give the first, then the last."
    kept = {k: v for k, v in query.items() if v}
    pages = 0 if found is None else max((found.total + PAGE_SIZE - 1) // PAGE_SIZE, 1)

    def link(n: int) -> str:
        return "/repository?" + urlencode(kept | ({"page": str(n)} if n > 1 else {}))

    context: dict[str, Any] = {
        "query": query,
        "errors": errors,
        "found": found,
        "number": number,
        "pages": pages,
        "first": link(1),
        "previous": link(number - 1) if found is not None and number > 1 else None,
        "next": link(number + 1) if found is not None and number < pages else None,
        "searched": bool(kept),
        "page_size": PAGE_SIZE,
        "api": "/v1/repository/ads" + (("?" + urlencode(kept)) if kept else ""),
    }
    return page(request, "repository/search.html", context, status=422 if errors else 200)


@router.get("/repository/ads/{ad_id}", response_class=HTMLResponse)
def ad_page(request: Request, ad_id: str) -> HTMLResponse:
    services: Services = request.app.state.services
    try:
        ad = get_ad(ad_id[:200], services)
    except NotFound as exc:
        raise NotFound(
            exc.code, "No ad with this id was shown in the last year. Search the repository."
        ) from None
    context = {"ad": ad, "note": REACH_NOTE, "api": f"/v1/repository/ads/{ad.id}"}
    return page(request, "repository/ad.html", context)
