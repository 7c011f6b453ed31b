"""The one registry of personal data: every stored field about a viewer, and why.

Each entry names where the data lives, its category, purpose, legal basis and
retention. The records of processing, the export and the erasure (viewer-rights
issue) are derived from here; a test fails when a table gains a column that is
not classified below, so adding personal data is always a visible change.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PersonalData:
    table: str
    columns: tuple[str, ...]
    category: str
    purpose: str
    legal_basis: str
    retention: str


REGISTRY: tuple[PersonalData, ...] = (
    PersonalData(
        "deliveries",
        ("viewer_key",),
        "pseudonymous viewer identifier (HMAC of the platform's "
        "user reference; the reference itself is never stored)",
        "tie a delivery to the viewer for the viewer's own rights (why this ad, export, erasure) "
        "and, once consent allows, frequency caps",
        "GDPR Art. 6(1)(c)/(f) for rights handling; Art. 6(1)(a) consent for capping",
        "as long as the delivery (default 13 months), erased on request",
    ),
    PersonalData(
        "deliveries",
        ("region", "device_class", "placement", "issued_ms", "mode"),
        "coarse context of an ad delivery",
        "serve and bill the ad; aggregate reporting",
        "GDPR Art. 6(1)(b) contract with the platform (ad delivery)",
        "13 months",
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
        "raw events 35 days after settlement",
    ),
    PersonalData(
        "failed_events",
        ("delivery_id", "seq", "code", "field", "detail", "payload", "received_ms"),
        "refused events, redacted: known playback fields only, never prohibited values",
        "show integrators why events were refused; detect invalid traffic",
        "GDPR Art. 6(1)(f) legitimate interest in data quality",
        "35 days",
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
        "13 months",
    ),
)

REGISTRY = (
    *REGISTRY,
    PersonalData(
        "consent_records",
        ("viewer_key", "received_ms", "region", "tc_string", "cmp_id", "cmp_version",
         "policy_version", "gpp_string", "gpc", "mode", "rows"),
        "consent signals as received (the TC string is personal data, CJEU C-604/22) and the "
        "decision each produced",
        "prove the legal basis of every decision (GDPR Art. 7(1)); apply the newest choice",
        "GDPR Art. 6(1)(c) legal obligation to demonstrate consent",
        "while the viewer's consent is relied on, then 3 years as evidence; erased on request",
    ),
    PersonalData(
        "objections", ("viewer_key", "kind", "received_ms"),
        "the viewer's objection (Art. 21) or erasure request (Art. 17)",
        "never personalise or profile this viewer again, whatever later signals say",
        "GDPR Art. 6(1)(c) legal obligation to honour the objection",
        "as long as fairview holds or could receive signals for the pseudonym",
    ),
    PersonalData(
        "deliveries", ("why",),
        "the main parameters an ad was chosen on (mode, content topic, matched targeting, "
        "interest cohort when personalised)",
        "tell the viewer why an ad was shown (DSA Art. 26(1)(d)); audit the decision",
        "GDPR Art. 6(1)(c) legal obligation (DSA Art. 26)",
        "as long as the delivery (13 months), erased on request",
    ),
    PersonalData(
        "frequency_events", ("viewer_key", "campaign_id", "at_ms"),
        "which campaign was shown to a viewer pseudonym, and when",
        "frequency caps (at most N deliveries per viewer per window)",
        "GDPR Art. 6(1)(a) consent (TCF Purpose 1 storage and the ad purposes); kept only "
        "when the consent policy allows storage",
        "the campaign's cap window (at most 30 days), then deleted; erased on request",
    ),
    PersonalData(
        "interest_watch", ("viewer_key", "epoch", "topic_id", "seconds", "updated_ms"),
        "credited organic watch seconds per weekly epoch and allowlisted interest topic "
        "(never a sensitive label: a view in sensitive context writes nothing)",
        "the viewer's interest profile for personalised ads and interest cohorts",
        "GDPR Art. 6(1)(a) consent (TCF Purposes 3 and 4: create and use profiles)",
        "4 weekly epochs, then deleted; erased on request or when consent ends",
    ),
    PersonalData(
        "interest_blocks", ("viewer_key", "topic_id", "blocked_ms"),
        "interest topics the viewer removed from their profile",
        "keep a removed topic out of the viewer's profile (the viewer's own control)",
        "GDPR Art. 6(1)(c) legal obligation (Art. 21, DSA Art. 26(1)(d) means to change)",
        "until the viewer restores the topic; erased on request",
    ),
    PersonalData(
        "viewer_settings", ("viewer_key", "paused", "updated_ms"),
        "the viewer's choice to pause personalised ads",
        "honour the viewer's pause on every decision and view",
        "GDPR Art. 6(1)(c) legal obligation (Art. 7(3), Art. 21)",
        "until the viewer resumes; erased on request",
    ),
    PersonalData(
        "cohort_members", ("viewer_key", "cohort_id", "run_id"),
        "the viewer's interest cohort of the current epoch (served cohorts only: at least "
        "k_min members and passed the sensitivity audit)",
        "select cohort-targeted ads in personalised mode; never listed to advertisers",
        "GDPR Art. 6(1)(a) consent (TCF Purposes 3 and 4)",
        "replaced by every cohort run (weekly); erased on request",
    ),
    PersonalData(
        "audit_log", ("at_ms", "actor", "action", "purpose", "subject", "detail"),
        "who accessed personal data or changed administration, when, why (the subject may "
        "be a viewer pseudonym or a cohort id)",
        "accountability (GDPR Art. 5(2)); detect misuse of access",
        "GDPR Art. 6(1)(c) legal obligation (Art. 5(2), Art. 32)",
        "6 years; append-only and hash-chained",
    ),
    PersonalData(
        "rights_requests", ("viewer_key", "kind", "received_ms", "due_ms", "completed_ms",
                            "status", "detail"),
        "a viewer's rights request (access, portability, erasure, objection) and its handling",
        "answer the request within the Art. 12(3) deadline and prove that it was answered",
        "GDPR Art. 6(1)(c) legal obligation (Art. 12, Art. 5(2))",
        "3 years after completion; the viewer link of an erasure request is its own proof",
    ),
)  # fmt: skip

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
    "staff_keys": ("key_hash", "prefix", "role", "name", "created_ms", "revoked_ms"),
    "privacy_charges": ("id", "advertiser_id", "day", "epsilon", "delta", "at_ms", "report"),
    "ledger": (
        "id",
        "delivery_id",
        "campaign_id",
        "kind",
        "amount",
        "unbilled_amount",
        "day",
        "created_ms",
    ),
}


def classified_columns() -> set[tuple[str, str]]:
    """Every (table, column) the registry classifies, personal or not."""
    personal = {(p.table, c) for p in REGISTRY for c in p.columns}
    other = {(t, c) for t, cols in NOT_PERSONAL.items() for c in cols}
    return personal | other
