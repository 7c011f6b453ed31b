"""Small server-rendered charts: inline SVG, no script, no inline style (the CSP allows neither).

Each chart is a `<figure>` holding the SVG (`role="img"`, a `<title>` and a
`<desc>` that sum it up in words), a legend, and the same numbers as a table in
a `<details>` for screen readers and for copying. Colours come from the classes
of `fairview.css` (`.chart .axis .grid .series-a .series-b .bar-a .bar-b`,
`.legend .key-a .key-b`), so pages stay within the contrast the stylesheet keeps.

    bar_chart("spend", "Spend per day", labels, Series("Spend", values), fmt=money)
    line_chart("pacing", "Pacing", labels, [Series("Spent", a), Series("Goal", b, "b")])
    interval_chart("reach", "Reach", [Interval("EU-DE", 950, 912, 988)])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup, escape

Format = Callable[[float], str]

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 30
MAX_X_LABELS = 8


@dataclass(frozen=True, slots=True)
class Series:
    """One named series; `kind` "a" is solid blue, "b" dashed orange (fairview.css)."""

    name: str
    values: Sequence[float | None]
    kind: Literal["a", "b"] = "a"


@dataclass(frozen=True, slots=True)
class Interval:
    """One estimate with its confidence interval, for `interval_chart`."""

    label: str
    value: float
    low: float
    high: float


def plain(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above `value` (1 for nothing)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def bar_chart(
    chart_id: str, title: str, labels: Sequence[str], series: Series, *, fmt: Format = plain
) -> Markup:
    """Bars, one per label (days, usually)."""
    values = [v or 0.0 for v in series.values]
    top = nice_max(max(values, default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(values))
    parts = _frame(top, fmt) + _x_labels(labels, step)
    for i, v in enumerate(values):
        h = plot_h * v / top
        parts.append(
            f'<rect class="bar-{series.kind}" x="{LEFT + i * step + step * 0.15:.1f}" '
            f'y="{TOP + plot_h - h:.1f}" width="{max(1.0, step * 0.7):.1f}" height="{h:.1f}">'
            f"<title>{escape(labels[i])}: {escape(fmt(v))}</title></rect>"
        )
    total = sum(values)
    peak = max(range(len(values)), key=lambda i: values[i]) if values else None
    summary = (
        f"{len(values)} days, total {fmt(total)}"
        + (f", highest {fmt(values[peak])} on {labels[peak]}" if peak is not None else "")
        + "."
    )
    return _figure(chart_id, title, summary, parts, [series], labels, fmt)


def line_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    fmt: Format = plain,
    summary: str = "",
) -> Markup:
    """Lines over the labels; a None value leaves a gap (e.g. days still to come)."""
    every = [v for s in series for v in s.values if v is not None]
    top = nice_max(max(every, default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max((len(s.values) for s in series), default=0)
    step = plot_w / max(1, n)
    parts = _frame(top, fmt) + _x_labels(labels, step)
    for s in series:
        for run in _runs(s.values):
            points = " ".join(
                f"{LEFT + (i + 0.5) * step:.1f},{TOP + plot_h - plot_h * v / top:.1f}"
                for i, v in run
            )
            if len(run) == 1:  # a lone point: a short tick so it shows
                i, y = run[0][0], TOP + plot_h - plot_h * run[0][1] / top
                x = LEFT + (i + 0.5) * step
                points = f"{x - 3:.1f},{y:.1f} {x + 3:.1f},{y:.1f}"
            parts.append(f'<polyline class="series-{s.kind}" points="{points}"/>')
    if not summary:
        summary = "; ".join(f"{s.name}: last {fmt(_last(s.values))}" for s in series) + "."
    return _figure(chart_id, title, summary, parts, series, labels, fmt)


def interval_chart(
    chart_id: str, title: str, rows: Sequence[Interval], *, fmt: Format = plain
) -> Markup:
    """Horizontal intervals (low to high) with a mark at each estimate."""
    row_h, left = 26, 210
    height = TOP + BOTTOM + row_h * max(1, len(rows))
    top = nice_max(max((r.high for r in rows), default=0.0))
    plot_w = WIDTH - left - RIGHT
    parts: list[str] = []
    for k in range(5):
        x = left + plot_w * k / 4
        parts.append(
            f'<line class="grid" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{height - BOTTOM}"/>'
            f'<text x="{x:.1f}" y="{height - BOTTOM + 16}" text-anchor="middle">'
            f"{escape(fmt(top * k / 4))}</text>"
        )
    for j, r in enumerate(rows):
        y = TOP + row_h * j + row_h / 2
        lo, hi = (left + plot_w * max(0.0, v) / top for v in (r.low, r.high))
        mid = left + plot_w * min(max(0.0, r.value), top) / top
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(r.label[:34])}</text>'
            f'<rect class="bar-b" x="{lo:.1f}" y="{y - 3:.1f}" width="{max(1.0, hi - lo):.1f}" '
            f'height="6"><title>{escape(r.label)}: {escape(fmt(r.low))} to '
            f"{escape(fmt(r.high))}</title></rect>"
            f'<circle class="bar-a" cx="{mid:.1f}" cy="{y:.1f}" r="5"/>'
        )
    summary = (
        "; ".join(
            f"{r.label}: {fmt(r.value)} (95 % interval {fmt(r.low)} to {fmt(r.high)})"
            for r in rows[:12]
        )
        or "No released cells."
    )
    svg = _svg(chart_id, title, summary, parts, height)
    legend = (
        '<ul class="legend"><li class="key-a">Estimate</li>'
        '<li class="key-b">95 % confidence interval</li></ul>'
    )
    table = _table(
        title,
        ["Cell", "Estimate", "95 % low", "95 % high"],
        [[r.label, fmt(r.value), fmt(r.low), fmt(r.high)] for r in rows],
    )
    return Markup(f'<figure class="chart-figure">{svg}{legend}{table}</figure>')


# -- pieces --------------------------------------------------------------------------------


def _frame(top: float, fmt: Format) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    for k in range(5):
        y = TOP + plot_h - plot_h * k / 4
        parts.append(
            f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(top * k / 4))}</text>"
        )
    parts.append(
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + plot_h}"/>'
    )
    return parts


def _x_labels(labels: Sequence[str], step: float) -> list[str]:
    if not labels:
        return []
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    return [
        f'<text x="{LEFT + (i + 0.5) * step:.1f}" y="{HEIGHT - BOTTOM + 16}" '
        f'text-anchor="middle">{escape(label[5:] if len(label) == 10 else label)}</text>'
        for i, label in enumerate(labels)
        if i % every == 0
    ]


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    runs: list[list[tuple[int, float]]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((i, v))
    return [r for r in runs if r]


def _last(values: Sequence[float | None]) -> float:
    return next((v for v in reversed(values) if v is not None), 0.0)


def _svg(chart_id: str, title: str, summary: str, parts: list[str], height: int) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" focusable="false">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(summary)}</desc>{"".join(parts)}</svg>'
    )


def _table(title: str, head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    num = ' class="num"'
    ths = "".join(
        f'<th scope="col"{"" if i == 0 else num}>{escape(h)}</th>' for i, h in enumerate(head)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<th scope="row">{escape(c)}</th>' if i == 0 else f'<td class="num">{escape(c)}</td>'
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        f"<details><summary>{escape(title)}: the numbers as a table</summary>"
        f'<div class="table-scroll" role="region" aria-label="{escape(title)}" tabindex="0">'
        f"<table><caption>{escape(title)}</caption>"
        f"<thead><tr>{ths}</tr></thead><tbody>{body}</tbody></table></div></details>"
    )


def _figure(
    chart_id: str,
    title: str,
    summary: str,
    parts: list[str],
    series: Sequence[Series],
    labels: Sequence[str],
    fmt: Format,
) -> Markup:
    svg = _svg(chart_id, title, summary, parts, HEIGHT)
    legend = (
        '<ul class="legend">'
        + "".join(f'<li class="key-{s.kind}">{escape(s.name)}</li>' for s in series)
        + "</ul>"
    )
    rows = [
        [
            label,
            *(
                "—" if i >= len(s.values) or s.values[i] is None else fmt(s.values[i] or 0.0)
                for s in series
            ),
        ]
        for i, label in enumerate(labels)
    ]
    table = _table(title, ["Day", *(s.name for s in series)], rows)
    return Markup(f'<figure class="chart-figure">{svg}{legend}{table}</figure>')
