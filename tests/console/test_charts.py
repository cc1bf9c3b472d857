"""console/charts.py: the report charts' SVG (parsed with xml.etree and measured), table, CSV and the chart() macro.

Months are labelled back from `tests.shared.WORLD_AS_OF`; the clock is pinned (the module reads none); the one
randomised test draws from a seeded generator.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import random
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from jinja2 import Environment, FileSystemLoader

from console.charts import NO_DATA, Chart, Series, format_value, histogram, nice_ticks
from tests.shared import REPOSITORY, WORLD_AS_OF, pinned_clock

SVG = "{http://www.w3.org/2000/svg}"
NASTY = 'Zoë <admin> & "ops"'


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    with pinned_clock():
        yield


def months(n: int) -> list[str]:
    """The last ``n`` month labels up to WORLD_AS_OF's month, oldest first ("Dec 25" … "Nov 26")."""
    out, y, m = [], WORLD_AS_OF.year, WORLD_AS_OF.month
    for _ in range(n):
        out.append(dt.date(y, m, 1).strftime("%b %y"))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def parse(chart: Chart) -> ET.Element:
    return ET.fromstring(chart.svg())


def with_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def tooltip(e: ET.Element) -> str:
    title = e.find(f"{SVG}title")
    assert title is not None and title.text is not None
    return title.text


def height(e: ET.Element) -> float:
    return float(e.get("height") or "nan")


def retention() -> Chart:
    grr = [91.2, 92.0, None, 93.1, 92.4, 91.8, 92.9, 93.5, 92.2, 91.7, 92.8, 93.04]
    nrr = [103.5, 104.1, 105.0, 104.6, 106.2, 105.8, 104.9, 106.7, 107.1, 105.5, 106.0, 107.4]
    return Chart("retention", "line", "GRR and NRR", months(12), [Series("GRR", grr), Series("NRR", nrr)],
                 unit="percent", category="Month", reference=100, reference_label="100 %")


def test_months_helper_is_pinned_to_the_world() -> None:
    assert months(12)[0] == "Dec 25" and months(12)[-1] == "Nov 26"


@pytest.mark.parametrize(("lo", "hi", "integer", "expected"), [
    (0, 100, False, [0, 20, 40, 60, 80, 100]),
    (0, 95, False, [0, 20, 40, 60, 80, 100]),
    (88, 104, False, [85, 90, 95, 100, 105]),
    (-3.2, 12.5, False, [-5, 0, 5, 10, 15]),
    (0, 1_234_567, True, [0, 500_000, 1_000_000, 1_500_000]),
    (-1000, 0, True, [-1000, -800, -600, -400, -200, 0]),
    (0.01, 0.07, False, [0, 0.02, 0.04, 0.06, 0.08]),
    (0, 0, False, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0, 0, True, [0, 1]),
    (0, 7, True, [0, 2, 4, 6, 8]),
])
def test_nice_ticks(lo: float, hi: float, integer: bool, expected: list[float]) -> None:
    assert nice_ticks(lo, hi, integer=integer) == expected


def test_nice_ticks_cover_the_range_in_1_2_5_steps() -> None:
    rng = random.Random(16)
    for _ in range(300):
        lo = rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-4, 0)
        hi = lo + rng.uniform(1e-3, 1e6)
        ticks = nice_ticks(lo, hi)
        step = ticks[1] - ticks[0]
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-6, (lo, hi, ticks)
        assert ticks[0] <= lo and ticks[-1] >= hi and 3 <= len(ticks) <= 12, (lo, hi, ticks)


@pytest.mark.parametrize(("value", "unit", "shown", "plain"), [
    (92.46, "percent", "92.5 %", "92.5"),
    (-0.04, "percent", "0.0 %", "0.0"),
    (1_234_567.4, "money", "1,234,567", "1234567"),
    (-2500, "money", "-2,500", "-2500"),
    (12, "count", "12", "12"),
    (1234.56, "number", "1,234.6", "1234.6"),
    (None, "money", "", ""),
])
def test_one_number_format(value: float | None, unit: str, shown: str, plain: str) -> None:
    assert format_value(value, unit, plain=False) == shown  # type: ignore[arg-type]
    assert format_value(value, unit, plain=True) == plain  # type: ignore[arg-type]


def test_line_chart_points_gap_and_tooltips() -> None:
    root = parse(retention())
    points = with_class(root, "point")
    assert len(points) == 11 + 12  # one None in GRR: no point for it
    grr_lines = with_class(root, "series-0")
    assert [e.tag for e in grr_lines] == [f"{SVG}polyline"] * 2  # the gap splits GRR in two segments
    assert [len((e.get("points") or "").split()) for e in grr_lines] == [2, 9]
    assert len(with_class(root, "series-1")) == 1
    tips = [tooltip(p) for p in points]
    assert "Nov 26 · GRR: 93.0 %" in tips and "Dec 25 · NRR: 103.5 %" in tips
    assert not any("Feb 26 · GRR" in t for t in tips)
    # told apart without colour: dash patterns differ, and marker shapes (circle vs square) differ
    assert grr_lines[0].get("stroke-dasharray") is None
    assert with_class(root, "series-1")[0].get("stroke-dasharray") == "9 5"
    assert {p.tag for p in points} == {f"{SVG}circle", f"{SVG}rect"}
    legend = with_class(root, "legend")[0]
    assert [e.tag for e in with_class(legend, "mark")] == [f"{SVG}circle", f"{SVG}rect"]  # the same marks


def test_reference_line_sits_at_its_value() -> None:
    root = parse(retention())
    (ref,) = with_class(root, "reference")
    ticks = {e.text: float(e.get("y") or 0) - 5 for e in with_class(root, "tick")}
    assert list(ticks) == ["90 %", "95 %", "100 %", "105 %", "110 %"]
    assert float(ref.get("y1") or 0) == pytest.approx(ticks["100 %"], abs=0.01)


def test_bar_heights_are_proportional_from_a_zero_baseline() -> None:
    chart = Chart("arr", "bar", "ARR", ["a", "b", "c", "d"], [Series("ARR", [100, 50, 0, -25])], unit="money")
    root = parse(chart)
    bars = with_class(root, "bar")
    assert len(bars) == 4
    assert abs(height(bars[1]) - height(bars[0]) / 2) <= 0.5
    assert abs(height(bars[3]) - height(bars[0]) / 4) <= 0.5 and height(bars[2]) == 0
    (base,) = with_class(root, "baseline")
    zero = float(base.get("y1") or 0)
    assert float(bars[0].get("y") or 0) + height(bars[0]) == pytest.approx(zero, abs=0.01)  # up from zero
    assert float(bars[3].get("y") or 0) == pytest.approx(zero, abs=0.01)  # the negative bar hangs below
    assert [tooltip(b) for b in bars] == ["a: 100", "b: 50", "c: 0", "d: -25"]


def test_grouped_bars_use_distinct_fill_patterns_shown_in_the_legend() -> None:
    chart = Chart("forecast", "bar", "Renewals", months(3),
                  [Series("Expected renewal ARR", [1_250_000, 300_000, None]),
                   Series("Revenue at risk", [250_000, 0, 0])],
                  unit="money", category="Month")
    root = parse(chart)
    bars = with_class(root, "bar")
    assert len(bars) == 5  # the None makes no bar
    assert {b.get("fill") for b in with_class(root, "series-0")} == {"#1d4ed8"}
    patterned = {b.get("fill") for b in with_class(root, "series-1")}
    assert patterned == {"url(#forecast-p1-8a5a00)"}
    assert [p.get("id") for p in root.iter(f"{SVG}pattern")] == ["forecast-p1-8a5a00"]
    legend = with_class(root, "legend")[0]
    assert [r.get("fill") for r in legend.iter(f"{SVG}rect")] == ["#1d4ed8", "url(#forecast-p1-8a5a00)"]
    assert "Sep 26 · Expected renewal ARR: 1,250,000" in [tooltip(b) for b in bars]


def test_stacked_bars_stack_and_negative_values_go_down() -> None:
    chart = Chart("bands", "stacked", "Health bands per CSM", ["Ana", "Bo"],
                  [Series("Good", [10, 4], band="good"), Series("Average", [5, 0], band="average"),
                   Series("Poor", [-2, 2], band="poor")], category="CSM")
    root = parse(chart)
    good, average, poor = (with_class(root, f"series-{j}") for j in range(3))
    assert abs(height(average[0]) - height(good[0]) / 2) <= 0.5
    assert float(average[0].get("y") or 0) + height(average[0]) == pytest.approx(float(good[0].get("y") or 0), abs=0.01)
    (base,) = with_class(root, "baseline")
    assert float(poor[0].get("y") or 0) == pytest.approx(float(base.get("y1") or 0), abs=0.01)  # Ana's -2 below zero
    assert float(poor[1].get("y") or 0) + height(poor[1]) == pytest.approx(float(good[1].get("y") or 0), abs=0.01)
    # the console's band colours, and a pattern for each band that is not "good"
    assert good[0].get("fill") == "#1f7a3d" and average[0].get("fill") == "url(#bands-p1-8a5a00)"
    assert poor[0].get("fill") == "url(#bands-p3-b3261e)"


def test_horizontal_bars_labels_values_and_shortening() -> None:
    chart = Chart("leaders", "hbar", "Most engaged users", [NASTY, "A very long account name indeed", "Bob"],
                  [Series("Active days", [28, 14, 7])], category="User")
    root = parse(chart)
    bars = with_class(root, "bar")
    assert abs(float(bars[1].get("width") or 0) - float(bars[0].get("width") or 0) / 2) <= 0.5
    assert [e.text for e in with_class(root, "value")] == ["28", "14", "7"]
    labels = with_class(root, "y-label")
    assert {e.get("x") for e in labels} == {"0"}  # start at the picture's edge: a long one runs right, not out
    assert labels[1].text == "A very long a…" and tooltip(labels[1]) == "A very long account name indeed"
    assert tooltip(bars[0]) == f"{NASTY}: 28"


def test_histogram_counts_bins_and_bands() -> None:
    scores = [0, 5, 39.9, 40, 55, 69.99, 70, 85, 99, 100, 100]
    chart = histogram("scores", "Health score distribution", scores, start=0, stop=100, step=10,
                      poor_below=40, good_from=70, category="Score")
    assert chart.labels[0] == "0–10" and chart.labels[-1] == "90–100"
    assert chart.series[0].values == (2, 0, 0, 1, 1, 1, 1, 1, 1, 3)
    root = parse(chart)
    bars = with_class(root, "bar")
    assert len(bars) == 10 and tooltip(bars[-1]) == "90–100: 3"
    assert bars[0].get("fill") == "url(#scores-p3-b3261e)" and bars[-1].get("fill") == "#1f7a3d"
    assert chart.table().rows[3] == ("30–40", "1", "Poor")
    assert list(csv.reader(io.StringIO(chart.csv())))[:2] == [["Score", "Accounts", "Band"], ["0–10", "2", "poor"]]
    with pytest.raises(ValueError, match="outside"):
        histogram("scores", "x", [101], start=0, stop=100, step=10)


def test_histogram_agrees_with_counting_by_hand() -> None:
    rng = random.Random(7)
    scores = [round(rng.uniform(0, 100), rng.choice([0, 1, 2])) for _ in range(2000)] + [0, 100, 100]
    chart = histogram("s", "Scores", scores, start=0, stop=100, step=12.5)
    by_hand = [sum(1 for v in scores if 12.5 * i <= v < 12.5 * (i + 1) or (i == 7 and v == 100)) for i in range(8)]
    assert chart.series[0].values == tuple(by_hand) and sum(by_hand) == 2003
    assert chart.labels[1] == "12.5–25"


def test_escaping_of_names_everywhere() -> None:
    chart = Chart("esc", "bar", f"ARR of {NASTY}", [NASTY, "ok"], [Series(NASTY, [1, 2]), Series("b", [3, 4])])
    svg = chart.svg()
    assert "<admin>" not in svg and "&lt;admin&gt; &amp;" in svg
    root = ET.fromstring(svg)
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == f"ARR of {NASTY}"
    assert tooltip(with_class(root, "bar")[0]) == f"{NASTY} · {NASTY}: 1"
    html = render_macro(chart, '/reports/x.csv?a=1&b="2"')
    assert "<admin>" not in html.replace(svg, "") and 'href="/reports/x.csv?a=1&amp;b=&#34;2&#34;"' in html


def test_csv_round_trips_with_a_header_and_no_formulas() -> None:
    chart = Chart("ret", "line", "GRR", ["Dec, 25", "=HYPERLINK()", NASTY],
                  [Series("GRR", [91.25, None, -1.0]), Series("Net, churn", [1234.5, 2.0, 3.0])],
                  unit="percent", category="Month")
    rows = list(csv.reader(io.StringIO(chart.csv())))
    assert rows == [["Month", "GRR (%)", "Net, churn (%)"],
                    ["Dec, 25", "91.2", "1234.5"],
                    ["'=HYPERLINK()", "", "2.0"],
                    [NASTY, "-1.0", "3.0"]]
    assert chart.table().rows[0] == ("Dec, 25", "91.2 %", "1,234.5 %")
    assert chart.table().rows[1][1] == "–"
    assert chart.csv_filename == "canary-ret.csv"


def test_empty_state() -> None:
    for chart in (Chart("none", "line", "Logo churn", [], [Series("Logo churn", [])], unit="percent"),
                  Chart("gaps", "bar", "ARR", ["a", "b"], [Series("ARR", [None, None])]),
                  histogram("h", "Scores", [], start=0, stop=100, step=10)):
        root = parse(chart)
        texts = [e.text for e in with_class(root, "chart-empty")]
        assert texts == [NO_DATA]
        assert with_class(root, "bar") == [] and with_class(root, "point") == []
        assert chart.empty and "no data for this period" in chart.description
        html = render_macro(chart, "/x.csv")
        assert NO_DATA in html and "<table" not in html and "/x.csv" not in html


def test_accessible_svg() -> None:
    chart = retention()
    root = parse(chart)
    assert root.get("role") == "img" and root.get("width") == "100%"
    ids = (root.get("aria-labelledby") or "").split()
    assert ids == ["retention-title", "retention-desc"]
    by_id = {e.get("id"): e for e in root.iter() if e.get("id")}
    assert by_id["retention-title"].tag == f"{SVG}title" and by_id["retention-desc"].tag == f"{SVG}desc"
    assert by_id["retention-desc"].text == ("GRR and NRR, Dec 25 to Nov 26: GRR from 91.2 % in Dec 25 to 93.0 % in "
                                            "Nov 26; NRR from 103.5 % in Dec 25 to 107.4 % in Nov 26; reference line "
                                            "at 100.0 %.")
    # text stays >= 11 px when the chart is 330 px wide (a 390 px screen less the page's and card's padding)
    view_width = float((root.get("viewBox") or "").split()[2])
    sizes = {float(e.get("font-size") or 0) for e in root.iter(f"{SVG}text")}
    assert sizes and min(sizes) * 330 / view_width >= 11
    # crowded month labels are turned, not overlapped
    assert all("rotate(-45" in (e.get("transform") or "") for e in with_class(root, "x-label"))
    assert len(with_class(root, "x-label")) == 12
    # a long first label, turned, still starts inside the picture (~0.72 of its length reaches left)
    wide = parse(Chart("w", "bar", "t", ["Dora Müller-Lüdenscheidt", "b", "c", "d", "e", "f", "g", "h"],
                       [Series("s", [1, 2, 3, 4, 5, 6, 7, 8])]))
    first = with_class(wide, "x-label")[0]
    assert first.text == "Dora Müller-L…"
    assert float(first.get("x") or 0) - len(first.text) * 9.0 * 0.72 >= 0


def test_deterministic_output() -> None:
    assert retention().svg() == retention().svg()
    chart = histogram("s", "Scores", [1, 50, 99], start=0, stop=100, step=10, poor_below=40, good_from=70)
    assert chart.svg() == chart.svg() and chart.csv() == chart.csv()


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Chart("x", "bar", "t", ["a", "b"], [Series("s", [1])]), "has 1 values for 2 labels"),
    (lambda: Series("s", [float("nan")]), "finite numbers"),
    (lambda: Series("s", [1], band="great"), "band must be one of"),
    (lambda: Chart("Bad id", "bar", "t", [], [Series("s", [])]), "ident"),
    (lambda: Chart("x", "pie", "t", [], [Series("s", [])]), "kind must be"),  # type: ignore[arg-type]
    (lambda: Chart("x", "bar", "t", ["a"], []), "at least one series"),
    (lambda: Chart("x", "bar", "t", ["a"], [Series("s", [1])], bands=["good", "poor"]), "bands need"),
])
def test_bad_input_is_refused_clearly(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def render_macro(chart: Chart, csv_url: str) -> str:
    env = Environment(loader=FileSystemLoader(REPOSITORY / "console" / "templates"), autoescape=True)
    template = env.from_string('{% from "console/_chart.html" import chart %}{{ chart(figure, url) }}')
    return template.render(figure=chart, url=csv_url)


def test_macro_renders_figure_table_and_csv_link() -> None:
    chart = retention()
    html = render_macro(chart, "/reports/retention.csv")
    assert chart.svg() in html
    assert '<details class="chart-table">' in html
    assert '<figcaption class="chart-title">GRR and NRR</figcaption>' in html
    assert html.count("<tr>") == 13  # header + 12 months
    assert '<th scope="row">Feb 26</th><td class="num">–</td><td class="num">105.0 %</td>' in html
    assert 'href="/reports/retention.csv" download="canary-retention.csv"' in html
