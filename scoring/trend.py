"""Trend of the health score: least-squares slope over the last 30 days, in points per day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

Direction = Literal["rising", "steady", "falling"]


class DayScore(Protocol):
    """Anything with a day, a score and a band: a `HealthScore` or a stored HealthSnapshot row."""

    @property
    def day(self) -> dt.date: ...

    @property
    def score(self) -> float | None: ...

    @property
    def band(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Trend:
    slope: float | None
    """Points per day; None with fewer than two scored days in the window."""
    direction: Direction | None
    days_counted: int


def slope(points: Iterable[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x; None with fewer than two distinct x."""
    xs: list[float] = []
    ys: list[float] = []
    for x, y in points:
        xs.append(x)
        ys.append(y)
    n = len(xs)
    if n < 2:
        return None
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def score_trend(history: Iterable[DayScore], as_of: dt.date, days: int = 30, steady_within: float = 0.2) -> Trend:
    """Slope of the scores dated in the `days` days ending on `as_of` (missing scores skipped).

    `steady_within` points per day either way counts as steady (0.2/day = 6 points a month).
    """
    today = as_of.toordinal()
    window = [
        (float(item.day.toordinal() - today), float(item.score))
        for item in history
        if item.score is not None and 0 <= today - item.day.toordinal() < days
    ]
    value = slope(window)
    if value is None:
        return Trend(None, None, len(window))
    value = round(value, 6)
    direction: Direction = "steady"
    if value > steady_within:
        direction = "rising"
    elif value < -steady_within:
        direction = "falling"
    return Trend(value, direction, len(window))
