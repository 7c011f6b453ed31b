"""The player SDK, served to the pages that embed fairview ads (docs/player-sdk.md)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter()

SDK_FILE = "fairview-player.js"
# Short enough that a fix reaches players within the hour; the file is small.
CACHE_CONTROL = "public, max-age=3600"


@cache
def sdk_source() -> bytes:
    """The SDK's bytes from the installed package (read once, on first request)."""
    return files("fairview.web").joinpath("static", SDK_FILE).read_bytes()


@router.get(f"/sdk/{SDK_FILE}", include_in_schema=False)
def player_sdk() -> Response:
    return Response(
        sdk_source(),
        media_type="text/javascript; charset=utf-8",
        headers={"cache-control": CACHE_CONTROL, "x-content-type-options": "nosniff"},
    )
