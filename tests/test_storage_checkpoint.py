"""WAL checkpoints off the commit path, and delivery ids that append to the B-trees."""

from __future__ import annotations

import time
from pathlib import Path

from fairview.serve.decide import delivery_id
from fairview.storage import open_store
from fairview.storage.engine import Checkpointer

from browser import wait_for


def test_a_server_store_checkpoints_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    store = open_store(f"sqlite:///{path}", synchronous="NORMAL", background_checkpoint=True)
    assert store.checkpointer is not None
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        conn.exec_driver_sql("CREATE TABLE t (x BLOB)")
        for _ in range(50):
            conn.exec_driver_sql("INSERT INTO t VALUES (randomblob(8000))")
            conn.commit()
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > 0

    def checkpointed() -> bool:
        with store.engine.connect() as conn:
            busy, frames, done = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        return bool(busy == 0 and frames == done)

    wait_for(checkpointed, 5, "the background checkpointer never caught up")
    store.close()
    assert not store.checkpointer._thread.is_alive()


def test_the_log_starts_over_under_steady_writes(tmp_path: Path) -> None:
    """PASSIVE checkpoints alone never restart a log that writers keep appending to;
    past `restart_pages` the checkpointer restarts it under the writer lock."""
    path = tmp_path / "f.sqlite3"
    store = open_store(f"sqlite:///{path}", synchronous="NORMAL", background_checkpoint=True)
    assert store.checkpointer is not None
    store.checkpointer.close()  # rounds are run by hand below
    checkpointer = Checkpointer(store.engine, interval_s=3600, restart_pages=100)
    reader = store.engine.connect()  # an idle connection holds no snapshot

    def wal_pages() -> int:
        return int(reader.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()[1])

    with store.engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x BLOB)")
        conn.commit()
        checkpointer.checkpoint()  # whatever the migrations left
        conn.exec_driver_sql("INSERT INTO t VALUES (randomblob(8000))")
        conn.commit()
        assert checkpointer.checkpoint() is False  # a short log is only copied
        for _ in range(60):  # each commit appends a few pages; nothing checkpoints
            conn.exec_driver_sql("INSERT INTO t VALUES (randomblob(8000))")
            conn.commit()
        assert wal_pages() >= 100
        assert checkpointer.checkpoint() is True
        conn.exec_driver_sql("INSERT INTO t VALUES (randomblob(8000))")
        conn.commit()
    assert wal_pages() < 10  # the next commit wrote from the start of the log
    reader.close()
    checkpointer.close()
    store.close()


def test_other_stores_keep_sqlites_own_checkpoints(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'f.sqlite3'}", synchronous="NORMAL")
    assert store.checkpointer is None
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    store.close()


def test_delivery_ids_sort_by_issue_time_and_stay_unguessable() -> None:
    now = int(time.time() * 1000)
    ids = [delivery_id(now + k) for k in range(1000)]
    assert ids == sorted(ids)
    same_ms = {delivery_id(now) for _ in range(1000)}
    assert len(same_ms) == 1000
    assert all(len(i) <= 40 and i.startswith("dl_") for i in ids)  # the column is 40 wide
    assert len(ids[0]) - len(f"dl_{now:011x}") == 16  # 96 random bits, base64url
