"""The outcome of the focused-view rule for one delivery (spec/attention.md §7.3-§7.5)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class QualifiedBy(StrEnum):
    """Which branch of §7.3 made the delivery a focused view."""

    WATCH = "watch"
    INTERACTION = "interaction"


class Viewability(StrEnum):
    """The one `<ViewableImpression>` outcome of §7.4."""

    VIEWABLE = "viewable"
    NOT_VIEWABLE = "not_viewable"
    UNDETERMINED = "undetermined"


class InvalidReason(StrEnum):
    """Why a delivery is invalid (§7.5), in priority order.

    When several apply, the verdict names the first one listed here.
    """

    CONFLICTING_DUPLICATE = "conflicting_duplicate"
    """Two events share a `seq` but differ in payload (`recv_ms` aside)."""

    MONO_DECREASING = "mono_decreasing"
    """`mono_ms` goes down somewhere along `seq` order."""

    CLOCK_INFLATION = "clock_inflation"
    """The largest `mono_ms` is more than CLOCK_TOL past the latest server receipt."""

    NO_FIRST_FRAME = "no_first_frame"
    """No `first_frame` arrived: a prefetched or pre-rendered delivery, not an impression."""

    INTERACTION_BEFORE_FIRST_FRAME = "interaction_before_first_frame"
    """An `interaction` precedes the first `first_frame` in `seq` order."""

    DRIFT_INFLATION = "drift_inflation"
    """A pair that would be credited advanced the playhead faster than DRIFT_TOL allows."""

    ENDED_WITHOUT_COVERAGE = "ended_without_coverage"
    """`ended` arrived with under half the creative played, with no seek, loop or lost
    event to explain the jump."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The rule's answer for one delivery.

    `coverage_s` and `audible_coverage_s` are seconds of creative (§7.2);
    `qualified_at_media_s` is the playhead at which the view qualified. A focused
    view is never reported for an invalid delivery: `focused_view` is then false
    and `qualified_by`/`qualified_at_media_s` are None.
    """

    delivery: str
    focused_view: bool
    qualified_by: str | None
    qualified_at_media_s: float | None
    coverage_s: float
    audible_coverage_s: float
    viewability: str
    invalid: bool
    invalid_reason: str | None

    def __post_init__(self) -> None:
        if self.focused_view and self.invalid:
            raise ValueError("an invalid delivery cannot be a focused view")
        if self.focused_view != (self.qualified_by is not None):
            raise ValueError("qualified_by is set exactly when the delivery is a focused view")

    def to_json(self) -> dict[str, Any]:
        """The verdict as a JSON-ready dict; seconds rounded to the millisecond."""
        at = self.qualified_at_media_s
        return {
            "delivery": self.delivery,
            "focused_view": self.focused_view,
            "qualified_by": self.qualified_by,
            "qualified_at_media_s": None if at is None else round(at, 3),
            "coverage_s": round(self.coverage_s, 3),
            "audible_coverage_s": round(self.audible_coverage_s, 3),
            "viewability": self.viewability,
            "invalid": self.invalid,
            "invalid_reason": self.invalid_reason,
        }
