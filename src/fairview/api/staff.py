"""Staff API keys with roles, and the audit log for the data-protection officer."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1")
