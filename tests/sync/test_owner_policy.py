"""The owner-change policy on the store alone: an account without a CSM gets one, and its unassigned
automatic tasks follow; nothing else moves; a sync that changes nothing moves nothing and audits nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from console.people import add_user
from store.models import Account, AuditEvent, SourceLink, Task
from sync.owners import apply_owners
from sync.tasks import create_task
from tests.shared import pinned_clock
from tests.sync.test_owners import new_store


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    with pinned_clock():
        yield


def test_an_account_without_a_csm_gets_one_and_its_unassigned_automatic_tasks_follow(tmp_path: Path) -> None:
    store, tenant = new_store(tmp_path / "policy.db")
    with store.session(tenant) as s:
        ana = add_user(s, "ana@x.example", "csm")
        ben = add_user(s, "ben@x.example", "csm")
        account = Account(name="Acme")
        s.add(account)
        s.flush()
        s.add(SourceLink(system="hubspot", external_id="7", account_id=account.id, method="new", reason="test",
                         owner="gone@x.example", owner_ref="51", owner_active=True))
        first = apply_owners(s)
        assert (first.csms_changed, first.tasks_reassigned) == (0, 0)  # no active user owns it
        made = {
            "alert": create_task(s, account.id, "Usage dropped", source="alert", owner="gone@x.example"),
            "play": create_task(s, account.id, "Renewal", source="play", owner="gone@x.example"),
            "manual": create_task(s, account.id, "Lunch", source="manual", owner="gone@x.example"),
            "bens": create_task(s, account.id, "Escalation", source="alert", assignee_user_id=ben.id,
                                owner=ben.email),
        }
        s.flush()
        ids = {name: task.id for name, task in made.items()}
        link = s.scalar(select(SourceLink))
        assert link is not None
        link.owner, link.owner_ref = ana.email, "52"
        s.flush()
        counts = apply_owners(s)
        assert (counts.csms_changed, counts.tasks_reassigned) == (1, 2)
        got = {name: (s.get(Task, task_id).assignee_user_id, s.get(Task, task_id).owner)  # type: ignore[union-attr]
               for name, task_id in ids.items()}
        assert got == {"alert": (ana.id, ana.email), "play": (ana.id, ana.email),
                       "manual": (None, "gone@x.example"), "bens": (ben.id, ben.email)}
        again = apply_owners(s)
        assert (again.csms_changed, again.tasks_reassigned) == (0, 0)
        audit = [(e.actor, e.detail) for e in s.scalars(select(AuditEvent).where(
            AuditEvent.action == "task.reassign.owner_change"))]
    assert audit == [("sync", {"policy": "automatic", "tasks": 2, "accounts": 1,
                               "task_ids": sorted([ids["alert"], ids["play"]])})]
