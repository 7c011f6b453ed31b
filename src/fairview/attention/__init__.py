"""The attention rule (spec/attention.md §7): which ad deliveries are focused views.

`qualify` is the readable reference for one delivery; `qualify_columns` (over
`EventColumns`) and `qualify_many` are the compiled settlement fast path for many
deliveries at once. Both give the same `Verdict`.
"""

from fairview.attention.events import Event, EventType, InteractionKind
from fairview.attention.fast import EventColumns, VerdictColumns, qualify_columns, qualify_many
from fairview.attention.reference import qualify
from fairview.attention.verdict import InvalidReason, QualifiedBy, Verdict, Viewability

__all__ = [
    "Event",
    "EventColumns",
    "EventType",
    "InteractionKind",
    "InvalidReason",
    "QualifiedBy",
    "Verdict",
    "VerdictColumns",
    "Viewability",
    "qualify",
    "qualify_columns",
    "qualify_many",
]
