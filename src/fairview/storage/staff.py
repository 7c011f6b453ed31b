"""Staff API keys: one role each, stored as a hash, listed without secrets, revocable.

A key is `fvs_` and 43 characters of a 256-bit random secret; the database keeps
its SHA-256 (see `hash_api_key`) and a 12-character public prefix that names it
in listings, revocations and the audit log. The key itself is shown only once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update

from fairview.accountability.roles import Role
from fairview.storage.catalog import hash_api_key
from fairview.storage.engine import writer
from fairview.storage.schema import StaffKey

KEY_PREFIX = "fvs_"
PREFIX_CHARS = 12


@dataclass(frozen=True, slots=True)
class StaffKeyRecord:
    prefix: str
    role: Role
    name: str
    created_ms: int
    revoked_ms: int | None


class StaffKeys:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = writer(engine)

    def create(self, name: str, role: Role, now_ms: int) -> tuple[StaffKeyRecord, str]:
        """A new key with `role`; returns its record and the key, which is shown only once."""
        with self._write.begin() as conn:
            while True:  # a 48-bit prefix practically never repeats; make sure it does not
                key = f"{KEY_PREFIX}{secrets.token_urlsafe(32)}"
                prefix = key[:PREFIX_CHARS]
                taken = conn.execute(select(StaffKey.prefix).where(StaffKey.prefix == prefix))
                if taken.first() is None:
                    break
            conn.execute(
                insert(StaffKey).values(
                    key_hash=hash_api_key(key),
                    prefix=prefix,
                    role=role.value,
                    name=name,
                    created_ms=now_ms,
                    revoked_ms=None,
                )
            )
        return StaffKeyRecord(prefix, role, name, now_ms, None), key

    def for_key(self, key: str) -> StaffKeyRecord | None:
        """The record of a live (not revoked) key, None for any other string."""
        if not key.startswith(KEY_PREFIX):
            return None
        query = select(StaffKey).where(
            StaffKey.key_hash == hash_api_key(key), StaffKey.revoked_ms.is_(None)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _record(row)

    def list(self) -> list[StaffKeyRecord]:
        """Every key, revoked ones included, oldest first."""
        query = select(StaffKey).order_by(StaffKey.created_ms, StaffKey.prefix)
        with self._engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def get(self, prefix: str) -> StaffKeyRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(StaffKey).where(StaffKey.prefix == prefix)).first()
        return None if row is None else _record(row)

    def revoke(self, prefix: str, now_ms: int) -> StaffKeyRecord | None:
        """Revoke the key now; a key already revoked keeps its first revocation time."""
        with self._write.begin() as conn:
            conn.execute(
                update(StaffKey)
                .where(StaffKey.prefix == prefix, StaffKey.revoked_ms.is_(None))
                .values(revoked_ms=now_ms)
            )
        return self.get(prefix)


def _record(row: Any) -> StaffKeyRecord:
    revoked = None if row.revoked_ms is None else int(row.revoked_ms)
    return StaffKeyRecord(row.prefix, Role(row.role), row.name, int(row.created_ms), revoked)
