"""Inline SVG charts: one y scale per chart, a UTC date/time x axis, the legend beside the plot
(never on the lines), values formatted by kind (see fmt). A point or bar whose value is missing or not finite
(NaN, inf: the warehouse's series reach here as they are read) is left out, a gap in its line, and the axes
are scaled on the finite values only (one NaN made every y label a dash and put "nan" in the SVG)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from datetime import datetime, timezone

from python_assets.reports import fmt
from python_assets.platform.timeframes import DAY_MS, HOUR_MS

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#7f7f7f")
LEFT, RIGHT_LEGEND, TOP, BOTTOM = 78, 250, 26, 34

Series = tuple[str, list[float], list[float | None]]
FLAT_PAD = 0.01  # a flat non-zero series' axis spans its level ± 1%
DRAWDOWN_ZERO_SPAN = (-0.02, 0.0)  # never drawn down: 0 at the top of a -2%..0% axis, never above 0


def _finite(v: float | None) -> bool:
    """Whether v can be drawn: a number, neither missing nor NaN nor infinite."""
    return v is not None and math.isfinite(v)


def _segments(xs: list[float], ys: list[float | None]) -> list[list[tuple[float, float]]]:
    """The runs of drawable (x, y) points, split where a point is not (the line has a gap there)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys):
        if _finite(x) and _finite(y):
            runs[-1].append((x, y))
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def time_ticks(x0: float, x1: float, n: int = 6) -> list[tuple[float, str]]:
    """About n ticks on [x0, x1] (epoch ms) at whole days or hours, labelled in UTC."""
    span = max(x1 - x0, 1)
    steps = [HOUR_MS * h for h in (1, 2, 3, 6, 12)] + [DAY_MS * d for d in (1, 2, 7, 14, 30, 61, 91, 182, 365)]
    step = next((s for s in steps if span / s <= n), steps[-1])
    first = -(-x0 // step) * step
    fmt_str = "%Y-%m-%d" if step >= DAY_MS else "%m-%d %H:%M"
    ticks, t = [], first
    while t <= x1:
        ticks.append((t, datetime.fromtimestamp(t / 1000, tz=timezone.utc).strftime(fmt_str)))
        t += step
    return ticks


def value_ticks(y0: float, y1: float, n: int = 4) -> list[float]:
    """n+1 evenly spaced values from y0 to y1."""
    return [y0 + (y1 - y0) * i / n for i in range(n + 1)]


def y_range(lo: float, hi: float, zero_span: tuple[float, float] = (-1.0, 1.0)) -> tuple[float, float]:
    """The y axis for values lo..hi; a flat series gets its level ± FLAT_PAD of it, an all-zero one the
    caller's zero_span, since no scale says how wide 0 is (a drawdown axis must not read +100%)."""
    if hi > lo:
        return lo, hi
    if lo == 0:
        return zero_span
    return lo - abs(lo) * FLAT_PAD, hi + abs(hi) * FLAT_PAD


def _svg_open(title: str, w: int, h: int) -> list[str]:
    t = html.escape(title)
    return [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img">',
            f'<title>{t}</title><text x="{LEFT}" y="16" font-size="13" font-weight="600">{t}</text>']


def _legend(labels: list[str], x: float, y: float) -> list[str]:
    """Swatches and labels in a column to the right of the plot area."""
    out = []
    for i, label in enumerate(labels):
        color = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x:.0f}" y="{y + 14 * i - 8:.0f}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{x + 14:.0f}" y="{y + 14 * i + 1:.0f}" font-size="11">{html.escape(label[:40])}</text>')
    return out


def line_chart(series: list[Series], title: str, y_format: Callable[[float], str] = fmt.number,
               shading: list[tuple[float, float, str]] | None = None, w: int = 960, h: int = 240,
               dashed: frozenset[str] = frozenset(), zero_span: tuple[float, float] = (-1.0, 1.0)) -> str:
    """Lines over time (x = epoch ms, UTC axis); shading [(x0, x1, color)] behind; labels in `dashed` dashed;
    zero_span is the y axis when every value is 0 (see y_range)."""
    pts = [p for _, xs, ys in series for run in _segments(xs, ys) for p in run]
    if not pts:
        return f"<p><em>{html.escape(title)}: no data</em></p>"
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    x1 = x1 if x1 > x0 else x0 + 1
    y0, y1 = y_range(y0, y1, zero_span)
    pw, ph = w - LEFT - RIGHT_LEGEND, h - TOP - BOTTOM
    sx = lambda x: LEFT + (x - x0) / (x1 - x0) * pw  # noqa: E731
    sy = lambda y: TOP + ph - (y - y0) / (y1 - y0) * ph  # noqa: E731
    parts = _svg_open(title, w, h)
    for a, b, color in shading or []:
        parts.append(f'<rect x="{sx(a):.1f}" y="{TOP}" width="{max(sx(min(b, x1)) - sx(a), 0.5):.1f}" height="{ph}" fill="{color}"/>')
    for v in value_ticks(y0, y1):
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" stroke="#e4e4e4"/>'
                     f'<text x="{LEFT - 4}" y="{sy(v) + 3:.1f}" font-size="10" text-anchor="end">{html.escape(y_format(v))}</text>')
    for t, label in time_ticks(x0, x1):
        parts.append(f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{TOP + ph}" y2="{TOP + ph + 4}" stroke="#666"/>'
                     f'<text class="xtick" x="{sx(t):.1f}" y="{TOP + ph + 16}" font-size="10" text-anchor="middle">{label}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for i, (label, xs, ys) in enumerate(series):
        dash = ' stroke-dasharray="5,3"' if label in dashed else ""
        for run in _segments(xs, ys):
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in run)
            parts.append(f'<polyline fill="none" stroke="{PALETTE[i % len(PALETTE)]}" stroke-width="1.5"{dash} points="{path}"/>')
    parts += _legend([s[0] for s in series], LEFT + pw + 14, TOP + 10)
    parts.append(f'<text x="{LEFT + pw / 2:.0f}" y="{h - 4}" font-size="10" text-anchor="middle">time (UTC)</text></svg>')
    return "".join(parts)


def bar_chart(groups: list[tuple[str, dict[str, float | None]]], title: str,
              y_format: Callable[[float], str] = fmt.number, w: int = 960, h: int = 220) -> str:
    """Grouped bars on one scale starting at zero: [(group label, {series: value})]; a missing or
    non-finite value has no bar."""
    values = [v for _, d in groups for v in d.values() if _finite(v)]
    if not values:
        return f"<p><em>{html.escape(title)}: no data</em></p>"
    lo, hi = min(0.0, min(values)), max(0.0, max(values))
    hi = hi if hi > lo else lo + 1
    names = sorted({k for _, d in groups for k in d})
    pw, ph = w - LEFT - RIGHT_LEGEND, h - TOP - BOTTOM
    sy = lambda y: TOP + ph - (y - lo) / (hi - lo) * ph  # noqa: E731
    gw = pw / len(groups)
    bw = gw * 0.8 / len(names)
    parts = _svg_open(title, w, h)
    for v in value_ticks(lo, hi):
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" stroke="#e4e4e4"/>'
                     f'<text x="{LEFT - 4}" y="{sy(v) + 3:.1f}" font-size="10" text-anchor="end">{html.escape(y_format(v))}</text>')
    for gi, (label, d) in enumerate(groups):
        for si, name in enumerate(names):
            v = d.get(name)
            if not _finite(v):
                continue
            top, bottom = sy(max(v, 0.0)), sy(min(v, 0.0))
            x = LEFT + gi * gw + gw * 0.1 + si * bw
            parts.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="{max(bw - 2, 1):.1f}" height="{max(bottom - top, 0.5):.1f}" '
                         f'fill="{PALETTE[si % len(PALETTE)]}"><title>{html.escape(f"{label} {name} {y_format(v)}")}</title></rect>')
        parts.append(f'<text x="{LEFT + gi * gw + gw / 2:.1f}" y="{TOP + ph + 14}" font-size="10" '
                     f'text-anchor="middle">{html.escape(label)}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    parts += _legend(names, LEFT + pw + 14, TOP + 10)
    parts.append("</svg>")
    return "".join(parts)
