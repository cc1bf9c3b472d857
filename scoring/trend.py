"""Trend of the health score: least-squares slope over the last 30 days, in points per day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
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


def slopes_by_day(points: Sequence[tuple[int, float]], first: int, last: int, days: int = 30) -> list[float | None]:
    """`score_trend(history, day, days).slope` for every day from `first` to `last` (ordinals), in one pass.

    `points` are the history's scored days as (day ordinal, score), ascending, at most one a day. Each
    day's window slides over them instead of filtering the whole history again, and the x side of the
    least squares (the days' offsets, their mean and spread), the same from one day to the next once the
    window is full, is worked out again only when it changes. The arithmetic is `slope`'s, term for term,
    so the slopes are the same floats.
    """
    out: list[float | None] = []
    lo = hi = 0
    n = len(points)
    xs: list[float] = []
    centred: list[float] = []
    spread = 0.0
    for today in range(first, last + 1):
        while hi < n and points[hi][0] <= today:
            hi += 1
        while lo < hi and today - points[lo][0] >= days:
            lo += 1
        count = hi - lo
        if count < 2:
            out.append(None)
            continue
        window = points[lo:hi]
        offsets = [float(day - today) for day, _ in window]
        if offsets != xs:
            xs = offsets
            mean_x = sum(xs) / count
            spread = sum([(x - mean_x) ** 2 for x in xs])
            centred = [x - mean_x for x in xs]
        if spread == 0:
            out.append(None)
            continue
        ys = [float(score) for _, score in window]
        mean_y = sum(ys) / count
        value = sum([dx * (y - mean_y) for dx, y in zip(centred, ys, strict=True)]) / spread
        out.append(round(value, 6))
    return out
