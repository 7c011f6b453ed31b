"""The constants of the focused-view rule (spec/attention.md §7.1) in one place.

Both implementations (`reference` and `fast`) read every number from here, so a
change to the rule is a change to this file and its tests.
"""

from __future__ import annotations

from typing import Final

T_FOCUS: Final = 6.0
"""Seconds of credited coverage for a watch focused view (§7.3 (W))."""

T_MIN_INTERACT: Final = 1.0
"""Coverage an interaction needs before it can qualify (§7.3 (I), first-second rule)."""

T_VIEWABLE: Final = 2.0
"""Media span of one continuous credited run for MRC viewability (§7.4)."""

GAP_MAX: Final = 1.0
"""Largest monotonic gap, in seconds, between two events of a credited pair (§7.2.4)."""

END_TOL: Final = 0.25
"""Completion tolerance for creatives shorter than T_FOCUS (§7.3 (W))."""

DRIFT_TOL_S: Final = 0.25
"""Fixed part of DRIFT_TOL = 0.25 s + 5 % (§7.2.6)."""

DRIFT_TOL_FRACTION: Final = 0.05
"""Proportional part of DRIFT_TOL, a fraction of the pair's monotonic duration."""

SETTLE_S: Final = 24 * 3600.0
"""Events may arrive until S0 + SETTLE; billing is final after that (§7.5)."""

CLOCK_TOL: Final = 5.0
"""Slack, in seconds, of the monotonic-vs-server-receipt bound (§7.5)."""

RATE_TOL: Final = 0.01
"""`rate == 1.0 (±0.01)` (§7.2.2)."""

ENDED_MIN_FRACTION: Final = 0.5
"""`ended` with less played evidence than this fraction of D is impossible (§7.5 GIVT)."""

EPS: Final = 1e-6
"""Slack of every threshold comparison on summed seconds (media has ms precision)."""


def drift_tol(dt_s: float) -> float:
    """DRIFT_TOL for a pair whose monotonic duration is `dt_s` seconds."""
    return DRIFT_TOL_S + DRIFT_TOL_FRACTION * dt_s
