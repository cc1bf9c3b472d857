"""`analytics.team_arrays.team_performance_arrays` equals `analytics.team.team_performance` (the Team report from
the account facts' columns and from the week-end rows)."""

from __future__ import annotations

import datetime as dt
import math
import random

import numpy as np
import pytest

from analytics.base import WeekHealth, week_start
from analytics.team import AlertFacts, OwnedAccount, Person, TaskFacts, Touch, team_performance
from analytics.team_arrays import (
    NO_CSM,
    AlertColumns,
    TaskTally,
    microseconds,
    tally_tasks,
    team_performance_arrays,
)

AS_OF = dt.date(2026, 3, 18)
NONE = TaskTally({}, {}, {}, frozenset(), {})


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("days", [7, 30, 90])
def test_arrays_equal_the_rows(seed: int, days: int) -> None:
    rng = random.Random(seed)
    people = [Person(1, "Mia"), Person(2, "Ann", 1), Person(3, "Bo", 1), Person(4, "Cy", 9), Person(5, "Di")]
    n = rng.choice([0, 1, 5, 60, 300])
    ids = rng.sample(range(1, 5 * n + 2), n)  # distinct, not sorted
    csms = [rng.choice([None, 1, 2, 3, 4, 7]) for _ in ids]
    arrs = [rng.choice([None, 0.0, round(rng.uniform(0, 1e5), 2), 1e-3 * rng.random()]) for _ in ids]
    start = AS_OF - dt.timedelta(days=days - 1)
    first_week, last_week = week_start(start), week_start(AS_OF)
    weeks: list[WeekHealth] = []
    first = np.full(n, np.nan)
    last = np.full(n, np.nan)
    for i, a in enumerate(ids):
        for week, column in ((first_week, first), (last_week, last)):
            roll = rng.random()
            if roll < 0.2:
                continue  # no row that week
            score = None if roll < 0.3 else rng.uniform(0, 100)
            weeks.append(WeekHealth(a, week, score, None))
            if score is not None:
                column[i] = score
    weeks.append(WeekHealth(10**9, last_week, 50.0, None))  # not a live account: ignored by both
    day = lambda back: AS_OF - dt.timedelta(days=back)  # noqa: E731
    at = lambda back, hour=9: dt.datetime.combine(day(back), dt.time(hour), dt.UTC)  # noqa: E731
    tasks = []
    for t in range(rng.randint(0, 3 * n + 5)):
        account = rng.choice([*ids, 10**9]) if ids else 10**9
        status = rng.choice(["open", "done"])
        tasks.append(TaskFacts(t + 1, account, status,
                               rng.choice([None, day(rng.randint(-20, 100))]),
                               at(rng.randint(-2, 120), rng.randint(0, 23)) if status == "done" else None,
                               rng.choice([None, None, 2, 5, 8]), rng.choice([None, rng.randint(1, 40)]),
                               rng.choice([None, None, None, "", "play closed"])))
    alerts = [AlertFacts(k, rng.choice([*ids, 10**9]) if ids else 10**9, at(rng.randint(-1, 100), rng.randint(0, 23)))
              for k in range(1, 41)]
    touches = [Touch(rng.choice(ids), day(rng.randint(0, 60))) for _ in range(5)] if ids else []
    expected = team_performance(people, [OwnedAccount(a, c, x) for a, c, x in zip(ids, csms, arrs, strict=True)],
                                weeks, tasks, alerts, AS_OF, days, touches)
    tally = tally_tasks(tasks, dict(zip(ids, csms, strict=True)), AS_OF, days, touches)
    got = team_performance_arrays(
        people, np.array(ids, dtype=np.int64), np.array([NO_CSM if c is None else c for c in csms], dtype=np.int64),
        np.array([x or 0.0 for x in arrs], dtype=np.float64), first, last, tally, alerts, AS_OF, days)
    assert got == expected
    columns = AlertColumns(np.array([al.alert_id for al in alerts], dtype=np.int64),
                           np.array([al.account_id for al in alerts], dtype=np.int64),
                           np.array([microseconds(al.raised_at) for al in alerts], dtype=np.int64))
    assert team_performance_arrays(
        people, np.array(ids, dtype=np.int64), np.array([NO_CSM if c is None else c for c in csms], dtype=np.int64),
        np.array([x or 0.0 for x in arrs], dtype=np.float64), first, last, tally, columns, AS_OF, days) == expected
    assert sum(f.accounts for f in got.csms.values()) == sum(c is not None for c in csms)
    if n >= 60:
        assert any(f.untouched for f in got.csms.values()) and any(f.health_first for f in got.csms.values())


def test_columns_of_unequal_length_are_refused() -> None:
    with pytest.raises(ValueError, match="one value per account"):
        team_performance_arrays([], np.array([1, 2]), np.array([1]), np.zeros(2), np.zeros(2), np.zeros(2), NONE, [],
                                AS_OF)


def test_health_means_sum_in_the_accounts_order() -> None:
    scores = [0.1, 1e16, -1e16, 0.2]  # a different order or a pairwise sum gives another mean
    report = team_performance_arrays([Person(1, "Mia")], np.arange(1, 5), np.ones(4, dtype=np.int64), np.zeros(4),
                                     np.array(scores), np.full(4, np.nan), NONE, [], AS_OF)
    assert report.csms[1].health_first == sum(scores) / 4 and report.csms[1].health_last is None
    assert not math.isclose(sum(scores) / 4, math.fsum(scores) / 4)


def test_alert_columns_count_the_window_days_and_hours_as_the_objects() -> None:
    """Alerts as columns: raised on the window's first and last UTC day (not the day before or after), hours to
    act from whole microseconds (a fraction of a second, an action before the alert: 0), on unknown accounts
    and accounts without a CSM not counted."""
    start = dt.datetime.combine(AS_OF - dt.timedelta(days=6), dt.time(), dt.UTC)
    raised = [start - dt.timedelta(microseconds=1), start, start + dt.timedelta(days=7) - dt.timedelta(microseconds=1),
              start + dt.timedelta(days=7), start + dt.timedelta(hours=5), start, start]
    accounts = [1, 1, 2, 2, 2, 3, 99]
    acted = {2: start + dt.timedelta(hours=1, microseconds=7), 3: start + dt.timedelta(days=6, hours=23),
             5: start + dt.timedelta(hours=7)}  # alert 3 acted on before it was raised: 0 hours
    tally = TaskTally({}, {}, {}, frozenset(), acted)
    objects = [AlertFacts(k + 1, a, r) for k, (a, r) in enumerate(zip(accounts, raised, strict=True))]
    columns = AlertColumns(np.arange(1, 8), np.array(accounts), np.array([microseconds(r) for r in raised]))
    args = ([Person(1, "Mia"), Person(2, "Ann")], np.array([1, 2, 3]), np.array([1, 2, NO_CSM]), np.zeros(3),
            np.full(3, np.nan), np.full(3, np.nan), tally)
    by_objects = team_performance_arrays(*args, objects, AS_OF, 7)
    by_columns = team_performance_arrays(*args, columns, AS_OF, 7)
    assert by_columns == by_objects
    assert (by_columns.csms[1].alerts, by_columns.csms[2].alerts) == (1, 2)
    assert by_columns.csms[1].hours_to_act == (3600 * 10**6 + 7) / 10**6 / 3600
    assert by_columns.csms[2].acted == 2 and by_columns.csms[2].hours_to_act == (0.0 + 2.0) / 2
    with pytest.raises(ValueError, match="one value per alert"):
        team_performance_arrays(*args, AlertColumns(np.arange(2), np.arange(1), np.arange(2)), AS_OF, 7)
