import datetime as dt
import random
from typing import NamedTuple

import pytest

from scoring.trend import Trend, score_trend, slopes_by_day
from tests.scoring.build import AS_OF, days_ago


class Day:
    def __init__(self, ago: int, score: float | None) -> None:
        self.day: dt.date = days_ago(ago)
        self.score = score
        self.band: str | None = None


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([], Trend(None, None, 0)),
        ([Day(0, 50)], Trend(None, None, 1)),
        ([Day(1, 50), Day(0, 52)], Trend(2.0, "rising", 2)),
        ([Day(d, 80 - (29 - d) * 0) for d in range(30)], Trend(0.0, "steady", 30)),
        ([Day(d, 50 + d) for d in range(30)], Trend(-1.0, "falling", 30)),
        ([Day(d, 50 + d * 0.1) for d in range(10)], Trend(-0.1, "steady", 10)),
        ([Day(30, 0), Day(1, 60), Day(0, 60)], Trend(0.0, "steady", 2)),  # day 30 is outside the window
        ([Day(-1, 0), Day(1, 60), Day(0, 60)], Trend(0.0, "steady", 2)),  # after as_of: ignored
        ([Day(2, 40), Day(1, None), Day(0, 44)], Trend(2.0, "rising", 2)),  # unscored days skipped
    ],
)
def test_score_trend(history: list[Day], expected: Trend) -> None:
    result = score_trend(history, AS_OF)
    assert result.direction == expected.direction
    assert result.days_counted == expected.days_counted
    assert result.slope == (pytest.approx(expected.slope) if expected.slope is not None else None)


class _Day(NamedTuple):
    day: dt.date
    score: float | None
    band: str | None = None


def test_slopes_by_day_equal_score_trend_day_by_day() -> None:
    """Gaps, unscored days and a window filling up: each day's slope is `score_trend`'s for that day."""
    rng = random.Random(11)
    start = dt.date(2026, 1, 1)
    history = [_Day(start + dt.timedelta(days=i), None if rng.random() < 0.1 else round(rng.uniform(0, 100), 6))
               for i in range(150) if rng.random() < 0.8]
    points = [(h.day.toordinal(), h.score) for h in history if h.score is not None]
    first, last = start.toordinal() - 5, start.toordinal() + 160
    slopes = slopes_by_day(points, first, last)  # type: ignore[arg-type]
    expected = [score_trend([h for h in history if h.day.toordinal() <= t], dt.date.fromordinal(t)).slope
                for t in range(first, last + 1)]
    assert len(slopes) == 166
    assert slopes == expected
    assert sum(s is not None for s in slopes) > 100
    assert slopes_by_day(points, first, last, days=1) == [None] * 166  # one point a window: no slope
