"""The one registry of personal data: every stored field about a viewer, and why.

Each entry names where the data lives, its category, purpose, legal basis and
retention, and, machine-readably, how a viewer's rows are found (`link`), what
erasure does to them (`erasure`), whether the viewer's export includes them
(`exported`), and which retention period runs on which time column (`period`,
`clock`). The records of processing (`fairview ropa`), the export, the erasure
and the retention job (`fairview.rights`) are all generated from these entries,
so a new table of personal data needs only an entry here. A test fails when a
table gains a column that is not classified below, so adding personal data is
always a visible change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache


class Link(StrEnum):
    """How a viewer's rows of a table are found from their pseudonym."""

    VIEWER = "viewer_key"  # the row's `viewer_key` column is the pseudonym
    DELIVERY = "delivery_id"  # the row's `delivery_id` names a delivery whose viewer_key is it
    SUBJECT = "subject"  # the row's `subject` column is the pseudonym (the audit log)


class Erasure(StrEnum):
    """What an erasure request (Art. 17) does to an entry's columns in the viewer's rows."""

    DELETE = "delete"  # the rows go
    CLEAR = "clear"  # the columns are set to NULL (or their empty default); the rows stay
    KEEP = "keep"  # kept for the obligation stated in `kept_because`


@dataclass(frozen=True, slots=True)
class RetentionPeriod:
    """A configurable retention period (FAIRVIEW_RETENTION_DAYS overrides `default_days`)."""

    default_days: int
    applies_to: str
    configurable: bool = True


# The documented defaults; `fairview jobs retention` deletes what is older.
RETENTION: dict[str, RetentionPeriod] = {
    "raw_events": RetentionPeriod(
        35, "playback events and refused events, from receipt (settlement needs at most a day)"
    ),
    "frequency": RetentionPeriod(
        30,
        "frequency-cap counts, from the delivery: the longest cap window, fixed because caps "
        "of up to 30 days read them",
        configurable=False,
    ),
    "profile": RetentionPeriod(28, "interest watch time, from its last update (4 weekly epochs)"),
    "deliveries": RetentionPeriod(
        395,
        "ad deliveries (viewer link, context, why this ad) and their attention verdicts, from "
        "issue (13 months: a year of reporting and disputes)",
    ),
    "consent_evidence": RetentionPeriod(
        1095, "consent signals as received, from receipt (3 years as evidence, Art. 7(1))"
    ),
    "rights_requests": RetentionPeriod(
        1095, "rights requests and their handling, from completion (3 years as evidence)"
    ),
    "ledger": RetentionPeriod(
        3653,
        "charges to advertisers, from posting: the accounting period (10 years by default; set "
        "your jurisdiction's). They reach no viewer once the delivery is erased or expired",
    ),
    "ad_repository": RetentionPeriod(
        365, "the DSA ad repository's figures of an ad, from its last display (DSA Art. 39(1))"
    ),
}


def retention_days(overrides: Mapping[str, int] | None = None) -> dict[str, int]:
    """Every period in days: the defaults with the operator's overrides applied.

    Refuses (ValueError, naming the category) an unknown or fixed category, or a
    period under one day.
    """
    days = {name: p.default_days for name, p in RETENTION.items()}
    for name, value in (overrides or {}).items():
        period = RETENTION.get(name)
        if period is None:
            raise ValueError(
                f"unknown retention category {name!r}; the categories are: {', '.join(RETENTION)}"
            )
        if not period.configurable:
            raise ValueError(f"the retention of {name!r} is fixed: {period.applies_to}")
        if value < 1:
            raise ValueError(f"the retention of {name!r} must be at least 1 day")
        days[name] = value
    return days


@dataclass(frozen=True, slots=True)
class PersonalData:
    """Columns of one table that hold personal data, with one category, purpose and basis.

    `period` None means no automatic expiry: `retention` then says what ends the
    data's life. `mirror` names a non-relational store that may hold the same data
    at scale (`"frequency_counters"`: the Redis counters), covered by export,
    erasure and retention alongside the table.
    """

    table: str
    columns: tuple[str, ...]
    category: str
    purpose: str
    legal_basis: str
    retention: str
    link: Link = Link.VIEWER
    erasure: Erasure = Erasure.DELETE
    kept_because: str = ""
    exported: bool = True
    not_exported_because: str = ""
    period: str | None = None
    clock: str | None = None
    json_columns: tuple[str, ...] = ()
    mirror: str | None = None


_DELIVERY_ERASED = (
    "no longer about anyone once the delivery's viewer link is cleared; billing and "
    "disputes need it (Art. 17(3)(b) and (e))"
)

REGISTRY: tuple[PersonalData, ...] = (
    PersonalData(
        "deliveries",
        ("viewer_key",),
        "pseudonymous viewer identifier (HMAC of the platform's user reference; the reference "
        "itself is never stored), kept only under a user-level measurement basis",
        "tie a delivery to the viewer for the viewer's own rights (why this ad, export, erasure)",
        "GDPR Art. 6(1)(a) consent (TCF Purposes 1 and 7, or the US opt-out regime)",
        "as long as the delivery (13 months); cleared on erasure",
        erasure=Erasure.CLEAR,
        period="deliveries",
        clock="issued_ms",
    ),
    PersonalData(
        "deliveries",
        ("region", "device_class", "placement", "issued_ms", "mode"),
        "coarse context of an ad delivery",
        "serve and bill the ad; aggregate reporting",
        "GDPR Art. 6(1)(b) contract with the platform (ad delivery)",
        "13 months from issue",
        erasure=Erasure.KEEP,
        kept_because=_DELIVERY_ERASED,
        period="deliveries",
        clock="issued_ms",
    ),
    PersonalData(
        "deliveries",
        ("why",),
        "the main parameters an ad was chosen on (mode, content topic, matched targeting, "
        "interest cohort when personalised)",
        "tell the viewer why an ad was shown (DSA Art. 26(1)(d)); audit the decision",
        "GDPR Art. 6(1)(c) legal obligation (DSA Art. 26)",
        "as long as the delivery (13 months); cleared on erasure",
        erasure=Erasure.CLEAR,
        period="deliveries",
        clock="issued_ms",
        json_columns=("why",),
    ),
    PersonalData(
        "events",
        (
            "delivery_id",
            "seq",
            "type",
            "mono_ms",
            "media_s",
            "rate",
            "muted",
            "vis",
            "trusted",
            "kind",
            "from_s",
            "to_s",
            "duration_s",
            "received_ms",
        ),
        "playback and interaction events of one delivery (no biometrics, no free text)",
        "decide focused views and viewability; bill advertisers",
        "GDPR Art. 6(1)(f) legitimate interest in accurate billing (not profiling)",
        "35 days from receipt; deleted on erasure",
        link=Link.DELIVERY,
        period="raw_events",
        clock="received_ms",
    ),
    PersonalData(
        "failed_events",
        ("delivery_id", "seq", "code", "field", "detail", "payload", "received_ms"),
        "refused events, redacted: known playback fields only, never prohibited values",
        "show integrators why events were refused; detect invalid traffic",
        "GDPR Art. 6(1)(f) legitimate interest in data quality",
        "35 days from receipt; deleted on erasure",
        link=Link.DELIVERY,
        period="raw_events",
        clock="received_ms",
    ),
    PersonalData(
        "unmatched_events",
        ("delivery_id", "pos", "events", "max_seq", "terminal", "seen_ms"),
        "settlement progress (event counts, highest seq, whether it ended) of events "
        "consumed before their delivery was stored",
        "settle the delivery once it is stored; count deliveries lost before their commit",
        "GDPR Art. 6(1)(f) legitimate interest in accurate billing (not profiling)",
        "until the delivery is stored, or one settlement window (24 h); at most 35 days; "
        "deleted on erasure",
        link=Link.DELIVERY,
        period="raw_events",
        clock="seen_ms",
    ),
    PersonalData(
        "settlements",
        (
            "delivery_id",
            "issued_ms",
            "event_count",
            "max_seq",
            "terminal",
            "settled_ms",
            "focused_view",
            "qualified_by",
            "qualified_at_media_s",
            "coverage_s",
            "audible_coverage_s",
            "viewability",
            "invalid",
            "invalid_reason",
        ),
        "per-delivery attention verdict",
        "bill advertisers; answer disputes",
        "GDPR Art. 6(1)(f) legitimate interest in accurate billing",
        "as long as the delivery (13 months)",
        link=Link.DELIVERY,
        erasure=Erasure.KEEP,
        kept_because=_DELIVERY_ERASED,
        period="deliveries",
        clock="issued_ms",
    ),
    PersonalData(
        "ledger",
        ("delivery_id", "campaign_id", "kind", "amount", "unbilled_amount", "day", "created_ms"),
        "the charge to the advertiser for one delivery (amounts only)",
        "bill advertisers and keep the accounts",
        "GDPR Art. 6(1)(c) legal obligation (commercial and tax bookkeeping)",
        "the accounting period (10 years by default) from posting",
        link=Link.DELIVERY,
        erasure=Erasure.KEEP,
        kept_because="bookkeeping law keeps the amounts for the accounting period "
        "(Art. 17(3)(b)); they carry no viewer link once the delivery's is cleared",
        exported=False,
        not_exported_because="the price an advertiser paid is the advertiser's commercial "
        "data, not information about the viewer (Art. 15(4))",
        period="ledger",
        clock="created_ms",
    ),
    PersonalData(
        "consent_records",
        ("viewer_key", "received_ms", "region", "tc_string", "cmp_id", "cmp_version",
         "policy_version", "gpp_string", "gpc", "mode", "rows"),
        "consent signals as received (the TC string is personal data, CJEU C-604/22) and the "
        "decision each produced",
        "prove the legal basis of every decision (GDPR Art. 7(1)); apply the newest choice",
        "GDPR Art. 6(1)(c) legal obligation to demonstrate consent",
        "3 years from receipt as evidence; deleted on erasure",
        period="consent_evidence",
        clock="received_ms",
    ),
    PersonalData(
        "objections", ("viewer_key", "kind", "received_ms"),
        "the viewer's objection to profiling and personalised ads (Art. 21(2)-(3))",
        "never personalise or profile this viewer again, whatever later signals say",
        "GDPR Art. 6(1)(c) legal obligation to honour the objection",
        "as long as fairview could receive signals for the pseudonym; kept on erasure",
        erasure=Erasure.KEEP,
        kept_because="the objection must outlive the data it stopped, or the next consent "
        "string would restart profiling (Art. 21(3)); it holds nothing but the pseudonym",
    ),
    PersonalData(
        "frequency_events", ("viewer_key", "campaign_id", "at_ms"),
        "which campaign was shown to a viewer pseudonym, and when",
        "frequency caps (at most N deliveries per viewer per window)",
        "GDPR Art. 6(1)(a) consent (TCF Purpose 1 storage and the ad purposes); kept only "
        "when the consent policy allows storage",
        "the longest cap window (30 days); deleted on erasure",
        period="frequency",
        clock="at_ms",
        mirror="frequency_counters",
    ),
    PersonalData(
        "interest_watch", ("viewer_key", "epoch", "topic_id", "seconds", "updated_ms"),
        "credited organic watch seconds per weekly epoch and allowlisted interest topic "
        "(never a sensitive label: a view in sensitive context writes nothing)",
        "the viewer's interest profile for personalised ads and interest cohorts",
        "GDPR Art. 6(1)(a) consent (TCF Purposes 3 and 4: create and use profiles)",
        "4 weekly epochs (28 days from the last update); deleted on erasure, objection or "
        "when consent ends",
        period="profile",
        clock="updated_ms",
    ),
    PersonalData(
        "interest_blocks", ("viewer_key", "topic_id", "blocked_ms"),
        "interest topics the viewer removed from their profile",
        "keep a removed topic out of the viewer's profile (the viewer's own control)",
        "GDPR Art. 6(1)(c) legal obligation (Art. 21, DSA Art. 26(1)(d) means to change)",
        "until the viewer restores the topic; deleted on erasure",
    ),
    PersonalData(
        "viewer_settings", ("viewer_key", "paused", "updated_ms"),
        "the viewer's choice to pause personalised ads",
        "honour the viewer's pause on every decision and view",
        "GDPR Art. 6(1)(c) legal obligation (Art. 7(3), Art. 21)",
        "until the viewer resumes; deleted on erasure",
    ),
    PersonalData(
        "cohort_members", ("viewer_key", "cohort_id", "run_id"),
        "the viewer's interest cohort of the current epoch (served cohorts only: at least "
        "k_min members and passed the sensitivity audit)",
        "select cohort-targeted ads in personalised mode; never listed to advertisers",
        "GDPR Art. 6(1)(a) consent (TCF Purposes 3 and 4)",
        "replaced by every cohort run (weekly); deleted on erasure or objection",
    ),
    PersonalData(
        "audit_log", ("at_ms", "action", "purpose", "subject", "detail"),
        "who accessed personal data or changed administration, when, why (the subject may "
        "be a viewer pseudonym or a cohort id)",
        "accountability (GDPR Art. 5(2)); detect misuse of access",
        "GDPR Art. 6(1)(c) legal obligation (Art. 5(2), Art. 32)",
        "6 years by policy; append-only and hash-chained, so never pruned record by record",
        link=Link.SUBJECT,
        erasure=Erasure.KEEP,
        kept_because="the log is append-only and hash-chained: removing a record would break "
        "the proof of every later one; it is the evidence of lawful access (Art. 5(2))",
        json_columns=("detail",),
    ),
    PersonalData(
        "audit_log", ("actor",),
        "which staff member or service acted",
        "accountability (GDPR Art. 5(2)); detect misuse of access",
        "GDPR Art. 6(1)(c) legal obligation (Art. 5(2), Art. 32)",
        "as the audit log",
        link=Link.SUBJECT,
        erasure=Erasure.KEEP,
        kept_because="part of the hash-chained audit record",
        exported=False,
        not_exported_because="the viewer learns when and why their data was consulted, not "
        "who on the staff did it (CJEU C-579/21)",
    ),
    PersonalData(
        "rights_requests", ("viewer_key",),
        "the pseudonym a rights request came from",
        "answer the request and let the viewer see its state",
        "GDPR Art. 6(1)(c) legal obligation (Art. 12)",
        "as the request; cleared on erasure",
        erasure=Erasure.CLEAR,
        period="rights_requests",
        clock="completed_ms",
    ),
    PersonalData(
        "rights_requests", ("kind", "received_ms", "due_ms", "completed_ms", "status", "detail"),
        "a viewer's rights request (access, portability, erasure, objection) and its handling",
        "answer the request within the Art. 12(3) deadline and prove that it was answered",
        "GDPR Art. 6(1)(c) legal obligation (Art. 12, Art. 5(2))",
        "3 years after completion",
        erasure=Erasure.KEEP,
        kept_because="proof that the request was answered in time (Art. 5(2), 12(3)); an "
        "erasure request keeps only a one-way hash of the pseudonym, in `detail`",
        period="rights_requests",
        clock="completed_ms",
        json_columns=("detail",),
    ),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Retained:
    """Data about no viewer that still has a retention period.

    `clock` is a column of the table, or `other_table.column` read through
    `key`: the row expires when no row of the other table with the same key
    is newer than the period (the ad repository: the ad's last display).
    """

    table: str
    what: str
    period: str
    clock: str
    key: str | None = None


RETAINED: tuple[Retained, ...] = (
    Retained(
        "repository_reach",
        "the ad repository's reach figures of an ad (differentially private aggregates)",
        period="ad_repository",
        clock="deliveries.issued_ms",
        key="creative_id",
    ),
)

# Tables and columns that hold no data about a viewer, declared so that nothing
# enters the schema unclassified.
NOT_PERSONAL: dict[str, tuple[str, ...]] = {
    "advertisers": ("id", "name", "currency", "created_ms"),
    "api_keys": ("key_hash", "advertiser_id", "prefix", "created_ms", "revoked_ms"),
    "campaigns": (
        "id",
        "advertiser_id",
        "name",
        "billing_model",
        "bid",
        "budget_total",
        "budget_daily",
        "starts_ms",
        "ends_ms",
        "status",
        "spent",
        "billed_units",
        "created_ms",
        "targeting",
        "payer",
    ),
    "campaign_day_spend": ("campaign_id", "day", "spent"),
    "campaign_day_counts": ("campaign_id", "day", "issued", "settled", "settled_amount"),
    "creatives": ("id", "campaign_id", "name", "duration_ms", "media_url", "created_ms"),
    "deliveries": ("id", "campaign_id", "creative_id", "duration_ms", "conflict"),
    "events": ("pos",),
    "consent_records": ("id",),
    "frequency_events": ("id",),
    "failed_events": ("id",),
    "counters": ("name", "value"),
    "consumer_offsets": ("consumer", "pos"),
    "videos": ("id", "topics", "sensitive", "method", "classified_ms"),
    "cohort_runs": (
        "id",
        "created_ms",
        "epoch",
        "k_min",
        "viewers",
        "status",
        "current",
        "summary",
    ),
    "cohorts": ("id", "run_id", "size", "topics", "served", "reason", "max_gap", "max_lift"),
    "audit_log": ("seq", "prev_hash", "hash"),
    "rights_requests": ("id",),
    "repository_reach": (
        "creative_id",
        "region",
        "reach",
        "ci_low",
        "ci_high",
        "epsilon",
        "computed_ms",
    ),
    "staff_keys": ("key_hash", "prefix", "role", "name", "created_ms", "revoked_ms"),
    "privacy_charges": ("id", "advertiser_id", "day", "epsilon", "delta", "at_ms", "report"),
    "report_releases": (
        "id",
        "advertiser_id",
        "created_ms",
        "first_day",
        "last_day",
        "grain",
        "campaigns",
        "epsilon",
        "delta",
        "cells",
        "body",
    ),
    "ledger": ("id",),
}


@dataclass(frozen=True, slots=True)
class TableRules:
    """One table's entries, read together: what export, erasure and retention do to it."""

    table: str
    link: Link
    entries: tuple[PersonalData, ...]
    period: str | None
    clock: str | None
    mirror: str | None

    @property
    def deletes(self) -> bool:
        """Erasure deletes the viewer's rows (no entry of the table keeps or clears)."""
        return any(e.erasure is Erasure.DELETE for e in self.entries)

    @property
    def cleared(self) -> tuple[str, ...]:
        """Columns erasure clears in the viewer's rows."""
        return tuple(c for e in self.entries if e.erasure is Erasure.CLEAR for c in e.columns)

    @property
    def exported(self) -> bool:
        return any(e.exported for e in self.entries)

    @property
    def hidden(self) -> frozenset[str]:
        """Columns left out of the viewer's export (their entry says why)."""
        return frozenset(c for e in self.entries if not e.exported for c in e.columns)

    @property
    def json_columns(self) -> frozenset[str]:
        return frozenset(c for e in self.entries for c in e.json_columns)


@cache
def tables() -> tuple[TableRules, ...]:
    """The registry by table, in registry order; refuses entries of one table that disagree.

    All entries of a table share its link, retention period, clock and mirror,
    and a table whose rows erasure deletes cannot also keep or clear columns.
    """
    grouped: dict[str, list[PersonalData]] = {}
    for entry in REGISTRY:
        grouped.setdefault(entry.table, []).append(entry)
    rules = []
    for table, entries in grouped.items():
        first = entries[0]
        shared = {(e.link, e.period, e.clock, e.mirror) for e in entries}
        if len(shared) > 1:
            raise ValueError(f"entries of {table!r} disagree on link, period, clock or mirror")
        kinds = {e.erasure for e in entries}
        if Erasure.DELETE in kinds and len(kinds) > 1:
            raise ValueError(f"erasure of {table!r} both deletes rows and keeps columns")
        rules.append(
            TableRules(table, first.link, tuple(entries), first.period, first.clock, first.mirror)
        )
    return tuple(rules)


def kept_columns() -> set[tuple[str, str]]:
    """Every (table, column) erasure keeps: where a pseudonym may remain (see `kept_because`)."""
    return {(p.table, c) for p in REGISTRY if p.erasure is Erasure.KEEP for c in p.columns}


def classified_columns() -> set[tuple[str, str]]:
    """Every (table, column) the registry classifies, personal or not."""
    personal = {(p.table, c) for p in REGISTRY for c in p.columns}
    other = {(t, c) for t, cols in NOT_PERSONAL.items() for c in cols}
    return personal | other
