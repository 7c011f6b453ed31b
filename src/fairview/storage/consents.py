"""Consent evidence per viewer (Art. 7(1)) and the objections that override it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from sqlalchemy import Engine, bindparam, func, insert, select

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
_OBJECTION = select(Objection.kind).where(Objection.viewer_key == bindparam("v"))
_LATEST = (
    select(*_COLUMNS)
    .where(ConsentRecord.viewer_key == bindparam("v"))
    .order_by(ConsentRecord.received_ms.desc(), ConsentRecord.id.desc())
    .limit(1)
)


EVIDENCE_COLUMNS = tuple(f.name for f in fields(ConsentEvidence))
"""The consent_records columns a piece of evidence fills (the id is generated)."""


def evidence_rows(evidence: Iterable[ConsentEvidence]) -> list[dict[str, object]]:
    return [{f.name: getattr(e, f.name) for f in fields(ConsentEvidence)} for e in evidence]


class Consents:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = writer(engine)

    def record(self, evidence: ConsentEvidence) -> None:
        with self._write.begin() as conn:
            conn.execute(insert(ConsentRecord), evidence_rows([evidence]))

    def viewer_state(self, viewer_key: str) -> tuple[str | None, ConsentEvidence | None]:
        """The viewer's objection kind (if any) and newest signal, read together."""
        with self._engine.connect() as conn:
            objection = conn.execute(_OBJECTION, {"v": viewer_key}).scalar()
            row = conn.execute(_LATEST, {"v": viewer_key}).first()
        return objection, None if row is None else ConsentEvidence(*tuple(row))

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
        """Record an Art. 21 objection; the first one stands, repeats change nothing.

        Never for an erasure: an objection overrides every later signal, while an
        erased viewer's later signals start from nothing (`fairview.rights.erasure`).
        """
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

    def objectors(self) -> set[str]:
        """Every viewer with an objection on record."""
        with self._engine.connect() as conn:
            return set(conn.execute(select(Objection.viewer_key)).scalars())

    def latest_modes(self) -> dict[str, str]:
        """Each viewer's decision mode under their newest recorded signal."""
        ranked = select(
            ConsentRecord.viewer_key,
            ConsentRecord.mode,
            func.row_number()
            .over(
                partition_by=ConsentRecord.viewer_key,
                order_by=(ConsentRecord.received_ms.desc(), ConsentRecord.id.desc()),
            )
            .label("rank"),
        ).subquery()
        query = select(ranked.c.viewer_key, ranked.c.mode).where(ranked.c.rank == 1)
        with self._engine.connect() as conn:
            return {str(v): str(m) for v, m in conn.execute(query)}
