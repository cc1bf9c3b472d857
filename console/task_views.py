"""The console's task pages: the Tasks page (open tasks by scope, assignee and due date; reassign the
selected ones, or every open task of someone who leaves), assigning one task from the account profile,
and the workspace settings page with the owner-change policy.

Routes live on the console blueprint, so its guard applies: a live session for every page, the CSRF token
on every POST. Who may move which task is `sync.reassign.may_reassign` (viewers none); every
reassignment is one audit event (`sync.reassign.reassign`), as is a policy change.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from flask import abort, redirect, render_template, request, url_for

from console.tasks import (
    DUE_FILTERS,
    TaskQuery,
    TaskQueryError,
    assignable_users,
    load_tasks,
    users_with_open_tasks,
)
from console.views import _store, admin_only, console, may_change, who
from store.models import TASK_REASSIGN, Task, Tenant, User
from store.types import utcnow
from sync.reassign import POLICY_TEXT, ReassignError, open_task_ids_of, reassign, set_task_policy, target_user
from sync.revenue import RevenueError, probabilities, set_settings

POLICY_LABELS = {"none": "Keep tasks where they are", "automatic": "Move automatic tasks (recommended)",
                 "all": "Move every task"}


def _today() -> dt.date:
    return utcnow().date()


def _form_id(name: str, required: bool = True) -> int | None:
    raw = str(request.form.get(name, "")).strip()
    if not raw:
        if required:
            abort(400, description=f"{name.replace('_', ' ')} is missing")
        return None
    if not raw.isdigit() or len(raw) > 18:
        abort(400, description=f"{name.replace('_', ' ')} must be a number")
    return int(raw)


def _target(s: Any) -> User | None:
    """The form's ``to``: a user id, or ``owner`` for the account's owner (the task is nobody's in Canary)."""
    raw = str(request.form.get("to", "")).strip()
    if raw == "owner":
        return None
    if not raw:
        abort(400, description="choose who to give the tasks to")
    if not raw.isdigit() or len(raw) > 18:
        abort(400, description="the person to give the tasks to must be a user id")
    try:
        return target_user(s, user_id=int(raw))
    except ReassignError as exc:
        abort(exc.status, description=str(exc))


def _reassign(ids: list[int], how: str) -> list[int]:
    me = who()
    with _store().session(me.tenant_id) as s:
        target = _target(s)
        try:
            return reassign(s, ids, target, user_id=me.user_id, role=me.role, actor=me.email, how=how)
        except ReassignError as exc:  # nothing is kept: the session rolls back
            abort(exc.status, description=str(exc))


def _back(default: str, message: str) -> Any:
    """Back to the page the form was on (a path of this site only), with a message."""
    target = str(request.form.get("next", ""))
    if not (target.startswith("/tasks") or target.startswith("/accounts/")) or "//" in target or "\\" in target:
        target = default
    joiner = "&" if "?" in target else "?"
    return redirect(f"{target}{joiner}message={quote(message)}")


def _moved_text(count: int) -> str:
    return "Nothing changed: they were already theirs" if not count else \
        f"{count} task{'s' if count != 1 else ''} reassigned"


@console.get("/tasks")
def tasks() -> Any:
    me = who()
    try:
        query = TaskQuery.parse(request.args, me)
    except TaskQueryError as exc:
        abort(400, description=str(exc))
    with _store().session(me.tenant_id) as s:
        page = load_tasks(s, query, me, _today())
        users = assignable_users(s)
        holders = users_with_open_tasks(s) if me.role in ("admin", "manager") else []
    return render_template("console/tasks.html", page=page, q=query, me=me, users=users, holders=holders,
                           due_filters=DUE_FILTERS, message=request.args.get("message"))


@console.post("/tasks/reassign")
@may_change
def tasks_reassign() -> Any:
    ids = []
    for raw in request.form.getlist("task_id"):
        if not raw.isdigit() or len(raw) > 18:
            abort(400, description="task ids must be numbers")
        ids.append(int(raw))
    if not ids:
        return _back(url_for("console.tasks"), "Select the tasks to reassign first")
    moved = _reassign(ids, "console: selected")
    return _back(url_for("console.tasks"), _moved_text(len(moved)))


@console.post("/tasks/move-all")
@may_change
def tasks_move_all() -> Any:
    """Every open task of one person to another (a CSM who leaves)."""
    me = who()
    source = _form_id("from_user")
    with _store().session(me.tenant_id) as s:
        user = s.get(User, source)
        if user is None:
            abort(404, description="no such user in this workspace")
        ids = open_task_ids_of(s, user.id)
        label = user.name or user.email
    if not ids:
        return _back(url_for("console.tasks"), f"{label} has no open tasks")
    moved = _reassign(ids, f"console: all of {label}")
    return _back(url_for("console.tasks"), _moved_text(len(moved)))


@console.post("/tasks/<int:task_id>/assign")
@may_change
def task_assign(task_id: int) -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        task = s.get(Task, task_id)
        if task is None:
            abort(404, description="no such task in this workspace")
        account_id = task.account_id
    moved = _reassign([task_id], "console: account profile")
    return _back(url_for("console.account", account_id=account_id),
                 "Task reassigned" if moved else "Nothing changed: the task was already theirs")


@console.get("/admin/settings")
@admin_only
def settings() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        tenant = s.get(Tenant, me.tenant_id)
        if tenant is None:
            abort(404, description="no such workspace")
        policy = tenant.task_reassign
        analytics = {"gross_margin": tenant.gross_margin, "p": probabilities(tenant)}
    from console.inapp_views import inapp_section
    from console.mail_views import consent_section, mail_section

    return render_template("console/settings.html", me=me, policy=policy, policies=TASK_REASSIGN,
                           labels=POLICY_LABELS, texts=POLICY_TEXT, analytics=analytics,
                           mail=mail_section(me.tenant_id), consent=consent_section(me.tenant_id),
                           inapp=inapp_section(me.tenant_id),
                           message=request.args.get("message"))


@console.post("/admin/settings/analytics")
@admin_only
def settings_analytics() -> Any:
    me = who()
    wanted = {band: request.form.get(f"p_{band}") for band in ("good", "average", "poor", "none")}
    with _store().session(me.tenant_id) as s:
        try:
            changed = set_settings(s, request.form.get("gross_margin"), wanted, me.email, me.user_id)
        except RevenueError as exc:
            abort(400, description=str(exc))
    return redirect(url_for("console.settings", message="Revenue report settings saved" if changed else
                            "Nothing changed"))


@console.post("/admin/settings/task-reassign")
@admin_only
def settings_task_reassign() -> Any:
    me = who()
    policy = str(request.form.get("task_reassign", ""))
    with _store().session(me.tenant_id) as s:
        try:
            changed = set_task_policy(s, policy, me.email, me.user_id)
        except ReassignError as exc:
            abort(exc.status, description=str(exc))
    text = f"Owner changes now: {POLICY_LABELS[policy].lower()}" if changed else "Nothing changed"
    return redirect(url_for("console.settings", message=text))
