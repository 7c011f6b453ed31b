"""The relational schema. Alembic migrations in `migrations/` must match it (tested).

Times are integer milliseconds since the Unix epoch (UTC); money is integer minor
currency units. Personal data columns are declared in `fairview.registry`.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """The Core table of a model (typed as such for the dialect helpers)."""
    return cast(Table, model.__table__)


class Advertiser(Base):
    __tablename__ = "advertisers"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class ApiKey(Base):
    __tablename__ = "api_keys"
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    advertiser_id: Mapped[str] = mapped_column(ForeignKey("advertisers.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Campaign(Base):
    __tablename__ = "campaigns"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    advertiser_id: Mapped[str] = mapped_column(ForeignKey("advertisers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    billing_model: Mapped[str] = mapped_column(String(20))
    bid: Mapped[int] = mapped_column(BigInteger)
    budget_total: Mapped[int] = mapped_column(BigInteger)
    budget_daily: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    starts_ms: Mapped[int] = mapped_column(BigInteger)
    ends_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="active")
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    billed_units: Mapped[int] = mapped_column(BigInteger, default=0)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    targeting: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")  # JSON
    payer: Mapped[str | None] = mapped_column(String(200), nullable=True)


class CampaignDaySpend(Base):
    __tablename__ = "campaign_day_spend"
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    spent: Mapped[int] = mapped_column(BigInteger, default=0)


class CampaignDayCount(Base):
    """Per campaign and day of issue: deliveries issued, how many of them have settled,
    and what those were charged (billed plus unbilled). The decision and settlement
    transactions add to these as they write, so pacing reads one row per campaign and
    day instead of counting deliveries (which grew with every ad served)."""

    __tablename__ = "campaign_day_counts"
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    issued: Mapped[int] = mapped_column(BigInteger, default=0)
    settled: Mapped[int] = mapped_column(BigInteger, default=0)
    settled_amount: Mapped[int] = mapped_column(BigInteger, default=0)


class Creative(Base):
    __tablename__ = "creatives"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    duration_ms: Mapped[int] = mapped_column(Integer)
    media_url: Mapped[str] = mapped_column(String(2000))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Delivery(Base):
    __tablename__ = "deliveries"
    # A viewer's deliveries, newest first (privacy centre, export, erasure): one index.
    __table_args__ = (Index("ix_deliveries_viewer_issued", "viewer_key", "issued_ms"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    creative_id: Mapped[str] = mapped_column(ForeignKey("creatives.id"))
    placement: Mapped[str] = mapped_column(String(100))
    viewer_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    region: Mapped[str] = mapped_column(String(10))
    device_class: Mapped[str] = mapped_column(String(20))
    mode: Mapped[str] = mapped_column(String(20))
    duration_ms: Mapped[int] = mapped_column(Integer)
    issued_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    conflict: Mapped[bool] = mapped_column(Boolean, default=False)
    why: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")  # JSON


class FrequencyEvent(Base):
    """One delivery counted against a campaign's frequency cap for one viewer pseudonym."""

    __tablename__ = "frequency_events"
    __table_args__ = (Index("ix_frequency_events_viewer", "viewer_key", "campaign_id", "at_ms"),)
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    viewer_key: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[str] = mapped_column(String(40))
    at_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class EventRecord(Base):
    """The embedded event log: append-only, `pos` (the offset) increases monotonically."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("delivery_id", "seq"),)
    pos: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(20))
    mono_ms: Mapped[float] = mapped_column(Float)
    media_s: Mapped[float] = mapped_column(Float)
    rate: Mapped[float] = mapped_column(Float)
    muted: Mapped[bool] = mapped_column(Boolean)
    vis: Mapped[int] = mapped_column(SmallInteger)
    trusted: Mapped[bool] = mapped_column(Boolean)
    kind: Mapped[str | None] = mapped_column(String(30), nullable=True)
    from_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    to_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    received_ms: Mapped[int] = mapped_column(BigInteger)


class FailedEvent(Base):
    """Events refused by the collector, kept with their reason (never their prohibited values)."""

    __tablename__ = "failed_events"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    received_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    delivery_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    code: Mapped[str] = mapped_column(String(40))
    field: Mapped[str | None] = mapped_column(String(100), nullable=True)
    detail: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)


class Counter(Base):
    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class ConsumerOffset(Base):
    __tablename__ = "consumer_offsets"
    consumer: Mapped[str] = mapped_column(String(60), primary_key=True)
    pos: Mapped[int] = mapped_column(BigInteger, default=0)


class Settlement(Base):
    """Per-delivery settlement state: pending until final, then the verdict."""

    __tablename__ = "settlements"
    __table_args__ = (Index("ix_settlements_pending", "settled_ms", "issued_ms"),)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), primary_key=True)
    issued_ms: Mapped[int] = mapped_column(BigInteger)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    max_seq: Mapped[int] = mapped_column(BigInteger, default=-1)
    terminal: Mapped[bool] = mapped_column(Boolean, default=False)
    settled_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    focused_view: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    qualified_by: Mapped[str | None] = mapped_column(String(20), nullable=True)
    qualified_at_media_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    coverage_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    audible_coverage_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    viewability: Mapped[str | None] = mapped_column(String(20), nullable=True)
    invalid: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    invalid_reason: Mapped[str | None] = mapped_column(String(60), nullable=True)


class UnmatchedEvents(Base):
    """Settlement progress of logged events whose delivery had no settlement row yet.

    One row per delivery and consumed batch (`pos`: the batch's last event of it). A
    delivery whose row arrives later gets this progress then; one still missing once
    its events are older than the settlement window is counted as unknown
    (`deliveries_unknown` in `counters`) and its rows are deleted (docs/serving.md).
    """

    __tablename__ = "unmatched_events"
    delivery_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    pos: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    events: Mapped[int] = mapped_column(Integer)
    max_seq: Mapped[int] = mapped_column(BigInteger)
    terminal: Mapped[bool] = mapped_column(Boolean)
    seen_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class LedgerEntry(Base):
    """One charge per billable delivery and kind; budgets move only with these inserts."""

    __tablename__ = "ledger"
    __table_args__ = (UniqueConstraint("delivery_id", "kind"),)
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[str] = mapped_column(String(40))
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    amount: Mapped[int] = mapped_column(BigInteger)
    unbilled_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    day: Mapped[str] = mapped_column(String(10))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class ConsentRecord(Base):
    """Evidence of each consent signal received for a viewer (GDPR Art. 7(1)).

    The TC string is personal data (CJEU C-604/22): it is kept only as long as the
    registry says and is part of the viewer's export and erasure.
    """

    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_records_viewer", "viewer_key", "received_ms"),)
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    viewer_key: Mapped[str] = mapped_column(String(64))
    received_ms: Mapped[int] = mapped_column(BigInteger)
    region: Mapped[str] = mapped_column(String(10))
    tc_string: Mapped[str | None] = mapped_column(Text, nullable=True)
    cmp_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cmp_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    policy_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gpp_string: Mapped[str | None] = mapped_column(Text, nullable=True)
    gpc: Mapped[bool] = mapped_column(Boolean)
    mode: Mapped[str] = mapped_column(String(20))
    rows: Mapped[str] = mapped_column(String(200))


class Objection(Base):
    """A viewer's objection (Art. 21): it overrides every later signal, permanently."""

    __tablename__ = "objections"
    viewer_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    received_ms: Mapped[int] = mapped_column(BigInteger)


class Video(Base):
    """A video's classification: allowlisted interest topics and sensitive labels.

    Sensitive (Art. 9) labels are stored per video, never per viewer (spec/audience.md §1).
    """

    __tablename__ = "videos"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    topics: Mapped[str] = mapped_column(String(200))  # JSON list of Topics v2 ids
    sensitive: Mapped[str] = mapped_column(String(400))  # JSON list of sensitive labels
    method: Mapped[str] = mapped_column(String(40))  # platform, keyword, embedding+keyword
    classified_ms: Mapped[int] = mapped_column(BigInteger)


class InterestWatch(Base):
    """Credited organic watch seconds per viewer, weekly epoch and allowlisted topic."""

    __tablename__ = "interest_watch"
    viewer_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seconds: Mapped[float] = mapped_column(Float)
    updated_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class InterestBlock(Base):
    """A topic the viewer removed: it never enters their profile again until unblocked."""

    __tablename__ = "interest_blocks"
    viewer_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    blocked_ms: Mapped[int] = mapped_column(BigInteger)


class ViewerSetting(Base):
    """The viewer's own choice to pause personalisation (separate from consent signals)."""

    __tablename__ = "viewer_settings"
    viewer_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class CohortRun(Base):
    """One run of the cohort job: parameters, outcome and the global audit figures."""

    __tablename__ = "cohort_runs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    k_min: Mapped[int] = mapped_column(Integer)
    viewers: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # served, not_audited, failed_audit
    current: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[str] = mapped_column(Text)  # JSON: audit and clustering figures


class Cohort(Base):
    """One cohort of a run, with its audit decision; members only when served."""

    __tablename__ = "cohorts"
    run_id: Mapped[str] = mapped_column(ForeignKey("cohort_runs.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer)
    topics: Mapped[str] = mapped_column(String(200))  # JSON: top allowlisted topic ids
    served: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(40))  # "" when served
    max_gap: Mapped[float] = mapped_column(Float)
    max_lift: Mapped[float] = mapped_column(Float)


class CohortMember(Base):
    """The served cohort of a viewer in the current run (blocked cohorts have no members)."""

    __tablename__ = "cohort_members"
    viewer_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    cohort_id: Mapped[int] = mapped_column(BigInteger, index=True)
    run_id: Mapped[str] = mapped_column(String(40))


class AuditRecord(Base):
    """The append-only, hash-chained audit log of access to personal data and admin changes."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    purpose: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text)  # JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class PrivacyCharge(Base):
    """One report's (ε, δ) charged to an advertiser's privacy budget."""

    __tablename__ = "privacy_charges"
    __table_args__ = (Index("ix_privacy_charges_advertiser", "advertiser_id", "day"),)
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    advertiser_id: Mapped[str] = mapped_column(String(40))
    day: Mapped[str] = mapped_column(String(10))
    epsilon: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)
    at_ms: Mapped[int] = mapped_column(BigInteger)
    report: Mapped[str] = mapped_column(String(200))


class RightsRequest(Base):
    """A viewer's request under GDPR Art. 15, 17, 20 or 21, tracked against Art. 12(3)."""

    __tablename__ = "rights_requests"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    viewer_key: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(20))  # access, portability, erasure, objection
    received_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    due_ms: Mapped[int] = mapped_column(BigInteger)
    completed_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(20))  # received, completed, refused
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON: what was done, per store


class StaffKey(Base):
    """A platform staff member's API key (stored hashed), with one role, revocable."""

    __tablename__ = "staff_keys"
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(20))  # operator, analyst, dpo
    name: Mapped[str] = mapped_column(String(200))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RepositoryReach(Base):
    """The DSA ad repository's reach of one ad in one member state: a DP release, stored.

    Released once per repository run and served as stored, so repeated public
    queries cannot average the noise away.
    """

    __tablename__ = "repository_reach"
    creative_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    region: Mapped[str] = mapped_column(String(20), primary_key=True)  # member state, "ALL"
    reach: Mapped[float] = mapped_column(Float)
    ci_low: Mapped[float] = mapped_column(Float)
    ci_high: Mapped[float] = mapped_column(Float)
    epsilon: Mapped[float] = mapped_column(Float)
    computed_ms: Mapped[int] = mapped_column(BigInteger)


class ReportRelease(Base):
    """A released DP delivery report, kept as released (post-processing is free).

    Re-reading a release spends no privacy budget and cannot average its noise
    away: the numbers are the ones the budget paid for, once. Nothing per viewer.
    """

    __tablename__ = "report_releases"
    __table_args__ = (Index("ix_report_releases_advertiser", "advertiser_id", "created_ms"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    advertiser_id: Mapped[str] = mapped_column(String(40))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    first_day: Mapped[str] = mapped_column(String(10))
    last_day: Mapped[str] = mapped_column(String(10))
    grain: Mapped[str] = mapped_column(String(30))
    campaigns: Mapped[str] = mapped_column(Text)  # JSON list of ids, or "null": all
    epsilon: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)
    cells: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)  # the JSON report as the API answered it
