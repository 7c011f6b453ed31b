"""Errors on web pages: the same stable codes as the API, as a page a person can act on."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from fairview.web.render import page
from fairview.web.session import SignInRequired

TITLES = {
    400: "The request could not be used",
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Conflict",
    413: "Too large",
    422: "Some fields need attention",
    429: "Too many requests",
    500: "Something went wrong on our side",
}


def error_page(request: Request, status: int, code: str, detail: str) -> Response:
    """The error page: its title, the stable code and the sentence that says what to do."""
    context = {
        "status": status,
        "code": code,
        "detail": detail,
        "title": TITLES.get(status, "Error"),
    }
    return page(request, "error.html", context, status=status)


def sign_in_redirect(exc: SignInRequired) -> Response:
    """A page that needs a session, without one: to the area's sign-in, then back."""
    return RedirectResponse(exc.location, status_code=303)
