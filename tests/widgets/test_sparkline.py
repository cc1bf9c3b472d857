"""The sparkline's SVG structure, parsed with ElementTree: line runs, gaps, dots, zones and the spoken label."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest

from scoring.model import Bands
from widgets.sparkline import sparkline_svg

NS = "{http://www.w3.org/2000/svg}"
D0 = dt.date(2026, 1, 1)


def days(scores: list[float | None], start: dt.date = D0) -> list[tuple[dt.date, float | None]]:
    return [(start + dt.timedelta(days=i), s) for i, s in enumerate(scores)]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def path_points(path: ET.Element) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", path.attrib["d"])]


def test_falling_line_with_last_dot_in_band_colour() -> None:
    root = parse(sparkline_svg(days([80, 70, 60, 50]), width=100, height=40))
    lines = root.findall(f"{NS}path[@class='line']")
    assert len(lines) == 1
    pts = path_points(lines[0])
    assert len(pts) == 4
    assert pts[0] == (4.0, 10.4)  # 80 on a 0-100 scale inside 4 px padding: 4 + 0.2 * 32
    assert pts[-1] == (96.0, 20.0)
    assert [y for _, y in pts] == sorted(y for _, y in pts)  # falling score: y grows downwards
    last = root.find(f"{NS}circle[@class='last band-average']")
    assert last is not None
    assert last.attrib["fill"] == "#8a5a00"
    assert last.attrib["data-score"] == "50"


@pytest.mark.parametrize(
    ("scores", "label"),
    [
        ([70, 66, 62], "Health 62 (average), down 8 points over 3 days"),
        ([40, None, 75], "Health 75 (good), up 35 points over 3 days"),
        ([30.2, 30.4], "Health 30 (poor), steady over 2 days"),
        ([None, 55, None], "Health 55 (average), steady over 3 days"),
        ([50, 51], "Health 51 (average), up 1 point over 2 days"),
        ([None] * 90, "No health history in the last 90 days"),
        ([], "No health history yet"),
    ],
)
def test_accessible_label_and_title(scores: list[float | None], label: str) -> None:
    root = parse(sparkline_svg(days(scores)))
    assert root.attrib["role"] == "img"
    assert root.attrib["aria-label"] == label
    title = root.find(f"{NS}title")
    assert title is not None and title.text == label


def test_ninety_day_window_label() -> None:
    scores: list[float | None] = [70.0] + [None] * 88 + [62.0]
    assert parse(sparkline_svg(days(scores))).attrib["aria-label"] == "Health 62 (average), down 8 points over 90 days"


@pytest.mark.parametrize(
    ("scores", "runs", "isolated"),
    [
        ([50, 52, None, None, 60, 61, 62], [2, 3], 0),
        ([50, None, 60, None, 70, 71], [2], 2),
        ([None, 40, 41, 42, None], [3], 0),
        ([10, 20, 30], [3], 0),
    ],
)
def test_missing_days_break_the_line(scores: list[float | None], runs: list[int], isolated: int) -> None:
    root = parse(sparkline_svg(days(scores)))
    assert [len(path_points(p)) for p in root.findall(f"{NS}path[@class='line']")] == runs
    assert len(root.findall(f"{NS}circle[@class='isolated']")) == isolated


def test_a_skipped_date_is_a_gap_and_keeps_calendar_spacing() -> None:
    points = [(D0, 50.0), (D0 + dt.timedelta(days=1), 55.0), (D0 + dt.timedelta(days=9), 60.0),
              (D0 + dt.timedelta(days=10), 65.0)]
    root = parse(sparkline_svg(points, width=108, height=40))
    lines = root.findall(f"{NS}path[@class='line']")
    assert [[x for x, _ in path_points(p)] for p in lines] == [[4.0, 14.0], [94.0, 104.0]]
    assert root.attrib["aria-label"].endswith("over 11 days")


def test_min_and_max_dots() -> None:
    root = parse(sparkline_svg(days([55, 90, 20, 60])))
    low = root.find(f"{NS}circle[@class='min']")
    high = root.find(f"{NS}circle[@class='max']")
    assert low is not None and low.attrib["data-score"] == "20"
    assert high is not None and high.attrib["data-score"] == "90"
    assert float(low.attrib["cy"]) > float(high.attrib["cy"])


def test_band_zones_follow_the_model_thresholds() -> None:
    root = parse(sparkline_svg(days([50]), width=100, height=108, bands=Bands(good=80, average=50)))
    zones = {z.attrib["class"]: (float(z.attrib["y"]), float(z.attrib["height"])) for z in root.findall(f"{NS}rect")}
    assert zones == {"zone zone-good": (4.0, 20.0), "zone zone-average": (24.0, 30.0),
                     "zone zone-poor": (54.0, 50.0)}
    last = root.find(f"{NS}circle[@class='last band-average']")
    assert last is not None


def test_zones_can_be_switched_off_and_colours_overridden() -> None:
    root = parse(sparkline_svg(days([90, 95]), show_band_zones=False, band_colours={"good": "#00ff00"}))
    assert root.findall(f"{NS}rect") == []
    last = root.find(f"{NS}circle[@class='last band-good']")
    assert last is not None and last.attrib["fill"] == "#00ff00"


@pytest.mark.parametrize("colour", ['red" onload="alert(1)', "url(http://x)", "#12"])
def test_unsafe_colours_are_refused(colour: str) -> None:
    with pytest.raises(ValueError, match="band colour"):
        sparkline_svg(days([50]), band_colours={"poor": colour})


def test_scores_are_clamped_to_the_box_and_unsorted_input_is_ordered() -> None:
    points = list(reversed(days([-20, 0, 100, 140])))
    root = parse(sparkline_svg(points, width=50, height=20))
    pts = path_points(root.findall(f"{NS}path[@class='line']")[0])
    assert [y for _, y in pts] == [16.0, 16.0, 4.0, 4.0]
    assert [x for x, _ in pts] == sorted(x for x, _ in pts)


def test_self_contained_svg() -> None:
    svg = sparkline_svg(days([10, 90, None, 40]))
    assert "href" not in svg
    assert "<script" not in svg
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")
    assert parse(svg).attrib["viewBox"] == "0 0 292 48"


def test_too_small_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="too small"):
        sparkline_svg(days([50]), width=5, height=5)
