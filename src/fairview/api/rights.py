"""The viewer's rights (export, erasure, objection) and their tracking."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1")
