"""Canary's tasks, and the same tasks in the CRMs, kept in step both ways.

* `create_task` is the one way a task is made (alert rules today, plays and people later); it
  writes no vendor call. `complete_task` marks one done.
* `push_tasks` (run at the end of `sync.push.push` for every vendor whose descriptor says
  ``tasks``) creates, for each open task of an account linked to that CRM, the CRM's task on the
  account's record, and brings existing ones up to date (status, due date, owner). Before any call,
  each new task gets a `TaskLink` with a fresh key, committed: the key also goes into the CRM
  record's Canary task key field. A link still ``pending`` at the next push (its create's answer
  never came back, or never got recorded) is looked up by its key at the vendor before anything is
  sent again, so a retried or interrupted push never makes a second task. Only differences from
  what both sides last agreed on (``TaskLink.sent``) are sent: nothing changed, no call.
* The sync run pulls ``tasks`` (Canary's tasks only: the CRM records carrying a key, changed since
  the cursor) and `write_task_records` applies to Canary's task what the CRM changed since the last
  agreement: completion, due date, owner. Reading back what Canary itself wrote is no change.
  A task deleted in the CRM is marked deleted there (never created again) and closed in Canary.

Owners: the task's assignee's vendor user (`VendorUserLink`), else, on create, the account's
owner in that CRM when the CRM still counts them active; an owner set in the CRM stands unless a
Canary assignee is set (and becomes the assignee when that vendor user is a Canary user).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, insert, or_, select
from sqlalchemy.orm import Session, object_session

from integrations.base import Adapter, Removal, TaskPushResult, TaskRecord, TaskTarget, TaskWrite
from integrations.errors import AuthError, FatalError
from store.db import Store
from store.models import TASK_PRIORITIES, Account, SourceLink, Task, TaskLink, User, VendorUserLink
from store.panel_views import touches
from store.scoping import current_tenant
from store.types import utcnow
from sync.writer import load_cursor, save_cursor

log = logging.getLogger("canary.tasks")

TASK_FIELDS_VERSION = "task-key-1"
"""Saved (as the ``task_fields`` cursor) once the CRM's task key field is known to exist."""
KEY_PREFIX = "canary-"


def new_key() -> str:
    return KEY_PREFIX + uuid.uuid4().hex


def create_task(session: Session, account_id: int, title: str, *, body: str | None = None,
                due_date: dt.date | None = None, priority: str = "normal", source: str = "manual",
                source_ref: str | None = None, alert_id: int | None = None, assignee_user_id: int | None = None,
                owner: str | None = None, play_run_id: int | None = None) -> Task:
    """A new open task on an account (added to the session). It reaches the CRMs at the next push."""
    if priority not in TASK_PRIORITIES:
        raise ValueError(f"priority must be one of {', '.join(TASK_PRIORITIES)}, not {priority!r}")
    task = Task(account_id=account_id, title=title, body=body, due_date=due_date, priority=priority,
                source=source, source_ref=source_ref, alert_id=alert_id, assignee_user_id=assignee_user_id,
                owner=owner, status="open", play_run_id=play_run_id)
    session.add(task)
    return task


class NewTask(NamedTuple):
    """A task to create in bulk (`create_tasks`): `create_task`'s arguments."""

    account_id: int
    title: str
    body: str | None = None
    due_date: dt.date | None = None
    priority: str = "normal"
    source: str = "manual"
    source_ref: str | None = None
    alert_id: int | None = None
    assignee_user_id: int | None = None
    owner: str | None = None
    play_run_id: int | None = None


def create_tasks(session: Session, tasks: Sequence[NewTask]) -> None:
    """`create_task` for many tasks at once (a score run's alert tasks): one multi-row INSERT in the given order,
    no ORM object per task; the same rows `create_task` makes, written now rather than at the next flush."""
    for task in tasks:
        if task.priority not in TASK_PRIORITIES:
            raise ValueError(f"priority must be one of {', '.join(TASK_PRIORITIES)}, not {task.priority!r}")
    if not tasks:
        return
    tenant_id = current_tenant(session)
    if tenant_id is None:
        raise ValueError("tasks are created in a tenant's session")
    rows = [{**task._asdict(), "tenant_id": tenant_id, "status": "open"} for task in tasks]
    session.execute(insert(cast(Table, Task.__table__)), rows,
                    execution_options=touches(task.account_id for task in tasks))


def complete_task(task: Task, when: dt.datetime | None = None) -> None:
    """Mark a task done (the CRMs' copies are closed at the next push)."""
    task.status = "done"
    task.completed_at = when or task.completed_at or utcnow()


# ------------------------------------------------------------------ push


@dataclass
class TaskPushSummary:
    considered: int = 0
    created: int = 0
    found: int = 0
    """Tasks of an earlier, interrupted push found at the vendor by their key (not created again)."""
    updated: int = 0
    gone: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    create_calls: int = 0
    update_calls: int = 0
    lookups: int = 0
    field_created: bool = False
    stopped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"considered": self.considered, "created": self.created, "found": self.found,
                "updated": self.updated, "gone": self.gone, "failed": len(self.failed), "calls": self.calls,
                "create_calls": self.create_calls, "update_calls": self.update_calls, "lookups": self.lookups,
                "field_created": self.field_created, "stopped": self.stopped}


def _sent(write: TaskWrite, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the CRM holds after ``write`` was accepted (an owner left alone keeps what it was)."""
    owner = write.owner_ref if write.owner_ref is not None else (previous or {}).get("owner")
    return {"status": write.status, "due": write.due_date.isoformat() if write.due_date else None, "owner": owner}


@dataclass
class TaskPlan:
    creates: list[TaskWrite] = field(default_factory=list)
    unknown: list[TaskWrite] = field(default_factory=list)
    """Creates whose outcome is not known (a pending link from before this push): looked up first."""
    updates: list[TaskWrite] = field(default_factory=list)


def plan_tasks(session: Session, system: str, now: dt.datetime) -> TaskPlan:
    """What to send to ``system``; new links (with their keys) are added to the session, to be committed
    before any call."""
    plan = TaskPlan()
    records = dict(session.execute(select(SourceLink.account_id, SourceLink.external_id).where(
        SourceLink.system == system, SourceLink.account_id.is_not(None))).all())
    if not records:
        return plan
    owners = {account_id: ref for account_id, ref in session.execute(
        select(SourceLink.account_id, SourceLink.owner_ref).where(
            SourceLink.system == system, SourceLink.account_id.is_not(None), SourceLink.owner_active.is_(True)))}
    vendor_users: dict[int, str] = {}
    for user_id, external_id in session.execute(select(VendorUserLink.user_id, VendorUserLink.external_id).where(
            VendorUserLink.system == system).order_by(VendorUserLink.id)):
        vendor_users.setdefault(user_id, external_id)
    rows = session.execute(
        select(Task, TaskLink).outerjoin(TaskLink, (TaskLink.task_id == Task.id) & (TaskLink.system == system))
        .where(or_(Task.status == "open", TaskLink.id.is_not(None)))
        .order_by(Task.id)).all()
    for task, link in rows:
        ref = records.get(task.account_id)
        if ref is None or (link is not None and link.state == "deleted"):
            continue
        if link is None and task.status != "open":
            continue  # never in the CRM and done already: nothing to tell it
        assignee = vendor_users.get(task.assignee_user_id) if task.assignee_user_id else None
        if link is None or link.external_id is None:
            owner = assignee or (link.sent.get("owner") if link is not None else None) or owners.get(task.account_id)
        else:
            owner = assignee or link.sent.get(HANDOVER)  # None: the owner the CRM has stands
        if link is None:
            link = TaskLink(task_id=task.id, system=system, key=new_key(), state="pending", sent={})
            session.add(link)
            fresh = True
        else:
            fresh = link.state == "failed"
        write = TaskWrite(key=link.key, account_external_id=ref, subject=task.title, body=task.body,
                          due_date=task.due_date, priority=task.priority, status=task.status, owner_ref=owner,
                          external_id=link.external_id)
        if link.external_id is None:
            link.attempted_at = now
            (plan.creates if fresh else plan.unknown).append(write)
        else:
            wanted = _sent(write, link.sent)
            if any(wanted[k] != link.sent.get(k) for k in ("status", "due", "owner")):
                plan.updates.append(write)
    return plan


def push_tasks(store: Store, tenant_id: int, system: str, adapter: Adapter, *,
               now: dt.datetime | None = None) -> TaskPushSummary:
    """Create and update the tasks of ``system`` (see the module docstring)."""
    now = now or utcnow()
    summary = TaskPushSummary()
    target = cast(TaskTarget, adapter)
    with store.session(tenant_id) as session:  # the keys are committed here, before any call
        plan = plan_tasks(session, system, now)
        fields_ready = load_cursor(session, system, "task_fields") == TASK_FIELDS_VERSION
    summary.considered = len(plan.creates) + len(plan.unknown) + len(plan.updates)
    if not summary.considered:
        return summary
    before = _calls(adapter)
    result = TaskPushResult()
    try:
        if not fields_ready:
            summary.field_created = target.ensure_task_fields()
            with store.session(tenant_id) as session:
                save_cursor(session, system, "task_fields", TASK_FIELDS_VERSION)
        creates = list(plan.creates)
        if plan.unknown:
            lookup_before = _calls(adapter)
            found = target.find_tasks(plan.unknown)
            summary.lookups += _calls(adapter) - lookup_before
            summary.found = len(found)
            result.created.update(found)
            creates += [w for w in plan.unknown if w.key not in found]
        pushed = target.push_tasks(creates, plan.updates)
        result.created.update(pushed.created)
        for name in ("updated", "gone"):
            getattr(result, name).extend(getattr(pushed, name))
        result.failed.update(pushed.failed)
        summary.create_calls, summary.update_calls = pushed.create_calls, pushed.update_calls
        summary.lookups += pushed.lookups
    except (FatalError, AuthError) as exc:
        summary.stopped = str(exc)
        log.warning("%s task push stopped: %s", system, exc)
    summary.calls = _calls(adapter) - before
    writes = {w.key: w for w in [*plan.creates, *plan.unknown, *plan.updates]}
    with store.session(tenant_id) as session:
        _record(session, system, writes, result, now)
    summary.created = len(result.created) - summary.found
    summary.updated, summary.gone, summary.failed = len(result.updated), len(result.gone), dict(result.failed)
    return summary


def _record(session: Session, system: str, writes: Mapping[str, TaskWrite], result: TaskPushResult,
            now: dt.datetime) -> None:
    keys = list(writes)
    links: dict[str, TaskLink] = {}
    for start in range(0, len(keys), 500):
        links.update({link.key: link for link in session.scalars(select(TaskLink).where(
            TaskLink.system == system, TaskLink.key.in_(keys[start : start + 500])))})
    for key, external_id in result.created.items():
        link = links.get(key)
        if link is not None:
            link.external_id, link.state, link.last_error, link.synced_at = external_id, "created", None, now
            link.sent = _sent(writes[key])
    for key in result.updated:
        link = links.get(key)
        if link is not None:
            link.sent, link.last_error, link.synced_at = _sent(writes[key], link.sent), None, now
    for key in result.gone:
        link = links.get(key)
        if link is not None:
            _deleted_in_crm(link, now)
    for key, error in result.failed.items():
        link = links.get(key)
        if link is None:
            continue
        link.last_error = error[:2000]
        if link.external_id is None:
            link.state = "failed"  # refused: sent again (same key) next push, no lookup needed


def _deleted_in_crm(link: TaskLink, now: dt.datetime) -> None:
    link.state, link.synced_at = "deleted", now
    if link.task.status == "open":
        complete_task(link.task, now)
        log.info("task %s: deleted in %s, closed in Canary", link.task_id, link.system)


def _calls(adapter: Adapter) -> int:
    return int(getattr(adapter, "calls", 0))


# ------------------------------------------------------------------ pull


@dataclass
class TaskPullCounts:
    changed: int = 0
    skipped: int = 0


def write_task_records(session: Session, system: str, records: Sequence[TaskRecord],
                       now: Callable[[], dt.datetime] = utcnow) -> TaskPullCounts:
    """Apply what the CRM changed on Canary's tasks since both sides last agreed (see the module docstring)."""
    counts = TaskPullCounts()
    keys = sorted({r.key for r in records if r.key})
    links: dict[str, TaskLink] = {}
    for start in range(0, len(keys), 500):
        links.update({link.key: link for link in session.scalars(select(TaskLink).where(
            TaskLink.system == system, TaskLink.key.in_(keys[start : start + 500])))})
    users: dict[str, tuple[int, str | None]] = {}
    for external_id, user_id, email in session.execute(select(
            VendorUserLink.external_id, VendorUserLink.user_id, VendorUserLink.email).where(
            VendorUserLink.system == system)):
        users[external_id] = (user_id, email)
    for record in records:
        link = links.get(record.key)
        if link is None or link.state == "deleted":
            counts.skipped += 1  # another workspace's task, or one Canary no longer follows
            continue
        held = {"status": record.status, "due": record.due_date.isoformat() if record.due_date else None,
                "owner": record.owner_ref}
        if link.external_id is None:  # its create's answer was lost: the pull found it
            link.external_id, link.state, link.last_error = record.external_id, "created", None
            link.sent = dict(held)
            link.synced_at = now()
            counts.changed += 1
            continue
        if link.sent.get("owner") is None and held["owner"]:
            link.sent = {**link.sent, "owner": held["owner"]}  # the CRM's default owner of a task Canary left
        changed = [k for k in ("status", "due", "owner") if held[k] != link.sent.get(k)]
        if not changed:
            counts.skipped += 1  # Canary's own write read back, or a change of something Canary does not keep
            continue
        task = link.task
        if "status" in changed:
            if record.status == "done":
                complete_task(task, record.completed_at or now())
            else:
                task.status = "open"
        if "due" in changed:
            task.due_date = record.due_date
        if "owner" in changed and record.owner_ref:
            user = users.get(record.owner_ref)
            task.assignee_user_id = user[0] if user else None
            task.owner = (user[1] if user else None) or task.owner
        link.sent = {**link.sent, **{k: held[k] for k in changed}}
        link.synced_at = now()
        counts.changed += 1
    return counts


def remove_task_records(session: Session, system: str, removals: Sequence[Removal],
                        now: Callable[[], dt.datetime] = utcnow) -> int:
    """CRM tasks deleted since the cursor: their links are marked deleted and their open tasks closed."""
    ids = [r.external_id for r in removals]
    done = 0
    for start in range(0, len(ids), 500):
        for link in session.scalars(select(TaskLink).where(TaskLink.system == system,
                                                           TaskLink.external_id.in_(ids[start : start + 500]))):
            if link.state != "deleted":
                _deleted_in_crm(link, now())
                done += 1
    return done


def open_task_counts(session: Session) -> dict[str, int]:
    """Per system: the open Canary tasks that have a CRM task (for summaries)."""
    counts: dict[str, int] = defaultdict(int)
    for system, in session.execute(select(TaskLink.system).join(Task, Task.id == TaskLink.task_id).where(
            Task.status == "open", TaskLink.state == "created")):
        counts[system] += 1
    return dict(counts)


# ------------------------------------------------------------------ assignment


class AssignError(ValueError):
    """A task cannot be given to this user; the message says why."""


HANDOVER = "handover"
"""Key in `TaskLink.sent` (never sent itself): the CRM user an unassigned task is to be put on at the
next push — the account's owner there, when Canary gave the task up to them (`assign_task`)."""


def assign_task(task: Task, user: User | None, *, owner: str | None = None) -> bool:
    """Give ``task`` to ``user``, an active user of its workspace; the one place a task's assignee and owner
    e-mail are set (console, API, the owner-change policy of `sync.reassign`, plays).

    ``user`` None leaves the task unassigned, for the account's owner: ``owner`` (the owner's e-mail; by
    default the account's) becomes the task's owner, and each CRM copy is put on the account's owner in
    that CRM at the next push when the CRM counts them active (else the CRM keeps the owner it has).
    Returns whether anything changed; the CRMs hear of it at the next push (`push_tasks`)."""
    session = object_session(task)
    if session is None:
        raise AssignError("the task is not in a session")
    if user is not None:
        if not user.active:
            raise AssignError(f"{user.email} is not an active user of this workspace: "
                              "tasks can only be given to active users")
        if user.tenant_id != task.tenant_id:
            raise AssignError(f"{user.email} is not a user of this task's workspace")
        wanted: tuple[int | None, str | None] = (user.id, user.email)
    else:
        if owner is None:
            owner = session.scalar(select(Account.owner).where(Account.id == task.account_id))
        wanted = (None, owner)
    if (task.assignee_user_id, task.owner) == wanted:
        return False
    task.assignee_user_id, task.owner = wanted
    refs: dict[str, str] = {}
    if user is None:
        refs = {system: ref for system, ref in session.execute(
            select(SourceLink.system, SourceLink.owner_ref).where(
                SourceLink.account_id == task.account_id, SourceLink.owner_active.is_(True),
                SourceLink.owner_ref.is_not(None))) if ref}
    for link in task.links:
        if link.external_id is None or link.state == "deleted":
            continue  # a create still to come gives it the account's owner anyway
        sent = {k: v for k, v in link.sent.items() if k != HANDOVER}
        if link.system in refs and refs[link.system] != sent.get("owner"):
            sent[HANDOVER] = refs[link.system]
        if sent != link.sent:
            link.sent = sent
    return True
