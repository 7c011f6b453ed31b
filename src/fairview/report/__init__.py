"""Advertiser reports: differentially private per-segment cells, exact billing totals."""

from fairview.report.budget import (
    DEFAULT_DELTA_PER_PERIOD,
    DEFAULT_EPSILON_PER_PERIOD,
    PERIOD_DAYS,
    BudgetCharge,
    PrivacyBudget,
)
from fairview.report.dp import (
    ALL,
    DEFAULT_CONFIG,
    DeliveryRow,
    DpCell,
    DpConfig,
    ExactTotals,
    Grain,
    Metric,
    Partition,
    Report,
    dp_report,
    exact_totals,
    privacy_unit_for,
)

__all__ = [
    "ALL",
    "DEFAULT_CONFIG",
    "DEFAULT_DELTA_PER_PERIOD",
    "DEFAULT_EPSILON_PER_PERIOD",
    "PERIOD_DAYS",
    "BudgetCharge",
    "DeliveryRow",
    "DpCell",
    "DpConfig",
    "ExactTotals",
    "Grain",
    "Metric",
    "Partition",
    "PrivacyBudget",
    "Report",
    "dp_report",
    "exact_totals",
    "privacy_unit_for",
]
