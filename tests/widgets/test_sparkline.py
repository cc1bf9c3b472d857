from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from widgets.sparkline import sparkline_svg

NS = "{http://www.w3.org/2000/svg}"
D0 = dt.date(2026, 1, 1)


def _days(scores: list[float | None]) -> list[tuple[dt.date, float | None]]:
    return [(D0 + dt.timedelta(days=i), s) for i, s in enumerate(scores)]


def test_line_points_and_last_dot() -> None:
    root = ET.fromstring(sparkline_svg(_days([80, 70, 60, 50]), width=100, height=40))
    line = root.find(f"{NS}polyline")
    assert line is not None
    pts = [tuple(map(float, p.split(","))) for p in line.attrib["points"].split()]
    assert len(pts) == 4
    assert pts[0][0] < pts[-1][0] and pts[0][1] < pts[-1][1]  # falling score: y grows downwards
    last = root.find(f"{NS}circle[@class='last']")
    assert last is not None and last.attrib["fill"] == "#8a5a00"  # 50 is average
    assert root.attrib["aria-label"] == "Health 50 (average), down 30 points over 4 days"


def test_gaps_split_the_line() -> None:
    root = ET.fromstring(sparkline_svg(_days([50, 52, None, None, 60, 61, 62])))
    assert len(root.findall(f"{NS}polyline")) == 2


def test_no_history_says_so() -> None:
    svg = sparkline_svg(_days([None] * 90))
    root = ET.fromstring(svg)
    assert root.findall(f"{NS}polyline") == []
    assert "No health history in the last 90 days" in root.attrib["aria-label"]


def test_scores_are_clamped_to_the_box() -> None:
    root = ET.fromstring(sparkline_svg(_days([0, 100]), width=50, height=20))
    line = root.find(f"{NS}polyline")
    assert line is not None
    ys = [float(p.split(",")[1]) for p in line.attrib["points"].split()]
    assert all(4 <= yv <= 16 for yv in ys)


def test_no_external_references() -> None:
    svg = sparkline_svg(_days([10, 90]))
    assert "href" not in svg and "http://" not in svg.replace("http://www.w3.org/2000/svg", "")
