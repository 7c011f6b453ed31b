"""`fairview audit verify | head | show`: the hash chain, checked from the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from fairview.cli import app
from fairview.storage import Store, open_store
from fairview.storage.audit import GENESIS, entry_hash
from fairview.storage.schema import AuditRecord

from factories import T0

runner = CliRunner()
DAY_MS = 86_400_000


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A SQLite store with five audit records, one a day, which the CLI reads too."""
    db = tmp_path / "audit.sqlite3"
    monkeypatch.setenv("FAIRVIEW_DATABASE_URL", f"sqlite:///{db}")
    s = open_store(f"sqlite:///{db}", synchronous="NORMAL")
    for i in range(5):
        s.audit.append(
            actor=f"dpo:fvs_{i}",
            action="staff.key.created" if i % 2 else "dpo.read_audit_log",
            purpose=f"purpose {i}",
            subject=f"s{i}",
            detail={"i": i},
            now_ms=T0 + i * DAY_MS,
        )
    yield s
    s.close()


def _verify(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "verify", *args])
    return result.exit_code, result.stdout


def _head() -> str:
    result = runner.invoke(app, ["audit", "head"])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_an_intact_log_verifies(store: Store) -> None:
    code, out = _verify()
    assert (code, out) == (0, "")
    code, out = _verify("--json")
    verdict = orjson.loads(out)
    assert code == 0 and verdict["intact"] and verdict["records"] == 5
    assert verdict["head"] == _head() and _head().startswith("5:")


def test_a_modified_record_is_detected(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(subject="other"))
    code, out = _verify()
    assert code == 1
    assert out.splitlines() == ["record 2: its content was changed after writing"]


def test_a_modified_detail_is_detected(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(AuditRecord).where(AuditRecord.seq == 4).values(detail='{"i": 40}'))
    code, out = _verify()
    assert code == 1 and "record 4: its content was changed" in out


def test_a_deleted_record_is_detected(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(delete(AuditRecord).where(AuditRecord.seq == 3))
    code, out = _verify()
    assert code == 1
    assert out.splitlines() == [
        "record 4: does not follow the record before it (a record was deleted, inserted or "
        "reordered)"
    ]


def test_deleting_the_first_record_is_detected(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(delete(AuditRecord).where(AuditRecord.seq == 1))
    code, out = _verify()
    assert code == 1 and out.startswith("record 2: does not follow")


def test_reordered_records_are_detected(store: Store) -> None:
    """Swap records 2 and 3 wholesale (content and hashes): the chain no longer links."""
    columns = ("at_ms", "actor", "action", "purpose", "subject", "detail", "prev_hash", "hash")
    with store.engine.begin() as conn:
        rows = {
            r.seq: r for r in conn.execute(select(AuditRecord).where(AuditRecord.seq.in_([2, 3])))
        }
        # hash is unique: move record 2 out of the way first
        conn.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(hash="tmp"))
        for seq, other in ((3, 2), (2, 3)):
            values = {c: getattr(rows[other], c) for c in columns}
            conn.execute(update(AuditRecord).where(AuditRecord.seq == seq).values(**values))
    code, out = _verify()
    assert code == 1
    assert [line.split(":")[0] for line in out.splitlines()] == ["record 2", "record 3", "record 4"]


def test_deleting_the_newest_records_needs_the_anchored_head(store: Store) -> None:
    anchored = _head()
    with store.engine.begin() as conn:
        conn.execute(delete(AuditRecord).where(AuditRecord.seq >= 4))
    assert _verify() == (0, "")  # what is left still links: the limitation
    code, out = _verify("--head", anchored)
    assert code == 1
    assert out.splitlines() == [
        "record 5 (the anchored head) is missing: records were deleted from the end of the log"
    ]


def test_a_log_rewritten_with_fresh_hashes_is_caught_by_the_anchored_head(store: Store) -> None:
    anchored = _head()
    with store.engine.begin() as conn:
        rows = list(conn.execute(select(AuditRecord).order_by(AuditRecord.seq)))
        prev = GENESIS
        for r in rows:
            purpose = "nothing to see" if r.seq == 2 else r.purpose
            digest = entry_hash(prev, r.at_ms, r.actor, r.action, purpose, r.subject, r.detail)
            conn.execute(
                update(AuditRecord)
                .where(AuditRecord.seq == r.seq)
                .values(purpose=purpose, prev_hash=prev, hash=digest)
            )
            prev = digest
    assert _verify() == (0, "")
    code, out = _verify("--head", anchored)
    assert code == 1 and "record 5 does not match the anchored head" in out


def test_new_records_after_the_anchor_still_verify(store: Store) -> None:
    anchored = _head()
    store.audit.append(actor="a", action="x", purpose="p", subject="s", detail={}, now_ms=T0)
    assert _verify("--head", anchored) == (0, "")
    assert _head().startswith("6:")


def test_a_malformed_head_is_refused(store: Store) -> None:
    code, _ = _verify("--head", "5:nothex")
    assert code == 2


def test_an_empty_log_has_no_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRVIEW_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert runner.invoke(app, ["audit", "head"]).exit_code == 1
    assert _verify() == (0, "")


def test_show_filters_by_action_and_time(store: Store) -> None:
    result = runner.invoke(app, ["audit", "show", "--json", "--action", "staff.key.created"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["seq"], r["subject"], r["detail"]) for r in lines] == [
        (2, "s1", {"i": 1}),
        (4, "s3", {"i": 3}),
    ]
    assert lines[0]["at"] == "2026-09-22T14:13:20.000+00:00"
    assert lines[1]["prev_hash"] != GENESIS and len(lines[1]["hash"]) == 64
    since = runner.invoke(app, ["audit", "show", "--json", "--since", "2026-09-24"])
    assert [json.loads(line)["seq"] for line in since.stdout.splitlines()] == [4, 5]
    table = runner.invoke(app, ["audit", "show", "--since", "2026-09-24T14:13:20+00:00"])
    assert table.exit_code == 0 and "s3" in table.stdout and "s2" not in table.stdout
    assert runner.invoke(app, ["audit", "show", "--since", "yesterday"]).exit_code == 2
