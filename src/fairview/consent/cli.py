"""``fairview tcf decode`` and ``fairview tcf encode``: the TC string codec on the command line.

Output is JSON (orjson). A bad input is reported as ``{"error": code, "detail": …}``
on stdout, never as a stack trace; the input string itself is never echoed,
because a TC string is personal data.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer

from fairview.consent.errors import TCStringError
from fairview.consent.tcf import decode as decode_string
from fairview.consent.tcf import validate
from fairview.consent.tcf_encode import encode as encode_model
from fairview.consent.tcf_model import TCModel

app = typer.Typer(
    help="Decode and encode IAB TCF v2 TC strings.", no_args_is_help=True, add_completion=False
)

EXIT_LINE_FAILED = 1
EXIT_INVALID = 2


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(obj).decode() + "\n")


def _decoder(strict: bool) -> Callable[[str], TCModel]:
    if not strict:
        return decode_string
    now = datetime.now(UTC)
    return lambda s: validate(s, now=now)


@app.command()
def decode(
    tc_string: Annotated[
        str | None, typer.Argument(help="The TC string; omit it to read one per line on stdin.")
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(help="Also apply the validation rules (policy version ≥ 4, scope, age…)."),
    ] = False,
) -> None:
    """Print a TC string as JSON; with no argument, decode stdin line by line.

    One string: exit 2 with an error object when it is invalid. Stdin: one JSON
    object per non-blank line, an error object for a bad line, exit 1 if any
    line failed, else 0.
    """
    decoder = _decoder(strict)
    if tc_string is not None:
        try:
            _emit(decoder(tc_string.strip()).to_json())
        except TCStringError as exc:
            _emit(exc.to_json())
            raise typer.Exit(EXIT_INVALID) from None
        return
    failed = False
    for line in sys.stdin:
        text = line.strip()
        if not text:
            continue
        try:
            _emit(decoder(text).to_json())
        except TCStringError as exc:
            failed = True
            _emit(exc.to_json())
    if failed:
        raise typer.Exit(EXIT_LINE_FAILED)


@app.command()
def encode(
    segments: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated segments, core first (core,vendorsDisclosed,publisherTC). "
            "Default: as the IAB reference library chooses."
        ),
    ] = None,
) -> None:
    """Read one model as JSON on stdin (the shape `decode` prints) and print its TC string."""
    try:
        data = orjson.loads(sys.stdin.read())
    except orjson.JSONDecodeError:
        _emit({"error": "bad_json", "detail": "stdin is not one JSON object."})
        raise typer.Exit(EXIT_INVALID) from None
    names = [s.strip() for s in segments.split(",")] if segments else None
    try:
        sys.stdout.write(encode_model(TCModel.from_json(data), segments=names) + "\n")
    except TCStringError as exc:
        _emit(exc.to_json())
        raise typer.Exit(EXIT_INVALID) from None
