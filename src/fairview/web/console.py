"""The advertiser console: campaigns, their creatives and their reports, as pages.

Signed in with the advertiser's API key (a session cookie, `web/session.py`).
Every page calls the function its JSON API route calls (`fairview.api.buying`,
`fairview.api.reports`), so validation, ownership, the audit trail and the
privacy budget behave exactly as they do over HTTP:

- a campaign page of a campaign that is not the advertiser's answers with a 403
  page (`campaign_not_yours`), and so does a missing one: the API's ownership
  check decides, and the page never reveals whether another advertiser's
  campaign exists;
- looking at a report spends no privacy budget: the page shows the exact
  contractual figures (ledger per day, campaign verdict totals) and the latest
  *stored* DP release; only the "Release a DP report" button runs
  `delivery_report`, which charges the budget and stores what it released.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from fairview.accountability.trail import AuditTrail
from fairview.api import buying
from fairview.api import reports as api_reports
from fairview.api.deps import Services, _advertiser
from fairview.api.errors import validation_errors
from fairview.api.responses import JSONBytes
from fairview.api.schemas import (
    CampaignCreate,
    CampaignPublic,
    CampaignUpdate,
    CreativeCreate,
    CreativePublic,
    CreativeUpdate,
    TargetingIn,
    to_ms,
)
from fairview.domain import AdvertiserRecord, BillingModel
from fairview.errors import FairviewError, Forbidden, NotFound
from fairview.report.dp import Grain
from fairview.serve.context import DeviceClass
from fairview.serve.pacing import daily_goal
from fairview.web import charts, session
from fairview.web.render import page


def _campaign_is_theirs(request: Request) -> None:
    """Every `/console/campaigns/{campaign_id}…` page: the API's ownership check, as a 403.

    A missing campaign gets the same 403 as another advertiser's, so the answer
    says nothing about which campaign ids exist.
    """
    campaign_id = request.path_params.get("campaign_id")
    if campaign_id is None:
        return
    services, advertiser, _ = _signed_in(request)
    try:
        buying.own_campaign(services, advertiser, campaign_id)
    except NotFound:
        raise Forbidden(
            "campaign_not_yours",
            "This campaign is not in your account (or it does not exist). Open one from "
            "your campaign list.",
        ) from None


router = APIRouter(dependencies=[Depends(_campaign_is_theirs)])

SIGN_IN = "/console/sign-in"
DAY_MS = 86_400_000
_EPOCH = date(1970, 1, 1)
MAX_CHART_DAYS = api_reports.MAX_BILLING_DAYS
TARGETING_LABELS = {
    "regions": "Countries or regions",
    "languages": "Content languages",
    "devices": "Devices",
    "placements": "Placements",
    "topics": "Next to content topics",
    "blocked_topics": "Never next to",
    "interests": "Interests",
    "frequency_cap": "Frequency cap",
    "cap_max": "At most this many ads per viewer",
    "cap_days": "In this many days",
}
DEVICE_NAMES = {
    DeviceClass.MOBILE.value: "Mobile",
    DeviceClass.TABLET.value: "Tablet",
    DeviceClass.DESKTOP.value: "Desktop",
    DeviceClass.TV.value: "TV",
}
TARGETING_LISTS = ("regions", "languages", "placements", "topics", "blocked_topics", "interests")
LABELS = {
    "name": "Campaign name",
    "billing_model": "Billing model",
    "bid": "Bid",
    "budget_total": "Total budget",
    "budget_daily": "Daily budget",
    "starts_at": "First day",
    "ends_at": "Last day",
    "payer": "Paid for by",
    "duration_s": "Length in seconds",
    "media_url": "Video file URL",
    "api_key": "API key",
}
CREATIVE_LABELS = {"name": "Creative name"}
MODELS = {
    BillingModel.CPFV.value: "Cost per focused view (CPFV)",
    BillingModel.CPM_VIEWABLE.value: "Cost per 1,000 viewable impressions (vCPM)",
}


# -- helpers ---------------------------------------------------------------------------------


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _signed_in(request: Request) -> tuple[Services, AdvertiserRecord, session.Session]:
    advertiser, sess = session.advertiser(request, SIGN_IN)
    return _services(request), advertiser, sess


def _trail(services: Services) -> AuditTrail:
    return AuditTrail(services.store.audit, services.clock, None)


def _context(
    services: Services, advertiser: AdvertiserRecord, sess: session.Session
) -> dict[str, Any]:
    return {
        "advertiser": advertiser,
        "csrf": session.csrf_token(services, sess),
        "models": MODELS,
        "labels": LABELS,
    }


def _text(form: Mapping[str, Any], name: str, limit: int = 400) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def major(minor: int | float | None) -> float | None:
    """Minor units (the API's and the ledger's) to major units (two-decimal currencies)."""
    return None if minor is None else minor / 100


def _money_text(minor: int | None) -> str:
    return "" if minor is None else f"{Decimal(minor) / 100:.2f}"


@dataclass
class Form:
    """A submitted form: the values as typed, and the errors per field."""

    values: dict[str, str]
    errors: list[dict[str, str]]

    @property
    def by_field(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for e in self.errors:
            found.setdefault(e["field"], e["detail"])
        return found

    def add(self, field: str, code: str, detail: str) -> None:
        self.errors.append({"field": field, "code": code, "detail": detail})


def _friendly(errors: Sequence[dict[str, str]], labels: Mapping[str, str]) -> list[dict[str, str]]:
    """The API's {field, code, detail}, with the field's label instead of its name."""
    out = []
    for e in errors:
        field = e["field"].split(".")[0]
        label = labels.get(field, LABELS.get(field, field))
        detail = e["detail"].removeprefix(f"{e['field']}: ")
        if e["code"] == "required":
            detail = f"Enter the {label.lower()}."
        elif e["code"] == "too_small" and field in ("bid", "budget_total", "budget_daily"):
            detail = f"{label} must be more than 0."
        else:
            detail = f"{label}: {detail[:1].lower()}{detail[1:]}"
            detail = detail.replace("budget_total", "the total budget")
            detail = detail.replace("budget_daily", "the daily budget")
            detail = detail.replace("ends_at", "the last day").replace("starts_at", "the first day")
        out.append({"field": field, "code": e["code"], "detail": detail})
    return out


def _parse_money(form: Form, field: str, currency: str, body: dict[str, Any]) -> None:
    text = form.values.get(field, "").replace(",", "").replace(" ", "")
    if not text:
        return
    try:
        amount = Decimal(text)
        if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
            raise InvalidOperation
    except InvalidOperation:
        form.add(
            field,
            "not_amount",
            f"{LABELS[field]}: enter an amount in {currency} such as 12.50 (at most two decimals).",
        )
        return
    body[field] = int(amount * 100)


def _parse_day(form: Form, field: str, body: dict[str, Any]) -> None:
    text = form.values.get(field, "")
    if not text:
        return
    try:
        day = date.fromisoformat(text)
        if len(text) != 10:
            raise ValueError(text)
    except ValueError:
        form.add(field, "not_date", f"{LABELS[field]}: enter a day as YYYY-MM-DD.")
        return
    if field == "ends_at":  # the last day is included: the flight ends the next midnight
        day += timedelta(days=1)
    body[field] = f"{day.isoformat()}T00:00:00Z"


CAMPAIGN_FIELDS = (
    "name",
    "billing_model",
    "bid",
    "budget_total",
    "budget_daily",
    "starts_at",
    "ends_at",
    "payer",
)


def _campaign_form(
    form_data: Mapping[str, Any], currency: str, *, with_model: bool
) -> tuple[Form, dict[str, Any]]:
    """The form's values and the API body they make (money to minor units, days to times)."""
    form = Form({f: _text(form_data, f) for f in CAMPAIGN_FIELDS}, [])
    body: dict[str, Any] = {}
    for field in ("name", "payer"):
        if form.values[field]:
            body[field] = form.values[field]
    if with_model and form.values["billing_model"]:
        body["billing_model"] = form.values["billing_model"]
    for field in ("bid", "budget_total", "budget_daily"):
        _parse_money(form, field, currency, body)
    for field in ("starts_at", "ends_at"):
        _parse_day(form, field, body)
    return form, body


def _values_of(c: CampaignPublic) -> dict[str, str]:
    last = _EPOCH + timedelta(days=(to_ms(c.ends_at) - 1) // DAY_MS)
    return {
        "name": c.name,
        "billing_model": c.billing_model.value,
        "bid": _money_text(c.bid),
        "budget_total": _money_text(c.budget_total),
        "budget_daily": _money_text(c.budget_daily),
        "starts_at": c.starts_at.date().isoformat(),
        "ends_at": last.isoformat(),
        "payer": c.payer or "",
    }


def _day(ms: int) -> date:
    return _EPOCH + timedelta(days=ms // DAY_MS)


@dataclass(frozen=True)
class Pacing:
    """Where a campaign stands against an even spread of its budget over its flight."""

    label: str
    badge: str  # ok, warn, err
    expected: int | None  # minor units spent by now under even pacing
    share_spent: float


def pacing_of(c: CampaignPublic, now_ms: int) -> Pacing:
    starts, ends = to_ms(c.starts_at), to_ms(c.ends_at)
    share = c.spent / c.budget_total if c.budget_total else 0.0
    if c.spent >= c.budget_total:
        return Pacing("Budget spent", "ok", c.budget_total, share)
    if now_ms < starts:
        return Pacing("Not started", "warn", 0, share)
    if now_ms >= ends:
        return Pacing("Flight ended", "warn", c.budget_total, share)
    expected = round(c.budget_total * (now_ms - starts) / (ends - starts))
    if c.status != "active":
        return Pacing("Paused", "warn", expected, share)
    ratio = c.spent / expected if expected else 1.0
    if ratio < 0.8:
        return Pacing(f"Behind plan ({ratio:.0%} of plan)", "err", expected, share)
    if ratio > 1.2:
        return Pacing(f"Ahead of plan ({ratio:.0%} of plan)", "warn", expected, share)
    return Pacing(f"On pace ({ratio:.0%} of plan)", "ok", expected, share)


# -- sign-in ---------------------------------------------------------------------------------


@router.get("/console/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, next: str = "/console", out: bool = False) -> HTMLResponse:
    return page(
        request,
        "console/sign_in.html",
        {"next": session.safe_next(next, "/console"), "signed_out": out, "error": None},
    )


@router.post("/console/sign-in")
async def sign_in(request: Request) -> Response:
    services = _services(request)
    form = await request.form()
    key = _text(form, "api_key", 200)
    target = session.safe_next(form.get("next"), "/console")
    try:
        advertiser = _advertiser(services, f"Bearer {key}")  # the API's own key check
    except FairviewError:
        error = (
            "Enter your API key."
            if not key
            else "That API key is unknown or has been revoked. Check it and try again, "
            "or ask your account manager for a new key."
        )
        return page(
            request,
            "console/sign_in.html",
            {"next": target, "signed_out": False, "error": error},
            status=401 if key else 422,
        )
    response = RedirectResponse(target, status_code=303)
    session.start(services, response, "advertiser", advertiser.id, key[:10])
    return response


@router.post("/console/sign-out")
async def sign_out(request: Request) -> Response:
    services, _, sess = _signed_in(request)
    session.check_csrf(services, sess, (await request.form()).get("csrf"))
    response = RedirectResponse(f"{SIGN_IN}?out=1", status_code=303)
    session.end(response)
    return response


# -- campaigns -------------------------------------------------------------------------------


@router.get("/console", response_class=HTMLResponse)
def campaigns_page(request: Request) -> HTMLResponse:
    services, advertiser, sess = _signed_in(request)
    now = services.clock.now_ms()
    campaigns = buying.list_campaigns(advertiser, services)
    rows = [(c, pacing_of(c, now)) for c in campaigns]
    return page(
        request,
        "console/campaigns.html",
        _context(services, advertiser, sess) | {"rows": rows, "major": major},
    )


@router.get("/console/campaigns/new", response_class=HTMLResponse)
def new_campaign_form(request: Request) -> HTMLResponse:
    services, advertiser, sess = _signed_in(request)
    today = _day(services.clock.now_ms())
    values = dict.fromkeys(CAMPAIGN_FIELDS, "") | {
        "billing_model": BillingModel.CPFV.value,
        "starts_at": today.isoformat(),
        "ends_at": (today + timedelta(days=29)).isoformat(),
    }
    return page(
        request,
        "console/campaign_new.html",
        _context(services, advertiser, sess) | {"form": Form(values, [])},
    )


@router.post("/console/campaigns/new")
async def create_campaign(request: Request) -> Response:
    services, advertiser, sess = _signed_in(request)
    data = await request.form()
    session.check_csrf(services, sess, data.get("csrf"))
    form, body = _campaign_form(data, advertiser.currency, with_model=True)
    try:
        valid = CampaignCreate.model_validate(body)
    except ValidationError as exc:
        form.errors += _friendly(validation_errors(exc), LABELS)
    if form.errors:
        return page(
            request,
            "console/campaign_new.html",
            _context(services, advertiser, sess) | {"form": _dedupe(form)},
            status=422,
        )
    created = buying.create_campaign(valid, advertiser, services, _trail(services))
    return RedirectResponse(f"/console/campaigns/{created.id}?done=created", status_code=303)


def _dedupe(form: Form) -> Form:
    """One error per field (the first), in the order of the form."""
    order = {f: i for i, f in enumerate((*CAMPAIGN_FIELDS, "duration_s", "media_url"))}
    seen: dict[str, dict[str, str]] = {}
    for e in form.errors:
        seen.setdefault(e["field"], e)
    form.errors = sorted(seen.values(), key=lambda e: order.get(e["field"], 99))
    return form


DONE = {
    "created": "Campaign created. Add a creative so it can serve.",
    "saved": "Changes saved.",
    "creative": "Creative added.",
    "creative_saved": "Creative saved.",
    "targeting": "Targeting saved: it applies from the next ad.",
    "paused": "Campaign paused: it serves no ads until you resume it.",
    "resumed": "Campaign resumed.",
}


def _detail(
    request: Request,
    campaign_id: str,
    *,
    edit: Form | None = None,
    creative: Form | None = None,
    status: int = 200,
) -> HTMLResponse:
    services, advertiser, sess = _signed_in(request)
    campaign = buying.get_campaign(campaign_id, advertiser, services)
    creatives = buying.list_creatives(campaign_id, advertiser, services)
    done = request.query_params.get("done", "")
    return page(
        request,
        "console/campaign.html",
        _context(services, advertiser, sess)
        | {
            "campaign": campaign,
            "creatives": creatives,
            "pacing": pacing_of(campaign, services.clock.now_ms()),
            "form": edit or Form(_values_of(campaign), []),
            "creative_form": creative or Form({"name": "", "duration_s": "", "media_url": ""}, []),
            "done": DONE.get(done) if status == 200 else None,
            "major": major,
        },
        status=status,
    )


@router.get("/console/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(request: Request, campaign_id: str) -> HTMLResponse:
    return _detail(request, campaign_id)


@router.post("/console/campaigns/{campaign_id}")
async def edit_campaign(request: Request, campaign_id: str) -> Response:
    services, advertiser, sess = _signed_in(request)
    data = await request.form()
    session.check_csrf(services, sess, data.get("csrf"))
    form, body = _campaign_form(data, advertiser.currency, with_model=False)
    # Fields left empty: required ones are reported, optional ones are removed.
    for field in ("name", "bid", "budget_total", "starts_at", "ends_at"):
        if not form.values[field] and field not in form.by_field:
            form.add(field, "required", f"Enter the {LABELS[field].lower()}.")
    for field in ("budget_daily", "payer"):
        if not form.values[field]:
            body[field] = None
    if not form.errors:
        try:
            update = CampaignUpdate.model_validate(body)
            buying.update_campaign(campaign_id, update, advertiser, services, _trail(services))
        except (ValidationError, RequestValidationError) as exc:
            form.errors += _friendly(validation_errors(exc), LABELS)
    if form.errors:
        form.values["billing_model"] = ""
        return _detail(request, campaign_id, edit=_dedupe(form), status=422)
    return RedirectResponse(f"/console/campaigns/{campaign_id}?done=saved", status_code=303)


@router.post("/console/campaigns/{campaign_id}/creatives")
async def add_creative(request: Request, campaign_id: str) -> Response:
    services, advertiser, sess = _signed_in(request)
    data = await request.form()
    session.check_csrf(services, sess, data.get("csrf"))
    form = Form({f: _text(data, f) for f in ("name", "duration_s", "media_url")}, [])
    body = {k: v for k, v in form.values.items() if v}
    labels = LABELS | CREATIVE_LABELS
    try:
        creative = CreativeCreate.model_validate(body)
    except ValidationError as exc:
        form.errors = _friendly(validation_errors(exc), labels)
        return _detail(request, campaign_id, creative=_dedupe(form), status=422)
    buying.add_creative(campaign_id, creative, advertiser, services, _trail(services))
    return RedirectResponse(
        f"/console/campaigns/{campaign_id}?done=creative#creatives", status_code=303
    )


@router.get("/console/campaigns/{campaign_id}/creatives/{creative_id}", response_class=HTMLResponse)
def creative_page(request: Request, campaign_id: str, creative_id: str) -> HTMLResponse:
    services, advertiser, _ = _signed_in(request)
    creative = _creative(services, advertiser, campaign_id, creative_id)
    values = {
        "name": creative.name,
        "duration_s": f"{creative.duration_s:g}",
        "media_url": creative.media_url,
    }
    return _creative_page(request, campaign_id, creative, Form(values, []))


@router.post("/console/campaigns/{campaign_id}/creatives/{creative_id}")
async def edit_creative(request: Request, campaign_id: str, creative_id: str) -> Response:
    """Save a creative through the API's own `update_creative` (the same rules, the same
    refusal of a new video once the creative has been shown)."""
    services, advertiser, sess = _signed_in(request)
    data = await request.form()
    session.check_csrf(services, sess, data.get("csrf"))
    creative = _creative(services, advertiser, campaign_id, creative_id)
    form = Form({f: _text(data, f) for f in ("name", "duration_s", "media_url")}, [])
    labels = LABELS | CREATIVE_LABELS
    try:
        update = CreativeUpdate.model_validate({k: v for k, v in form.values.items() if v})
        buying.update_creative(
            campaign_id, creative_id, update, advertiser, services, _trail(services)
        )
    except ValidationError as exc:
        form.errors = _friendly(validation_errors(exc), labels)
    except RequestValidationError as exc:
        form.errors = _friendly(validation_errors(exc), labels)
    except FairviewError as exc:
        if exc.code != "creative_already_shown":
            raise
        form.errors = [{"field": "media_url", "code": exc.code, "detail": exc.detail}]
    if form.errors:
        return _creative_page(request, campaign_id, creative, _dedupe(form), status=422)
    return RedirectResponse(
        f"/console/campaigns/{campaign_id}?done=creative_saved#creatives", status_code=303
    )


def _creative(
    services: Services, advertiser: AdvertiserRecord, campaign_id: str, creative_id: str
) -> CreativePublic:
    for creative in buying.list_creatives(campaign_id, advertiser, services):
        if creative.id == creative_id:
            return creative
    raise NotFound("creative_not_found", "There is no such creative in this campaign.")


def _creative_page(
    request: Request, campaign_id: str, creative: CreativePublic, form: Form, status: int = 200
) -> HTMLResponse:
    services, advertiser, sess = _signed_in(request)
    campaign = buying.get_campaign(campaign_id, advertiser, services)
    context = _context(services, advertiser, sess) | {"labels": LABELS | CREATIVE_LABELS}
    return page(
        request,
        "console/creative.html",
        context | {"campaign": campaign, "creative": creative, "form": form},
        status=status,
    )


@router.get("/console/campaigns/{campaign_id}/targeting", response_class=HTMLResponse)
def targeting_page(request: Request, campaign_id: str) -> HTMLResponse:
    services, advertiser, _ = _signed_in(request)
    current = buying.get_campaign(campaign_id, advertiser, services).targeting
    values = {name: ", ".join(str(v) for v in current.get(name, [])) for name in TARGETING_LISTS}
    cap = current.get("frequency_cap") or {}
    values |= {
        "cap_max": str(cap.get("max_deliveries", "")),
        "cap_days": str(cap.get("window_days", "")),
    }
    return _targeting_page(request, campaign_id, Form(values, []), list(current.get("devices", [])))


@router.post("/console/campaigns/{campaign_id}/targeting")
async def save_targeting(request: Request, campaign_id: str) -> Response:
    """Replace the targeting through the API's `set_targeting`. Dayparts, their time zone
    and cohorts have no field here: they are sent back as they are, never dropped."""
    services, advertiser, sess = _signed_in(request)
    data = await request.form()
    session.check_csrf(services, sess, data.get("csrf"))
    current = buying.get_campaign(campaign_id, advertiser, services).targeting
    names = (*TARGETING_LISTS, "cap_max", "cap_days")
    form = Form({name: _text(data, name, 4000) for name in names}, [])
    devices = [str(d) for d in data.getlist("devices")][:10]
    body: dict[str, Any] = {k: current[k] for k in ("dayparts", "timezone", "cohorts")}
    for name in TARGETING_LISTS:
        items = [item.strip() for item in form.values[name].split(",") if item.strip()]
        upper = name == "regions"
        body[name] = [item.upper() if upper else item for item in items]
    body["devices"] = devices
    if form.values["cap_max"] or form.values["cap_days"]:
        body["frequency_cap"] = {
            "max_deliveries": _integer(form.values["cap_max"]),
            "window_days": _integer(form.values["cap_days"]),
        }
    try:
        targeting = TargetingIn.model_validate(body)
    except ValidationError as exc:
        form.errors = [_targeting_error(e) for e in validation_errors(exc)]
        return _targeting_page(request, campaign_id, _dedupe(form), devices, status=422)
    buying.set_targeting(campaign_id, targeting, advertiser, services, _trail(services))
    return RedirectResponse(f"/console/campaigns/{campaign_id}?done=targeting", status_code=303)


def _integer(text: str) -> int | str:
    """A whole number as int, anything else as typed (the API's validation names it)."""
    return int(text) if text.isdigit() else text


FORMATS = {
    "regions": "use a two-letter country code (DE) or a country and region (US-CA)",
    "languages": "use two lowercase letters (de, fr)",
    "placements": "use letters, digits and _ . : - only",
}


def _targeting_error(error: dict[str, str]) -> dict[str, str]:
    """The API's error on a targeting field, on the form's input, in its words."""
    path = error["field"].split(".")
    field = {"max_deliveries": "cap_max", "window_days": "cap_days"}.get(path[-1], path[0])
    label = TARGETING_LABELS.get(field, field)
    detail = error["detail"].removeprefix(f"{error['field']}: ")
    if error["code"] == "bad_format" and field in FORMATS:
        detail = FORMATS[field]
    return {"field": field, "code": error["code"], "detail": f"{label}: {detail}"}


def _targeting_page(
    request: Request, campaign_id: str, form: Form, devices: list[str], status: int = 200
) -> HTMLResponse:
    services, advertiser, sess = _signed_in(request)
    campaign = buying.get_campaign(campaign_id, advertiser, services)
    current = campaign.targeting
    kept = [
        label
        for label, present in (
            ("dayparts", current.get("dayparts")),
            (f"time zone {current.get('timezone')}", current.get("timezone") not in (None, "UTC")),
            ("cohorts", current.get("cohorts")),
        )
        if present
    ]
    context = _context(services, advertiser, sess) | {"labels": TARGETING_LABELS}
    return page(
        request,
        "console/targeting.html",
        context
        | {
            "campaign": campaign,
            "form": form,
            "devices": DEVICE_NAMES,
            "kept": ", ".join(kept),
            "checked": devices,
        },
        status=status,
    )


@router.post("/console/campaigns/{campaign_id}/pause")
async def pause(request: Request, campaign_id: str) -> Response:
    services, advertiser, sess = _signed_in(request)
    session.check_csrf(services, sess, (await request.form()).get("csrf"))
    buying.pause_campaign(campaign_id, advertiser, services, _trail(services))
    return RedirectResponse(f"/console/campaigns/{campaign_id}?done=paused", status_code=303)


@router.post("/console/campaigns/{campaign_id}/resume")
async def resume(request: Request, campaign_id: str) -> Response:
    services, advertiser, sess = _signed_in(request)
    session.check_csrf(services, sess, (await request.form()).get("csrf"))
    buying.resume_campaign(campaign_id, advertiser, services, _trail(services))
    return RedirectResponse(f"/console/campaigns/{campaign_id}?done=resumed", status_code=303)


# -- the report ------------------------------------------------------------------------------


@dataclass
class ReportData:
    """Everything the report page and its CSV show (no privacy budget spent to get it)."""

    campaign: CampaignPublic
    days: list[date]
    billed: list[int]  # ledger entries per day: billable events
    spend: list[int]  # minor units per day
    unbilled: list[int]
    cumulative: list[int | None]  # None: days still to come
    goal: list[int]  # even plan, cumulative
    today_goal: int
    verdicts: api_reports.VerdictsOut
    budget: api_reports.BudgetOut
    release: dict[str, Any] | None
    release_period: tuple[date, date] | None


def _flight_days(c: CampaignPublic) -> list[date]:
    first, last = c.starts_at.date(), _day(to_ms(c.ends_at) - 1)
    if (last - first).days >= MAX_CHART_DAYS:  # bounded: the last year of a longer flight
        first = last - timedelta(days=MAX_CHART_DAYS - 1)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _report_data(services: Services, advertiser: AdvertiserRecord, campaign_id: str) -> ReportData:
    c = buying.get_campaign(campaign_id, advertiser, services)
    now = services.clock.now_ms()
    today = _day(now)
    days = _flight_days(c)
    per_day: dict[date, api_reports.BillingLineOut] = {}
    if days and days[0] <= today:
        last = min(days[-1], today)
        billing = api_reports.billing_report(
            advertiser, services, days[0].isoformat(), last.isoformat()
        )
        per_day = {line.day: line for line in billing.lines if line.campaign_id == c.id}
    spend = [per_day[d].amount if d in per_day else 0 for d in days]
    running, cumulative = 0, []
    for d, amount in zip(days, spend, strict=True):
        running += amount
        cumulative.append(running if d <= today else None)
    per_day_goal = math.ceil(c.budget_total / max(1, len(days)))
    if c.budget_daily is not None:
        per_day_goal = min(per_day_goal, c.budget_daily)
    goal = [min(c.budget_total, per_day_goal * (i + 1)) for i in range(len(days))]
    before_today = sum(s for d, s in zip(days, spend, strict=True) if d < today)
    record = services.store.catalog.campaign(c.id)
    today_goal = 0 if record is None else daily_goal(record, before_today, now)
    latest = api_reports.list_releases(advertiser, services, [c.id])
    release = api_reports.release_body(services, advertiser, latest[0].id) if latest else None
    return ReportData(
        campaign=c,
        days=days,
        billed=[per_day[d].entries if d in per_day else 0 for d in days],
        spend=spend,
        unbilled=[per_day[d].unbilled_amount if d in per_day else 0 for d in days],
        cumulative=cumulative,
        goal=goal,
        today_goal=today_goal,
        verdicts=api_reports.campaign_verdicts(advertiser, services, c.id),
        budget=api_reports.privacy_budget(advertiser, services),
        release=release,
        release_period=None
        if not latest
        else (latest[0].period.first_day, latest[0].period.last_day),
    )


def _release_window(c: CampaignPublic, today: date) -> tuple[date, date] | None:
    """The period a released report covers: the flight so far, its last 93 days at most."""
    first, last = c.starts_at.date(), min(_day(to_ms(c.ends_at) - 1), today)
    if last < first:
        return None
    return max(first, last - timedelta(days=api_reports.MAX_REPORT_DAYS - 1)), last


def _fmt_money(currency: str) -> charts.Format:
    return lambda v: f"{v / 100:,.2f} {currency}"


def _cells(release: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [] if release is None else list(release.get("cells", []))


@router.get("/console/campaigns/{campaign_id}/report", response_class=HTMLResponse)
def report_page(request: Request, campaign_id: str) -> HTMLResponse:
    services, advertiser, sess = _signed_in(request)
    return _report(request, services, advertiser, sess, campaign_id)


def _report(
    request: Request,
    services: Services,
    advertiser: AdvertiserRecord,
    sess: session.Session,
    campaign_id: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    data = _report_data(services, advertiser, campaign_id)
    money = _fmt_money(advertiser.currency)
    labels = [d.isoformat() for d in data.days]
    is_cpfv = data.campaign.billing_model is BillingModel.CPFV
    billed_name = "Focused views billed" if is_cpfv else "Viewable impressions billed"
    cells = _cells(data.release)
    charts_html = {
        "billed": charts.bar_chart(
            "chart-billed",
            f"{billed_name} per day (exact)",
            labels,
            charts.Series(billed_name, data.billed),
        ),
        "spend": charts.bar_chart(
            "chart-spend",
            "Spend per day (exact)",
            labels,
            charts.Series("Spend", data.spend, "b"),
            fmt=money,
        ),
        "pacing": charts.line_chart(
            "chart-pacing",
            "Pacing: cumulative spend against the even goal (exact)",
            labels,
            [
                charts.Series("Spent so far", list(data.cumulative)),
                charts.Series("Even goal", [float(g) for g in data.goal], "b"),
            ],
            fmt=money,
            summary=_pacing_summary(data, money),
        ),
        "reach": charts.interval_chart(
            "chart-reach",
            "Reach by day, region and cohort (differentially private)",
            [
                charts.Interval(
                    _cell_label(c), c["reach"]["value"], c["reach"]["ci_low"], c["reach"]["ci_high"]
                )
                for c in cells[:40]
            ],
        ),
    }
    window = _release_window(data.campaign, _day(services.clock.now_ms()))
    v = data.verdicts
    return page(
        request,
        "console/report.html",
        _context(services, advertiser, sess)
        | {
            "campaign": data.campaign,
            "data": data,
            "charts": charts_html,
            "cells": cells,
            "cell_label": _cell_label,
            "window": window,
            "epsilon": api_reports.EPSILON_PER_REPORT,
            "can_release": window is not None
            and data.budget.epsilon_remaining >= api_reports.EPSILON_PER_REPORT,
            "error": error,
            "released": request.query_params.get("done") == "released" and error is None,
            "billed_name": billed_name,
            "totals": {
                "billed": sum(data.billed),
                "spend": sum(data.spend),
                "unbilled": sum(data.unbilled),
            },
            "rates": {
                "viewability": v.viewability_rate,
                "focused": v.focused_view_rate,
            },
            "major": major,
        },
        status=status,
    )


def _pacing_summary(data: ReportData, money: charts.Format) -> str:
    spent = next((v for v in reversed(data.cumulative) if v is not None), 0)
    i = max((k for k, v in enumerate(data.cumulative) if v is not None), default=-1)
    planned = data.goal[i] if i >= 0 else 0
    return (
        f"Spent {money(spent)} of {money(data.campaign.budget_total)}; the even goal by the same "
        f"day is {money(planned)}."
    )


def _cell_label(cell: Mapping[str, Any]) -> str:
    cohort = cell.get("cohort")
    parts = [str(cell.get("day", "")), str(cell.get("region", ""))]
    parts.append("no cohort" if cohort is None else f"cohort {cohort}")
    return " · ".join(p for p in parts if p and p != "*")


@router.post("/console/campaigns/{campaign_id}/report/release")
async def release_report(request: Request, campaign_id: str) -> Response:
    """Run the DP delivery report for this campaign: spends ε, and stores what it released."""
    services, advertiser, sess = _signed_in(request)
    session.check_csrf(services, sess, (await request.form()).get("csrf"))
    campaign = buying.get_campaign(campaign_id, advertiser, services)
    window = _release_window(campaign, _day(services.clock.now_ms()))
    if window is None:
        return _report(
            request,
            services,
            advertiser,
            sess,
            campaign_id,
            error="This campaign has not started yet: there is nothing to report.",
            status=409,
        )
    result = api_reports.delivery_report(
        advertiser,
        services,
        window[0].isoformat(),
        window[1].isoformat(),
        Grain.DAY_REGION_COHORT,
        [campaign.id],
        api_reports.EPSILON_PER_REPORT,
    )
    if isinstance(result, JSONBytes):  # 429 privacy_budget_exhausted: nothing was charged
        return _report(
            request,
            services,
            advertiser,
            sess,
            campaign_id,
            error="Your privacy budget for the last 30 days has too little left for another "
            "report, so nothing was released or charged. The latest release below is still "
            "valid; the budget frees up as older charges leave the 30-day window.",
            status=429,
        )
    return RedirectResponse(
        f"/console/campaigns/{campaign_id}/report?done=released#dp", status_code=303
    )


@router.get("/console/campaigns/{campaign_id}/report.csv")
def report_csv(request: Request, campaign_id: str) -> Response:
    """The report's numbers as CSV: exact daily figures, then the stored DP cells, if any."""
    services, advertiser, _ = _signed_in(request)
    data = _report_data(services, advertiser, campaign_id)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    cur = advertiser.currency
    w.writerow(
        [
            "section",
            "day",
            "region",
            "cohort",
            "metric",
            "value",
            "ci_low",
            "ci_high",
            "unit",
            "kind",
        ]
    )
    for i, d in enumerate(data.days):
        day = d.isoformat()
        w.writerow(
            ["daily", day, "", "", "billed_events", data.billed[i], "", "", "count", "exact"]
        )
        w.writerow(
            ["daily", day, "", "", "spend", f"{data.spend[i] / 100:.2f}", "", "", cur, "exact"]
        )
        w.writerow(
            [
                "daily",
                day,
                "",
                "",
                "unbilled",
                f"{data.unbilled[i] / 100:.2f}",
                "",
                "",
                cur,
                "exact",
            ]
        )
        cum = data.cumulative[i]
        w.writerow(
            [
                "pacing",
                day,
                "",
                "",
                "cumulative_spend",
                "" if cum is None else f"{cum / 100:.2f}",
                "",
                "",
                cur,
                "exact",
            ]
        )
        w.writerow(
            ["pacing", day, "", "", "even_goal", f"{data.goal[i] / 100:.2f}", "", "", cur, "exact"]
        )
    v = data.verdicts
    for metric, value in (
        ("deliveries", v.deliveries),
        ("settled", v.settled),
        ("viewable", v.viewable),
        ("focused_views", v.focused_views),
        ("invalid", v.invalid),
        ("viewability_rate", "" if v.viewability_rate is None else f"{v.viewability_rate:.4f}"),
        ("focused_view_rate", "" if v.focused_view_rate is None else f"{v.focused_view_rate:.4f}"),
    ):
        w.writerow(["verdicts", "", "", "", metric, value, "", "", "", "exact"])
    if data.release is not None:
        for cell in _cells(data.release):
            for metric in ("reach", "deliveries", "focused_views", "spend"):
                e = cell[metric]
                scale = 100 if metric == "spend" else 1  # spend: minor to major units
                w.writerow(
                    [
                        f"dp_release {data.release.get('release_id', '')}",
                        cell["day"],
                        cell["region"],
                        "" if cell["cohort"] is None else cell["cohort"],
                        metric,
                        f"{e['value'] / scale:.2f}",
                        f"{e['ci_low'] / scale:.2f}",
                        f"{e['ci_high'] / scale:.2f}",
                        cur if metric == "spend" else "count",
                        "dp",
                    ]
                )
    b = data.budget
    w.writerow(
        [
            "privacy_budget",
            b.day.isoformat(),
            "",
            "",
            "epsilon_remaining",
            f"{b.epsilon_remaining:.3f}",
            "",
            "",
            "epsilon",
            "exact",
        ]
    )
    filename = f"fairview-{data.campaign.id}-report.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
