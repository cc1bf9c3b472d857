"""What the Tasks page shows: the open tasks of a scope (mine, my team, all), filtered by assignee and due
date, each with whether the person looking may reassign it. Read from one workspace's scoped session."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from console.auth import SignedIn
from console.people import team_ids
from store.models import Account, Task, User
from sync.reassign import allowed_to_reassign

TASK_SCOPES = ("mine", "team", "all")
DUE_FILTERS = {"": "Any time", "overdue": "Overdue", "week": "Due within 7 days", "none": "No due date"}
PAGE_LIMIT = 500


class TaskQueryError(ValueError):
    """A Tasks page parameter that makes no sense; the message says which."""


@dataclass(frozen=True)
class TaskQuery:
    scope: str
    assignee: str = ""
    """"" anyone, "none" nobody, else a user id."""
    due: str = ""

    @classmethod
    def parse(cls, args: Mapping[str, str], me: SignedIn) -> TaskQuery:
        default = "team" if me.role == "manager" else "all" if me.role in ("admin", "viewer") else "mine"
        scope = args.get("scope") or default
        if scope not in TASK_SCOPES:
            raise TaskQueryError(f"scope must be one of {', '.join(TASK_SCOPES)}")
        if scope == "team" and me.role not in ("manager", "admin"):
            raise TaskQueryError("only managers have a team scope")
        assignee = args.get("assignee", "")
        if assignee not in ("", "none") and not (assignee.isdigit() and len(assignee) < 19):
            raise TaskQueryError("assignee must be a user id or none")
        due = args.get("due", "")
        if due not in DUE_FILTERS:
            raise TaskQueryError(f"due must be one of {', '.join(d for d in DUE_FILTERS if d)}")
        return cls(scope, assignee, due)

    def params(self, **changes: Any) -> dict[str, str]:
        values = {"scope": self.scope, "assignee": self.assignee, "due": self.due, **changes}
        return {k: v for k, v in values.items() if v}


@dataclass
class TaskRow:
    id: int
    title: str
    account_id: int
    account: str
    assignee: str | None
    assignee_user_id: int | None
    owner: str | None
    source: str
    priority: str
    due_date: dt.date | None
    overdue: bool
    movable: bool


@dataclass
class TaskPage:
    rows: list[TaskRow] = field(default_factory=list)
    more: bool = False
    """More tasks match than the page shows (`PAGE_LIMIT`)."""


def load_tasks(s: Session, q: TaskQuery, me: SignedIn, today: dt.date) -> TaskPage:
    query = (select(Task, Account.name, Account.csm_user_id).join(Account, Account.id == Task.account_id)
             .where(Task.status == "open"))
    if q.scope == "mine":
        query = query.where(or_(Task.assignee_user_id == me.user_id,
                                and_(Task.assignee_user_id.is_(None), Account.csm_user_id == me.user_id)))
    elif q.scope == "team":
        team = team_ids(s, me.user_id)
        query = query.where(or_(Task.assignee_user_id.in_(team),
                                and_(Task.assignee_user_id.is_(None), Account.csm_user_id.in_(team))))
    if q.assignee == "none":
        query = query.where(Task.assignee_user_id.is_(None))
    elif q.assignee:
        query = query.where(Task.assignee_user_id == int(q.assignee))
    if q.due == "overdue":
        query = query.where(Task.due_date < today)
    elif q.due == "week":
        query = query.where(Task.due_date >= today, Task.due_date <= today + dt.timedelta(days=7))
    elif q.due == "none":
        query = query.where(Task.due_date.is_(None))
    rows = s.execute(query.order_by(Task.due_date.is_(None), Task.due_date, Task.id).limit(PAGE_LIMIT + 1)).all()
    names = dict(s.execute(select(User.id, User.name)).all())
    emails = dict(s.execute(select(User.id, User.email)).all())
    page = TaskPage(more=len(rows) > PAGE_LIMIT)
    for task, account_name, csm in rows[:PAGE_LIMIT]:
        user_id = task.assignee_user_id
        page.rows.append(TaskRow(
            id=task.id, title=task.title, account_id=task.account_id, account=account_name,
            assignee=(names.get(user_id) or emails.get(user_id)) if user_id else None, assignee_user_id=user_id,
            owner=task.owner, source=task.source, priority=task.priority, due_date=task.due_date,
            overdue=task.due_date is not None and task.due_date < today,
            movable=allowed_to_reassign(me.user_id, me.role, user_id, csm)))
    return page


def assignable_users(s: Session) -> list[tuple[int, str]]:
    """The workspace's active users a task can be given to: (id, "Name (e-mail)"), by name."""
    return [(uid, f"{name} ({email})" if name else email) for uid, name, email in s.execute(
        select(User.id, User.name, User.email).where(User.active.is_(True)).order_by(User.name, User.email))]


def users_with_open_tasks(s: Session) -> list[tuple[int, str, int]]:
    """Everyone (active or not) who has open tasks: (id, label, how many) — whose tasks can be moved."""
    counts: dict[int, int] = {}
    for user_id, in s.execute(select(Task.assignee_user_id).where(Task.status == "open",
                                                                  Task.assignee_user_id.is_not(None))):
        if user_id is not None:
            counts[user_id] = counts.get(user_id, 0) + 1
    if not counts:
        return []
    rows = s.execute(select(User.id, User.name, User.email, User.active).where(User.id.in_(counts))
                     .order_by(User.name, User.email))
    return [(uid, (f"{name} ({email})" if name else email) + ("" if active else " — disabled"), counts[uid])
            for uid, name, email, active in rows]
