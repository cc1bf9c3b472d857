"""The report pages' charts: server-rendered SVG (no script, font file, npm bundle or CDN), with the same numbers
as a table and as CSV.

A `Chart` is data: a kind (line, grouped bar, stacked bar, horizontal bar, histogram), category labels (months,
weeks, CSMs, features, score ranges), one or more `Series` of values (``None`` = missing: a gap in a line, no bar)
and a unit that decides how every number is written (`format_value`: percentages with one decimal, money and
counts with thousands separators and no currency symbol). ``chart.svg()`` draws it, ``chart.table()`` and
``chart.csv()`` give the same numbers; the Jinja macro ``chart(figure, csv_url)`` in ``_chart.html`` puts the
three together. Output is deterministic (same data, byte-equal SVG) and does no I/O.

Readable without colour: each series has its own dash pattern and marker shape (lines) or fill pattern (bars),
shown the same way in the legend; health bands reuse the console's good/average/poor colours. The SVG is
``role="img"`` labelled by its ``<title>`` and a ``<desc>`` sentence; every bar and point carries a ``<title>``
with its exact value. Text is 16 units in a 480-unit-wide viewBox, >= 11 px when the chart is 330 px wide.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape

from console.history import BAND_COLOURS

Kind = Literal["line", "bar", "stacked", "hbar", "histogram"]
Unit = Literal["percent", "money", "count", "number"]
KINDS = ("line", "bar", "stacked", "hbar", "histogram")
UNITS = ("percent", "money", "count", "number")
NO_DATA = "No data for this period"

INK, MUTED, GRID = "#1d2433", "#5b6478", "#e3e7ef"
PALETTE = ("#1d4ed8", "#8a5a00", "#5b2bb5", "#0f766e", "#1d2433", "#b3261e")  # each >= 4.5:1 on white
BAND_PATTERN = {"good": 0, "average": 1, "poor": 3}
BAND_NAMES = {"good": "Good", "average": "Average", "poor": "Poor"}
DASHES = ("", "9 5", "2 4", "12 4 3 4")
MARKERS = ("circle", "square", "triangle", "diamond")
WIDTH, FONT, CHAR = 480, 16, 9.0  # viewBox width, font size and the width of one character in viewBox units
PLOT_HEIGHT, MAX_LABEL = 220, 14
_IDENT = re.compile(r"[a-z][a-z0-9-]{0,60}")


def format_value(value: float | None, unit: Unit, *, plain: bool = False) -> str:
    """The one way a chart's number is written (tooltip, table); ``plain`` for CSV: no separators, no sign.

    >>> format_value(92.46, "percent"), format_value(1234567.4, "money"), format_value(-1234, "count")
    ('92.5 %', '1,234,567', '-1,234')
    """
    if value is None:
        return ""
    decimals = 1 if unit in ("percent", "number") else 0
    rounded = round(value, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    text = f"{rounded:,.{decimals}f}"
    if plain:
        return text.replace(",", "")
    return f"{text} %" if unit == "percent" else text


def nice_ticks(lo: float, hi: float, *, count: int = 5, integer: bool = False) -> list[float]:
    """Axis ticks covering [lo, hi] in steps of 1, 2 or 5 × 10ⁿ, about ``count`` intervals.

    >>> nice_ticks(0, 95)
    [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    """
    lo, hi = min(lo, hi), max(lo, hi)
    if hi == lo:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = (lo - pad if lo else lo), hi + pad
    raw = (hi - lo) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    if integer:
        step = max(step, 1.0)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, 10) + 0.0 for k in range(first, last + 1)]


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    band: str | None = None  # "good" / "average" / "poor": the band's colour and pattern

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))
        for v in self.values:
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise ValueError(f"series {self.name!r}: values must be finite numbers or None, not {v!r}")
        if self.band is not None and self.band not in BAND_COLOURS:
            raise ValueError(f"series {self.name!r}: band must be one of {sorted(BAND_COLOURS)}, not {self.band!r}")


@dataclass(frozen=True)
class ChartTable:
    head: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]


@dataclass(frozen=True)
class Chart:
    ident: str  # unique on the page: prefixes the SVG's ids, names the CSV file
    kind: Kind
    title: str
    labels: Sequence[str]
    series: Sequence[Series]
    unit: Unit = "count"
    category: str = "Category"  # the label column's header in the table and CSV
    reference: float | None = None  # a dashed horizontal line, e.g. 100 (%) on a retention chart
    reference_label: str = ""
    bands: Sequence[str | None] = ()  # per category, for one-series bars: colour and pattern by health band
    summary: str = ""  # the <desc> sentence; written from the data when empty

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(str(label) for label in self.labels))
        object.__setattr__(self, "series", tuple(self.series))
        object.__setattr__(self, "bands", tuple(self.bands))
        if not _IDENT.fullmatch(self.ident):
            raise ValueError(f"chart ident must be lower-case letters, digits and '-', not {self.ident!r}")
        if self.kind not in KINDS or self.unit not in UNITS:
            raise ValueError(f"chart {self.ident}: kind must be one of {KINDS} and unit one of {UNITS}")
        if not self.series:
            raise ValueError(f"chart {self.ident}: at least one series is needed")
        for s in self.series:
            if len(s.values) != len(self.labels):
                raise ValueError(f"chart {self.ident}: series {s.name!r} has {len(s.values)} values "
                                 f"for {len(self.labels)} labels")
        if self.bands and (len(self.bands) != len(self.labels) or len(self.series) != 1
                           or any(b is not None and b not in BAND_COLOURS for b in self.bands)):
            raise ValueError(f"chart {self.ident}: bands need one series and one good/average/poor (or None) "
                             "per label")

    @property
    def empty(self) -> bool:
        return all(v is None for s in self.series for v in s.values)

    @property
    def csv_filename(self) -> str:
        return f"canary-{self.ident}.csv"

    def fmt(self, value: float | None) -> str:
        return format_value(value, self.unit)

    # --- the numbers as a table and as CSV -------------------------------------------------------------
    def table(self) -> ChartTable:
        head = (self.category, *(s.name for s in self.series), *(("Band",) if self.bands else ()))
        rows = tuple((label, *("–" if s.values[i] is None else self.fmt(s.values[i]) for s in self.series),
                      *((BAND_NAMES.get(self.bands[i] or "", ""),) if self.bands else ()))
                     for i, label in enumerate(self.labels))
        return ChartTable(head, rows, (False, *(True for _ in self.series), *((False,) if self.bands else ())))

    def csv(self) -> str:
        """CSV text: a header row (a percentage column's name ends in "(%)"), one row per label, plain numbers."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        suffix = " (%)" if self.unit == "percent" else ""
        writer.writerow([_cell(self.category), *(_cell(s.name + suffix) for s in self.series),
                         *(("Band",) if self.bands else ())])
        for i, label in enumerate(self.labels):
            writer.writerow([_cell(label), *(format_value(s.values[i], self.unit, plain=True) for s in self.series),
                             *((self.bands[i] or "",) if self.bands else ())])
        return out.getvalue()

    # --- the picture -----------------------------------------------------------------------------------
    @property
    def description(self) -> str:
        if self.summary:
            return self.summary
        if self.empty:
            return f"{self.title}: {NO_DATA.lower()}."
        if self.kind == "histogram":
            counts = [v or 0 for v in self.series[0].values]
            top = counts.index(max(counts))
            return (f"{self.title}: {self.fmt(sum(counts))} in {len(counts)} ranges from {self.labels[0]} to "
                    f"{self.labels[-1]}; the most, {self.fmt(counts[top])}, in {self.labels[top]}.")
        parts = []
        for s in self.series:
            known = [(v, self.labels[i]) for i, v in enumerate(s.values) if v is not None]
            if not known:
                parts.append(f"{s.name}: no data")
            elif self.kind == "line":
                parts.append(f"{s.name} from {self.fmt(known[0][0])} in {known[0][1]} "
                             f"to {self.fmt(known[-1][0])} in {known[-1][1]}")
            else:
                high, low = max(known, key=lambda k: k[0]), min(known, key=lambda k: k[0])
                parts.append(f"{s.name} highest {self.fmt(high[0])} ({high[1]}), lowest {self.fmt(low[0])} ({low[1]})")
        if self.reference is not None:
            parts.append(f"reference line at {self.fmt(self.reference)}")
        return f"{self.title}, {self.labels[0]} to {self.labels[-1]}: {'; '.join(parts)}."

    def svg(self) -> str:
        """The SVG markup; every text from the data is escaped here (templates print it with ``|safe``)."""
        if self.empty:
            height, body = 120, [f'<text x="{WIDTH // 2}" y="66" text-anchor="middle" class="chart-empty" '
                                 f'font-size="{FONT}" fill="{MUTED}">{NO_DATA}</text>']
        elif self.kind == "hbar":
            height, body = self._horizontal()
        else:
            height, body = self._vertical()
        ident = self.ident
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
                f'aria-labelledby="{ident}-title {ident}-desc" class="chart-svg chart-{self.kind}" '
                f'data-testid="chart-svg-{ident}" font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">'
                f'<title id="{ident}-title">{escape(self.title)}</title>'
                f'<desc id="{ident}-desc">{escape(self.description)}</desc>')
        defs = "".join(_pattern(self.ident, colour, pattern) for colour, pattern in self._styles() if pattern)
        defs = f"<defs>{defs}</defs>" if defs and not self.empty else ""
        return head + defs + "".join(body) + "</svg>"

    def _style(self, index: int, band: str | None) -> tuple[str, int]:
        """(colour, pattern number) of a series or band: patterns 0 solid, 1 stripes, 2 dots, 3 cross-hatch."""
        if band is not None:
            return BAND_COLOURS[band], BAND_PATTERN[band]
        return PALETTE[index % len(PALETTE)], index % 4

    def _styles(self) -> list[tuple[str, int]]:
        """Every (colour, pattern) the bars use, in a fixed order."""
        if self.bands:
            return [self._style(0, b) for b in ("good", "average", "poor") if b in self.bands]
        return [self._style(j, s.band) for j, s in enumerate(self.series)]

    def _fill(self, colour: str, pattern: int) -> str:
        return f"url(#{self.ident}-p{pattern}-{colour[1:]})" if pattern else colour

    def _legend(self) -> tuple[float, list[str]]:
        """The legend at the top (only when there is more than one series, or bands): the marks the chart uses."""
        if self.bands:
            present = [b for b in ("good", "average", "poor") if b in self.bands]
            items = [(BAND_NAMES[b], "bar", *self._style(0, b), 0) for b in present]
        elif len(self.series) > 1:
            items = [(s.name, "line" if self.kind == "line" else "bar", *self._style(i, s.band), i)
                     for i, s in enumerate(self.series)]
        else:
            return 0.0, []
        parts, x, y = ['<g class="legend">'], 0.0, 16.0
        for name, mark, colour, pattern, i in items:
            width = 34 + min(len(name), 24) * CHAR + 16
            if x and x + width > WIDTH:
                x, y = 0.0, y + 26
            if mark == "line":
                parts.append(f'<line x1="{_n(x)}" x2="{_n(x + 28)}" y1="{_n(y - 5)}" y2="{_n(y - 5)}" '
                             f'stroke="{colour}" stroke-width="2.5"{_dash(i)}/>'
                             + _marker(i, x + 14, y - 5, colour, cls="mark"))
            else:
                parts.append(f'<rect x="{_n(x + 4)}" y="{_n(y - 14)}" width="20" height="16" '
                             f'fill="{self._fill(colour, pattern)}" stroke="{colour}"/>')
            parts.append(f'<text x="{_n(x + 34)}" y="{_n(y)}" font-size="{FONT}" fill="{INK}">'
                         f"{escape(_short(name, 24))}</text>")
            x += width
        parts.append("</g>")
        return y + 14, parts

    def _value_range(self) -> tuple[float, float]:
        if self.kind == "stacked":
            tops = [sum(v for v in col if v is not None and v > 0) for col in self._columns()]
            bottoms = [sum(v for v in col if v is not None and v < 0) for col in self._columns()]
            lo, hi = min(bottoms), max(tops)
        else:
            known = [v for s in self.series for v in s.values if v is not None]
            lo, hi = min(known), max(known)
        if self.reference is not None:
            lo, hi = min(lo, self.reference), max(hi, self.reference)
        if self.kind != "line":  # bars stand on zero
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        return lo, hi

    def _columns(self) -> list[tuple[float | None, ...]]:
        return [tuple(s.values[i] for s in self.series) for i in range(len(self.labels))]

    def _bar_title(self, i: int, s: Series, value: float) -> str:
        name = "" if len(self.series) == 1 else f" · {s.name}"
        return f"<title>{escape(f'{self.labels[i]}{name}: {self.fmt(value)}')}</title>"

    def _vertical(self) -> tuple[int, list[str]]:
        legend_h, parts = self._legend()
        lo, hi = self._value_range()
        ticks = nice_ticks(lo, hi, integer=self.unit in ("count", "money"))
        left = max(len(_tick_text(t, self.unit)) for t in ticks) * CHAR + 14
        right, top = 10.0, legend_h + 12
        n = len(self.labels)
        slot = (WIDTH - left - right) / n
        every = math.ceil(n / 12)
        shown = [_short(label, MAX_LABEL) for label in self.labels]
        longest = max(len(label) for label in shown[::every])
        rotate = longest * CHAR > slot * every - 6
        if rotate:  # the first turned label reaches left of its slot: keep it inside the picture
            left = max(left, len(shown[0]) * CHAR * 0.72 - slot / 2 + 4)
            slot = (WIDTH - left - right) / n
        bottom = longest * CHAR * 0.72 + 26 if rotate else 30.0
        height = math.ceil(top + PLOT_HEIGHT + bottom)

        def y(v: float) -> float:
            return top + PLOT_HEIGHT * (ticks[-1] - v) / (ticks[-1] - ticks[0])

        parts.extend(_y_grid(ticks, y, left, WIDTH - right, self.unit))
        for i in range(0, n, every):
            cx, ly = left + slot * (i + 0.5), top + PLOT_HEIGHT + 20
            turn = (f' transform="rotate(-45 {_n(cx)} {_n(ly)})" text-anchor="end"' if rotate
                    else ' text-anchor="middle"')
            parts.append(f'<text x="{_n(cx)}" y="{_n(ly)}"{turn} font-size="{FONT}" fill="{MUTED}" class="x-label">'
                         f"{escape(shown[i])}</text>")
        if self.kind == "line":
            parts.extend(self._lines(left, slot, y))
        else:
            parts.extend(self._bars(left, slot, y))
        if ticks[0] < 0 < ticks[-1] or self.kind != "line":
            parts.append(f'<line x1="{_n(left)}" x2="{_n(WIDTH - right)}" y1="{_n(y(0))}" y2="{_n(y(0))}" '
                         f'stroke="{INK}" class="baseline"/>')
        if self.reference is not None:
            ry = y(self.reference)
            label = self.reference_label or self.fmt(self.reference)
            parts.append(f'<line x1="{_n(left)}" x2="{_n(WIDTH - right)}" y1="{_n(ry)}" y2="{_n(ry)}" stroke="{INK}" '
                         f'stroke-width="1.5" stroke-dasharray="6 4" class="reference"/>'
                         f'<text x="{_n(WIDTH - right)}" y="{_n(ry - 5)}" text-anchor="end" font-size="{FONT}" '
                         f'fill="{INK}" paint-order="stroke" stroke="#fff" stroke-width="4">{escape(label)}</text>')
        return height, parts

    def _lines(self, left: float, slot: float, y: Callable[[float], float]) -> list[str]:
        parts: list[str] = []
        for j, s in enumerate(self.series):
            colour, _ = self._style(j, s.band)
            segments: list[list[str]] = [[]]
            marks = []
            for i, v in enumerate(s.values):
                if v is None:
                    if segments[-1]:
                        segments.append([])
                    continue
                cx, cy = left + slot * (i + 0.5), y(v)
                segments[-1].append(f"{_n(cx)},{_n(cy)}")
                marks.append(_marker(j, cx, cy, colour, self._bar_title(i, s, v)))
            for seg in segments:
                if len(seg) > 1:
                    parts.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="{colour}" stroke-width="2.5" '
                                 f'stroke-linejoin="round"{_dash(j)} class="line series-{j}"/>')
            parts.extend(marks)
        return parts

    def _bars(self, left: float, slot: float, y: Callable[[float], float]) -> list[str]:
        parts: list[str] = []
        grouped = self.kind == "bar" and len(self.series) > 1
        group = slot - 1 if self.kind == "histogram" else slot * 0.72
        width = group / len(self.series) if grouped else group
        for i, column in enumerate(self._columns()):
            up = down = 0.0
            for j, v in enumerate(column):
                if v is None:
                    continue
                s = self.series[j]
                if self.kind == "stacked":
                    start = up if v >= 0 else down
                    if v >= 0:
                        up += v
                    else:
                        down += v
                else:
                    start = 0.0
                y0, y1 = y(start), y(start + v)
                x = left + slot * i + (slot - group) / 2 + (j * width if grouped else 0)
                colour, pattern = self._style(j, self.bands[i] if self.bands else s.band)
                parts.append(f'<rect x="{_n(x)}" y="{_n(min(y0, y1))}" width="{_n(width)}" height="{_n(abs(y1 - y0))}" '
                             f'fill="{self._fill(colour, pattern)}" stroke="{colour}" stroke-width="1" '
                             f'class="bar series-{j}">{self._bar_title(i, s, v)}</rect>')
        return parts

    def _horizontal(self) -> tuple[int, list[str]]:
        legend_h, parts = self._legend()
        lo, hi = self._value_range()
        ticks = nice_ticks(lo, hi, count=4, integer=self.unit in ("count", "money"))
        shown = [_short(label, MAX_LABEL) for label in self.labels]
        values = [self.fmt(v) for s in self.series for v in s.values]
        left = max(len(label) for label in shown) * CHAR * 1.1 + 12  # labels start at 0: too long runs right
        right = max(len(v) for v in values) * CHAR + 12
        k = len(self.series)
        row = 34.0 if k == 1 else 16.0 * k + 12
        thick = (row - 10) / k
        top = legend_h + 8
        plot_w = WIDTH - left - right
        height = math.ceil(top + row * len(self.labels) + 30)

        def x(v: float) -> float:
            return left + plot_w * (v - ticks[0]) / (ticks[-1] - ticks[0])

        bottom = top + row * len(self.labels)
        for t in ticks:
            parts.append(f'<line x1="{_n(x(t))}" x2="{_n(x(t))}" y1="{_n(top)}" y2="{_n(bottom)}" stroke="{GRID}"/>'
                         f'<text x="{_n(x(t))}" y="{_n(bottom + 20)}" text-anchor="middle" font-size="{FONT}" '
                         f'fill="{MUTED}" class="tick">{_tick_text(t, self.unit)}</text>')
        for i, label in enumerate(self.labels):
            ry = top + row * i
            parts.append(f'<text x="0" y="{_n(ry + row / 2 + 5)}" font-size="{FONT}" '
                         f'fill="{INK}" class="y-label">{escape(shown[i])}<title>{escape(label)}</title></text>')
            for j, s in enumerate(self.series):
                v = s.values[i]
                if v is None:
                    continue
                by = ry + 5 + thick * j
                colour, pattern = self._style(j, self.bands[i] if self.bands else s.band)
                parts.append(f'<rect x="{_n(min(x(0), x(v)))}" y="{_n(by)}" width="{_n(abs(x(v) - x(0)))}" '
                             f'height="{_n(thick - 2)}" fill="{self._fill(colour, pattern)}" stroke="{colour}" '
                             f'stroke-width="1" class="bar series-{j}">{self._bar_title(i, s, v)}</rect>'
                             f'<text x="{WIDTH}" y="{_n(by + thick / 2 + 4)}" text-anchor="end" font-size="{FONT}" '
                             f'fill="{INK}" class="value">{escape(self.fmt(v))}</text>')
        parts.append(f'<line x1="{_n(x(0))}" x2="{_n(x(0))}" y1="{_n(top)}" y2="{_n(bottom)}" stroke="{INK}" '
                     'class="baseline"/>')
        return height, parts


def histogram(ident: str, title: str, values: Sequence[float], *, start: float, stop: float, step: float,
              name: str = "Accounts", category: str = "Range", poor_below: float | None = None,
              good_from: float | None = None) -> Chart:
    """Counts of ``values`` in [start, start + step), …; the last range includes ``stop``. With ``poor_below``
    and ``good_from`` each range takes the band of its lower bound (the console's colours and patterns)."""
    if step <= 0 or stop <= start:
        raise ValueError(f"histogram {ident}: need start < stop and step > 0")
    if not values:
        return Chart(ident, "histogram", title, [], [Series(name, [])], category=category)
    bins = math.ceil((stop - start) / step - 1e-9)
    low, high = min(values), max(values)
    if low < start or high > stop:
        raise ValueError(f"histogram {ident}: {low if low < start else high!r} is outside [{start}, {stop}]")
    found = Counter((v - start) // step for v in values)  # floor division: one float key per range
    counts = [found.get(float(i), 0) for i in range(bins)]
    counts[-1] += sum(n for key, n in found.items() if key >= bins)  # ``stop`` itself falls in the last range
    edges = [start + step * i for i in range(bins + 1)]
    labels = [f"{_plain(edges[i])}–{_plain(min(edges[i + 1], stop))}" for i in range(bins)]
    bands: list[str | None] = []
    if poor_below is not None and good_from is not None:
        bands = ["poor" if e < poor_below else "good" if e >= good_from else "average" for e in edges[:-1]]
    return Chart(ident, "histogram", title, labels, [Series(name, [float(c) for c in counts])], unit="count",
                 category=category, bands=bands)


def _pattern(ident: str, colour: str, pattern: int) -> str:
    """Fill patterns 1 stripes, 2 dots, 3 cross-hatch: white marks over the colour, turned 45°."""
    marks = {1: '<rect width="3" height="8" fill="#fff" fill-opacity="0.65"/>',
             2: '<circle cx="4" cy="4" r="1.8" fill="#fff" fill-opacity="0.8"/>',
             3: '<path d="M0 4H8M4 0V8" stroke="#fff" stroke-opacity="0.7" stroke-width="1.6"/>'}[pattern]
    return (f'<pattern id="{ident}-p{pattern}-{colour[1:]}" width="8" height="8" patternUnits="userSpaceOnUse" '
            f'patternTransform="rotate(45)"><rect width="8" height="8" fill="{colour}"/>{marks}</pattern>')


def _y_grid(ticks: list[float], y: Callable[[float], float], x0: float, x1: float, unit: Unit) -> list[str]:
    return [f'<line x1="{_n(x0)}" x2="{_n(x1)}" y1="{_n(y(t))}" y2="{_n(y(t))}" stroke="{GRID}"/>'
            f'<text x="{_n(x0 - 6)}" y="{_n(y(t) + 5)}" text-anchor="end" font-size="{FONT}" fill="{MUTED}" '
            f'class="tick">{_tick_text(t, unit)}</text>' for t in ticks]


def _tick_text(t: float, unit: Unit) -> str:
    """Axis labels, compact: 1.5M, 250k, 2,000, 92.5 %."""
    a = abs(t)
    text = f"{t / 1e6:g}M" if a >= 1e6 else f"{t / 1e3:g}k" if a >= 1e4 else f"{t:,g}"
    return f"{text} %" if unit == "percent" else text


def _marker(i: int, x: float, y: float, colour: str, title: str = "", cls: str = "point") -> str:
    shape, attrs = MARKERS[i % len(MARKERS)], f'fill="{colour}" stroke="#fff" stroke-width="1" class="{cls}"'
    if shape == "circle":
        return f'<circle cx="{_n(x)}" cy="{_n(y)}" r="4.5" {attrs}>{title}</circle>'
    if shape == "square":
        return f'<rect x="{_n(x - 4)}" y="{_n(y - 4)}" width="8" height="8" {attrs}>{title}</rect>'
    if shape == "triangle":
        d = f"M{_n(x)} {_n(y - 5.5)}L{_n(x + 5)} {_n(y + 4)}L{_n(x - 5)} {_n(y + 4)}Z"
    else:
        d = f"M{_n(x)} {_n(y - 5.5)}L{_n(x + 5.5)} {_n(y)}L{_n(x)} {_n(y + 5.5)}L{_n(x - 5.5)} {_n(y)}Z"
    return f'<path d="{d}" {attrs}>{title}</path>'


def _dash(i: int) -> str:
    dash = DASHES[i % len(DASHES)]
    return f' stroke-dasharray="{dash}"' if dash else ""


def _n(v: float) -> str:
    """A coordinate with at most two decimals, no trailing zeros: the SVG is byte-equal for equal data."""
    text = f"{round(v, 2) + 0.0:.2f}".rstrip("0").rstrip(".")
    return text


def _plain(v: float) -> str:
    return f"{v:g}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _cell(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text  # no spreadsheet formulas
