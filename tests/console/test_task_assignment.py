"""Console: the owner-change policy setting, the Tasks page, reassigning selected tasks, moving every task
of someone who leaves, and Assign to on the account profile — roles, CSRF, tenants and audit rows."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from extensions import canary_store
from store.models import AuditEvent, Task, Tenant, User
from tests.console.conftest import Workspace, csrf_of, seed_workspace, seeded_workspaces, signed_in_client
from tests.dbtemplate import Templates
from tests.shared import WORLD_AS_OF, pinned_clock


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    with pinned_clock():
        yield


@pytest.fixture
def alpha(console_app: Any, db_templates: Templates) -> Workspace:
    return seeded_workspaces(console_app, db_templates, ("alpha", "Alpha"))[0]


def task_of(ws: Workspace, account: str) -> int:
    return ws.tasks[list(ws.accounts).index(account)]


def assignees(app: Any, ws: Workspace) -> dict[int, int | None]:
    with canary_store(app).session(ws.tenant_id) as s:
        return dict(s.execute(select(Task.id, Task.assignee_user_id)).all())


def events(app: Any, ws: Workspace, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    with canary_store(app).session(ws.tenant_id) as s:
        return [(e.actor, e.target, dict(e.detail)) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


def rows_shown(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-task-id="(\d+)"', html)]


def post(client: Any, path: str, data: dict[str, Any]) -> Any:
    return client.post(path, data={**data, "csrf_token": csrf_of(client)})


def test_an_admin_sets_the_owner_change_policy_audited_and_no_one_else_can(console_app: Any,
                                                                           alpha: Workspace) -> None:
    admin = signed_in_client(console_app, alpha.emails["admin"])
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert 'data-testid="nav-settings"' in page
    assert re.search(r'value="automatic" checked', page)  # the default
    for text in ("Keep tasks where they are", "Move automatic tasks", "Move every task"):
        assert text in page
    answer = post(admin, "/admin/settings/task-reassign", {"task_reassign": "all"})
    assert answer.status_code == 302
    with canary_store(console_app).session() as s:
        tenant = s.get(Tenant, alpha.tenant_id)
        assert tenant is not None and tenant.task_reassign == "all"
    assert events(console_app, alpha, "workspace.task_reassign") == [
        (alpha.emails["admin"], "alpha", {"before": "automatic", "after": "all"})]
    assert post(admin, "/admin/settings/task-reassign", {"task_reassign": "all"}).status_code == 302
    assert len(events(console_app, alpha, "workspace.task_reassign")) == 1  # no change, no event
    bad = post(admin, "/admin/settings/task-reassign", {"task_reassign": "sometimes"})
    assert bad.status_code == 400 and "must be one of none, automatic, all" in bad.get_data(as_text=True)

    manager = signed_in_client(console_app, alpha.emails["manager"])
    assert 'data-testid="nav-settings"' not in manager.get("/tasks").get_data(as_text=True)
    assert manager.get("/admin/settings").status_code == 403
    assert post(manager, "/admin/settings/task-reassign", {"task_reassign": "none"}).status_code == 403
    no_csrf = admin.post("/admin/settings/task-reassign", data={"task_reassign": "none"})
    assert no_csrf.status_code == 403
    with canary_store(console_app).session() as s:
        tenant = s.get(Tenant, alpha.tenant_id)
        assert tenant is not None and tenant.task_reassign == "all"


def test_an_admin_sets_the_revenue_report_settings_audited(console_app: Any, alpha: Workspace) -> None:
    admin = signed_in_client(console_app, alpha.emails["admin"])
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert 'value="0.8" data-testid="gross-margin"' in page and 'value="0.95" data-testid="p-good"' in page
    form = {"gross_margin": "0.72", "p_good": "0.9", "p_average": "0.75", "p_poor": "0.4", "p_none": "0.75"}
    assert post(admin, "/admin/settings/analytics", form).status_code == 302
    with canary_store(console_app).session() as s:
        tenant = s.get(Tenant, alpha.tenant_id)
        assert tenant is not None and tenant.gross_margin == 0.72
        assert tenant.renewal_probabilities == {"good": 0.9, "poor": 0.4}  # only what differs from the defaults
    assert [e[2]["gross_margin"] for e in events(console_app, alpha, "analytics.settings")] == [0.72]
    bad = post(admin, "/admin/settings/analytics", {**form, "gross_margin": "72"})
    assert bad.status_code == 400 and "gross margin must be above 0 and at most 1" in bad.get_data(as_text=True)
    manager = signed_in_client(console_app, alpha.emails["manager"])
    assert post(manager, "/admin/settings/analytics", form).status_code == 403


def test_the_tasks_page_shows_each_scope_filters_and_marks_overdue(console_app: Any, alpha: Workspace) -> None:
    mine = [task_of(alpha, a) for a in ("Alpha Poor Renewing", "Alpha Poor Later", "Alpha Good Steady")]
    late = task_of(alpha, "Alpha Poor Later")
    with canary_store(console_app).session(alpha.tenant_id) as s:
        task = s.get(Task, late)
        assert task is not None
        task.due_date = WORLD_AS_OF - dt.timedelta(days=2)
        other = s.get(Task, task_of(alpha, "Alpha Other Poor"))
        assert other is not None
        other.assignee_user_id = alpha.users["csm"]  # given to the CSM on another CSM's account
    csm = signed_in_client(console_app, alpha.emails["csm"])
    page = csm.get("/tasks").get_data(as_text=True)
    assert 'data-testid="nav-tasks"' in page and "My open tasks" in page
    assert rows_shown(page) == [late, *[t for t in mine if t != late], task_of(alpha, "Alpha Other Poor")]
    assert page.count('data-testid="overdue"') == 1
    assert page.count('name="task_id"') == 4  # all theirs to move
    assert csm.get("/tasks?scope=team").status_code == 400
    everything = csm.get("/tasks?scope=all").get_data(as_text=True)
    assert sorted(rows_shown(everything)) == sorted(alpha.tasks)
    assert everything.count('name="task_id"') == 4  # not the unowned account's, nor csm2's

    manager = signed_in_client(console_app, alpha.emails["manager"])
    team = manager.get("/tasks").get_data(as_text=True)
    assert "My team&#39;s open tasks" in team or "My team's open tasks" in team
    assert sorted(rows_shown(team)) == sorted([*mine, task_of(alpha, "Alpha Other Poor")])
    overdue = manager.get("/tasks?scope=all&due=overdue").get_data(as_text=True)
    assert rows_shown(overdue) == [late]
    nobody = manager.get("/tasks?scope=all&assignee=none").get_data(as_text=True)
    assert sorted(rows_shown(nobody)) == sorted(set(alpha.tasks) - {task_of(alpha, "Alpha Other Poor")})
    theirs = manager.get(f"/tasks?scope=all&assignee={alpha.users['csm']}").get_data(as_text=True)
    assert rows_shown(theirs) == [task_of(alpha, "Alpha Other Poor")]
    assert manager.get("/tasks?due=yesterday").status_code == 400

    viewer = signed_in_client(console_app, alpha.emails["viewer"])
    seen = viewer.get("/tasks").get_data(as_text=True)
    assert sorted(rows_shown(seen)) == sorted(alpha.tasks) and 'name="task_id"' not in seen
    assert console_app.test_client().get("/tasks").status_code == 302  # signed out: to the sign-in page


def test_reassigning_selected_tasks_is_one_audited_action_with_the_rules_per_role(console_app: Any,
                                                                                  alpha: Workspace) -> None:
    picked = [task_of(alpha, "Alpha Poor Renewing"), task_of(alpha, "Alpha Other Poor")]
    manager = signed_in_client(console_app, alpha.emails["manager"])
    answer = post(manager, "/tasks/reassign", {"task_id": [str(t) for t in picked], "to": alpha.users["csm2"],
                                               "next": "/tasks?scope=all"})
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/tasks?scope=all&message=")
    stored = assignees(console_app, alpha)
    assert {t: stored[t] for t in picked} == {picked[0]: alpha.users["csm2"], picked[1]: alpha.users["csm2"]}
    assert [a for t, a in stored.items() if t not in picked] == [None, None, None]
    assert events(console_app, alpha, "task.reassign") == [(alpha.emails["manager"], "2 tasks", {
        "to": alpha.emails["csm2"], "tasks": 2, "task_ids": sorted(picked), "via": "console: selected"})]

    csm = signed_in_client(console_app, alpha.emails["csm"])  # csm2's tasks now: not csm's to move
    refused = post(csm, "/tasks/reassign", {"task_id": [str(picked[0]), str(task_of(alpha, "Alpha Poor Later"))],
                                            "to": alpha.users["csm"]})
    assert refused.status_code == 403
    assert f"not task {picked[0]}" in refused.get_data(as_text=True)
    assert assignees(console_app, alpha) == stored  # all or nothing
    viewer = signed_in_client(console_app, alpha.emails["viewer"])
    assert post(viewer, "/tasks/reassign", {"task_id": str(picked[0]), "to": alpha.users["viewer"]}).status_code \
        == 403
    assert len(events(console_app, alpha, "task.reassign")) == 1

    with canary_store(console_app).session(alpha.tenant_id) as s:
        user = s.get(User, alpha.users["csm"])
        assert user is not None
        user.active = False
    disabled = post(manager, "/tasks/reassign", {"task_id": str(picked[0]), "to": alpha.users["csm"]})
    assert disabled.status_code == 400
    assert "is disabled: tasks can only be given to active users" in disabled.get_data(as_text=True)
    assert assignees(console_app, alpha) == stored


def test_moving_every_task_of_someone_who_leaves(console_app: Any, alpha: Workspace) -> None:
    theirs = [task_of(alpha, a) for a in ("Alpha Poor Renewing", "Alpha Poor Later", "Alpha Good Steady")]
    with canary_store(console_app).session(alpha.tenant_id) as s:
        for task in s.scalars(select(Task).where(Task.id.in_(theirs))):
            task.assignee_user_id = alpha.users["csm"]
        done = s.get(Task, theirs[2])
        assert done is not None
        done.status = "done"  # a done task stays as it was
    admin = signed_in_client(console_app, alpha.emails["admin"])
    page = admin.get("/tasks").get_data(as_text=True)
    assert "Move all open tasks of" in page and "Alpha Csm (csm@alpha.example) — 2 open" in page
    answer = post(admin, "/tasks/move-all", {"from_user": alpha.users["csm"], "to": alpha.users["csm2"]})
    assert answer.status_code == 302 and "2%20tasks%20reassigned" in answer.headers["Location"]
    stored = assignees(console_app, alpha)
    assert [stored[t] for t in theirs] == [alpha.users["csm2"], alpha.users["csm2"], alpha.users["csm"]]
    assert events(console_app, alpha, "task.reassign") == [(alpha.emails["admin"], "2 tasks", {
        "to": alpha.emails["csm2"], "tasks": 2, "task_ids": theirs[:2], "via": "console: all of Alpha Csm"})]
    manager = signed_in_client(console_app, alpha.emails["manager"])
    assert post(manager, "/tasks/move-all", {"from_user": 999999, "to": alpha.users["csm"]}).status_code == 404
    csm = signed_in_client(console_app, alpha.emails["csm"])
    assert "Move all open tasks of" not in csm.get("/tasks").get_data(as_text=True)


def test_assign_to_on_the_account_profile(console_app: Any, alpha: Workspace) -> None:
    bravo = seed_workspace(console_app, "bravo", "Bravo")
    with canary_store(console_app).session(alpha.tenant_id) as s:
        user = s.get(User, alpha.users["viewer"])
        assert user is not None
        user.active = False
    account = alpha.accounts["Alpha Poor Renewing"]
    task_id = task_of(alpha, "Alpha Poor Renewing")
    csm = signed_in_client(console_app, alpha.emails["csm"])
    page = csm.get(f"/accounts/{account}").get_data(as_text=True)
    assert 'data-testid="assign-form"' in page
    options = re.findall(r'<option value="(\d+)"', page)
    assert sorted(int(o) for o in options) == sorted(v for k, v in alpha.users.items() if k != "viewer")
    answer = post(csm, f"/tasks/{task_id}/assign", {"to": alpha.users["csm"], "next": f"/accounts/{account}"})
    assert answer.status_code == 302 and answer.headers["Location"].startswith(f"/accounts/{account}?message=")
    assert assignees(console_app, alpha)[task_id] == alpha.users["csm"]
    shown = csm.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Task reassigned" in shown and "for Alpha Csm" in shown
    assert events(console_app, alpha, "task.reassign")[0][2]["task_ids"] == [task_id]

    other = alpha.accounts["Alpha Other Poor"]  # csm2's account: no form for csm, and a POST is refused
    assert 'data-testid="assign-form"' not in csm.get(f"/accounts/{other}").get_data(as_text=True)
    assert post(csm, f"/tasks/{task_of(alpha, 'Alpha Other Poor')}/assign", {"to": alpha.users["csm"]}).status_code \
        == 403
    assert post(csm, f"/tasks/{bravo.tasks[0]}/assign", {"to": alpha.users["csm"]}).status_code == 404
    assert post(csm, f"/tasks/{task_id}/assign", {"to": bravo.users["csm"]}).status_code == 400
    assert post(csm, f"/tasks/{task_id}/assign", {"to": "someone"}).status_code == 400
    assert post(csm, f"/tasks/{task_id}/assign", {"to": alpha.users["viewer"]}).status_code == 400
    assert assignees(console_app, bravo)[bravo.tasks[0]] is None
    assert len(events(console_app, alpha, "task.reassign")) == 1
