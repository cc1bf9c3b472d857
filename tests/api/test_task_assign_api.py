"""PATCH /api/v1/tasks/<id>: reassign a task by e-mail (or to the account owner with null), with the
console's rules per role, clear 400/403/404 answers, one audit row, and no reach into another workspace."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from extensions import canary_store
from store.models import AuditEvent, Task, User
from tests.api.test_api_v1 import bearer
from tests.console.conftest import Workspace, seed_workspace, seeded_workspaces
from tests.dbtemplate import Templates
from tests.shared import pinned_clock


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    with pinned_clock():
        yield


@pytest.fixture
def alpha(console_app: Any, db_templates: Templates) -> Workspace:
    return seeded_workspaces(console_app, db_templates, ("alpha", "Alpha"))[0]


def task_of(ws: Workspace, account: str) -> int:
    return ws.tasks[list(ws.accounts).index(account)]


def stored(app: Any, ws: Workspace, task_id: int) -> tuple[int | None, str | None]:
    with canary_store(app).session(ws.tenant_id) as s:
        task = s.get(Task, task_id)
        assert task is not None
        return task.assignee_user_id, task.owner


def audit_rows(app: Any, ws: Workspace) -> list[AuditEvent]:
    with canary_store(app).session(ws.tenant_id) as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "task.reassign")))
        s.expunge_all()
        return rows


def patch(app: Any, ws: Workspace, role: str, task_id: int, body: Any) -> Any:
    return app.test_client().patch(f"/api/v1/tasks/{task_id}", json=body, headers=bearer(app, ws, role))


def test_a_manager_gives_a_task_to_a_csm_by_e_mail_and_it_is_audited(console_app: Any, alpha: Workspace) -> None:
    task_id = task_of(alpha, "Alpha Poor Renewing")
    answer = patch(console_app, alpha, "manager", task_id, {"assignee": alpha.emails["csm2"].upper()})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["id"], body["assignee_user_id"], body["owner_email"]) == (
        task_id, alpha.users["csm2"], alpha.emails["csm2"])
    assert stored(console_app, alpha, task_id) == (alpha.users["csm2"], alpha.emails["csm2"])
    events = audit_rows(console_app, alpha)
    assert len(events) == 1
    assert (events[0].actor, events[0].actor_user_id) == (alpha.emails["manager"], alpha.users["manager"])
    assert events[0].detail == {"to": alpha.emails["csm2"], "tasks": 1, "task_ids": [task_id], "via": "api"}


def test_null_gives_the_task_back_to_the_account_owner(
        console_app: Any, alpha: Workspace) -> None:
    task_id = task_of(alpha, "Alpha Poor Renewing")
    with canary_store(console_app).session(alpha.tenant_id) as s:
        task = s.get(Task, task_id)
        assert task is not None
        task.assignee_user_id = alpha.users["csm2"]
        task.owner = alpha.emails["csm2"]
    answer = patch(console_app, alpha, "admin", task_id, {"assignee": None})
    assert answer.status_code == 200
    assert stored(console_app, alpha, task_id) == (None, alpha.emails["csm"])  # the account's owner
    assert audit_rows(console_app, alpha)[0].detail["to"] == "account owner"


MATRIX = [  # role, whose task, answer
    ("csm", "Alpha Poor Renewing", 200),  # unassigned, on their own account
    ("csm", "Alpha Other Poor", 403),  # another CSM's account
    ("csm2", "Alpha Other Poor", 200),
    ("csm2", "Alpha Poor Renewing", 403),
    ("viewer", "Alpha Poor Renewing", 403),
    ("manager", "Alpha Other Poor", 200),
    ("admin", "Alpha Unowned", 200),
]


def test_who_may_reassign_which_task(console_app: Any, alpha: Workspace) -> None:
    for role, account, status in MATRIX:
        task_id = task_of(alpha, account)
        before = stored(console_app, alpha, task_id)
        answer = patch(console_app, alpha, role, task_id, {"assignee": alpha.emails["manager"]})
        assert answer.status_code == status, (role, account, answer.get_json())
        events = audit_rows(console_app, alpha)
        if status == 200:
            assert stored(console_app, alpha, task_id) == (alpha.users["manager"], alpha.emails["manager"])
            assert len(events) == 1 and events[0].actor == alpha.emails[role]
        else:
            assert "reassign" in answer.get_json()["error"]
            assert stored(console_app, alpha, task_id) == before
            assert events == []
        with canary_store(console_app).session(alpha.tenant_id) as s:  # as it was, for the next row
            task = s.get(Task, task_id)
            assert task is not None
            task.assignee_user_id, task.owner = None, before[1]
            for event in s.scalars(select(AuditEvent).where(AuditEvent.action == "task.reassign")):
                s.delete(event)


def test_a_disabled_user_is_refused_with_a_reason(console_app: Any, alpha: Workspace) -> None:
    with canary_store(console_app).session(alpha.tenant_id) as s:
        user = s.get(User, alpha.users["csm2"])
        assert user is not None
        user.active = False
    task_id = task_of(alpha, "Alpha Poor Renewing")
    answer = patch(console_app, alpha, "admin", task_id, {"assignee": alpha.emails["csm2"]})
    assert answer.status_code == 400
    assert answer.get_json()["error"] == f"{alpha.emails['csm2']} is disabled: tasks can only be given to active users"
    assert stored(console_app, alpha, task_id) == (None, alpha.emails["csm"])


BAD_BODIES = [
    ([], "send a JSON object"),
    ({}, "the only field that can be changed is assignee"),
    ({"assignee": "x@y.example", "title": "new"}, "unknown: title"),
    ({"assignee": 7}, "assignee must be an e-mail address or null"),
    ({"assignee": "nobody@alpha.example"}, "nobody@alpha.example is not a user of this workspace"),
    ({"assignee": ""}, "say who to give the tasks to"),
]


def test_bad_bodies_are_400_with_a_reason(console_app: Any, alpha: Workspace) -> None:
    task_id = task_of(alpha, "Alpha Poor Renewing")
    for body, reason in BAD_BODIES:
        answer = patch(console_app, alpha, "admin", task_id, body)
        assert answer.status_code == 400 and answer.mimetype == "application/json", body
        assert reason in answer.get_json()["error"], body
    assert stored(console_app, alpha, task_id) == (None, alpha.emails["csm"])
    assert audit_rows(console_app, alpha) == []


def test_another_workspaces_task_and_user_are_not_found(console_app: Any, alpha: Workspace) -> None:
    bravo = seed_workspace(console_app, "bravo", "Bravo")
    theirs = bravo.tasks[0]
    answer = patch(console_app, alpha, "admin", theirs, {"assignee": alpha.emails["csm"]})
    assert answer.status_code == 404 and answer.get_json()["error"] == f"no task {theirs} in this workspace"
    assert stored(console_app, bravo, theirs) == (None, bravo.emails["csm"])
    mine = task_of(alpha, "Alpha Poor Renewing")
    answer = patch(console_app, alpha, "admin", mine, {"assignee": bravo.emails["csm"]})
    assert answer.status_code == 400 and "is not a user of this workspace" in answer.get_json()["error"]
    no_token = console_app.test_client().patch(f"/api/v1/tasks/{mine}", json={"assignee": None})
    assert no_token.status_code == 401
