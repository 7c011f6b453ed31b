"""Every error leaves as JSON with a stable code; user input never causes a 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from fairview.api.responses import JSONBytes
from fairview.errors import FairviewError
from fairview.web import is_page
from fairview.web.errors import error_page, sign_in_redirect
from fairview.web.session import SignInRequired

log = logging.getLogger("fairview.api")

# pydantic error types → the stable codes fairview documents (docs/errors.md)
_CODES = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "int_type": "not_integer",
    "int_parsing": "not_integer",
    "int_from_float": "not_integer",
    "float_type": "not_number",
    "float_parsing": "not_number",
    "finite_number": "not_number",
    "bool_type": "not_boolean",
    "bool_parsing": "not_boolean",
    "string_type": "not_string",
    "string_too_short": "too_short",
    "string_too_long": "too_long",
    "string_pattern_mismatch": "bad_format",
    "greater_than": "too_small",
    "greater_than_equal": "too_small",
    "less_than": "too_large",
    "less_than_equal": "too_large",
    "enum": "not_allowed",
    "literal_error": "not_allowed",
    "datetime_type": "not_datetime",
    "datetime_parsing": "not_datetime",
    "datetime_from_date_parsing": "not_datetime",
    "timezone_aware": "needs_timezone",
    "url_parsing": "bad_url",
    "url_scheme": "bad_url",
    "url_type": "bad_url",
    "json_invalid": "malformed_json",
    "model_attributes_type": "not_object",
    "dict_type": "not_object",
    "list_type": "not_list",
    "too_long": "too_many",
}
_STATUS_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    401: "unauthorized",
    403: "forbidden",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def body_error(exc: ValidationError) -> RequestValidationError:
    """pydantic's errors on a body validated by hand, located under `body` as FastAPI's own
    are, so they answer 422 `validation_error` like any other endpoint's."""
    return RequestValidationError(
        [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors(include_url=False)]
    )


def validation_errors(exc: RequestValidationError | ValidationError) -> list[dict[str, str]]:
    """Each invalid field as {field, code, detail} (also used for the web pages' forms)."""
    errors = []
    for err in exc.errors():
        kind = str(err.get("type", "invalid"))
        code = _CODES.get(kind, kind if kind.isidentifier() else "invalid")
        message = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        field = _field(tuple(err.get("loc", ())))
        errors.append({"field": field, "code": code, "detail": f"{field}: {message}."})
    return errors


async def _fairview_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FairviewError)
    if isinstance(exc, SignInRequired):
        return sign_in_redirect(exc)
    if is_page(request.url.path):
        return error_page(request, exc.status, exc.code, exc.detail)
    return JSONBytes(exc.to_json(), status_code=exc.status)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc)
    detail = "The request has invalid fields: " + "; ".join(e["detail"] for e in errors[:5])
    if is_page(request.url.path):
        return error_page(request, 422, "validation_error", detail)
    body = {"error": "validation_error", "detail": detail, "errors": errors}
    return JSONBytes(body, status_code=422)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    if is_page(request.url.path) and exc.status_code >= 400:
        return error_page(request, exc.status_code, code, _PAGE_DETAIL.get(code, str(exc.detail)))
    return JSONBytes(
        {"error": code, "detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
    )


_PAGE_DETAIL = {
    "not_found": "There is no page at this address. Check the link, or start again from "
    "the home page.",
    "method_not_allowed": "This page cannot be used that way. Go back and use the page's "
    "own links and buttons.",
}
_INTERNAL = (
    "fairview failed to handle this request; nothing from it was stored. Retry; if it "
    "persists, report it."
)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    if is_page(request.url.path):
        return error_page(request, 500, "internal_error", _INTERNAL)
    return JSONBytes({"error": "internal_error", "detail": _INTERNAL}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(FairviewError, _fairview_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
