"""The records of processing activities (GDPR Art. 30(1)), generated from the registry.

`records` gives them as data (the JSON of `fairview ropa --format json`),
`markdown` as the page a data-protection officer reads; docs/privacy.md
embeds the Markdown generated with the default retention periods. What only
the operator knows (who the controller is, transfers by its hosting) is a
placeholder marked `TO FILL`, unless given on the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fairview.registry import REGISTRY, RETAINED, RETENTION, Erasure, PersonalData

TO_FILL = "TO FILL (operator): "
DATA_SUBJECTS = (
    "viewers of the platform's videos, known to fairview only by a pseudonym: a keyed hash "
    "(HMAC-SHA-256 with a secret pepper) of the reference the platform sends"
)
RECIPIENTS = (
    "The operator's staff, by role (operator, analyst, data-protection officer), every access "
    "to personal data audit-logged with its purpose. Advertisers receive no personal data: "
    "differentially private aggregate reports and k-anonymous cohort ids only. The public DSA "
    "ad repository holds per-ad aggregates only."
)
MEASURES = (
    "pseudonymisation at the edge: only HMAC(pepper, user reference) is stored; IP addresses "
    "are reduced to a coarse region and user agents to a device class, neither is stored",
    "no biometric, emotion, gaze, camera, microphone or free-text field is accepted (the "
    "collector refuses them by name)",
    "a viewer pseudonym is kept on a delivery only under a user-level measurement basis; "
    "profiles only with consent to profiling, never from sensitive (Art. 9) context",
    "advertiser reports are differentially private with a per-advertiser budget; cohorts have "
    "at least k_min members and pass a sensitivity audit",
    "staff keys with one role each, stored hashed; an append-only, hash-chained audit log "
    "(`fairview audit verify`)",
    "erasure and retention overwrite deleted SQLite pages with zeros and truncate the "
    "write-ahead log; the retention job deletes what is past its period",
)


def records(
    days: Mapping[str, int], *, controller: str | None = None, dpo: str | None = None
) -> dict[str, Any]:
    """The records of processing, with the effective retention `days` per category."""
    return {
        "title": "Records of processing activities (GDPR Art. 30(1))",
        "generated_from": "fairview.registry",
        "controller": controller
        or TO_FILL
        + "name and contact details of the controller "
        "(the platform operator) and its representative, if any",
        "data_protection_officer": dpo or TO_FILL + "contact details of the DPO",
        "data_subjects": DATA_SUBJECTS,
        "recipients": RECIPIENTS,
        "transfers": "none by fairview itself (self-hosted). "
        + TO_FILL
        + "any transfer to a third country by the hosting, with its safeguards (Art. 46)",
        "security_measures": list(MEASURES),
        "retention_periods": [
            {
                "category": name,
                "days": days[name],
                "default_days": period.default_days,
                "configurable": period.configurable,
                "applies_to": period.applies_to,
            }
            for name, period in RETENTION.items()
        ],
        "processing": [_activity(e, days) for e in REGISTRY],
        "retained_without_personal_data": [
            {"table": r.table, "what": r.what, "period": r.period, "days": days[r.period]}
            for r in RETAINED
        ],
    }


def _activity(entry: PersonalData, days: Mapping[str, int]) -> dict[str, Any]:
    return {
        "table": entry.table,
        "columns": list(entry.columns),
        "category": entry.category,
        "purpose": entry.purpose,
        "legal_basis": entry.legal_basis,
        "retention": entry.retention,
        "retention_period": entry.period,
        "retention_days": None if entry.period is None else days[entry.period],
        "retention_clock": entry.clock,
        "found_by": entry.link.value,
        "on_erasure": entry.erasure.value,
        "kept_because": entry.kept_because or None,
        "exported": entry.exported,
        "not_exported_because": entry.not_exported_because or None,
        "also_held_in": entry.mirror,
    }


def markdown(ropa: Mapping[str, Any]) -> str:
    """The records as Markdown (headings from level 3, to embed in a page)."""
    lines = [
        f"### {ropa['title']}",
        "",
        f"Generated from `{ropa['generated_from']}` by `fairview ropa`.",
        "",
        f"- **Controller:** {ropa['controller']}",
        f"- **Data-protection officer:** {ropa['data_protection_officer']}",
        f"- **Data subjects:** {ropa['data_subjects']}",
        f"- **Recipients:** {ropa['recipients']}",
        f"- **Transfers to third countries:** {ropa['transfers']}",
        "- **Security measures (Art. 32):**",
        *(f"  - {m}" for m in ropa["security_measures"]),
        "",
        "#### Retention periods",
        "",
        "| category | days | default | applies to |",
        "|---|---:|---:|---|",
        *(
            f"| `{p['category']}` | {p['days']} | {p['default_days']}"
            f"{'' if p['configurable'] else ' (fixed)'} | {p['applies_to']} |"
            for p in ropa["retention_periods"]
        ),
        "",
        "#### Processing, per stored field group",
    ]
    for activity in ropa["processing"]:
        lines += ["", *_activity_lines(activity)]
    lines += ["", "#### Retained data that is about no viewer", ""]
    lines += [
        f"- `{r['table']}`: {r['what']}; `{r['period']}`, {r['days']} days"
        for r in ropa["retained_without_personal_data"]
    ]
    return "\n".join(lines) + "\n"


def _activity_lines(a: Mapping[str, Any]) -> list[str]:
    period = (
        "no automatic expiry"
        if a["retention_period"] is None
        else f"`{a['retention_period']}`, {a['retention_days']} days on `{a['retention_clock']}`"
    )
    erasure = {
        Erasure.DELETE.value: "the viewer's rows are deleted",
        Erasure.CLEAR.value: "cleared in the viewer's rows",
        Erasure.KEEP.value: f"kept: {a['kept_because']}",
    }[a["on_erasure"]]
    export = "yes" if a["exported"] else f"no: {a['not_exported_because']}"
    columns = ", ".join(f"`{c}`" for c in a["columns"])
    lines = [
        f"**`{a['table']}`**: {columns}",
        "",
        f"- Category: {a['category']}",
        f"- Purpose: {a['purpose']}",
        f"- Legal basis: {a['legal_basis']}",
        f"- Retention: {a['retention']} ({period})",
        f"- Found by: `{a['found_by']}`; on erasure: {erasure}",
        f"- In the viewer's export: {export}",
    ]
    if a["also_held_in"]:
        lines.append(f"- Also held in: `{a['also_held_in']}` (Redis at scale), covered alike")
    return lines
