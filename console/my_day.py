"""*My day*: what a CSM (or a manager's team) has to do today — open tasks due today or overdue, due in
the next week, alerts raised since the previous scored day on their accounts, the followed lists that
moved this week, and the plays running on their accounts.

"Today" is the calendar day (UTC); alerts count from the workspace's scored days; list movement is the
week `console.lists.weekly` reads. Everything is read in the user's tenant-scoped session.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from console.auth import SignedIn
from console.lists import Movement, parse_scope, weekly
from console.people import team_ids
from store.models import Account, Alert, HealthSnapshot, Play, PlayRun, Task, User

AHEAD_DAYS = 7
MAX_ROWS = 200
VIEWS = ("me", "team")


@dataclass
class DayTask:
    id: int
    title: str
    account_id: int
    account: str
    due_date: dt.date | None
    priority: str
    assignee: str | None
    source: str
    overdue_days: int = 0


@dataclass
class DayAlert:
    id: int
    account_id: int
    account: str
    title: str
    severity: str
    raised_on: dt.date
    status: str
    csm: str | None


@dataclass
class DayList:
    id: int
    name: str
    entered: int
    left: int
    accounts: list[str]


@dataclass
class DayRun:
    play_id: int
    play: str
    account_id: int
    account: str
    why: str
    started_on: dt.date
    csm: str | None


@dataclass
class MyDay:
    today: dt.date
    view: str
    people: dict[int, str]
    """Whose day this is: user id → name (the user, or the manager's team)."""
    due: list[DayTask] = field(default_factory=list)
    upcoming: list[DayTask] = field(default_factory=list)
    undated: list[DayTask] = field(default_factory=list)
    alerts: list[DayAlert] = field(default_factory=list)
    alerts_since: dt.date | None = None
    lists: list[DayList] = field(default_factory=list)
    runs: list[DayRun] = field(default_factory=list)


def parse_view(value: str | None, who: SignedIn) -> str:
    """``me`` or ``team`` (managers and admins only); `ValueError` otherwise."""
    view = value or "me"
    if view not in VIEWS:
        raise ValueError("view must be me or team")
    if view == "team" and who.role not in ("manager", "admin"):
        raise ValueError("only a manager sees a team's day")
    return view


def _scored_days(s: Session) -> list[dt.date]:
    return list(s.scalars(select(HealthSnapshot.day).distinct().order_by(HealthSnapshot.day.desc()).limit(2)))


def load_my_day(s: Session, who: SignedIn, view: str, today: dt.date) -> MyDay:
    ids = [uid for uid in team_ids(s, who.user_id) if uid != who.user_id] if view == "team" else [who.user_id]
    users = {u.id: u for u in s.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    names = {uid: u.name or u.email for uid, u in users.items()}
    out = MyDay(today, view, names)
    if not ids:
        return out
    emails = [u.email for u in users.values()]
    by_email = {u.email: u.name or u.email for u in users.values()}
    mine = or_(Task.assignee_user_id.in_(ids),
               and_(Task.assignee_user_id.is_(None), func.lower(Task.owner).in_(emails)))
    horizon = today + dt.timedelta(days=AHEAD_DAYS)
    rows = s.execute(select(Task, Account.name).join(Account, Account.id == Task.account_id)
                     .where(Task.status == "open", mine,
                            or_(Task.due_date.is_(None), Task.due_date <= horizon))
                     .order_by(Task.due_date.is_(None), Task.due_date, Task.priority == "normal",
                               Task.priority == "low", Task.id).limit(MAX_ROWS * 2))
    for task, account in rows:
        who_for = names.get(task.assignee_user_id) if task.assignee_user_id else by_email.get(
            (task.owner or "").lower(), task.owner)
        item = DayTask(task.id, task.title, task.account_id, account, task.due_date, task.priority, who_for,
                       task.source)
        if task.due_date is None:
            out.undated.append(item)
        elif task.due_date <= today:
            item.overdue_days = (today - task.due_date).days
            out.due.append(item)
        else:
            out.upcoming.append(item)
    out.due, out.upcoming, out.undated = out.due[:MAX_ROWS], out.upcoming[:MAX_ROWS], out.undated[:MAX_ROWS]

    days = _scored_days(s)
    since = days[1] + dt.timedelta(days=1) if len(days) > 1 else (days[0] if days else today)
    out.alerts_since = since
    csm_name = func.coalesce(User.name, User.email)
    start = dt.datetime.combine(since, dt.time(), dt.UTC)
    for alert, account, csm in s.execute(
            select(Alert, Account.name, csm_name).join(Account, Account.id == Alert.account_id)
            .outerjoin(User, User.id == Account.csm_user_id)
            .where(Account.csm_user_id.in_(ids), Alert.raised_at >= start)
            .order_by(Alert.raised_at.desc(), Alert.id.desc()).limit(MAX_ROWS)):
        out.alerts.append(DayAlert(alert.id, alert.account_id, account, alert.title, alert.severity,
                                   alert.raised_at.date(), alert.status, csm))

    moves, _ = weekly(s, who, parse_scope({}, who) if view == "me" else "team")
    for list_id, items in moves.items():
        out.lists.append(_day_list(list_id, items))
    out.lists.sort(key=lambda r: r.name.lower())

    for run, play, account, csm in s.execute(
            select(PlayRun, Play.name, Account.name, csm_name).join(Play, Play.id == PlayRun.play_id)
            .join(Account, Account.id == PlayRun.account_id).outerjoin(User, User.id == Account.csm_user_id)
            .where(PlayRun.active_key.is_not(None), Account.csm_user_id.in_(ids))
            .order_by(Play.name, Account.name, PlayRun.id).limit(MAX_ROWS)):
        out.runs.append(DayRun(run.play_id, play, run.account_id, account, run.why, run.started_on, csm))
    return out


def _day_list(list_id: int, items: list[Movement]) -> DayList:
    entered = [m for m in items if m.kind == "entered"]
    left = [m for m in items if m.kind == "left"]
    names = list(dict.fromkeys(m.account_name for m in items))
    return DayList(list_id, items[0].list_name, len(entered), len(left), names[:5])
