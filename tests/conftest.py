"""Shared fixtures: an isolated store per test on every engine, and an app on it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import sqlalchemy
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from fairview.clock import ShiftedClock
from fairview.settings import Settings
from fairview.storage import Store, open_store

# Property tests check what the code does, not how fast: on two shared cores the first
# example of a test (lazy imports, caches) can take longer than hypothesis's default
# 200 ms deadline, which failed a run of tests/test_index.py at 477 ms.
hypothesis.settings.register_profile("fairview", deadline=None)
hypothesis.settings.load_profile("fairview")

PG_URL = os.environ.get("FAIRVIEW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_schema() -> Iterator[tuple[str, str]]:
    schema = f"t_{secrets.token_hex(6)}"
    admin = sqlalchemy.create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sqlalchemy.exc.OperationalError as exc:  # pragma: no cover - environment
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    try:
        yield PG_URL, schema
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine_target(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, str | None]]:
    """(database URL, schema) of an empty, isolated database on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fairview.sqlite3'}", None
    else:
        yield from _pg_schema()


@pytest.fixture
def store(engine_target: tuple[str, str | None]) -> Iterator[Store]:
    url, schema = engine_target
    s = open_store(url, schema=schema, synchronous="NORMAL")
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'fairview.sqlite3'}", synchronous="NORMAL")
    yield s
    s.close()


def make_settings(**overrides: object) -> Settings:
    return Settings(env="test", database_url="sqlite:///:memory:", **overrides)  # type: ignore[arg-type]


ADMIN = {"Authorization": "Bearer development-only-secret-never-use-in-production"}


@pytest.fixture
def clock() -> ShiftedClock:
    from factories import T0

    return ShiftedClock(T0)


@pytest.fixture
def client(store: Store, clock: ShiftedClock) -> Iterator[TestClient]:
    """The API in process, on each engine's store."""
    from fairview.api.app import create_app

    app = create_app(make_settings(), store=store, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, one per test module that asks for it (tests/browser.py)."""
    from browser import chromium

    with chromium() as started:
        yield started
