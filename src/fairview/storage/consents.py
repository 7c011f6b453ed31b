"""Consent evidence per viewer (Art. 7(1)) and the objections that override it."""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy import Engine, insert, select

from fairview.storage.dialect import insert_ignore
from fairview.storage.engine import writer
from fairview.storage.schema import ConsentRecord, Objection, table_of


@dataclass(frozen=True, slots=True)
class ConsentEvidence:
    """One signal as received, and the decision it produced (`rows`: the table rows)."""

    viewer_key: str
    received_ms: int
    region: str
    tc_string: str | None
    cmp_id: int | None
    cmp_version: int | None
    policy_version: int | None
    gpp_string: str | None
    gpc: bool
    mode: str
    rows: str


_COLUMNS = [getattr(ConsentRecord, f.name) for f in fields(ConsentEvidence)]


class Consents:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = writer(engine)

    def record(self, evidence: ConsentEvidence) -> None:
        values = {f.name: getattr(evidence, f.name) for f in fields(ConsentEvidence)}
        with self._write.begin() as conn:
            conn.execute(insert(ConsentRecord).values(**values))

    def latest(self, viewer_key: str) -> ConsentEvidence | None:
        """The newest signal for the viewer: a newer one always wins (T5)."""
        query = (
            select(*_COLUMNS)
            .where(ConsentRecord.viewer_key == viewer_key)
            .order_by(ConsentRecord.received_ms.desc(), ConsentRecord.id.desc())
            .limit(1)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else ConsentEvidence(*tuple(row))

    def history(self, viewer_key: str) -> list[ConsentEvidence]:
        query = (
            select(*_COLUMNS)
            .where(ConsentRecord.viewer_key == viewer_key)
            .order_by(ConsentRecord.received_ms, ConsentRecord.id)
        )
        with self._engine.connect() as conn:
            return [ConsentEvidence(*tuple(row)) for row in conn.execute(query)]

    def object(self, viewer_key: str, kind: str, now_ms: int) -> None:
        """Record an objection or erasure; the first one stands, repeats change nothing."""
        with self._write.begin() as conn:
            conn.execute(
                insert_ignore(conn, table_of(Objection)).values(
                    viewer_key=viewer_key, kind=kind, received_ms=now_ms
                )
            )

    def objection(self, viewer_key: str) -> str | None:
        with self._engine.connect() as conn:
            return conn.execute(
                select(Objection.kind).where(Objection.viewer_key == viewer_key)
            ).scalar()
