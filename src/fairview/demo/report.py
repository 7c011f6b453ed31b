"""Compare settled verdicts with the simulator's ground truth; print and report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fairview.demo.model import DemoOptions, Run
from fairview.sim.fraud import RULE_VISIBLE
from fairview.storage import Store


def build_report(store: Store, run: Run, stats: dict[str, int]) -> dict[str, Any]:
    verdicts = store.settlement.verdicts()
    agree = honest_agree = honest = 0
    tp = fp = fn = 0
    for delivery, playback in run.playbacks.items():
        v, truth = verdicts[delivery], playback.truth
        same = bool(v["focused_view"]) == truth.focused_view and bool(v["invalid"]) == truth.invalid
        if not truth.invalid and same:
            same = v["qualified_by"] == truth.qualified_by and _viewable_matches(v, truth.viewable)
        agree += same
        if not truth.invalid:
            honest += 1
            honest_agree += same
        flagged = bool(v["invalid"])
        tp += flagged and truth.invalid
        fp += flagged and not truth.invalid
        fn += (not flagged) and truth.invalid
    deliveries = len(run.playbacks)
    spend = store.settlement.spend_by_campaign()
    invalid_kinds = Counter(p.truth.invalid_kind for p in run.playbacks.values() if p.truth.invalid)
    return {
        "events_sent": run.events_posted,
        "events_accepted": stats["accepted"],
        "events_duplicate": stats["duplicates"],
        "events_rejected": stats["rejected"],
        "deliveries": deliveries,
        "no_fill_requests": run.no_fill,
        "focused_views": sum(bool(v["focused_view"]) for v in verdicts.values()),
        "viewable": sum(v["viewability"] == "viewable" for v in verdicts.values()),
        "invalid_deliveries": sum(bool(v["invalid"]) for v in verdicts.values()),
        "spend_by_campaign": {run.campaign_names[c]: spend.get(c, 0) for c in run.campaign_names},
        "ground_truth_focused_views": sum(p.truth.focused_view for p in run.playbacks.values()),
        "agreement": round(agree / deliveries, 6) if deliveries else None,
        "agreement_honest": round(honest_agree / honest, 6) if honest else None,
        "invalid_traffic": {
            "precision": round(tp / (tp + fp), 6) if tp + fp else None,
            "recall": round(tp / (tp + fn), 6) if tp + fn else None,
            "recall_rule_visible": _recall_visible(run, verdicts),
            "by_kind": dict(sorted((str(k), n) for k, n in invalid_kinds.items())),
        },
        "refused_creatives": run.refused_creatives,
    }


def _recall_visible(run: Run, verdicts: dict[str, dict[str, Any]]) -> float | None:
    visible = [d for d, p in run.playbacks.items() if p.truth.invalid_kind in RULE_VISIBLE]
    if not visible:
        return None
    return round(sum(bool(verdicts[d]["invalid"]) for d in visible) / len(visible), 6)


def _viewable_matches(verdict: dict[str, Any], truth: bool | None) -> bool:
    expected = {True: "viewable", False: "not_viewable", None: "undetermined"}[truth]
    return bool(verdict["viewability"] == expected)


def print_summary(console: Console, report: dict[str, Any], run: Run, options: DemoOptions) -> None:

    table = Table(title="fairview demo", show_header=False)
    for label, key in (
        ("events sent", "events_sent"),
        ("accepted", "events_accepted"),
        ("duplicates", "events_duplicate"),
        ("rejected", "events_rejected"),
        ("deliveries", "deliveries"),
        ("focused views", "focused_views"),
        ("ground-truth focused views", "ground_truth_focused_views"),
        ("MRC-viewable", "viewable"),
        ("invalid deliveries", "invalid_deliveries"),
        ("agreement with ground truth", "agreement"),
        ("agreement, honest traffic", "agreement_honest"),
    ):
        table.add_row(label, str(report[key]))
    ivt = report["invalid_traffic"]
    table.add_row("invalid traffic precision / recall", f"{ivt['precision']} / {ivt['recall']}")
    table.add_row("recall of rule-visible fraud", str(ivt["recall_rule_visible"]))
    why = report.get("why_this_ad")
    if why is not None:
        table.add_row(
            '"why this ad" consistent with the decision', f"{why['consistent']} of {why['checked']}"
        )
    console.print(table)
    audience = report.get("audience")
    if audience is not None:
        console.print(_audience_table(audience))
    spend = Table("campaign", "spend (minor units)", title="Ledger")
    for name, amount in report["spend_by_campaign"].items():
        spend.add_row(name, str(amount))
    console.print(spend)
    for line in run.refused_creatives:
        console.print(f"[yellow]creative refused by the API[/yellow] {line}")
    console.print(f"report written to {options.report}")


def _audience_table(audience: dict[str, Any]) -> Table:
    table = Table(
        title="Audience: profiles, cohorts, viewer controls, DP report", show_header=False
    )
    reasons = ", ".join(f"{n} {r}" for r, n in audience["views_by_reason"].items())
    table.add_row("organic views", f"{audience['views_posted']} ({reasons})")
    run = audience["cohort_run"]
    table.add_row(
        "cohort job",
        f"{run['status']}: {run['profiled_viewers']} profiled viewers, {run['cohorts']} cohorts, "
        f"{run['served']} served, {run['blocked']} blocked (k_min {run['k_min']}, demo size)",
    )
    campaign = audience.get("cohort_campaign")
    if campaign is not None:
        table.add_row(
            "cohort campaign",
            f"{campaign['members_shown_it']} of {campaign['members']} members shown it; "
            f"while paused: {campaign.get('shown_while_paused')}, after resuming: "
            f"{campaign.get('shown_after_resume')}",
        )
    dp = audience["dp_report"]
    totals = dp["exact_totals"]
    table.add_row(
        "advertiser report",
        f"{dp['cells_released']} DP cell(s) released at epsilon {dp['epsilon_spent']} "
        f"({dp['epsilon_remaining']} left this period); exact billing: "
        f"{totals['deliveries']} deliveries, {totals['focused_views']} focused views",
    )
    return table


@contextmanager
def progress_bar(console: Console) -> Iterator[Progress]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        yield progress
