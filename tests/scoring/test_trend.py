import datetime as dt

import pytest

from scoring.trend import Trend, score_trend
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
