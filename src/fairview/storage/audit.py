"""The append-only, hash-chained audit log of access to personal data and admin changes.

Each record's hash covers its fields and the previous record's hash, so
changing, deleting or reordering any record breaks the chain at that point
(`verify`). Appends are serialised (one writer on SQLite, an advisory lock on
PostgreSQL) so the chain never forks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select

from fairview.storage.dialect import serialise_appends
from fairview.storage.engine import writer
from fairview.storage.schema import AuditRecord

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at_ms: int
    actor: str
    action: str
    purpose: str
    subject: str
    detail: Mapping[str, Any]
    prev_hash: str
    hash: str


def entry_hash(
    prev_hash: str,
    at_ms: int,
    actor: str,
    action: str,
    purpose: str,
    subject: str,
    detail: str,
) -> str:
    body = json.dumps(
        [prev_hash, at_ms, actor, action, purpose, subject, detail],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = writer(engine)

    def append(
        self,
        *,
        actor: str,
        action: str,
        purpose: str,
        subject: str,
        detail: Mapping[str, Any],
        now_ms: int,
    ) -> AuditEntry:
        text = json.dumps(dict(detail), sort_keys=True, ensure_ascii=False)
        with self._write.begin() as conn:
            serialise_appends(conn)
            last = conn.execute(
                select(AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
            ).scalar()
            prev = last or GENESIS
            digest = entry_hash(prev, now_ms, actor, action, purpose, subject, text)
            seq = conn.execute(
                insert(AuditRecord).returning(AuditRecord.seq),
                {
                    "at_ms": now_ms,
                    "actor": actor,
                    "action": action,
                    "purpose": purpose,
                    "subject": subject,
                    "detail": text,
                    "prev_hash": prev,
                    "hash": digest,
                },
            ).scalar_one()
        return AuditEntry(
            int(seq), now_ms, actor, action, purpose, subject, dict(detail), prev, digest
        )

    def entries(self, *, action: str | None = None) -> Iterator[AuditEntry]:
        query = select(AuditRecord).order_by(AuditRecord.seq)
        if action is not None:
            query = query.where(AuditRecord.action == action)
        with self._engine.connect() as conn:
            for row in conn.execute(query):
                yield _entry(row)

    def search(
        self,
        *,
        action: str | None = None,
        action_prefix: str | None = None,
        actor: str | None = None,
        subject: str | None = None,
        since_ms: int = 0,
        until_ms: int | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """At most `limit` records after `after`, oldest first, filtered in the database.

        `action` is exact, `action_prefix` a start; `actor` and `subject` match part of
        the field, case-insensitively; the period is [since_ms, until_ms].
        """
        record = AuditRecord
        query = select(record).where(record.seq > after, record.at_ms >= since_ms)
        if until_ms is not None:
            query = query.where(record.at_ms <= until_ms)
        if action is not None:
            query = query.where(record.action == action)
        if action_prefix:
            query = query.where(record.action.startswith(action_prefix, autoescape=True))
        if actor:
            query = query.where(record.actor.icontains(actor, autoescape=True))
        if subject:
            query = query.where(record.subject.icontains(subject, autoescape=True))
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(record.seq).limit(limit))
            return [_entry(row) for row in rows]

    def verify(self) -> list[str]:
        """Problems found walking the chain in order; empty when it is intact."""
        problems: list[str] = []
        prev = GENESIS
        query = select(AuditRecord).order_by(AuditRecord.seq)
        with self._engine.connect() as conn:
            for row in conn.execute(query):
                if row.prev_hash != prev:
                    problems.append(
                        f"record {row.seq}: does not follow the record before it "
                        "(a record was deleted, inserted or reordered)"
                    )
                expected = entry_hash(
                    row.prev_hash,
                    int(row.at_ms),
                    row.actor,
                    row.action,
                    row.purpose,
                    row.subject,
                    row.detail,
                )
                if row.hash != expected:
                    problems.append(f"record {row.seq}: its content was changed after writing")
                prev = row.hash
        return problems


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        int(row.seq),
        int(row.at_ms),
        row.actor,
        row.action,
        row.purpose,
        row.subject,
        json.loads(row.detail),
        row.prev_hash,
        row.hash,
    )
