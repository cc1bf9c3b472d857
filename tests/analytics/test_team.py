"""Team performance (analytics.team): a hand-computed team over 7/30/90 days, edge cases, one property."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.base import WeekHealth
from analytics.team import (
    DEFINITIONS,
    AlertFacts,
    OwnedAccount,
    Person,
    TaskFacts,
    Touch,
    team_performance,
)
from tests.shared import WORLD_AS_OF

AS_OF = WORLD_AS_OF  # Monday 30 Nov 2026: the 30 days up to it are 1–30 Nov
SETTINGS = settings(derandomize=True, database=None, max_examples=60, deadline=None)


def at(month: int, day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


def d(month: int, day: int) -> dt.date:
    return dt.date(2026, month, day)


MIA, ANN, BOB, CY = 10, 11, 12, 13
PEOPLE = [Person(MIA, "Mia"), Person(ANN, "Ann", MIA), Person(BOB, "Bob", MIA), Person(CY, "Cy")]
ACCOUNTS = [OwnedAccount(1, ANN, 1000.0), OwnedAccount(2, ANN, 500.0), OwnedAccount(3, BOB, None),
            OwnedAccount(4, MIA, 2000.0), OwnedAccount(5, None, 100.0), OwnedAccount(6, BOB, 50.0)]
# 30 days up to 30 Nov start on 1 Nov (a Sunday): the first ISO week is the one of Mon 26 Oct
WEEKS = [WeekHealth(1, d(10, 26), 60.0, "average"), WeekHealth(1, d(11, 30), 80.0, "good"),
         WeekHealth(2, d(10, 26), 40.0, "average"), WeekHealth(3, d(11, 30), 50.0, "average"),
         WeekHealth(4, d(10, 26), None, None), WeekHealth(5, d(10, 26), 10.0, "poor"),
         WeekHealth(1, d(11, 23), 0.0, "poor")]  # a week between: not in the trend
TASKS = [
    TaskFacts(1, 1, "done", d(11, 20), at(11, 19, 10)),  # Ann, on time; touches 1
    TaskFacts(2, 1, "done", d(11, 20), at(11, 25)),  # Ann, late
    TaskFacts(3, 2, "done", None, at(10, 20)),  # Ann, before the 30 days (on time in 90)
    TaskFacts(4, 2, "open", d(11, 29)),  # Ann, overdue
    TaskFacts(5, 2, "open", d(11, 30)),  # due today: not overdue
    TaskFacts(6, 3, "done", None, at(11, 28), closed_reason="Closed by play"),  # nobody did it: not counted
    TaskFacts(7, 3, "done", None, at(11, 28), assignee_user_id=ANN),  # Bob's account, Ann's task; touches 3
    TaskFacts(8, 4, "open", d(11, 1)),  # Mia, overdue
    TaskFacts(9, 5, "done", None, at(11, 27)),  # unassigned account: nobody's
    TaskFacts(10, 1, "done", None, at(11, 10, 20), alert_id=1),  # Ann on time; acts on alert 1 after 12 h
    TaskFacts(11, 2, "done", None, at(11, 22), alert_id=2),  # Ann on time; acts on alert 2 after 48 h
    TaskFacts(12, 3, "done", None, at(11, 26), alert_id=3, closed_reason="Closed by play"),  # not acting
    TaskFacts(13, 1, "done", None, at(10, 2), alert_id=4),  # acts on alert 4 after 24 h (in 90 days)
    TaskFacts(14, 1, "done", None, at(12, 1), alert_id=5),  # after as_of: not yet
]
ALERTS = [AlertFacts(1, 1, at(11, 10, 8)), AlertFacts(2, 2, at(11, 20)), AlertFacts(3, 3, at(11, 25)),
          AlertFacts(4, 1, at(10, 1)), AlertFacts(5, 1, at(11, 30, 9))]
TOUCHES = [Touch(4, d(11, 15)), Touch(6, d(10, 31))]  # 31 Oct is a day before the 30 days


def report(days: int):  # type: ignore[no-untyped-def]
    return team_performance(PEOPLE, ACCOUNTS, WEEKS, TASKS, ALERTS, AS_OF, days, TOUCHES)


def test_every_module_figure_has_a_definition() -> None:
    assert {"accounts", "arr", "health_change", "on_time", "late", "overdue", "untouched", "acted",
            "hours_to_act"} <= set(DEFINITIONS)


def test_a_csm_over_30_days() -> None:
    ann = report(30).csms[ANN]
    assert (ann.accounts, ann.arr) == (2, 1500.0)
    assert (ann.health_first, ann.health_last, ann.health_change) == (50.0, 80.0, 30.0)  # (60 + 40) / 2 -> 80
    assert (ann.on_time, ann.late, ann.on_time_rate) == (4, 1, 0.8)  # tasks 1, 7, 10, 11 / task 2
    assert ann.overdue == 1 and ann.untouched == ()
    # alerts 1, 2 and 5 raised in the window; 1 and 2 acted after 12 h and 48 h: median 30 h
    assert (ann.alerts, ann.acted, ann.hours_to_act) == (3, 2, 30.0)


def test_a_csm_with_nothing_done_and_none_for_every_empty_ratio() -> None:
    bob = report(30).csms[BOB]
    assert (bob.accounts, bob.arr) == (2, 50.0)  # account 3's ARR is none: 0
    assert (bob.health_first, bob.health_last, bob.health_change) == (None, 50.0, None)
    assert (bob.on_time, bob.late, bob.on_time_rate, bob.overdue) == (0, 0, None, 0)
    assert bob.untouched == (6,)  # 3 was touched by Ann's task 7; 6 only before the 30 days
    assert (bob.alerts, bob.acted, bob.hours_to_act) == (1, 0, None)


def test_the_team_is_the_manager_and_direct_reports() -> None:
    r = report(30)
    assert sorted(r.csms) == [MIA, ANN, BOB] and sorted(r.teams) == [MIA]  # Cy owns nothing, manages no one
    team = r.teams[MIA]
    assert (team.accounts, team.arr) == (5, 3550.0)  # 2000 + 1000 + 500 + 0 + 50
    # first week: 60, 40 (account 4 unscored) -> 50; last week: 80, 50 -> 65
    assert (team.health_first, team.health_last, team.health_change) == (50.0, 65.0, 15.0)
    assert (team.on_time, team.late, team.overdue) == (4, 1, 2)
    assert team.untouched == (6,)  # 4 has a recorded touch on 15 Nov
    assert (team.alerts, team.acted, team.hours_to_act) == (4, 2, 30.0)


def test_the_window_changes_completions_and_alerts_but_not_overdue_or_untouched() -> None:
    ann7, ann90 = report(7).csms[ANN], report(90).csms[ANN]
    # 7 days: 24–30 Nov; first ISO week is that of Mon 23 Nov (score 0), last 30 Nov (80)
    assert (ann7.on_time, ann7.late, ann7.health_change) == (1, 1, 80.0)  # task 7 / task 2
    assert (ann7.alerts, ann7.acted, ann7.hours_to_act) == (1, 0, None)  # alert 5, acted after as_of
    # 90 days: 2 Sep – 30 Nov adds tasks 3 and 13 and alert 4 (24 h): median of 12, 24, 48 = 24
    assert (ann90.on_time, ann90.late) == (6, 1)
    assert (ann90.alerts, ann90.acted, ann90.hours_to_act) == (4, 3, 24.0)
    assert ann90.health_first is None  # no snapshot in the week of 31 Aug
    assert (ann7.overdue, ann7.untouched) == (ann90.overdue, ann90.untouched) == (1, ())


def test_a_year_window_across_the_year_end_and_bad_input() -> None:
    new_year = dt.date(2027, 1, 1)
    r = team_performance(PEOPLE, ACCOUNTS, [], [TaskFacts(1, 1, "done", d(12, 31), dt.datetime(2027, 1, 1, 1))],
                         [], new_year, 365)
    assert (r.csms[ANN].late, r.csms[ANN].on_time, r.csms[ANN].untouched) == (1, 0, (2,))
    with pytest.raises(ValueError, match="at least 1 day"):
        team_performance(PEOPLE, ACCOUNTS, [], [], [], AS_OF, 0)


@st.composite
def books(draw: st.DrawFn) -> tuple[list[Person], list[OwnedAccount], list[TaskFacts]]:
    people = [Person(1, "boss")] + [Person(i, f"p{i}", draw(st.sampled_from([None, 1]))) for i in range(2, 6)]
    accounts = [OwnedAccount(a, draw(st.sampled_from([None, 1, 2, 3, 4, 5])), float(draw(st.integers(0, 9))))
                for a in range(draw(st.integers(0, 15)))]
    tasks = []
    for t in range(draw(st.integers(0, 25))):
        done = draw(st.booleans())
        tasks.append(TaskFacts(t, draw(st.integers(0, 15)), "done" if done else "open",
                               AS_OF - dt.timedelta(days=draw(st.integers(-5, 60))),
                               at(11, draw(st.integers(1, 30))) if done else None))
    return people, accounts, tasks


@SETTINGS
@given(books())
def test_a_team_adds_up_its_members(book: tuple[list[Person], list[OwnedAccount], list[TaskFacts]]) -> None:
    people, accounts, tasks = book
    r = team_performance(people, accounts, [], tasks, [], AS_OF, 30)
    members = [1] + [p.user_id for p in people if p.manager_id == 1]
    assert (1 in r.teams) == (len(members) > 1)
    for name in ("accounts", "arr", "on_time", "late", "overdue"):
        total = sum(getattr(r.csms[m], name) for m in members if m in r.csms)
        if 1 in r.teams:
            assert getattr(r.teams[1], name) == total, name
    owned = sum(1 for a in accounts if a.csm_user_id is not None)
    assert sum(f.accounts for f in r.csms.values()) == owned


def test_a_task_completed_on_its_due_day_is_on_time_and_one_a_day_later_late() -> None:
    tasks = [TaskFacts(1, 1, "done", d(11, 20), at(11, 20, 23)), TaskFacts(2, 1, "done", d(11, 20), at(11, 21))]
    ann = team_performance(PEOPLE, ACCOUNTS, [], tasks, [], AS_OF, 30).csms[ANN]
    assert (ann.on_time, ann.late, ann.on_time_rate) == (1, 1, 0.5)
