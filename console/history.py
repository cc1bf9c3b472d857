"""The account profile's 180-day health chart: one server-rendered SVG, no script, font file or CDN.

Band zones behind the line (0–100 fixed scale, the model's thresholds), the score as a line broken
where a day has no score, and a numbered marker at every band change; the numbers match the list of
band changes and their reasons printed under the chart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

BAND_COLOURS = {"good": "#1f7a3d", "average": "#8a5a00", "poor": "#b3261e"}
ZONE_COLOURS = {"good": "#e9f6ed", "average": "#fff6e3", "poor": "#fdeceb"}


@dataclass(frozen=True)
class BandChange:
    number: int
    day: dt.date
    before: str | None
    after: str | None
    score: float | None
    reasons: tuple[str, ...]


def band_changes(days: Sequence[tuple[dt.date, float | None, str | None, list[str]]]) -> list[BandChange]:
    """Days whose band differs from the last scored day before them (the first scored day is no change)."""
    out: list[BandChange] = []
    previous: str | None = None
    for day, score, band, reasons in days:
        if band is None:
            continue
        if previous is not None and band != previous:
            out.append(BandChange(len(out) + 1, day, previous, band, score, tuple(reasons[:3])))
        previous = band
    return out


def _fmt(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def history_chart_svg(points: Sequence[tuple[dt.date, float | None]], changes: Sequence[BandChange], *,
                      poor_below: float = 40.0, good_from: float = 70.0, width: int = 960,
                      height: int = 240) -> str:
    left, right, top, bottom = 34.0, 10.0, 10.0, 26.0
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(points), 2)

    def x(i: int) -> float:
        return left + plot_w * i / (n - 1)

    def y(score: float) -> float:
        return top + plot_h * (1 - max(0.0, min(100.0, score)) / 100)

    scored = [s for _, s in points if s is not None]
    label = (f"Health over {len(points)} days: latest {round(scored[-1])}, {len(changes)} band change(s)"
             if scored else "No health history yet")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="history" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label={quoteattr(label)} data-testid="history-chart" preserveAspectRatio="none">',
             f"<title>{escape(label)}</title>"]
    for band, lo, hi in (("poor", 0.0, poor_below), ("average", poor_below, good_from), ("good", good_from, 100.0)):
        parts.append(f'<rect x="{_fmt(left)}" y="{_fmt(y(hi))}" width="{_fmt(plot_w)}" height="{_fmt(y(lo) - y(hi))}" '
                     f'fill="{ZONE_COLOURS[band]}" class="zone zone-{band}"/>')
    for tick in (0, 40, 70, 100) if (poor_below, good_from) == (40.0, 70.0) else (0, poor_below, good_from, 100):
        parts.append(f'<text x="{_fmt(left - 6)}" y="{_fmt(y(float(tick)) + 4)}" text-anchor="end" '
                     f'font-size="11" fill="#5b6478">{_fmt(float(tick))}</text>')
    segments: list[list[str]] = [[]]
    for i, (_, score) in enumerate(points):
        if score is None:
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append(f"{_fmt(x(i))},{_fmt(y(score))}")
    for seg in segments:
        if len(seg) > 1:
            parts.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="#1d2433" stroke-width="2" '
                         'stroke-linejoin="round" class="score-line"/>')
        elif seg:
            dot_x, dot_y = seg[0].split(",")
            parts.append(f'<circle cx="{dot_x}" cy="{dot_y}" r="2.5" fill="#1d2433"/>')
    index = {day: i for i, (day, _) in enumerate(points)}
    for change in changes:
        at = index.get(change.day)
        if at is None or change.score is None:
            continue
        colour = BAND_COLOURS.get(change.after or "", "#5b6478")
        cx, cy = x(at), y(change.score)
        parts.append(f'<line x1="{_fmt(cx)}" x2="{_fmt(cx)}" y1="{_fmt(top)}" y2="{_fmt(top + plot_h)}" '
                     f'stroke="{colour}" stroke-dasharray="3 3" class="band-change"/>')
        parts.append(f'<circle cx="{_fmt(cx)}" cy="{_fmt(cy)}" r="8" fill="{colour}" class="band-change-marker">'
                     f"<title>{escape(f'{change.day}: {change.before} → {change.after}')}</title></circle>")
        parts.append(f'<text x="{_fmt(cx)}" y="{_fmt(cy + 4)}" text-anchor="middle" font-size="10" '
                     f'font-weight="700" fill="#fff">{change.number}</text>')
    if points:
        for i in (0, len(points) // 2, len(points) - 1):
            anchor = "start" if i == 0 else ("end" if i == len(points) - 1 else "middle")
            parts.append(f'<text x="{_fmt(x(i))}" y="{height - 8}" text-anchor="{anchor}" font-size="11" '
                         f'fill="#5b6478">{points[i][0].strftime("%d %b %Y")}</text>')
    parts.append("</svg>")
    return "".join(parts)
