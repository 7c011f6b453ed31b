"""Interest profiles: video classifications, credited watch time, removed topics and pauses.

Sensitive (Art. 9) labels are stored per video only. A viewer's rows hold
allowlisted topics and seconds, nothing else, and are written only through
`add_watch`, which demands permissions that allow profiling.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, and_, delete, select

from fairview.consent.policy import Permissions
from fairview.storage.dialect import upsert
from fairview.storage.engine import writer
from fairview.storage.schema import (
    Cohort,
    CohortMember,
    InterestBlock,
    InterestWatch,
    Video,
    ViewerSetting,
    table_of,
)


class ProfilingNotAllowed(RuntimeError):
    """A profile write without permissions that allow profiling: a bug in the caller."""


@dataclass(frozen=True, slots=True)
class VideoRecord:
    id: str
    topics: tuple[int, ...]
    sensitive: frozenset[str]
    method: str
    classified_ms: int


@dataclass(frozen=True, slots=True)
class WatchCredit:
    """Credited seconds per allowlisted topic for one viewer and epoch, and their basis."""

    viewer_key: str
    epoch: int
    seconds: Mapping[int, float]
    permissions: Permissions


@dataclass(frozen=True, slots=True)
class ViewerControls:
    paused: bool
    blocked: frozenset[int]


@dataclass(frozen=True, slots=True, eq=False)
class WatchArrays:
    """Watch rows as arrays: row i is (viewers[viewer[i]], epoch[i], topic[i], seconds[i])."""

    viewers: list[str]  # distinct viewer keys, in the order first read
    viewer: NDArray[np.int64]
    epoch: NDArray[np.int64]
    topic: NDArray[np.int64]
    seconds: NDArray[np.float64]


class Audience:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write = writer(engine)

    # Videos -----------------------------------------------------------------

    def videos(self, ids: Iterable[str]) -> dict[str, VideoRecord]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        with self._engine.connect() as conn:
            rows = conn.execute(select(Video).where(Video.id.in_(wanted))).all()
        return {r.id: _video(r) for r in rows}

    def save_videos(self, records: Iterable[VideoRecord]) -> None:
        """Insert or replace classifications (a platform may re-send better metadata)."""
        rows = [
            {
                "id": r.id,
                "topics": json.dumps(list(r.topics)),
                "sensitive": json.dumps(sorted(r.sensitive)),
                "method": r.method,
                "classified_ms": r.classified_ms,
            }
            for r in records
        ]
        if not rows:
            return
        with self._write.begin() as conn:
            conn.execute(
                upsert(
                    conn,
                    table_of(Video),
                    ["id"],
                    replace=["topics", "sensitive", "method", "classified_ms"],
                ),
                rows,
            )

    # Profiles ---------------------------------------------------------------

    def add_watch(
        self,
        viewer_key: str,
        epoch: int,
        credits: Mapping[int, float],
        now_ms: int,
        *,
        permissions: Permissions,
    ) -> int:
        """Add credited seconds per topic to the viewer's epoch; returns the topics written."""
        return self.add_watch_many([WatchCredit(viewer_key, epoch, credits, permissions)], now_ms)

    def add_watch_many(self, credits: Sequence[WatchCredit], now_ms: int) -> int:
        """Add many viewers' credited seconds in one transaction; returns the rows written.

        Refuses (ProfilingNotAllowed, nothing written) unless every credit carries
        permissions that allow profiling. Topics a viewer removed and paused viewers
        are skipped here, in the same transaction that writes.
        """
        for credit in credits:
            if not credit.permissions.profiling:
                raise ProfilingNotAllowed(
                    f"mode {credit.permissions.mode.value} does not allow profiling"
                )
        viewers = sorted({c.viewer_key for c in credits if c.seconds})
        if not viewers:
            return 0
        totals: dict[tuple[str, int, int], float] = {}
        with self._write.begin() as conn:
            paused = set(
                conn.execute(
                    select(ViewerSetting.viewer_key).where(
                        ViewerSetting.viewer_key.in_(viewers), ViewerSetting.paused.is_(True)
                    )
                ).scalars()
            )
            blocked = {
                (str(v), int(t))
                for v, t in conn.execute(
                    select(InterestBlock.viewer_key, InterestBlock.topic_id).where(
                        InterestBlock.viewer_key.in_(viewers)
                    )
                )
            }
            for c in credits:
                if c.viewer_key in paused:
                    continue
                for topic, seconds in c.seconds.items():
                    if seconds > 0 and (c.viewer_key, topic) not in blocked:
                        key = (c.viewer_key, c.epoch, topic)
                        totals[key] = totals.get(key, 0.0) + seconds
            rows = [
                {"viewer_key": v, "epoch": e, "topic_id": t, "seconds": s, "updated_ms": now_ms}
                for (v, e, t), s in sorted(totals.items())
            ]
            if rows:
                conn.execute(
                    upsert(
                        conn,
                        table_of(InterestWatch),
                        ["viewer_key", "epoch", "topic_id"],
                        add=["seconds"],
                        replace=["updated_ms"],
                    ),
                    rows,
                )
        return len(rows)

    def has_profile(self, viewer_key: str) -> bool:
        query = select(InterestWatch.epoch).where(InterestWatch.viewer_key == viewer_key).limit(1)
        member = select(CohortMember.cohort_id).where(CohortMember.viewer_key == viewer_key)
        with self._engine.connect() as conn:
            return (
                conn.execute(query).first() is not None or conn.execute(member).first() is not None
            )

    def watch(self, viewer_key: str, since_epoch: int) -> list[tuple[int, int, float]]:
        """The viewer's (epoch, topic, seconds) rows from `since_epoch` on."""
        query = select(InterestWatch.epoch, InterestWatch.topic_id, InterestWatch.seconds).where(
            InterestWatch.viewer_key == viewer_key, InterestWatch.epoch >= since_epoch
        )
        with self._engine.connect() as conn:
            return [(int(e), int(t), float(s)) for e, t, s in conn.execute(query)]

    def watch_arrays(self, since_epoch: int) -> WatchArrays:
        """Every row from `since_epoch` in one query, as arrays (the cohort job's bulk read).

        Rows come ordered by (viewer, epoch, topic), the table's primary key, which
        is the order `profile_matrix` takes without sorting.
        """
        query = (
            select(
                InterestWatch.viewer_key,
                InterestWatch.epoch,
                InterestWatch.topic_id,
                InterestWatch.seconds,
            )
            .where(InterestWatch.epoch >= since_epoch)
            .order_by(InterestWatch.viewer_key, InterestWatch.epoch, InterestWatch.topic_id)
        )
        index: dict[str, int] = {}
        viewer: list[int] = []
        epochs: list[int] = []
        topics: list[int] = []
        seconds: list[float] = []
        with self._engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=50_000).execute(query)
            for partition in result.partitions():
                keys, epoch, topic, watched = zip(*partition, strict=True)
                viewer.extend([index.setdefault(str(key), len(index)) for key in keys])
                epochs.extend(epoch)
                topics.extend(topic)
                seconds.extend(watched)
        return WatchArrays(
            viewers=list(index),
            viewer=np.asarray(viewer, dtype=np.int64),
            epoch=np.asarray(epochs, dtype=np.int64),
            topic=np.asarray(topics, dtype=np.int64),
            seconds=np.asarray(seconds, dtype=np.float64),
        )

    def controls(self, viewer_key: str) -> ViewerControls:
        with self._engine.connect() as conn:
            paused = conn.execute(
                select(ViewerSetting.paused).where(ViewerSetting.viewer_key == viewer_key)
            ).scalar()
            blocked = conn.execute(
                select(InterestBlock.topic_id).where(InterestBlock.viewer_key == viewer_key)
            ).scalars()
            return ViewerControls(bool(paused), frozenset(int(t) for t in blocked))

    def excluded_viewers(self) -> set[str]:
        """Viewers who paused personalisation (the cohort job leaves them out)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(ViewerSetting.viewer_key).where(ViewerSetting.paused.is_(True))
            ).scalars()
            return set(rows)

    def all_blocks(self) -> dict[str, frozenset[int]]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(InterestBlock.viewer_key, InterestBlock.topic_id)).all()
        found: dict[str, set[int]] = {}
        for viewer, topic in rows:
            found.setdefault(str(viewer), set()).add(int(topic))
        return {v: frozenset(t) for v, t in found.items()}

    def remove_topic(self, viewer_key: str, topic_id: int, now_ms: int) -> None:
        """Delete the topic's watch time and keep it out of the profile from now on.

        The viewer also leaves their cohort at once when its label names the
        topic; the next cohort run places them by the edited profile.
        """
        with self._write.begin() as conn:
            conn.execute(
                delete(InterestWatch).where(
                    InterestWatch.viewer_key == viewer_key, InterestWatch.topic_id == topic_id
                )
            )
            conn.execute(
                upsert(conn, table_of(InterestBlock), ["viewer_key", "topic_id"], replace=[]),
                [{"viewer_key": viewer_key, "topic_id": topic_id, "blocked_ms": now_ms}],
            )
            member = conn.execute(
                select(Cohort.topics)
                .join(
                    CohortMember,
                    (CohortMember.cohort_id == Cohort.id) & (CohortMember.run_id == Cohort.run_id),
                )
                .where(CohortMember.viewer_key == viewer_key)
            ).scalar()
            if member is not None and topic_id in json.loads(member):
                conn.execute(delete(CohortMember).where(CohortMember.viewer_key == viewer_key))

    def restore_topic(self, viewer_key: str, topic_id: int) -> bool:
        """Allow a removed topic again (its deleted watch time does not come back)."""
        with self._write.begin() as conn:
            result = conn.execute(
                delete(InterestBlock).where(
                    and_(InterestBlock.viewer_key == viewer_key, InterestBlock.topic_id == topic_id)
                )
            )
        return bool(result.rowcount)

    def set_paused(self, viewer_key: str, paused: bool, now_ms: int) -> None:
        with self._write.begin() as conn:
            conn.execute(
                upsert(
                    conn, table_of(ViewerSetting), ["viewer_key"], replace=["paused", "updated_ms"]
                ),
                [{"viewer_key": viewer_key, "paused": paused, "updated_ms": now_ms}],
            )

    def forget_profile(self, viewer_key: str) -> int:
        """Delete the viewer's watch time and cohort membership (the basis has gone).

        Removed topics and the pause stay: they are the viewer's own choices.
        """
        with self._write.begin() as conn:
            watched = conn.execute(
                delete(InterestWatch).where(InterestWatch.viewer_key == viewer_key)
            ).rowcount
            conn.execute(delete(CohortMember).where(CohortMember.viewer_key == viewer_key))
        return int(watched or 0)

    def expire(self, before_epoch: int) -> int:
        """Delete watch time of epochs before `before_epoch` (retention)."""
        with self._write.begin() as conn:
            result = conn.execute(delete(InterestWatch).where(InterestWatch.epoch < before_epoch))
        return int(result.rowcount or 0)


def _video(row: Any) -> VideoRecord:
    return VideoRecord(
        row.id,
        tuple(int(t) for t in json.loads(row.topics)),
        frozenset(json.loads(row.sensitive)),
        row.method,
        int(row.classified_ms),
    )
