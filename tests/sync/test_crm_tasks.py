"""Issue 14: Canary's tasks in Salesforce and HubSpot, both ways, on the sandbox with 20 % faults.

The CRMs are read back with the vendors' own SDKs (Salesforce ``query_all``, HubSpot's list API with
company associations), never through Canary's adapters, and compared with Canary's open tasks.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from sqlalchemy import select

from integrations.http import RetryPolicy
from plays import templates
from sandbox.server import Sandbox
from scoring import default_model
from store.db import Store
from store.models import SourceLink, Task, TaskLink
from sync import tasks as task_sync
from sync.health import score_tenant
from sync.lists import evaluate_lists
from sync.plays import PlaysSummary, create_from_template, evaluate_plays, publish
from sync.push import push
from sync.runner import sync
from sync.tasks import create_task
from tests.shared import WORLD_AS_OF
from tests.sync.test_sandbox_pipeline import LIMITS, Clock, adapters, new_store

T = TypeVar("T")
CRMS = ("salesforce", "hubspot")
OPTIONS: dict[str, Any] = {"hubspot": {**LIMITS["hubspot"], "search_lag_seconds": 30},
                           "zendesk": LIMITS["zendesk"]}
TASK_OBJECTS = {"salesforce": "Task", "hubspot": "tasks"}


def patient(call: Callable[[], T]) -> T:
    """A test's own SDK call through the faulty sandbox: tried until an answer comes."""
    last: Exception | None = None
    for _ in range(40):
        try:
            return call()
        except Exception as exc:  # any injected fault: the answer is what is tested
            last = exc
    raise AssertionError(f"the sandbox never answered: {last}")


def salesforce_tasks(box: Sandbox) -> list[dict[str, Any]]:
    sf = box.salesforce_client()
    answer = patient(lambda: sf.query_all("SELECT Id, WhatId, IsClosed, Canary_Task_Key__c FROM Task"))
    return [{"id": r["Id"], "key": r["Canary_Task_Key__c"], "record": r["WhatId"], "open": not r["IsClosed"]}
            for r in answer["records"] if r["Canary_Task_Key__c"]]


def hubspot_tasks(box: Sandbox) -> list[dict[str, Any]]:
    api = box.hubspot_client().crm.objects.basic_api
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = patient(lambda at=after: api.get_page("tasks", limit=100, after=at, associations=["companies"],
                                                     properties=["canary_task_key", "hs_task_status"]))
        for task in page.results:
            key = task.properties.get("canary_task_key")
            companies = [a.id for a in (task.associations or {}).get("companies").results] \
                if task.associations and task.associations.get("companies") else []
            if key:
                found.append({"id": task.id, "key": key, "record": companies[0] if companies else None,
                              "open": task.properties.get("hs_task_status") != "COMPLETED"})
        after = page.paging.next.after if page.paging and page.paging.next else None
        if after is None:
            return found


READERS = {"salesforce": salesforce_tasks, "hubspot": hubspot_tasks}


def expected(store: Store, tenant: int, system: str) -> dict[str, str]:
    """Canary's open tasks of accounts linked to ``system``: key -> the account's record there."""
    with store.session(tenant) as s:
        records = dict(s.execute(select(SourceLink.account_id, SourceLink.external_id).where(
            SourceLink.system == system, SourceLink.account_id.is_not(None))).all())
        rows = s.execute(select(Task.account_id, TaskLink.key).join(TaskLink, TaskLink.task_id == Task.id).where(
            Task.status == "open", TaskLink.system == system)).all()
        open_linked = s.scalar(select(Task.id).where(Task.status == "open", Task.account_id.in_(records)).limit(1))
        missing = [t for t in s.scalars(select(Task).where(Task.status == "open", Task.account_id.in_(records)))
                   if not any(link.system == system for link in t.links)]
    assert open_linked is not None
    assert missing == []  # every open task of a linked account has a link in this CRM
    return {key: records[account_id] for account_id, key in rows}


def assert_one_to_one(box: Sandbox, store: Store, tenant: int) -> dict[str, list[dict[str, Any]]]:
    seen: dict[str, list[dict[str, Any]]] = {}
    for system in CRMS:
        crm = READERS[system](box)
        seen[system] = crm
        duplicates = [k for k, n in Counter(t["key"] for t in crm).items() if n > 1]
        assert duplicates == [], system
        want = expected(store, tenant, system)
        assert len(want) >= 20, system
        assert {t["key"]: t["record"] for t in crm if t["open"]} == want, system
    return seen


def open_tasks(store: Store, tenant: int) -> int:
    with store.session(tenant) as s:
        return len(s.scalars(select(Task.id).where(Task.status == "open")).all())


def extra_tasks(store: Store, tenant: int, count: int, title: str) -> None:
    """A batch of new tasks (as a person would add), on the first ``count`` accounts linked to a CRM."""
    with store.session(tenant) as s:
        accounts = sorted({a for a in s.scalars(select(SourceLink.account_id).where(
            SourceLink.system.in_(CRMS), SourceLink.account_id.is_not(None))) if a is not None})
        for n, account_id in enumerate(accounts[:count]):
            create_task(s, account_id, f"{title} #{n}", body="Talk about the renewal.", source="play",
                        source_ref="test", priority=("low", "normal", "high")[n % 3],
                        due_date=WORLD_AS_OF + dt.timedelta(days=3 + n % 10))


def patient_adapters(box: Sandbox) -> dict[str, Any]:
    return adapters(box, **{s: {"policy": RetryPolicy(sleep=lambda _s: None, max_attempts=40)} for s in box.emulators})


def push_all(store: Store, tenant: int, box: Sandbox) -> dict[str, Any]:
    return {system: push(store, tenant, system, adapter) for system, adapter in patient_adapters(box).items()}


def stored_tasks(box: Sandbox, system: str) -> int:
    """Every task record the emulator holds (the vendor's own count, whatever made them)."""
    return len(box.emulators[system].records(TASK_OBJECTS[system]))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Store, int, Clock]]:
    clock = Clock()
    with Sandbox(accounts=80, seed=41, as_of=WORLD_AS_OF, clock=clock, faults=0.2,
                 fault_kinds=("429", "500", "503", "drop"), **OPTIONS) as box:
        store, tenant = new_store(Path(tmp_path_factory.mktemp("tasks")) / "tasks.db")
        first = sync(store, tenant, patient_adapters(box))
        assert all(s.stopped is None for s in first.systems.values()), first.as_dict()
        score_tenant(store, tenant, default_model(), WORLD_AS_OF)
        started = lists_and_plays(store, tenant, publish_templates=True)
        assert started.tasks_created >= 20, started.as_dict()
        yield box, store, tenant, clock


def lists_and_plays(store: Store, tenant: int, *, publish_templates: bool = False) -> PlaysSummary:
    """What follows a score run: the lists, then the plays (the nine ready-made ones, published once)."""
    evaluate_lists(store, tenant, WORLD_AS_OF)
    if publish_templates:
        with store.session(tenant) as s:
            for t in templates():
                assert t.key is not None
                publish(s, create_from_template(s, t.key, "test"), "test", None, WORLD_AS_OF)
    return evaluate_plays(store, tenant, WORLD_AS_OF)


def test_push_makes_the_crm_tasks_canarys_open_tasks_one_to_one_and_again_creates_nothing(
        world: tuple[Sandbox, Store, int, Clock]) -> None:
    box, store, tenant, clock = world
    with store.session(tenant) as s:
        made = Counter(s.scalars(select(Task.source)))
    assert made["play"] >= 20 and made["alert"] >= 5, made  # the plays' tasks and the alerts' tasks
    pushed = push_all(store, tenant, box)
    assert pushed["zendesk"].tasks is None  # Zendesk keeps no tasks
    for system in CRMS:
        summary = pushed[system].tasks
        assert summary is not None and summary.stopped is None, summary
        assert summary.failed == {}
        assert summary.created >= 20
    assert_one_to_one(box, store, tenant)

    before = {system: stored_tasks(box, system) for system in CRMS}
    rerun = lists_and_plays(store, tenant)  # everything a second time: no run starts, no task is made
    assert (sum(rerun.started.values()), rerun.tasks_created) == (0, 0), rerun.as_dict()
    again = push_all(store, tenant, box)
    for system in CRMS:
        summary = again[system].tasks
        assert summary is not None
        assert (summary.considered, summary.create_calls, summary.calls) == (0, 0, 0)
        assert stored_tasks(box, system) == before[system]

    # Canary's own writes do not come back as changes
    clock.advance(600)
    pulled = sync(store, tenant, patient_adapters(box), objects=("tasks",))
    for system in CRMS:
        assert pulled.systems[system].objects["tasks"].changed == 0


def test_completing_ten_tasks_in_the_crms_closes_exactly_those_in_canary(
        world: tuple[Sandbox, Store, int, Clock]) -> None:
    box, store, tenant, clock = world
    push_all(store, tenant, box)
    before = open_tasks(store, tenant)
    with store.session(tenant) as s:
        done_before = set(s.scalars(select(Task.id).where(Task.status == "done")))
    clock.advance(60)
    with store.session(tenant) as s:
        task_of = {link.key: link.task_id for link in s.scalars(select(TaskLink))}
    edits = box.work_tasks(complete=10, redate=3, reassign=0, seed=5, task_of=task_of)
    completed = {e.key for e in edits if e.action == "complete"}
    assert len({task_of[key] for key in completed}) == 10  # ten Canary tasks, never both copies of one
    assert len(completed) == 10 and {e.system for e in edits} == set(CRMS)
    clock.advance(600)  # past HubSpot's search lag
    summary = sync(store, tenant, patient_adapters(box))
    assert all(s.stopped is None for s in summary.systems.values()), summary.as_dict()
    with store.session(tenant) as s:
        closed = set(s.scalars(select(Task.id).where(Task.status == "done"))) - done_before
        completed_here = set(s.scalars(select(TaskLink.task_id).where(TaskLink.key.in_(completed))))
        redated = {e.key: e.value for e in edits if e.action == "redate"}
        dues = {link.key: str(link.task.due_date) for link in s.scalars(
            select(TaskLink).where(TaskLink.key.in_(redated)))}
        stamped = s.scalars(select(Task.completed_at).join(TaskLink).where(TaskLink.key.in_(completed))).all()
    assert len(completed_here) == 10
    assert closed == completed_here, ([(e.system, e.key) for e in edits], summary.as_dict())
    assert open_tasks(store, tenant) == before - 10
    assert dues == redated
    assert all(stamp is not None for stamp in stamped) and len(stamped) == 10

    # The next push closes the same tasks in the other CRM (accounts in both) and creates nothing
    calls = {system: stored_tasks(box, system) for system in CRMS}
    pushed = push_all(store, tenant, box)
    for system in CRMS:
        assert stored_tasks(box, system) == calls[system]
        summary = pushed[system].tasks
        assert summary is not None and summary.create_calls == 0 and summary.failed == {}
    assert_one_to_one(box, store, tenant)


def test_an_interrupted_push_run_again_creates_no_duplicate(
        world: tuple[Sandbox, Store, int, Clock], monkeypatch: pytest.MonkeyPatch) -> None:
    box, store, tenant, _clock = world
    extra_tasks(store, tenant, 30, "Executive sponsor call")

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("killed after the CRMs accepted, before Canary recorded")

    with monkeypatch.context() as patched:
        patched.setattr(task_sync, "_record", crash)
        for system, adapter in patient_adapters(box).items():
            if system in CRMS:
                with pytest.raises(RuntimeError):
                    push(store, tenant, system, adapter)
    with store.session(tenant) as s:
        pending = Counter(link.system for link in s.scalars(select(TaskLink).where(TaskLink.state == "pending")))
    assert pending["salesforce"] >= 10 and pending["hubspot"] >= 10

    rerun = push_all(store, tenant, box)
    for system in CRMS:
        summary = rerun[system].tasks
        assert summary is not None and summary.stopped is None
        assert summary.found == pending[system]
        assert summary.created == 0 and summary.create_calls == 0
    assert_one_to_one(box, store, tenant)


def test_a_lost_create_answer_is_looked_up_not_sent_again(tmp_path: Path) -> None:
    """Half the creates are processed by the vendor and their answers lost: no task is created twice."""
    with Sandbox(accounts=40, seed=43, as_of=WORLD_AS_OF, clock=Clock(), faults=0.5, fault_kinds=("lost",),
                 **OPTIONS) as box:
        for system, ending in (("salesforce", "/composite/sobjects"), ("hubspot", "/tasks/batch/create")):
            box.fault_injectors[system].only = (("POST", ending),)
        box.fault_injectors["zendesk"].only = (("NONE", "/"),)
        store, tenant = new_store(tmp_path / "lost.db")
        first = sync(store, tenant, patient_adapters(box))
        assert all(s.stopped is None for s in first.systems.values()), first.as_dict()
        extra_tasks(store, tenant, 40, "Adoption review")
        pushed = push_all(store, tenant, box)
        lookups = 0
        for system in CRMS:
            summary = pushed[system].tasks
            assert summary is not None and summary.stopped is None and summary.failed == {}, summary
            lookups += summary.lookups
        assert lookups > 0, {s: box.fault_injectors[s].log[-12:] for s in CRMS}  # lost answers looked up
        assert all(box.fault_injectors[s].injected["lost"] > 0 for s in CRMS)
        assert_one_to_one(box, store, tenant)


def test_a_person_works_tasks_on_the_emulated_crms_task_desk_and_canary_follows(
        world: tuple[Sandbox, Store, int, Clock]) -> None:
    """The task desk page (``/_sandbox/tasks``): complete one task in each CRM, re-date one in Salesforce,
    reassign one in HubSpot, over HTTP as a person would; the next sync brings exactly that into Canary."""
    box, store, tenant, clock = world
    push_all(store, tenant, box)
    session = requests.Session()
    session.trust_env = False
    session.verify = box.credentials["salesforce"]["cert_path"]
    desk = {system: box.urls[system].rstrip("/") + "/_sandbox/tasks" for system in CRMS}
    page = session.get(desk["salesforce"])
    assert page.status_code == 200 and "Canary's open tasks" in page.text
    crm_open = {system: [t for t in READERS[system](box) if t["open"]] for system in CRMS}
    assert page.text.count('name="action" value="complete"') == len(crm_open["salesforce"])
    done = {system: crm_open[system][0] for system in CRMS}
    clock.advance(60)
    for system, task in done.items():
        answer = session.post(desk[system], data={"task": task["id"], "action": "complete"})
        assert answer.status_code == 200 and f"Task {task['id']} completed." in answer.text
    later = crm_open["salesforce"][1]
    redated = session.post(desk["salesforce"], data={"task": later["id"], "action": "redate"}).text
    new_due = dt.date.fromisoformat(redated.split(f"Task {later['id']} due ", 1)[1][:10])
    bad = session.post(desk["hubspot"], data={"task": crm_open["hubspot"][1]["id"], "action": "reassign",
                                              "owner": "no-such-owner"})
    assert bad.status_code == 400 and "is no active hubspot user" in bad.text
    assert session.post(desk["hubspot"], data={"task": "nope", "action": "complete"}).status_code == 404
    clock.advance(600)
    sync(store, tenant, patient_adapters(box))
    with store.session(tenant) as s:
        states = {link.key: link.task.status for link in s.scalars(
            select(TaskLink).where(TaskLink.key.in_([t["key"] for t in (*done.values(), later)])))}
        due = s.scalar(select(Task.due_date).join(TaskLink).where(TaskLink.key == later["key"]))
    assert states == {done["salesforce"]["key"]: "done", done["hubspot"]["key"]: "done", later["key"]: "open"}
    assert due == new_due
