"""Team performance per CSM and per team (a manager and the CSMs who report to them), over 7/30/90/365 days.

Pure (no I/O, no clock). Inputs mirror the store: `users` (id, name, manager_id), accounts (csm_user_id, ARR),
tasks, alerts, and the accounts' week-end health (`analytics.base.WeekHealth`). Rules: docs/analytics.md,
"Team performance".
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from analytics.base import WeekHealth, week_start

WINDOWS = (7, 30, 90, 365)
UNTOUCHED_DAYS = 30

DEFINITIONS: dict[str, str] = {
    "accounts": "Accounts whose CSM (Account.csm_user_id) is the person, or a member of the team, today.",
    "arr": "Σ ARR of those accounts (none counts 0).",
    "health_first": "Average week-end score of those accounts in the ISO week where the window starts.",
    "health_last": "Average week-end score of those accounts in the ISO week of today.",
    "health_change": "health_last − health_first (points); none when either week has no score.",
    "on_time": "Tasks completed by a person in the window on or before their due date (no due date: on time).",
    "late": "Tasks completed by a person in the window after their due date.",
    "on_time_rate": "on_time ÷ (on_time + late).",
    "overdue": "Open tasks whose due date is before today (whatever the window).",
    "untouched": "Accounts with no touch in the last 30 days: no task on them completed by a person and no other "
                 "recorded touch.",
    "alerts": "Alerts raised in the window on those accounts.",
    "acted": "Of those, alerts whose linked task (Task.alert_id) a person completed by today.",
    "hours_to_act": "Median hours from an acted alert's raise to its first linked task completed by a person.",
}


@dataclass(frozen=True, slots=True)
class Person:
    user_id: int
    name: str
    manager_id: int | None = None


@dataclass(frozen=True, slots=True)
class OwnedAccount:
    account_id: int
    csm_user_id: int | None
    arr: float | None = None


@dataclass(frozen=True, slots=True)
class TaskFacts:
    task_id: int
    account_id: int
    status: str
    """'open' | 'done'."""
    due_date: dt.date | None = None
    completed_at: dt.datetime | None = None
    assignee_user_id: int | None = None
    alert_id: int | None = None
    closed_reason: str | None = None
    """Set when a task was closed without anyone doing it (its play closed): not a completion by a person."""


@dataclass(frozen=True, slots=True)
class AlertFacts:
    alert_id: int
    account_id: int
    raised_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Touch:
    """Any other dated contact with the customer that the caller records (a logged CRM call, meeting, e-mail)."""

    account_id: int
    day: dt.date


@dataclass(frozen=True, slots=True)
class Figures:
    accounts: int
    arr: float
    health_first: float | None
    health_last: float | None
    health_change: float | None
    on_time: int
    late: int
    on_time_rate: float | None
    overdue: int
    untouched: tuple[int, ...]
    alerts: int
    acted: int
    hours_to_act: float | None


@dataclass(frozen=True, slots=True)
class TeamReport:
    days: int
    csms: dict[int, Figures]
    """Per user who owns accounts or has tasks."""
    teams: dict[int, Figures]
    """Per manager: the manager's own accounts and those of their direct reports."""


@dataclass(frozen=True)
class TaskTally:
    """What the tasks (and other touches) add to the team figures, per person (a task counts for its assignee, else
    its account's CSM): tasks completed on time and late in the window, open tasks overdue; the accounts touched in
    the last `UNTOUCHED_DAYS` days; per alert, the first completion of a linked task by `as_of`."""

    on_time: Mapping[int, int]
    late: Mapping[int, int]
    overdue: Mapping[int, int]
    touched: frozenset[int]
    acted_at: Mapping[int, dt.datetime]


def tally_tasks(tasks: Iterable[TaskFacts], owner: Mapping[int, int | None], as_of: dt.date, days: int = 30,
                touches: Iterable[Touch] = ()) -> TaskTally:
    """The pass over the tasks `team_performance` and `analytics.team_arrays` share, with `owner` the live accounts'
    CSMs (a SQL GROUP BY computes the same from the store: `sync.base_reports`)."""
    start = as_of - dt.timedelta(days=days - 1)
    untouched_since = as_of - dt.timedelta(days=UNTOUCHED_DAYS - 1)
    touched_ids: set[int] = {t.account_id for t in touches if untouched_since <= t.day <= as_of}
    on_time: dict[int, int] = defaultdict(int)
    late: dict[int, int] = defaultdict(int)
    overdue: dict[int, int] = defaultdict(int)
    acted_at: dict[int, dt.datetime] = {}
    for t in tasks:
        who = t.assignee_user_id if t.assignee_user_id is not None else owner.get(t.account_id)
        done = t.completed_at if t.status == "done" and not t.closed_reason else None
        if done is not None:
            done_day = done.date()
            if untouched_since <= done_day <= as_of:
                touched_ids.add(t.account_id)
            if t.alert_id is not None and done_day <= as_of:
                held = acted_at.get(t.alert_id)
                if held is None or done < held:
                    acted_at[t.alert_id] = done
            if who is not None and start <= done_day <= as_of:
                if t.due_date is None or done_day <= t.due_date:
                    on_time[who] += 1
                else:
                    late[who] += 1
        elif t.status == "open" and t.due_date is not None and t.due_date < as_of and who is not None:
            overdue[who] += 1
    return TaskTally(dict(on_time), dict(late), dict(overdue), frozenset(touched_ids), acted_at)


def roll_up(days: int, staff: Iterable[Person], csm_ids: Iterable[int],
            figures: Callable[[list[int]], Figures]) -> TeamReport:
    """The report from `figures` of a list of people: each CSM alone, then each manager with their direct reports
    (`team_performance` and `analytics.team_arrays` differ only in how they compute `figures`)."""
    csms = {u: figures([u]) for u in sorted(set(csm_ids))}
    reports: dict[int, list[int]] = defaultdict(list)
    for p in staff:
        if p.manager_id is not None:
            reports[p.manager_id].append(p.user_id)
    teams = {m: figures([m, *sorted(r)]) for m, r in sorted(reports.items())}
    return TeamReport(days, csms, teams)


def team_performance(people: Iterable[Person], accounts: Iterable[OwnedAccount], weeks: Iterable[WeekHealth],
                     tasks: Iterable[TaskFacts], alerts: Iterable[AlertFacts], as_of: dt.date, days: int = 30,
                     touches: Iterable[Touch] = ()) -> TeamReport:
    """Figures per CSM and per team for the `days` up to and including `as_of`.

    A task counts for its assignee, else for its account's CSM; an alert for its account's CSM.
    """
    if days < 1:
        raise ValueError(f"a window is at least 1 day, not {days}")
    start = as_of - dt.timedelta(days=days - 1)
    first_week, last_week = week_start(start), week_start(as_of)
    staff = {p.user_id: p for p in people}
    owner: dict[int, int | None] = {}
    arr: dict[int, float] = {}
    for a in accounts:
        owner[a.account_id] = a.csm_user_id
        arr[a.account_id] = a.arr or 0.0

    # per account: its week-end score in the window's first and last ISO weeks
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    for w in weeks:
        if w.score is None or w.account_id not in owner:
            continue
        if w.week == first_week:
            first[w.account_id] = w.score
        if w.week == last_week:
            last[w.account_id] = w.score

    tally = tally_tasks(tasks, owner, as_of, days, touches)
    on_time, late, overdue, touched, acted_at = (tally.on_time, tally.late, tally.overdue, tally.touched,
                                                  tally.acted_at)

    raised: dict[int, int] = defaultdict(int)
    waits: dict[int, list[float]] = defaultdict(list)
    for al in alerts:
        who = owner.get(al.account_id)
        if who is None or not start <= al.raised_at.date() <= as_of:
            continue
        raised[who] += 1
        acted = acted_at.get(al.alert_id)
        if acted is not None:
            waits[who].append(max((acted - al.raised_at).total_seconds(), 0.0) / 3600)

    owned: dict[int, list[int]] = defaultdict(list)
    for account_id, csm in owner.items():
        if csm is not None:
            owned[csm].append(account_id)

    def figures(members: list[int]) -> Figures:
        ids = [a for m in members for a in owned.get(m, ())]
        h_first = _mean([first[a] for a in ids if a in first])
        h_last = _mean([last[a] for a in ids if a in last])
        ok, bad = sum(on_time.get(m, 0) for m in members), sum(late.get(m, 0) for m in members)
        w = [x for m in members for x in waits.get(m, ())]
        return Figures(
            accounts=len(ids), arr=sum(arr[a] for a in ids), health_first=h_first, health_last=h_last,
            health_change=None if h_first is None or h_last is None else h_last - h_first,
            on_time=ok, late=bad, on_time_rate=ok / (ok + bad) if ok + bad else None,
            overdue=sum(overdue.get(m, 0) for m in members),
            untouched=tuple(sorted(a for a in ids if a not in touched)),
            alerts=sum(raised[m] for m in members), acted=len(w),
            hours_to_act=statistics.median(w) if w else None)

    return roll_up(days, staff.values(), set(owned) | set(on_time) | set(late) | set(overdue), figures)


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None
