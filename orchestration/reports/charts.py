"""Inline SVG charts for the report: no script, no CDN, readable offline and in a screenshot."""

from __future__ import annotations

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


def _x(i: int, n: int, band: bool = False) -> float:
    inner = WIDTH - LEFT - RIGHT
    if band:  # bars: the centre of the i-th of n equal slots, clear of the axis
        return LEFT + inner * (i + 0.5) / max(n, 1)
    return LEFT + (inner / 2 if n <= 1 else inner * i / (n - 1))


def _y(v: float, top: float) -> float:
    inner = HEIGHT - TOP - BOTTOM
    return TOP + inner - (inner * v / top if top > 0 else 0)


def _axes(labels: Sequence[str], top: float, fmt, band: bool = False) -> list[str]:
    parts = [
        (
            f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" '
            'stroke="#888"/>'
        ),
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#888"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        y = _y(top * frac, top)
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{escape(fmt(top * frac))}</text>"
        )
        if frac:
            parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#eee"/>')
    n = len(labels)
    step = max(1, -(-n // 8))  # at most ~8 date labels
    for i, label in enumerate(labels):
        if i % step == 0 or i == n - 1:
            parts.append(
                f'<text x="{_x(i, n, band):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                f'font-size="11">{escape(label[5:])}</text>'
            )
    return parts


def line_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    fmt=duration,
) -> str:
    """A line per (name, colour, values); gaps (None) break the line. Empty data says so."""
    if not labels:
        return f'<p id="{chart_id}" class="empty">No data for {escape(title)}.</p>'
    values = [v for _, _, vs in series for v in vs if v is not None]
    top = max(values, default=0.0) * 1.1 or 1.0
    n = len(labels)
    parts = [
        (
            f'<svg id="{chart_id}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">'
        ),
        f"<title>{escape(title)}</title>",
        *_axes(labels, top, fmt),
    ]
    for k, (name, colour, vs) in enumerate(series):
        segment: list[str] = []
        segments = []
        for i, v in enumerate(vs):
            if v is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{_x(i, n):.1f},{_y(v, top):.1f}")
            parts.append(
                f'<circle cx="{_x(i, n):.1f}" cy="{_y(v, top):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(labels[i])} {escape(name)}: {escape(fmt(v))}</title></circle>"
            )
        if segment:
            segments.append(segment)
        for seg in segments:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(seg)}"/>'
            )
        lx = LEFT + 10 + 110 * k
        parts.append(
            f'<rect x="{lx}" y="{TOP - 14}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14}" y="{TOP - 5}" font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    flagged: Sequence[bool],
    fmt=lambda v: f"{v:.2f}",
) -> str:
    """One bar per label; flagged bars (anomalies) are red and marked with a "!" above them."""
    if not labels:
        return f'<p id="{chart_id}" class="empty">No data for {escape(title)}.</p>'
    top = max([0.0, *values]) * 1.15 or 1.0
    n = len(labels)
    inner = WIDTH - LEFT - RIGHT
    bw = max(4.0, min(40.0, inner / max(n, 1) * 0.6))
    parts = [
        (
            f'<svg id="{chart_id}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">'
        ),
        f"<title>{escape(title)}</title>",
        *_axes(labels, top, fmt, band=True),
    ]
    for i, (label, v, bad) in enumerate(zip(labels, values, flagged)):
        x = _x(i, n, band=True) - bw / 2
        y = _y(max(v, 0.0), top)
        colour = "#c62828" if bad else "#4a78b5"
        note = " (anomaly)" if bad else ""
        parts.append(
            f'<rect class="{"anomaly" if bad else "bar"}" x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" '
            f'height="{HEIGHT - BOTTOM - y:.1f}" fill="{colour}"><title>{escape(label)}: '
            f"{escape(fmt(v))}{note}</title></rect>"
        )
        if bad:
            parts.append(
                f'<text x="{x + bw / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="13" '
                f'font-weight="bold" fill="#c62828">!</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
