"""Errors a user can cause: a stable code and a sentence a person can act on."""

from __future__ import annotations

from typing import Any


class FairviewError(Exception):
    """An error with a stable machine-readable `code`, an HTTP status and a helpful detail."""

    status = 400

    def __init__(self, code: str, detail: str, *, status: int | None = None, **extra: Any):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        if status is not None:
            self.status = status
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}


class NotFound(FairviewError):
    status = 404


class Unauthorized(FairviewError):
    status = 401


class Forbidden(FairviewError):
    status = 403


class Conflict(FairviewError):
    status = 409
