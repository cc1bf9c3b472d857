"""Issue 14, assignment: an account changes owner in the emulated Salesforce, as a user would (the SDK
updates the Account's ``OwnerId``); the next sync applies the workspace's owner-change policy to its open
tasks, and the next push puts the moved tasks on the new owner in Salesforce (read back with the SDK).

One sandbox world and one store for the module; each test works on its own account of one CSM.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from console.people import add_user
from sandbox.generate import CSM_OWNERS
from sandbox.server import Sandbox
from store.db import Store
from store.models import Account, AuditEvent, SourceLink, Task, TaskLink, Tenant, User
from sync.push import push
from sync.runner import sync
from sync.tasks import create_task
from tests.shared import WORLD_AS_OF, pinned_clock
from tests.sync.test_sandbox_pipeline import LIMITS, Clock, adapters, new_store


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Store, int, Clock]]:
    with pinned_clock():
        clock = Clock()  # the emulators' clock, from the pinned one
        with Sandbox(accounts=40, seed=23, as_of=WORLD_AS_OF, clock=clock, **LIMITS) as box:
            yield from _world(box, clock, Path(tmp_path_factory.mktemp("owner-change")) / "owners.db")


def _world(box: Sandbox, clock: Clock, path: Path) -> Iterator[tuple[Sandbox, Store, int, Clock]]:
    """The team of the world's truth as Canary users (the CSM who left is none), then a first full sync."""
    truth = json.loads(Path(box.truth_path).read_text())
    store, tenant = new_store(path)
    with store.session(tenant) as s:
        for member in truth["team"]:
            if member["active"]:
                add_user(s, member["email"], "manager" if member["role"] == "manager" else "csm")
    first = sync(store, tenant, adapters(box))
    assert all(x.stopped is None for x in first.systems.values()), first.as_dict()
    yield box, store, tenant, clock


def salesforce_owner_ids(box: Sandbox) -> dict[str, str]:
    """Every user of the emulated org: e-mail -> Salesforce user id (read with the SDK)."""
    users = box.salesforce_client().query_all("SELECT Id, Email FROM User WHERE IsActive = true")["records"]
    return {u["Email"]: u["Id"] for u in users}


def task_owners(box: Sandbox, keys: list[str]) -> dict[str, str]:
    """The Salesforce Tasks with these Canary keys: key -> OwnerId (read with the SDK)."""
    quoted = ", ".join(f"'{k}'" for k in keys)
    answer = box.salesforce_client().query_all(
        f"SELECT Id, OwnerId, Canary_Task_Key__c FROM Task WHERE Canary_Task_Key__c IN ({quoted})")
    return {r["Canary_Task_Key__c"]: r["OwnerId"] for r in answer["records"]}


def pick_account(store: Store, tenant: int, csm_email: str) -> tuple[int, str]:
    """An account of ``csm_email`` whose Salesforce record names them, and that record's id."""
    with store.session(tenant) as s:
        rows = s.execute(select(Account.id, SourceLink.external_id)
                         .join(SourceLink, SourceLink.account_id == Account.id)
                         .join(User, User.id == Account.csm_user_id)
                         .where(User.email == csm_email, SourceLink.system == "salesforce")
                         .order_by(Account.id)).all()
    assert rows, csm_email
    return rows[0][0], rows[0][1]


def seed_tasks(store: Store, tenant: int, account_id: int, csm_email: str, other_email: str) -> dict[str, int]:
    """Five open tasks on the account: the CSM's alert, play and manual tasks, an unassigned play task, and
    an alert task given to another CSM."""
    due = WORLD_AS_OF + dt.timedelta(days=5)
    with store.session(tenant) as s:
        users = dict(s.execute(select(User.email, User.id)).all())
        made = {
            "alert": create_task(s, account_id, "Usage dropped", source="alert", due_date=due,
                                 assignee_user_id=users[csm_email], owner=csm_email),
            "play": create_task(s, account_id, "Renewal check", source="play", source_ref="renewal", due_date=due,
                                assignee_user_id=users[csm_email], owner=csm_email),
            "manual": create_task(s, account_id, "Send the QBR deck", source="manual", due_date=due,
                                  assignee_user_id=users[csm_email], owner=csm_email),
            "unassigned": create_task(s, account_id, "Executive sponsor", source="play", due_date=due,
                                      owner=csm_email),
            "other": create_task(s, account_id, "Support escalation", source="alert", due_date=due,
                                 assignee_user_id=users[other_email], owner=other_email),
        }
        s.flush()
        return {name: task.id for name, task in made.items()}


def set_policy(store: Store, tenant: int, policy: str) -> None:
    with store.session() as s:
        row = s.get(Tenant, tenant)
        assert row is not None
        row.task_reassign = policy


def push_salesforce(box: Sandbox, store: Store, tenant: int) -> Any:
    summary = push(store, tenant, "salesforce", adapters(box)["salesforce"]).tasks
    assert summary is not None and summary.stopped is None and summary.failed == {}, summary
    return summary


def assignees(store: Store, tenant: int, ids: dict[str, int]) -> dict[str, tuple[str | None, str | None]]:
    with store.session(tenant) as s:
        emails = dict(s.execute(select(User.id, User.email)).all())
        return {name: (emails.get(t.assignee_user_id) if t.assignee_user_id else None, t.owner)
                for name, t in ((name, s.get(Task, task_id)) for name, task_id in ids.items()) if t is not None}


def keys_of(store: Store, tenant: int, ids: dict[str, int]) -> dict[str, str]:
    with store.session(tenant) as s:
        by_task = dict(s.execute(select(TaskLink.task_id, TaskLink.key).where(
            TaskLink.system == "salesforce", TaskLink.task_id.in_(ids.values()))).all())
    return {name: by_task[task_id] for name, task_id in ids.items()}


MOVED = {"none": set(), "automatic": {"alert", "play", "unassigned"}, "all": {"alert", "play", "manual", "unassigned"}}


@pytest.mark.parametrize(("policy", "old", "new"), [
    ("none", CSM_OWNERS[0], CSM_OWNERS[1]),
    ("automatic", CSM_OWNERS[2], CSM_OWNERS[3]),
    ("all", CSM_OWNERS[4], CSM_OWNERS[5]),
])
def test_a_new_account_owner_in_salesforce_takes_the_tasks_the_policy_says(
        world: tuple[Sandbox, Store, int, Clock], policy: str, old: str, new: str) -> None:
    box, store, tenant, clock = world
    other = CSM_OWNERS[7]
    account_id, record = pick_account(store, tenant, old)
    ids = seed_tasks(store, tenant, account_id, old, other)
    set_policy(store, tenant, policy)
    push_salesforce(box, store, tenant)
    keys = keys_of(store, tenant, ids)
    sf_users = salesforce_owner_ids(box)
    before = task_owners(box, list(keys.values()))
    assert before == {keys[n]: sf_users[other if n == "other" else old] for n in ids}

    clock.advance(60)
    # A Salesforce admin hands it over, in Salesforce (not through Canary's integration user, whose own
    # changes incremental pulls leave out).
    box.emulators["salesforce"].update("Account", record, {"OwnerId": sf_users[new]})
    clock.advance(600)
    summary = sync(store, tenant, adapters(box))
    assert all(x.stopped is None for x in summary.systems.values()), summary.as_dict()

    moved = MOVED[policy]
    assert summary.owners.csms_changed == 1
    assert summary.owners.tasks_reassigned == len(moved)
    assert summary.as_dict()["owners"]["tasks_reassigned"] == len(moved)
    want = {name: ((new, new) if name in moved else
                   (other, other) if name == "other" else
                   (None, old) if name == "unassigned" else (old, old)) for name in ids}
    assert assignees(store, tenant, ids) == want
    with store.session(tenant) as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "task.reassign.owner_change",
                                                         AuditEvent.target == f"{len(moved)} tasks")))
        account = s.get(Account, account_id)
        assert account is not None and account.owner == new
    if moved:
        assert len(events) == 1 and events[0].actor == "sync"
        assert sorted(events[0].detail["task_ids"]) == sorted(ids[n] for n in moved)
        assert events[0].detail["policy"] == policy and events[0].detail["tasks"] == len(moved)
    else:
        assert events == []

    pushed = push_salesforce(box, store, tenant)
    assert pushed.updated == len(moved)
    after = task_owners(box, list(keys.values()))
    assert after == {keys[n]: sf_users[new if n in moved else other if n == "other" else old] for n in ids}


def test_an_owner_who_is_no_canary_user_gets_the_tasks_in_salesforce_and_canary_leaves_them_unassigned(
        world: tuple[Sandbox, Store, int, Clock]) -> None:
    """The account goes to a Salesforce user who is no Canary user (the org's integration user): its alert
    and play tasks become nobody's in Canary, kept for the owner's e-mail, and Salesforce puts them on the
    account's new owner; the task of another CSM stays theirs everywhere."""
    box, store, tenant, clock = world
    old, other = CSM_OWNERS[6], CSM_OWNERS[7]
    account_id, record = pick_account(store, tenant, old)
    ids = seed_tasks(store, tenant, account_id, old, other)
    set_policy(store, tenant, "automatic")
    push_salesforce(box, store, tenant)
    keys = keys_of(store, tenant, ids)
    sf_users = salesforce_owner_ids(box)
    with store.session(tenant) as s:
        canary_users = set(s.scalars(select(User.email)))
    outsider = next(email for email in sorted(sf_users) if email not in canary_users)

    clock.advance(60)
    box.emulators["salesforce"].update("Account", record, {"OwnerId": sf_users[outsider]})  # an admin, in Salesforce
    clock.advance(600)
    summary = sync(store, tenant, adapters(box))
    assert summary.owners.tasks_reassigned == 3
    assert assignees(store, tenant, ids) == {"alert": (None, outsider), "play": (None, outsider),
                                             "unassigned": (None, outsider), "manual": (old, old),
                                             "other": (other, other)}
    push_salesforce(box, store, tenant)
    assert task_owners(box, list(keys.values())) == {
        keys[n]: sf_users[outsider if n in ("alert", "play", "unassigned") else other if n == "other" else old]
        for n in ids}
    assert push_salesforce(box, store, tenant).considered == 0  # handed over once: nothing more to send
