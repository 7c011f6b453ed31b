"""The collector: validate, firewall, verify tokens, append durably, answer per event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson

from fairview.collect.schema import (
    MAX_SEQ,
    EventIn,
    FastEvent,
    decode_fast,
    parse_events,
    redact,
)
from fairview.collect.writer import GroupCommitWriter
from fairview.errors import FairviewError
from fairview.storage.eventlog import LogEvent, Outcome, Refusal
from fairview.tokens import DeliveryClaims, TokenSigner

_STATUS = {
    Outcome.ACCEPTED: "accepted",
    Outcome.DUPLICATE: "duplicate",
    Outcome.CONFLICT: "rejected",
}
_CONFLICT = {
    "error": "conflicting_duplicate",
    "detail": "This seq was already received with a different payload; the delivery "
    "is now invalid and will not be billed.",
}


@dataclass
class IngestResult:
    results: list[dict[str, Any]] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r["status"] == status)

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.count("accepted"),
            "duplicates": self.count("duplicate"),
            "rejected": self.count("rejected"),
            "results": self.results,
        }


class Collector:
    def __init__(self, signer: TokenSigner, writer: GroupCommitWriter, *, max_events: int) -> None:
        self._signer = signer
        self._writer = writer
        self._max_events = max_events

    async def ingest(self, body: bytes, now_ms: int) -> IngestResult:
        """Accept a batch `{"token"?: str, "events": [...]}`; one result per event, in order."""
        fast = decode_fast(body)
        parsed: Sequence[EventIn | FastEvent | FairviewError]
        if fast is not None and len(fast.events) <= self._max_events:
            token, raws, parsed = fast.token, None, fast.events
        else:
            token, raw_list = self._parse_body(body)
            raws, parsed = raw_list, parse_events(raw_list)
        verified: dict[str, DeliveryClaims] = {}  # each distinct token is checked once
        accepted: list[tuple[int, LogEvent]] = []
        refusals: list[Refusal] = []
        result = IngestResult([{} for _ in parsed])
        for i, event in enumerate(parsed):
            try:
                if isinstance(event, FairviewError):
                    raise event
                accepted.append((i, self._admit(event, token, now_ms, verified)))
            except FairviewError as exc:
                result.results[i] = {"status": "rejected", **exc.to_json()}
                raw = raws[i] if raws is not None else _as_dict(event)
                refusals.append(_refusal(raw, exc, now_ms, token, self._signer))
        outcomes = await self._writer.append([e for _, e in accepted], refusals)
        for (i, _), outcome in zip(accepted, outcomes, strict=True):
            entry: dict[str, Any] = {"status": _STATUS[outcome]}
            if outcome is Outcome.CONFLICT:
                entry.update(_CONFLICT)
            result.results[i] = entry
        return result

    def _parse_body(self, body: bytes) -> tuple[Any, list[Any]]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise FairviewError("malformed_json", "The body is not valid JSON.") from None
        if isinstance(data, list):
            data = {"events": data}
        if not isinstance(data, dict) or not isinstance(data.get("events"), list):
            raise FairviewError(
                "invalid_batch",
                "Send a JSON object with an 'events' array "
                "(and optionally one 'token' for all of them).",
                status=422,
            )
        extra = set(data) - {"events", "token"}
        if extra:
            raise FairviewError(
                "unknown_field",
                f"Unknown batch field '{sorted(extra)[0]}'; a batch has only 'events' and 'token'.",
                status=422,
                field=sorted(extra)[0][:40],
            )
        events: list[Any] = data["events"]
        if len(events) > self._max_events:
            raise FairviewError(
                "batch_too_large",
                f"A batch may hold at most {self._max_events} events; split it.",
                status=413,
            )
        return data.get("token"), events

    def _admit(
        self,
        event: EventIn | FastEvent,
        batch_token: Any,
        now_ms: int,
        verified: dict[str, DeliveryClaims],
    ) -> LogEvent:
        token = event.token if event.token is not None else batch_token
        if not isinstance(token, str):
            raise FairviewError(
                "missing_token",
                "Each event needs the delivery token, in the event or once for the batch.",
                status=422,
                field="token",
            )
        claims = verified.get(token)
        if claims is None:
            claims = verified[token] = self._signer.verify(token, now_ms)
        if event.delivery is not None and event.delivery != claims.delivery:
            raise FairviewError(
                "delivery_mismatch",
                "Field 'delivery' does not match the delivery of the token.",
                status=422,
                field="delivery",
            )
        return _log_event(event, claims, now_ms)


def _as_dict(event: object) -> Any:
    return msgspec.structs.asdict(event) if isinstance(event, FastEvent) else event


def _log_event(e: EventIn | FastEvent, claims: DeliveryClaims, now_ms: int) -> LogEvent:
    vis = -1 if e.vis is None else int(e.vis)
    # str() of a StrEnum member is its value, and cheaper than the `.value` property
    kind = None if e.kind is None else str(e.kind)
    return LogEvent(
        claims.delivery,
        e.seq,
        str(e.type),
        e.mono_ms,
        e.media_s,
        e.rate,
        e.muted,
        vis,
        e.trusted,
        kind,
        e.from_s,
        e.to_s,
        e.duration_s,
        now_ms,
    )


def _refusal(
    raw: Any, exc: FairviewError, now_ms: int, batch_token: Any, signer: TokenSigner
) -> Refusal:
    delivery = seq = None
    if isinstance(raw, dict):
        raw_seq = raw.get("seq")
        seq = raw_seq if type(raw_seq) is int and 0 <= raw_seq <= MAX_SEQ else None
        token = raw.get("token", batch_token)
        if isinstance(token, str) and exc.code != "invalid_token":
            try:
                delivery = signer.verify(token, now_ms).delivery
            except FairviewError:
                delivery = None
    return Refusal(
        now_ms,
        delivery,
        seq,
        exc.code,
        exc.extra.get("field"),
        exc.detail,
        orjson.dumps(redact(raw)).decode(),
    )
