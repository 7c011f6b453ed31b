"""The auditor / DPO view (`/audit`): staff sign in with their key; pages gated by role.

- `/audit/sign-in`, `/audit/sign-out`, `/audit/purpose`: the session (a staff key;
  the data-protection officer states the purpose of the session, shown in the
  header and written to the audit log with every page of personal data).
- `/audit`: what the signed-in role can see here.
- `/audit/cohorts`, `/audit/rights`, `/audit/log` (dpo only, like `DpoDep`): the
  cohort audit, the rights requests with their deadlines, the audit log with its
  chain verification. Each view first writes `dpo.<page>` to the audit log with
  the session's purpose (`record_dpo_access`, the API's own), then calls the
  function the JSON API route calls.
- `/audit/ropa` (any signed-in staff): the records of processing, as `fairview ropa`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fairview.accountability.roles import Role, StaffMember
from fairview.accountability.trail import (
    ACTIONS,
    DPO_ACTION_PREFIX,
    MAX_PURPOSE_CHARS,
    AuditTrail,
    stated_purpose,
)
from fairview.api.deps import Services, ServicesDep, _staff, record_dpo_access
from fairview.api.rights import RightsRequestPublic, rights_requests
from fairview.api.staff import cohort_audit, search_audit_log, verify_audit_log
from fairview.errors import FairviewError, Forbidden, NotFound, Unauthorized
from fairview.registry import retention_days
from fairview.rights.requests import Kind, Status
from fairview.rights.ropa import records
from fairview.storage.cohorts import MIN_PURPOSE_CHARS
from fairview.web import session
from fairview.web.render import page

router = APIRouter()

LOG_PAGE = 50
RIGHTS_PAGE = 100
RIGHTS_MAX = 1000
MAX_PROBLEMS_SHOWN = 20
DAY_MS = 86_400_000
WARN_DAYS = 7
"""An open request due within this many days is shown as a warning."""
DPO_PAGES = ("page_cohort_audit", "page_rights_requests", "page_audit_log")
"""The route names of the DPO's pages: their views are `dpo.<name>` in the audit log."""
PURPOSE_HINT = (
    f"Why you are looking, in at least {MIN_PURPOSE_CHARS} characters (for example the "
    "data-subject request you are answering). It is written to the audit log with every "
    "page of personal data you open in this session."
)


# The session -----------------------------------------------------------------------


def _context(services: Services, staff: StaffMember, sess: session.Session) -> dict[str, Any]:
    """What every signed-in page's header needs."""
    return {
        "staff": staff,
        "is_dpo": staff.role is Role.DPO,
        "purpose": sess.purpose,
        "csrf": session.csrf_token(services, sess),
    }


def _signed_in(request: Request) -> tuple[Services, StaffMember, session.Session]:
    services: Services = request.app.state.services
    staff, sess = session.staff(request)
    return services, staff, sess


def _form_text(form: Mapping[str, Any], name: str, limit: int) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


@router.get("/audit/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, next: str = "/audit", out: bool = False) -> HTMLResponse:
    context = {
        "next": session.safe_next(next, "/audit"),
        "signed_out": out,
        "errors": {},
        "purpose": "",
        "purpose_hint": PURPOSE_HINT,
    }
    return page(request, "audit/sign_in.html", context)


@router.post("/audit/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    key = _form_text(form, "key", 200)
    purpose = _form_text(form, "purpose", MAX_PURPOSE_CHARS)
    target = session.safe_next(form.get("next"), "/audit")
    errors: dict[str, str] = {}
    staff: StaffMember | None = None
    if not key:
        errors["key"] = "Enter your staff key."
    else:
        try:
            staff = _staff(services, authorization=f"Bearer {key}")
        except Unauthorized:
            errors["key"] = (
                "This key is not an active staff key (operator, analyst or dpo). Check it, "
                "or ask an operator for a new one."
            )
    if staff is not None and staff.role is Role.DPO:
        try:
            purpose = stated_purpose(purpose)
        except FairviewError:
            errors["purpose"] = (
                f"The data-protection officer states a purpose of at least "
                f"{MIN_PURPOSE_CHARS} characters to sign in."
            )
    if errors or staff is None:
        context = {
            "next": target,
            "signed_out": False,
            "errors": errors,
            "purpose": purpose,
            "purpose_hint": PURPOSE_HINT,
        }
        status = 401 if "key" in errors else 422
        return page(request, "audit/sign_in.html", context, status=status)
    response = RedirectResponse(target, status_code=303)
    session.start(services, response, "staff", staff.key_prefix, staff.key_prefix, purpose)
    return response


@router.post("/audit/sign-out")
async def sign_out(request: Request) -> Response:
    services, _, sess = _signed_in(request)
    session.check_csrf(services, sess, (await request.form()).get("csrf"))
    response = RedirectResponse("/audit/sign-in?out=true", status_code=303)
    session.end(response)
    return response


@router.get("/audit/purpose", response_class=HTMLResponse)
def purpose_form(request: Request, next: str = "/audit") -> HTMLResponse:
    services, staff, sess = _signed_in(request)
    context = _context(services, staff, sess) | {
        "next": session.safe_next(next, "/audit"),
        "errors": {},
        "value": sess.purpose,
        "purpose_hint": PURPOSE_HINT,
    }
    return page(request, "audit/purpose.html", context)


@router.post("/audit/purpose", response_class=HTMLResponse)
async def change_purpose(request: Request) -> Response:
    """A new purpose for the rest of the session (the session starts again with it)."""
    services, staff, sess = _signed_in(request)
    form = await request.form()
    session.check_csrf(services, sess, form.get("csrf"))
    value = _form_text(form, "purpose", MAX_PURPOSE_CHARS)
    target = session.safe_next(form.get("next"), "/audit")
    try:
        value = stated_purpose(value) if staff.role is Role.DPO or value else value
    except FairviewError:
        context = _context(services, staff, sess) | {
            "next": target,
            "errors": {"purpose": f"State a purpose of at least {MIN_PURPOSE_CHARS} characters."},
            "value": value,
            "purpose_hint": PURPOSE_HINT,
        }
        return page(request, "audit/purpose.html", context, status=422)
    response = RedirectResponse(target, status_code=303)
    session.start(services, response, "staff", sess.subject, sess.key_prefix, value)
    return response


# The pages -------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    services, staff, sess = _signed_in(request)
    return page(request, "audit/overview.html", _context(services, staff, sess))


def _dpo_view(request: Request) -> tuple[Services, StaffMember, session.Session] | Response:
    """The signed-in DPO, after writing this view to the audit log (as `DpoDep` does).

    Another role: 403, nothing recorded or read. A DPO session without a purpose
    (it cannot be made, but a check costs nothing): to the purpose form first.
    """
    services, staff, sess = _signed_in(request)
    if staff.role is not Role.DPO:
        raise Forbidden(
            "forbidden",
            f"This page needs the dpo role (data-protection officer); you are signed in "
            f"with the {staff.role.value} role. Ask an operator for a dpo key if you need it.",
        )
    if len(sess.purpose.strip()) < MIN_PURPOSE_CHARS:
        back = urlencode({"next": request.url.path})
        return RedirectResponse(f"/audit/purpose?{back}", status_code=303)
    record_dpo_access(
        request, staff, AuditTrail(services.store.audit, services.clock, sess.purpose)
    )
    return services, staff, sess


@router.get("/audit/cohorts", response_class=HTMLResponse, name="page_cohort_audit")
def cohorts_page(request: Request) -> Response:
    signed = _dpo_view(request)
    if isinstance(signed, Response):
        return signed
    services, staff, sess = signed
    try:
        audit = cohort_audit(services, staff)
    except NotFound:
        audit = None
    suppressed = [] if audit is None else [c for c in audit.cohorts if not c.served]
    context = _context(services, staff, sess) | {"audit": audit, "suppressed": suppressed}
    return page(request, "audit/cohorts.html", context)


@router.get("/audit/rights", response_class=HTMLResponse, name="page_rights_requests")
def rights_page(
    request: Request,
    status: str = "",
    kind: str = "",
    overdue: bool = False,
    limit: int = RIGHTS_PAGE,
) -> Response:
    signed = _dpo_view(request)
    if isinstance(signed, Response):
        return signed
    services, staff, sess = signed
    chosen_status = Status(status) if status in {s.value for s in Status} else None
    chosen_kind = Kind(kind) if kind in {k.value for k in Kind} else None
    shown = min(max(limit, 1), RIGHTS_MAX)
    found = rights_requests(
        services,
        staff,
        status=chosen_status,
        kind=chosen_kind,
        overdue_only=overdue,
        limit=shown + 1,
    ).requests
    now_ms = services.clock.now_ms()
    query = {"status": status, "kind": kind, "overdue": "true" if overdue else ""}
    more = None
    if len(found) > shown and shown < RIGHTS_MAX:
        more = "?" + urlencode({k: v for k, v in query.items() if v} | {"limit": shown * 2})
    context = _context(services, staff, sess) | {
        "requests": [(r, _deadline(r, now_ms)) for r in found[:shown]],
        "more": more,
        "capped": len(found) > shown and shown >= RIGHTS_MAX,
        "status": chosen_status.value if chosen_status else "",
        "kind": chosen_kind.value if chosen_kind else "",
        "overdue": overdue,
        "statuses": [s.value for s in Status],
        "kinds": [k.value for k in Kind],
        "filtered": bool(chosen_status or chosen_kind or overdue),
    }
    return page(request, "audit/rights.html", context)


def _deadline(r: RightsRequestPublic, now_ms: int) -> tuple[str, str]:
    """(badge class, words) for a request's Art. 12(3) deadline as of now."""
    due_ms = int(r.due_at.timestamp() * 1000)
    days = abs(due_ms - now_ms) // DAY_MS
    if r.overdue:
        return "badge-err", f"overdue by {_days(days)}"
    if r.answered_late:
        return "badge-warn", "answered late"
    if r.completed_at is not None:
        return "badge-ok", "answered in time"
    if due_ms - now_ms <= WARN_DAYS * DAY_MS:
        return "badge-warn", f"open, due in {_days(days)}"
    return "badge-ok", f"open, due in {_days(days)}"


def _days(n: int) -> str:
    return "less than a day" if n == 0 else f"{n} day" + ("" if n == 1 else "s")


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


@router.get("/audit/log", response_class=HTMLResponse, name="page_audit_log")
def log_page(
    request: Request,
    actor: str = "",
    action: str = "",
    subject: str = "",
    first: str = "",
    last: str = "",
    after: int = 0,
) -> Response:
    signed = _dpo_view(request)
    if isinstance(signed, Response):
        return signed
    services, staff, sess = signed
    actor, action, subject = actor.strip()[:200], action.strip()[:60], subject.strip()[:200]
    errors: dict[str, str] = {}
    first_day = _day(first) if first else None
    last_day = _day(last) if last else None
    if first and first_day is None:
        errors["first"] = "Enter the first day as a date, e.g. 2026-10-01."
    if last and last_day is None:
        errors["last"] = "Enter the last day as a date, e.g. 2026-10-31."
    if first_day and last_day and first_day > last_day:
        errors["last"] = "The last day is before the first day."
    found = None
    if not errors:
        found = search_audit_log(
            services,
            action=None if action.endswith(".") or not action else action,
            action_prefix=action if action.endswith(".") else None,
            actor=actor or None,
            subject=subject or None,
            since_ms=_utc_day_ms(first_day) if first_day else 0,
            until_ms=_utc_day_ms(last_day + timedelta(days=1)) - 1 if last_day else None,
            after=max(after, 0),
            limit=LOG_PAGE,
        )
    verdict = verify_audit_log(services, staff)
    query = {"actor": actor, "action": action, "subject": subject, "first": first, "last": last}
    kept = {k: v for k, v in query.items() if v}
    next_link = None
    if found is not None and found.next_after is not None:
        next_link = "?" + urlencode(kept | {"after": found.next_after})
    context = _context(services, staff, sess) | {
        "found": found,
        "verdict": verdict,
        "problems": verdict.problems[:MAX_PROBLEMS_SHOWN],
        "more_problems": max(len(verdict.problems) - MAX_PROBLEMS_SHOWN, 0),
        "query": query,
        "errors": errors,
        "after": after,
        "first_link": ("?" + urlencode(kept)) if after else None,
        "next_link": next_link,
        "filtered": bool(kept),
        "known_actions": sorted({*ACTIONS, "cohort.members.read"})
        + [DPO_ACTION_PREFIX]
        + [DPO_ACTION_PREFIX + n for n in ("read_audit_log", "verify_audit_log")]
        + [DPO_ACTION_PREFIX + n for n in ("cohort_audit", "rights_requests", *DPO_PAGES)],
    }
    return page(request, "audit/log.html", context, status=422 if errors else 200)


def _utc_day_ms(day: date) -> int:
    """The first millisecond of `day` in UTC (the log's times are shown in UTC)."""
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp() * 1000)


@router.get("/audit/ropa", response_class=HTMLResponse)
def ropa_page(request: Request) -> HTMLResponse:
    """The records of processing: no personal data, so any signed-in staff role reads them."""
    services, staff, sess = _signed_in(request)
    ropa = records(retention_days(services.settings.retention_days))
    return page(request, "audit/ropa.html", _context(services, staff, sess) | {"ropa": ropa})
