"""Inline SVG charts for the report: no script, no CDN, readable offline and in a screenshot."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 40


def duration(seconds: float | None) -> str:
    """Seconds as the unit a person reads (45s, 12.5m, 3.2h, 1.5d)."""
    if seconds is None:
        return "n/a"
    s = float(seconds)
    if s < 120:
        return f"{s:.0f}s"
    if s < 7200:
        return f"{s / 60:.1f}m"
    if s < 172800:
        return f"{s / 3600:.1f}h"
    return f"{s / 86400:.1f}d"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round axis ticks from 0 past `top` (steps of 1, 2, 2.5 or 5 x 10^k): 0, 25, 50, 75, 100."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(top / step - 1e-9)
    return [round(step * i, 10) for i in range(n + 1)]


# Log-scale ticks for durations: 1s, 10s, 1m, 10m, 1h, 6h, 1d, 7d (seconds).
DURATION_TICKS = (1, 10, 60, 600, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)


def duration_tick(seconds: float) -> str:
    """A round duration tick as written on an axis: 1s, 10s, 1m, 10m, 1h, 6h, 1d, 7d."""
    s = float(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s / size:g}{unit}"
    return f"{s:g}s"


def _x(i: int, n: int, band: bool = False) -> float:
    inner = WIDTH - LEFT - RIGHT
    if band:  # bars: the centre of the i-th of n equal slots, clear of the axis
        return LEFT + inner * (i + 0.5) / max(n, 1)
    return LEFT + (inner / 2 if n <= 1 else inner * i / (n - 1))


def _y(v: float, top: float, bottom: float = 0.0, log: bool = False) -> float:
    """The pixel row of `v` on an axis from `bottom` to `top` (log10 when `log`)."""
    inner = HEIGHT - TOP - BOTTOM
    if log:
        lo, hi = math.log10(bottom), math.log10(top)
        frac = (math.log10(max(v, bottom)) - lo) / (hi - lo) if hi > lo else 0
    else:
        frac = (v - bottom) / (top - bottom) if top > bottom else 0
    return TOP + inner - inner * frac


def _axes(
    labels: Sequence[str],
    ticks: Sequence[float],
    fmt,
    band: bool = False,
    log: bool = False,
    unit: str = "",
    xunit: str = "",
) -> list[str]:
    """Axes, round y ticks with grid lines, the y unit as an axis title, and at most ~8 date labels."""
    top, bottom = ticks[-1], ticks[0]
    parts = [
        (
            f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" '
            'stroke="#888"/>'
        ),
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#888"/>',
    ]
    for tick in ticks:
        y = _y(tick, top, bottom, log)
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{escape(fmt(tick))}</text>"
        )
        if tick != bottom:
            parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#eee"/>')
    if xunit:
        parts.append(
            f'<text class="unit" x="{LEFT + (WIDTH - LEFT - RIGHT) / 2:.1f}" y="{HEIGHT - 4}" text-anchor="middle" '
            f'font-size="11" fill="#555">{escape(xunit)}</text>'
        )
    if unit:
        mid = TOP + (HEIGHT - TOP - BOTTOM) / 2
        parts.append(
            f'<text class="unit" x="14" y="{mid:.1f}" text-anchor="middle" font-size="11" fill="#555" '
            f'transform="rotate(-90 14 {mid:.1f})">{escape(unit)}</text>'
        )
    n = len(labels)
    step = max(1, -(-n // 8))  # at most ~8 date labels
    for i, label in enumerate(labels):
        if i % step == 0 or i == n - 1:
            parts.append(
                f'<text x="{_x(i, n, band):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                f'font-size="11">{escape(label[5:])}</text>'
            )
    return parts


PALETTE = ("#4a78b5", "#e07b00", "#3a9d5d", "#8e5ea2", "#c9a227", "#5f6b7a", "#d45087", "#2f9fa8")


def _svg_open(chart_id: str, title: str) -> list[str]:
    return [
        (
            f'<svg id="{chart_id}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">'
        ),
        f"<title>{escape(title)}</title>",
    ]


def _legend(names: Sequence[tuple[str, str]]) -> list[str]:
    parts, lx = [], LEFT + 10
    for name, colour in names:
        parts.append(
            f'<rect x="{lx}" y="{TOP - 14}" width="10" height="10" fill="{colour}"/>'
            f'<text class="legend" x="{lx + 14}" y="{TOP - 5}" font-size="11">{escape(name)}</text>'
        )
        lx += 24 + 7 * len(name)
    return parts


def log_ticks(values: Sequence[float], ticks: Sequence[float] = DURATION_TICKS) -> list[float]:
    """The log-scale ticks spanning `values`: the largest tick at or under the smallest value to the
    smallest tick at or over the largest, so a 30 s p50 and a 6 h p95 are both readable."""
    lo = min(values) if values else 1.0
    hi = max(values) if values else 1.0
    bottom = max([t for t in ticks if t <= max(lo, ticks[0])], default=ticks[0])
    top = min([t for t in ticks if t >= hi], default=ticks[-1])
    out = [t for t in ticks if bottom <= t <= top]
    return out if len(out) > 1 else [bottom, next((t for t in ticks if t > bottom), bottom * 10)]


def line_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    fmt=duration,
    log: bool = False,
    unit: str = "",
    xunit: str = "",
) -> str:
    """A line per (name, colour, values); gaps (None) break the line. Empty data says so. With `log`,
    the y axis is log10 with duration ticks (values <= 0 sit on the bottom line)."""
    if not labels:
        return f'<p id="{chart_id}" class="empty">No data for {escape(title)}.</p>'
    values = [v for _, _, vs in series for v in vs if v is not None]
    ticks = log_ticks([v for v in values if v > 0]) if log else nice_ticks(max(values, default=0.0))
    top, bottom = ticks[-1], ticks[0]
    n = len(labels)
    parts = [
        *_svg_open(chart_id, title),
        *_axes(labels, ticks, duration_tick if log else fmt, log=log, unit=unit, xunit=xunit),
    ]
    for name, colour, vs in series:
        segment: list[str] = []
        segments = []
        for i, v in enumerate(vs):
            if v is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            y = _y(v, top, bottom, log)
            segment.append(f"{_x(i, n):.1f},{y:.1f}")
            parts.append(
                f'<circle cx="{_x(i, n):.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(labels[i])} {escape(name)}: {escape(fmt(v))}</title></circle>"
            )
        if segment:
            segments.append(segment)
        for seg in segments:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(seg)}"/>'
            )
    parts += _legend([(name, colour) for name, colour, _ in series])
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    stacks: Sequence[tuple[str, str, Sequence[float]]],
    flagged: Sequence[bool] = (),
    fmt=lambda v: f"{v:.2f}",
    unit: str = "",
    xunit: str = "",
) -> str:
    """Bars stacked per (name, colour, values), one bar per label (a single stack is a plain bar
    chart); a flagged bar (an anomaly) gets a red outline and a red "!" above it. Negative parts
    (a day of refunds) are drawn as zero: the tooltip and the table carry the exact figure."""
    if not labels:
        return f'<p id="{chart_id}" class="empty">No data for {escape(title)}.</p>'
    n = len(labels)
    totals = [sum(max(vs[i], 0.0) for _, _, vs in stacks) for i in range(n)]
    ticks = nice_ticks(max([0.0, *totals]))
    top = ticks[-1]
    inner = WIDTH - LEFT - RIGHT
    bw = max(4.0, min(40.0, inner / max(n, 1) * 0.6))
    flags = list(flagged) + [False] * (n - len(flagged))
    parts = [*_svg_open(chart_id, title), *_axes(labels, ticks, fmt, band=True, unit=unit, xunit=xunit)]
    for i, label in enumerate(labels):
        x = _x(i, n, band=True) - bw / 2
        base = 0.0
        for name, colour, vs in stacks:
            v = max(vs[i], 0.0)
            if v <= 0:
                continue
            y0, y1 = _y(base, top), _y(base + v, top)
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y1:.1f}" width="{bw:.1f}" height="{y0 - y1:.1f}" '
                f'fill="{colour}"><title>{escape(label)} {escape(name)}: {escape(fmt(vs[i]))}</title></rect>'
            )
            base += v
        if flags[i]:
            y = _y(base, top)
            parts.append(
                f'<rect class="anomaly" x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{HEIGHT - BOTTOM - y:.1f}" '
                f'fill="none" stroke="#c62828" stroke-width="2"><title>{escape(label)}: {escape(fmt(totals[i]))} '
                f"(anomaly)</title></rect>"
                f'<text x="{x + bw / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="13" '
                f'font-weight="bold" fill="#c62828">!</text>'
            )
    if len(stacks) > 1 or (stacks and stacks[0][0]):
        parts += _legend([(name, colour) for name, colour, _ in stacks])
    parts.append("</svg>")
    return "".join(parts)
