"""Server-rendered health sparkline: one inline SVG, no scripts, fonts or external resources.

The y axis is the fixed 0–100 health scale, so the faint band zones behind the line read the
same on every account. The x axis is calendar days: a day with no score (``None``) or a day
missing from the sequence breaks the line instead of being bridged. The minimum, maximum and
latest scores get dots; the latest is coloured by its band. The chart is announced to screen
readers by ``<title>`` and ``aria-label`` ("Health 62 (average), down 8 points over 90 days").
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape, quoteattr

from scoring.model import Bands

DEFAULT_BAND_COLOURS: Mapping[str, str] = {"good": "#1f7a3d", "average": "#8a5a00", "poor": "#b3261e"}
_COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}")
_LINE_COLOUR = "#1d2433"
_PAD = 4.0


def _fmt(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _points_word(change: float) -> str:
    amount = round(abs(change))
    return f"{amount} point" if amount == 1 else f"{amount} points"


def describe_trend(points: Sequence[tuple[dt.date, float | None]], bands: Bands | None = None) -> str:
    """The sentence a screen reader hears: latest score, its band in words, and the change across the days shown."""
    if not points:
        return "No health history yet"
    days = (points[-1][0] - points[0][0]).days + 1
    span = f"{days} day" if days == 1 else f"{days} days"
    scored = [score for _, score in points if score is not None]
    if not scored:
        return f"No health history in the last {span}"
    latest = scored[-1]
    head = f"Health {round(latest)} ({(bands or Bands()).band(latest)})"
    change = latest - scored[0]
    if len(scored) == 1 or round(abs(change)) == 0:
        return f"{head}, steady over {span}"
    direction = "up" if change > 0 else "down"
    return f"{head}, {direction} {_points_word(change)} over {span}"


def _runs(points: Sequence[tuple[dt.date, float | None]]) -> list[list[tuple[int, float]]]:
    """Consecutive scored days as (day offset, score) runs; a None or a skipped date ends a run."""
    start = points[0][0]
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    previous: int | None = None
    for day, score in points:
        offset = (day - start).days
        if score is None or (previous is not None and offset != previous + 1):
            if current:
                runs.append(current)
            current = []
        if score is not None:
            current.append((offset, max(0.0, min(100.0, float(score)))))
        previous = offset
    if current:
        runs.append(current)
    return runs


def sparkline_svg(points: Sequence[tuple[dt.date, float | None]], *, width: int = 292, height: int = 48,
                  bands: Bands | None = None, band_colours: Mapping[str, str] | None = None,
                  show_band_zones: bool = True) -> str:
    """Return an ``<svg>`` element for ``points`` (date ascending, scores 0–100 or None).

    ``band_colours`` maps good/average/poor to CSS colours (hex or a colour name; anything
    else is refused, because the SVG is inserted into pages unescaped).
    """
    if width < 2 * _PAD + 1 or height < 2 * _PAD + 1:
        raise ValueError(f"sparkline is too small: {width}x{height}")
    colours = {**DEFAULT_BAND_COLOURS, **(band_colours or {})}
    for name, colour in colours.items():
        if not _COLOUR.fullmatch(colour):
            raise ValueError(f"band colour for {name!r} must be a hex colour or a colour name")
    thresholds = bands or Bands()
    ordered = sorted(points, key=lambda point: point[0])
    label = describe_trend(ordered, thresholds)

    def y_of(score: float) -> float:
        return _PAD + (100.0 - score) / 100.0 * (height - 2 * _PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sparkline" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label={quoteattr(label)} focusable="false">',
        f"<title>{escape(label)}</title>",
    ]
    if show_band_zones:
        zones = (("good", 100.0, thresholds.good), ("average", thresholds.good, thresholds.average),
                 ("poor", thresholds.average, 0.0))
        for band, top, bottom in zones:
            parts.append(
                f'<rect class="zone zone-{band}" x="0" y="{_fmt(y_of(top))}" width="{width}" '
                f'height="{_fmt(y_of(bottom) - y_of(top))}" fill="{colours[band]}" fill-opacity="0.08"/>'
            )
    runs = _runs(ordered) if ordered else []
    if runs:
        days = max(1, (ordered[-1][0] - ordered[0][0]).days)

        def x_of(offset: int) -> float:
            return _PAD + offset / days * (width - 2 * _PAD)

        for run in runs:
            if len(run) == 1:
                offset, score = run[0]
                parts.append(f'<circle class="isolated" cx="{_fmt(x_of(offset))}" cy="{_fmt(y_of(score))}" '
                             f'r="1.5" fill="{_LINE_COLOUR}"/>')
                continue
            path = " ".join(f"{'M' if i == 0 else 'L'}{_fmt(x_of(o))},{_fmt(y_of(s))}" for i, (o, s) in enumerate(run))
            parts.append(f'<path class="line" d="{path}" fill="none" stroke="{_LINE_COLOUR}" stroke-width="1.5" '
                         'stroke-linejoin="round" stroke-linecap="round"/>')
        scored = [point for run in runs for point in run]
        low = min(scored, key=lambda point: point[1])
        high = max(scored, key=lambda point: point[1])
        last = scored[-1]
        for css, (offset, score), fill in (("min", low, "#ffffff"), ("max", high, "#ffffff")):
            parts.append(f'<circle class="{css}" cx="{_fmt(x_of(offset))}" cy="{_fmt(y_of(score))}" r="2" '
                         f'fill="{fill}" stroke="{_LINE_COLOUR}" stroke-width="1" data-score="{_fmt(score)}"/>')
        last_band = thresholds.band(last[1])
        parts.append(f'<circle class="last band-{last_band}" cx="{_fmt(x_of(last[0]))}" '
                     f'cy="{_fmt(y_of(last[1]))}" r="3" fill="{colours[last_band]}" data-score="{_fmt(last[1])}"/>')
    parts.append("</svg>")
    return "".join(parts)
