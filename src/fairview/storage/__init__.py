"""Storage adapters. The only package that imports SQLAlchemy or a database driver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine

from fairview.storage.audience import Audience
from fairview.storage.audit import AuditLog
from fairview.storage.catalog import Catalog
from fairview.storage.cohorts import CohortStore
from fairview.storage.consents import Consents
from fairview.storage.deliveries import Deliveries
from fairview.storage.engine import Checkpointer, migrate, open_engine
from fairview.storage.eventlog import EventLog, SqlEventLog
from fairview.storage.frequency import FrequencyCounter, open_frequency
from fairview.storage.reports import ReportStore
from fairview.storage.rights import RightsStore
from fairview.storage.settlement import SettlementStore
from fairview.storage.staff import StaffKeys


@dataclass(frozen=True)
class Store:
    """Every storage role the services use, opened on one relational engine."""

    engine: Engine
    catalog: Catalog
    deliveries: Deliveries
    events: EventLog
    settlement: SettlementStore
    consents: Consents
    frequency: FrequencyCounter
    audience: Audience
    cohorts: CohortStore
    audit: AuditLog
    reports: ReportStore
    staff: StaffKeys
    rights: RightsStore
    checkpointer: Checkpointer | None = None

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
        self.deliveries.close()
        self.engine.dispose()


class StoreSettings(Protocol):
    """What `open_configured` reads of `fairview.settings.Settings`."""

    @property
    def database_url(self) -> str: ...
    @property
    def sqlite_synchronous(self) -> str: ...
    @property
    def redis_url(self) -> str | None: ...


def open_configured(
    settings: StoreSettings,
    *,
    upgrade: bool = True,
    background_checkpoint: bool = False,
    checkpoints_elsewhere: bool = False,
) -> Store:
    """The store the settings describe: database, SQLite durability, Redis counters.

    `background_checkpoint` is for long-running servers (see `Checkpointer`);
    `checkpoints_elsewhere` for their processes when another process runs it.
    """
    return open_store(
        settings.database_url,
        synchronous=settings.sqlite_synchronous,
        redis_url=settings.redis_url,
        upgrade=upgrade,
        background_checkpoint=background_checkpoint,
        checkpoints_elsewhere=checkpoints_elsewhere,
    )


def open_store(
    url: str,
    *,
    synchronous: str = "FULL",
    schema: str | None = None,
    upgrade: bool = True,
    redis_url: str | None = None,
    background_checkpoint: bool = False,
    checkpoints_elsewhere: bool = False,
) -> Store:
    """Open (and by default migrate) the store at `url`; counters in Redis if `redis_url`.

    `background_checkpoint` (SQLite files): WAL checkpoints run in a thread of their
    own instead of inside commits; `close()` stops it. `checkpoints_elsewhere`: another
    process runs that thread for the same file (`fairview serve --workers N`: the
    supervisor), so commits here skip checkpoints and no thread is started. Each
    checkpoint syncs the database file; one checkpointer per server rather than one per
    process keeps those syncs from queueing beside the commits' own.
    """
    file = url.startswith("sqlite") and ":memory:" not in url
    background = file and (background_checkpoint or checkpoints_elsewhere)
    engine = open_engine(
        url, synchronous=synchronous, schema=schema, background_checkpoint=background
    )
    if upgrade:
        migrate(engine)
    return Store(
        engine,
        Catalog(engine),
        Deliveries(engine),
        SqlEventLog(engine),
        SettlementStore(engine),
        Consents(engine),
        open_frequency(engine, redis_url),
        Audience(engine),
        CohortStore(engine),
        AuditLog(engine),
        ReportStore(engine),
        StaffKeys(engine),
        RightsStore(engine),
        Checkpointer(engine) if background and not checkpoints_elsewhere else None,
    )
