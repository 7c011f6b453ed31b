"""The viewer's privacy centre: `/privacy-centre`, reached from the platform.

The platform links here with its signed viewer token in the address
(`/privacy-centre?token=<viewer token>`). No cookie is set: every link carries the
token onward in its query, every form in a hidden field, and the pages send
`Referrer-Policy: no-referrer` and `Cache-Control: no-store` (`render.py`), so the
token leaves for no other site and is not kept in the browser's cache. Because
the token travels in the form body and is not ambient like a cookie, another site
cannot make the browser send it (no CSRF); state changes still accept POST only.

Every page calls the functions the JSON API calls (one logic path):

- `/privacy-centre`: consent status in plain words, the pause, the interests
  with remove and restore buttons, the recent ads with why each was shown
  (`GET /v1/me/interests`, `PUT /v1/me/personalisation`,
  `DELETE /v1/me/interests/{topic}`, `POST …/restore`, and the explanation of
  `GET /v1/deliveries/{id}/why`);
- `/privacy-centre/ads/{delivery}`: why one ad was shown (`why_this_ad`);
- `POST /privacy-centre/export`: the export download (`GET /v1/me/data`);
- `/privacy-centre/erasure`, `/privacy-centre/objection`: a confirmation page,
  then the request (`POST /v1/me/erasure`, `POST /v1/me/objection`) and a page
  with its receipt. Everything takes effect before the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fairview.api import audience as audience_api
from fairview.api import delivery as delivery_api
from fairview.api import rights as rights_api
from fairview.api.deps import Services, ServicesDep
from fairview.api.schemas import WhyPublic
from fairview.errors import FairviewError, NotFound
from fairview.registry import REGISTRY, Erasure, PersonalData
from fairview.rights.requests import Kind, subject_digest
from fairview.storage.consents import ConsentEvidence
from fairview.web.render import page, when

router = APIRouter(prefix="/privacy-centre")

RECENT_ADS = 20
"""How many of the viewer's newest ads the overview explains."""
MAX_TOKEN = 4096

TokenQuery = Annotated[str | None, Query(max_length=MAX_TOKEN)]
TokenForm = Annotated[str | None, Form(max_length=MAX_TOKEN)]

DONE = {
    "interest_removed": "Removed. This interest is out of your profile and stays out until "
    "you restore it. Your next ad is chosen without it.",
    "interest_restored": "Restored. Videos you watch on this topic can count towards your "
    "interests again. What was deleted when you removed it stays deleted.",
    "paused": "Personalised ads are paused. From your next ad on, your interests are not "
    "used and the videos you watch are not noted.",
    "resumed": "Personalised ads are back on, as far as your consent on the platform allows.",
}
"""What a finished change says on the overview (`?done=<key>`)."""

TOKEN_ERRORS = {
    "missing_viewer_token": "This address does not carry your personal link code.",
    "invalid_viewer_token": "The link code in this address is not valid: it is incomplete, "
    "was changed, or belongs to another service.",
    "expired_viewer_token": "Your link to the privacy centre has expired. Links work for a "
    "limited time, so that an old copy of the address cannot open your data.",
}
AGAIN = (
    "Go back to the app or website where you watch videos and open the privacy centre "
    "again from its privacy settings: it gives you a fresh link."
)
VIEWER_WORDS = {
    "unknown_delivery": "We could not find this ad among the ads shown to you. It may have "
    "been erased, or the link is incomplete.",
    "unknown_topic": "This is not one of the interests fairview uses. Go back to your "
    "privacy centre and use its buttons.",
    "unknown_receipt": "We could not find this request among yours. If you erased your data "
    "afterwards, its record no longer leads to you.",
}

MODE_WORDS = {
    "personalised": "personalised ads, chosen with your interests",
    "contextual": "ads chosen from the video you are watching, not from your interests",
    "non_personalised": "only ads chosen without any data about you",
    "none": "no ads at all",
}

# Plain words for each registry entry (table, first column), shown on the erasure
# page; the registry's own wording is shown beside them. A test checks that every
# entry has its words, so new personal data cannot appear here unexplained.
ENTRY_WORDS: dict[tuple[str, str], str] = {
    ("deliveries", "viewer_key"): "the link between you and each ad shown to you",
    ("deliveries", "region"): "when, in which country or state and on what kind of device "
    "each ad was shown",
    ("deliveries", "why"): "why each ad was chosen for you",
    ("events", "delivery_id"): "what happened while each ad played (started, watched, skipped)",
    ("failed_events", "delivery_id"): "reports from the video player that we could not use",
    ("unmatched_events", "delivery_id"): "counts of the video player's reports about an ad "
    "that reached us before our record of the ad did (kept a day at most)",
    ("settlements", "delivery_id"): "whether each ad counted as watched",
    ("ledger", "delivery_id"): "what the advertiser was charged for each ad",
    ("consent_records", "viewer_key"): "copies of the consent choices your platform sent us",
    ("objections", "viewer_key"): "your objection to personalised ads, if you made one",
    ("frequency_events", "viewer_key"): "how often each ad was shown to you (so that it is "
    "not repeated too often)",
    ("interest_watch", "viewer_key"): "your interests, worked out from the videos you watched",
    ("interest_blocks", "viewer_key"): "the interests you removed",
    ("viewer_settings", "viewer_key"): "your pause of personalised ads",
    ("cohort_members", "viewer_key"): "the interest group you are in",
    ("audit_log", "at_ms"): "the record of when and why anyone looked at your data",
    ("audit_log", "actor"): "which staff member or service looked at your data",
    ("rights_requests", "viewer_key"): "the link between you and your requests (like this one)",
    ("rights_requests", "kind"): "the requests you made, and when they were answered",
}
_NO_LINK = "Once the link to you is removed it is no longer about you; we need it for billing "
KEPT_WORDS: dict[tuple[str, str], str] = {
    ("deliveries", "region"): _NO_LINK + "and to answer advertisers' disputes.",
    ("settlements", "delivery_id"): _NO_LINK + "and to answer advertisers' disputes.",
    ("ledger", "delivery_id"): "Accounting law makes us keep what advertisers were charged. "
    "The amounts no longer lead to you.",
    ("objections", "viewer_key"): "So that your objection keeps working: without it, the next "
    "consent from your platform could switch profiling back on. It holds only a coded "
    "identifier, nothing else about you.",
    ("audit_log", "at_ms"): "The record cannot be changed without breaking its proof. It shows "
    "that your data was handled lawfully.",
    ("audit_log", "actor"): "It is part of that record.",
    ("rights_requests", "kind"): "Proof that we answered your requests on time. An erasure "
    "keeps only a one-way code that cannot be used to find you or your data.",
}


def words_for(entry: PersonalData) -> str:
    """The plain words of a registry entry (its category when none were written), as a heading."""
    words = ENTRY_WORDS.get((entry.table, entry.columns[0]), entry.category)
    return words[:1].upper() + words[1:]


@dataclass(frozen=True, slots=True)
class RegistryLine:
    words: str
    registry: str
    kept_because: str = ""
    registry_reason: str = ""


def erasure_scope() -> tuple[list[RegistryLine], list[RegistryLine]]:
    """(what an erasure removes, what it keeps and why), from the registry."""
    erased, kept = [], []
    for entry in REGISTRY:
        if entry.erasure is Erasure.KEEP:
            reason = KEPT_WORDS.get((entry.table, entry.columns[0]), entry.kept_because)
            kept.append(RegistryLine(words_for(entry), entry.category, reason, entry.kept_because))
        else:
            erased.append(RegistryLine(words_for(entry), entry.category))
    return erased, kept


@dataclass(frozen=True, slots=True)
class ConsentStatus:
    headline: str
    badge: str
    badge_class: str
    lines: list[str]


def consent_status(
    objection: str | None, latest: ConsentEvidence | None, paused: bool
) -> ConsentStatus:
    """What fairview can honestly say about the viewer's consent: only what it stores.

    Consent choices arrive from the platform with each request (a TCF or GPP
    string, GPC); fairview keeps a copy only when a decision relied on consent,
    and keeps the viewer's objection and pause. It never knows more than that.
    """
    lines = []
    if objection is not None:
        headline = (
            "You have objected to personalised ads. fairview never builds a profile of your "
            "interests or uses one to choose ads for you, whatever consent you give later."
        )
        badge, badge_class = "Objection on record", "badge-ok"
    elif paused:
        headline = (
            "You have paused personalised ads. Your interests are not used and the videos "
            "you watch are not noted until you turn them back on."
        )
        badge, badge_class = "Paused by you", "badge-warn"
    elif latest is not None and latest.mode == "personalised":
        headline = "Your last consent choice on record allows personalised ads."
        badge, badge_class = "Personalised ads allowed", "badge-warn"
    elif latest is not None:
        headline = "Your last consent choice on record does not allow personalised ads."
        badge, badge_class = "Not personalised", "badge-ok"
    else:
        headline = "fairview has no consent choice of yours on record."
        badge, badge_class = "Nothing on record", "badge-ok"
    if latest is not None:
        words = MODE_WORDS.get(latest.mode, "ads as your consent allows")
        lines.append(
            f"The last consent choice fairview keeps a copy of arrived on "
            f"{when(latest.received_ms)}. It allowed {words}."
        )
        if latest.gpc:
            lines.append("It came with your browser's Global Privacy Control signal turned on.")
    else:
        lines.append(
            "fairview keeps a copy of a consent choice only when it relied on your consent to "
            "show an ad or to note an interest, so having none on record is normal."
        )
    lines.append(
        "Your consent choices come from the platform you watch on, with every ad request: "
        "from its consent banner or privacy settings, and from your browser's Global Privacy "
        "Control if it sends one. fairview does not ask for consent itself and cannot change "
        "those choices: change them in the platform's privacy settings. A new choice counts "
        "from your next ad."
    )
    return ConsentStatus(headline, badge, badge_class, lines)


# Routes ----------------------------------------------------------------------


def _auth(token: str | None) -> str | None:
    """The token as the API's `Authorization` header value."""
    return f"Bearer {token}" if token else None


def _url(path: str, token: str | None, **params: str) -> str:
    query = {"token": token or "", **params}
    return f"{path}?{urlencode(query)}"


def _base(token: str) -> dict[str, Any]:
    """What every privacy-centre page needs: the token and the links that carry it."""
    return {
        "token": token,
        "links": {
            "overview": _url("/privacy-centre", token),
            "erasure": _url("/privacy-centre/erasure", token),
            "objection": _url("/privacy-centre/objection", token),
        },
    }


def _failed(request: Request, exc: FairviewError, token: str | None) -> HTMLResponse:
    """The error page for viewers: what happened and what to do, in plain words."""
    link_problem = exc.code in TOKEN_ERRORS
    context = {
        "status": exc.status,
        "code": exc.code,
        "detail": TOKEN_ERRORS[exc.code]
        if link_problem
        else VIEWER_WORDS.get(exc.code, exc.detail),
        "again": AGAIN if link_problem else "",
        "title": "Your privacy centre link does not work" if link_problem else "That did not work",
        "back": None if link_problem or not token else _url("/privacy-centre", token),
    }
    return page(request, "privacy/problem.html", context, status=exc.status)


@router.get("", response_class=HTMLResponse)
def overview(
    request: Request,
    services: ServicesDep,
    token: TokenQuery = None,
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    """Consent status, the pause, interests, and the recent ads with why each was shown."""
    auth = _auth(token)
    try:
        interests = audience_api.my_interests(services, auth)
        viewer = audience_api.viewer_key_of(services, auth)
    except FairviewError as exc:
        return _failed(request, exc, token)
    assert token is not None  # a valid token was checked above
    objection, latest = services.store.consents.viewer_state(viewer)
    paused = interests.personalisation == "paused"
    ads = [
        (d, delivery_api.why_public(services, d))
        for d in services.store.deliveries.recent_for_viewer(viewer, RECENT_ADS)
    ]
    context = {
        **_base(token),
        "done": DONE.get(done or ""),
        "status": consent_status(objection, latest, paused),
        "objected": objection is not None,
        "paused": paused,
        "interests": interests,
        "ads": [_ad(d.issued_ms, why, token) for d, why in ads],
        "recent_limit": RECENT_ADS,
    }
    return page(request, "privacy/overview.html", context)


def _ad(issued_ms: int, why: WhyPublic, token: str) -> dict[str, Any]:
    return {
        "why": why,
        "shown": when(issued_ms),
        "url": _url(f"/privacy-centre/ads/{why.delivery}", token),
    }


@router.get("/ads/{delivery_id}", response_class=HTMLResponse)
def why_this_ad(
    request: Request, delivery_id: str, services: ServicesDep, token: TokenQuery = None
) -> HTMLResponse:
    """Why one ad was shown: the answer of `GET /v1/deliveries/{id}/why`."""
    try:
        why = delivery_api.why_this_ad(delivery_id, services, _auth(token))
    except FairviewError as exc:
        return _failed(request, exc, token)
    assert token is not None
    shown = when(int(why.shown_at.timestamp() * 1000))
    return page(request, "privacy/ad.html", {**_base(token), "why": why, "shown": shown})


def _back(token: str, done: str) -> RedirectResponse:
    """POST-redirect-GET to the overview, with what was done."""
    return RedirectResponse(_url("/privacy-centre", token, done=done), status_code=303)


@router.post("/interests/{topic_id}/remove", response_model=None)
def remove_interest(
    request: Request, topic_id: int, services: ServicesDep, token: TokenForm = None
) -> Response:
    try:
        audience_api.remove_interest(topic_id, services, _auth(token))
    except FairviewError as exc:
        return _failed(request, exc, token)
    assert token is not None
    return _back(token, "interest_removed")


@router.post("/interests/{topic_id}/restore", response_model=None)
def restore_interest(
    request: Request, topic_id: int, services: ServicesDep, token: TokenForm = None
) -> Response:
    try:
        audience_api.restore_interest(topic_id, services, _auth(token))
    except FairviewError as exc:
        return _failed(request, exc, token)
    assert token is not None
    return _back(token, "interest_restored")


@router.post("/personalisation", response_model=None)
def set_personalisation(
    request: Request,
    services: ServicesDep,
    paused: Annotated[Literal["yes", "no"], Form()],
    token: TokenForm = None,
) -> Response:
    body = audience_api.PersonalisationIn(paused=paused == "yes")
    try:
        audience_api.set_personalisation(services, body, _auth(token))
    except FairviewError as exc:
        return _failed(request, exc, token)
    assert token is not None
    return _back(token, "paused" if body.paused else "resumed")


@router.post("/export", response_model=None)
def export(
    request: Request,
    services: ServicesDep,
    token: TokenForm = None,
    right: Annotated[Literal["access", "portability"], Form()] = "access",
) -> Response:
    """The same streamed export as `GET /v1/me/data`, as a file download."""
    try:
        return rights_api.my_data(services, _auth(token), right)
    except FairviewError as exc:
        return _failed(request, exc, token)


def _confirm_page(
    request: Request, services: Services, token: str | None, kind: Kind, error: str | None
) -> HTMLResponse:
    try:
        viewer = audience_api.viewer_key_of(services, _auth(token))
    except FairviewError as exc:
        return _failed(request, exc, token)
    assert token is not None
    erased, kept = erasure_scope()
    context = {
        **_base(token),
        "error": error,
        "objected": services.store.consents.objection(viewer) is not None,
        "erased": erased,
        "kept": kept,
    }
    template = "privacy/erasure.html" if kind is Kind.ERASURE else "privacy/objection.html"
    return page(request, template, context, status=422 if error else 200)


CONFIRM_ERASURE = "Tick the box to confirm that you want your data erased."
CONFIRM_OBJECTION = "Tick the box to confirm that you object to personalised ads."
Confirmed = Annotated[str | None, Form(max_length=10)]


@router.get("/erasure", response_class=HTMLResponse)
def erasure_page(request: Request, services: ServicesDep, token: TokenQuery = None) -> HTMLResponse:
    """What an erasure removes and keeps (from the registry), and the form to ask for it."""
    return _confirm_page(request, services, token, Kind.ERASURE, None)


@router.post("/erasure", response_model=None)
def erase(
    request: Request, services: ServicesDep, token: TokenForm = None, confirm: Confirmed = None
) -> Response:
    """Erase, as `POST /v1/me/erasure` does, once the viewer has ticked the confirmation."""
    if confirm != "yes":
        return _confirm_page(request, services, token, Kind.ERASURE, CONFIRM_ERASURE)
    try:
        done = rights_api.erase_me(services, _auth(token))
    except FairviewError as exc:
        return _failed(request, exc, token)
    assert token is not None
    return RedirectResponse(
        _url("/privacy-centre/erasure/done", token, receipt=done.id), status_code=303
    )


@router.get("/objection", response_class=HTMLResponse)
def objection_page(
    request: Request, services: ServicesDep, token: TokenQuery = None
) -> HTMLResponse:
    """What an objection does, and the form to make it."""
    return _confirm_page(request, services, token, Kind.OBJECTION, None)


@router.post("/objection", response_model=None)
def object_(
    request: Request, services: ServicesDep, token: TokenForm = None, confirm: Confirmed = None
) -> Response:
    """Object, as `POST /v1/me/objection` does, once the viewer has ticked the confirmation."""
    if confirm != "yes":
        return _confirm_page(request, services, token, Kind.OBJECTION, CONFIRM_OBJECTION)
    try:
        done = rights_api.object_me(services, _auth(token))
    except FairviewError as exc:
        return _failed(request, exc, token)
    assert token is not None
    return RedirectResponse(
        _url("/privacy-centre/objection/done", token, receipt=done.id), status_code=303
    )


Receipt = Annotated[str, Query(min_length=1, max_length=64)]


@router.get("/erasure/done", response_class=HTMLResponse)
def erasure_done(
    request: Request, services: ServicesDep, receipt: Receipt, token: TokenQuery = None
) -> HTMLResponse:
    return _done(request, services, token, receipt, Kind.ERASURE)


@router.get("/objection/done", response_class=HTMLResponse)
def objection_done(
    request: Request, services: ServicesDep, receipt: Receipt, token: TokenQuery = None
) -> HTMLResponse:
    return _done(request, services, token, receipt, Kind.OBJECTION)


def _done(
    request: Request, services: Services, token: str | None, receipt: str, kind: Kind
) -> HTMLResponse:
    """The finished request, shown only to the viewer it was for."""
    try:
        viewer = audience_api.viewer_key_of(services, _auth(token))
        record = services.store.rights.get(receipt)
        if (
            record is None
            or record.kind != kind.value
            or (kind is Kind.ERASURE and record.detail.get("subject") != subject_digest(viewer))
            or (kind is Kind.OBJECTION and record.viewer_key != viewer)
        ):
            raise NotFound("unknown_receipt", "No such request of this viewer.")
    except FairviewError as exc:
        return _failed(request, exc, token)
    assert token is not None
    now_ms = services.clock.now_ms()
    answer = rights_api.RightsRequestPublic.of(record, now_ms)
    completed = when(int(answer.completed_at.timestamp() * 1000)) if answer.completed_at else None
    removed = answer.detail.get("removed", {})
    context = {
        **_base(token),
        "kind": kind.value,
        "receipt": answer,
        "completed": completed,
        "removed_rows": sum(v for v in removed.values() if isinstance(v, int)),
        "profile_rows": answer.detail.get("profile_rows_removed", 0),
        "kept": erasure_scope()[1],
    }
    return page(request, "privacy/done.html", context)
