"""Server-rendered SVG sparkline of a health history: no script, no external resources."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from xml.sax.saxutils import escape

BAND_COLOURS = {"good": "#1f7a3d", "average": "#8a5a00", "poor": "#b3261e"}


def _band(score: float, good: float, average: float) -> str:
    return "good" if score >= good else "average" if score >= average else "poor"


def sparkline_svg(points: Sequence[tuple[dt.date, float | None]], *, width: int = 292, height: int = 48,
                  good: float = 70.0, average: float = 40.0) -> str:
    """A 0-100 line with the band thresholds as faint guides; gaps where a day has no score.

    The accessible label says the latest score and the change over the period in words.
    """
    pad = 4.0
    known = [(i, s) for i, (_, s) in enumerate(points) if s is not None]
    n = max(len(points) - 1, 1)

    def x(i: int) -> float:
        return round(pad + (width - 2 * pad) * i / n, 1)

    def y(score: float) -> float:
        return round(pad + (height - 2 * pad) * (1 - max(0.0, min(100.0, score)) / 100), 1)

    if known:
        first, last = known[0][1], known[-1][1]
        change = last - first
        direction = "up" if change > 0.5 else "down" if change < -0.5 else "steady"
        label = (f"Health {last:.0f} ({_band(last, good, average)}), {direction}"
                 + (f" {abs(change):.0f} points" if direction != "steady" else "")
                 + f" over {len(points)} days")
    else:
        label = f"No health history in the last {len(points)} days"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>']
    for threshold in (good, average):
        parts.append(f'<line class="guide" x1="{pad}" x2="{width - pad}" y1="{y(threshold)}" y2="{y(threshold)}" '
                     'stroke="#d5dae3" stroke-width="1" stroke-dasharray="3 3"/>')
    segment: list[str] = []
    segments: list[list[str]] = []
    previous = None
    for i, score in known:
        if previous is not None and i != previous + 1 and segment:
            segments.append(segment)
            segment = []
        segment.append(f"{x(i)},{y(score)}")
        previous = i
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) == 1:
            cx, cy = seg[0].split(",")
            parts.append(f'<circle class="point" cx="{cx}" cy="{cy}" r="1.5" fill="#5b6478"/>')
        else:
            parts.append(f'<polyline class="line" fill="none" stroke="#3a4356" stroke-width="1.6" '
                         f'stroke-linejoin="round" points="{" ".join(seg)}"/>')
    if known:
        i, score = known[-1]
        colour = BAND_COLOURS[_band(score, good, average)]
        parts.append(f'<circle class="last" cx="{x(i)}" cy="{y(score)}" r="3.2" fill="{colour}" '
                     'stroke="#fff" stroke-width="1"/>')
    parts.append("</svg>")
    return "".join(parts)
