"""Frequency-cap counters: one contract, on SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import redis

from fairview.storage import Store
from fairview.storage.frequency import (
    MAX_WINDOW_MS,
    FrequencyCounter,
    RedisFrequency,
    SqlFrequency,
)

from factories import T0

DAY = 86_400_000
REDIS_URL = os.environ.get("FAIRVIEW_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(params=["relational", "redis"])
def counter(request: pytest.FixtureRequest, store: Store) -> Iterator[FrequencyCounter]:
    if request.param == "relational":
        yield SqlFrequency(store.engine)
        return
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:  # pragma: no cover - environment
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis not reachable: {exc}")
    prefix = f"fvtest:{secrets.token_hex(4)}"
    yield RedisFrequency(client, prefix=prefix)
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)
    client.close()


def test_counts_per_campaign_within_the_window(counter: FrequencyCounter) -> None:
    for at in (T0 - 8 * DAY, T0 - 3 * DAY, T0 - DAY, T0):
        counter.add("viewer-a", "cmp_1", at)
    counter.add("viewer-a", "cmp_2", T0)
    counter.add("viewer-b", "cmp_1", T0)
    assert counter.counts("viewer-a", ["cmp_1", "cmp_2", "cmp_3"], T0 - 7 * DAY, T0) == {
        "cmp_1": 3,
        "cmp_2": 1,
    }
    assert counter.counts("viewer-a", ["cmp_1"], T0 - 2 * DAY, T0) == {"cmp_1": 2}
    assert counter.counts("viewer-c", ["cmp_1"], T0 - 7 * DAY, T0) == {}
    assert counter.counts("viewer-a", [], T0 - 7 * DAY, T0) == {}


def test_two_deliveries_in_the_same_millisecond_both_count(counter: FrequencyCounter) -> None:
    counter.add("viewer-a", "cmp_1", T0)
    counter.add("viewer-a", "cmp_1", T0)
    assert counter.counts("viewer-a", ["cmp_1"], T0, T0) == {"cmp_1": 2}


def test_erasure_forgets_the_viewer_only(counter: FrequencyCounter) -> None:
    counter.add("viewer-a", "cmp_1", T0)
    counter.add("viewer-a", "cmp_2", T0)
    counter.add("viewer-b", "cmp_1", T0)
    assert counter.erase("viewer-a") == 2
    assert counter.counts("viewer-a", ["cmp_1", "cmp_2"], 0, T0) == {}
    assert counter.counts("viewer-b", ["cmp_1"], 0, T0) == {"cmp_1": 1}


def test_entries_older_than_the_longest_window_expire(counter: FrequencyCounter) -> None:
    counter.add("viewer-a", "cmp_1", T0 - MAX_WINDOW_MS - DAY)
    counter.add("viewer-a", "cmp_1", T0)
    counter.expire(T0)
    assert counter.counts("viewer-a", ["cmp_1"], 0, T0) == {"cmp_1": 1}
