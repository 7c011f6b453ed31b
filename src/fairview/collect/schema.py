"""The wire shape of one playback event (spec/attention.md §7.1 plus the token)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Self

import msgspec
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from fairview.attention.events import ONLY_ON, SEEK_TOL_S, EventType, InteractionKind
from fairview.collect.firewall import find_prohibited, prohibited_detail
from fairview.errors import FairviewError

_Finite = Annotated[float, Field(allow_inf_nan=False)]
MAX_SEQ = 10_000_000
MAX_MONO_MS = 2 * 86_400_000
MAX_MEDIA_S = 86_400.0


class EventIn(BaseModel):
    """One event as a player sends it. Unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str | None = Field(
        None, max_length=2048, description="Delivery token; may be given once per batch instead."
    )
    delivery: str | None = Field(None, max_length=40, description="Optional; must match the token.")
    seq: int = Field(ge=0, le=MAX_SEQ, strict=True)
    type: EventType
    mono_ms: _Finite = Field(ge=0, le=MAX_MONO_MS)
    media_s: _Finite = Field(ge=0, le=MAX_MEDIA_S)
    rate: _Finite = Field(1.0, ge=0, le=16)
    muted: bool = Field(False, strict=True)
    vis: bool | None = Field(None, strict=True)
    trusted: bool = Field(False, strict=True)
    kind: InteractionKind | None = None
    from_s: _Finite | None = Field(None, ge=0, le=MAX_MEDIA_S)
    to_s: _Finite | None = Field(None, ge=0, le=MAX_MEDIA_S)
    duration_s: _Finite | None = Field(None, gt=0, le=MAX_MEDIA_S)

    @model_validator(mode="after")
    def _type_specific(self) -> Self:
        problem = type_specific_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self


def type_specific_problem(e: EventIn | FastEvent) -> str | None:
    """The first rule of one event type that `e` breaks, as "field: sentence", or None."""
    if e.type is EventType.INTERACTION and e.kind is None:
        return "kind: an interaction event needs a 'kind' (e.g. like, share, clickthrough)"
    for name, types in ONLY_ON.items():
        if getattr(e, name) is not None and e.type not in types:
            return f"{name}: '{name}' is carried only by {', '.join(sorted(types))} events"
    if e.type is EventType.SEEK and (e.from_s is None or e.to_s is None):
        return "from_s: a seek event needs both 'from_s' and 'to_s'"
    if e.to_s is not None and abs(e.to_s - e.media_s) > SEEK_TOL_S:
        return "to_s: 'to_s' is the playhead after the jump and must equal 'media_s'"
    return None


_Seconds = Annotated[float, msgspec.Meta(ge=0, le=MAX_MEDIA_S)]


class FastEvent(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """EventIn again, for msgspec: decodes and validates a whole batch in one C pass.

    It must accept exactly what EventIn accepts (a property test checks); anything
    it refuses falls back to EventIn, which names the field and the reason.
    """

    seq: Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]
    type: EventType
    mono_ms: Annotated[float, msgspec.Meta(ge=0, le=MAX_MONO_MS)]
    media_s: _Seconds
    rate: Annotated[float, msgspec.Meta(ge=0, le=16)] = 1.0
    muted: bool = False
    vis: bool | None = None
    trusted: bool = False
    kind: InteractionKind | None = None
    from_s: _Seconds | None = None
    to_s: _Seconds | None = None
    duration_s: Annotated[float, msgspec.Meta(gt=0, le=MAX_MEDIA_S)] | None = None
    token: Annotated[str, msgspec.Meta(max_length=2048)] | None = None
    delivery: Annotated[str, msgspec.Meta(max_length=40)] | None = None

    def well_formed(self) -> bool:
        """The cross-field rules of EventIn._type_specific (the common case answered first)."""
        plain = (
            self.kind is None
            and self.from_s is None
            and self.to_s is None
            and self.duration_s is None
        )
        if plain and self.type is not EventType.INTERACTION and self.type is not EventType.SEEK:
            return True
        return type_specific_problem(self) is None


class FastBatch(msgspec.Struct, forbid_unknown_fields=True):
    events: list[FastEvent]
    token: str | None = None


_FAST = msgspec.json.Decoder(FastBatch)


def decode_fast(body: bytes) -> FastBatch | None:
    """The batch if every event in it is valid, else None (take the detailed path)."""
    try:
        batch = _FAST.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if not all(e.well_formed() for e in batch.events):
        return None
    return batch


_BATCH = TypeAdapter(list[EventIn])


def parse_events(raws: list[Any]) -> list[EventIn | FairviewError]:
    """Validate a batch: one result per event, an error for each event that fails.

    The common all-valid batch is checked in one pass. That pass needs no separate
    firewall scan: EventIn forbids every field it does not declare, and none of its
    fields is prohibited (tested), so a prohibited name can only ever arrive in an
    event that fails, which the per-event path then names precisely.
    """
    try:
        return list(_BATCH.validate_python(raws))
    except ValidationError:
        return [_parse_or_error(raw) for raw in raws]


def _parse_or_error(raw: Any) -> EventIn | FairviewError:
    try:
        return parse_event(raw)
    except FairviewError as exc:
        return exc


def parse_event(raw: Any) -> EventIn:
    """Validate one raw event; raises FairviewError with a stable code and the field."""
    if not isinstance(raw, dict):
        raise FairviewError("invalid_event", "Each event must be a JSON object.", status=422)
    for path in find_prohibited(raw):
        raise FairviewError("prohibited_field", prohibited_detail(path), status=422, field=path)
    try:
        return EventIn.model_validate(raw)
    except ValidationError as exc:
        raise _field_error(exc) from None


def _field_error(exc: ValidationError) -> FairviewError:
    first = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in first["loc"]) or None
    kind = first["type"]
    message = first["msg"]
    if kind == "extra_forbidden":
        return FairviewError(
            "unknown_field",
            f"Field '{loc}' is not an event field; send only the fields listed in docs/events.md.",
            status=422,
            field=loc,
        )
    if kind == "missing":
        return FairviewError("missing_field", f"Field '{loc}' is required.", status=422, field=loc)
    if kind == "value_error" and ":" in message:
        name, _, sentence = message.removeprefix("Value error, ").partition(":")
        return FairviewError("invalid_field", sentence.strip() + ".", status=422, field=name)
    return FairviewError("invalid_field", f"Field '{loc}': {message}.", status=422, field=loc)


_KNOWN = frozenset(EventIn.model_fields)
_VOCABULARY = frozenset(EventType) | frozenset(InteractionKind)


def redact(raw: Any) -> dict[str, Any]:
    """What of a refused event may be kept: known fields with plain values, other names only.

    Strings outside the event vocabulary could be free text, so they are replaced by
    their length; values of unknown or prohibited fields are never kept.
    """
    if not isinstance(raw, dict):
        return {"_not_an_object": type(raw).__name__}
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in raw.items():
        if key not in _KNOWN or key == "token":
            dropped.append(str(key)[:40])
        elif isinstance(value, bool) or value is None:
            kept[key] = value
        elif isinstance(value, int | float):
            kept[key] = value if math.isfinite(value) else str(value)
        elif isinstance(value, str) and value in _VOCABULARY:
            kept[key] = value
        else:
            kept[key] = f"<redacted {type(value).__name__}>"
    if dropped:
        kept["_dropped_fields"] = sorted(dropped)
    return kept
