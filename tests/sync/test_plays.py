"""Plays in the store (SQLite and PostgreSQL): runs start once per play, account and reason, advance
through tasks and waits across days, close when their trigger clears, keep their version, and a
preview writes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from console.people import add_user
from plays import load_definition, template
from store import portfolio_keys
from store.db import Store
from store.models import Account, Alert, AuditEvent, Play, PlayRun, PlayVersion, Subscription, Task
from store.tenants import create_tenant
from sync.lists import evaluate_lists
from sync.plays import (
    Effects,
    PlayStateError,
    create_from_template,
    create_play,
    evaluate_plays,
    preview,
    publish,
    runs_of_account,
    save_draft,
    start_by_hand,
    turn_off,
)
from sync.tasks import complete_task
from tests.shared import WORLD_AS_OF

DAY = WORLD_AS_OF


def days(n: int) -> dt.date:
    return DAY + dt.timedelta(days=n)


@pytest.fixture
def tenant(store: Store) -> int:
    with store.session() as s:
        t, _ = create_tenant(s, "plays", "Plays CS")
        return t.id


def _world(store: Store, tenant: int) -> dict[str, int]:
    """A manager with two CSMs; accounts owned by ana (Dropping, Renewing), by a departed CSM (Orphan)."""
    with store.session(tenant) as s:
        boss = add_user(s, "boss@cs.example", "manager")
        ana = add_user(s, "ana@cs.example", "csm", manager=boss)
        ben = add_user(s, "ben@cs.example", "csm", manager=boss)
        ids: dict[str, int] = {"boss": boss.id, "ana": ana.id, "ben": ben.id}
        for name, owner, renewal in (("Dropping", "ana@cs.example", None), ("Renewing", "ana@cs.example", 110),
                                     ("Orphan", "gone@cs.example", None), ("Calm", "ben@cs.example", 300)):
            account = Account(name=name, owner=owner)
            s.add(account)
            s.flush()
            ids[name] = account.id
            if renewal is not None:
                s.add(Subscription(account_id=account.id, system="hubspot", external_id=f"deal-{name}",
                                   arr=Decimal(12000), status="active", start_date=dt.date(2026, 1, 15),
                                   renewal_date=days(renewal)))
        for name in ("Dropping", "Orphan"):
            s.add(Alert(account_id=ids[name], rule="usage_drop", dedupe_key=f"usage_drop:{ids[name]}",
                        title="Usage dropped", reasons=["Weekly active users fell 70 %"],
                        raised_at=dt.datetime.combine(days(-1), dt.time(6), dt.UTC)))
        s.flush()
        from console.people import assign_csms

        assign_csms(s)
        portfolio_keys.refresh(s)
    return ids


def _live(store: Store, tenant: int, key: str) -> int:
    with store.session(tenant) as s:
        play = create_from_template(s, key, "boss@cs.example")
        publish(s, play, "boss@cs.example", None, DAY)
        return play.id


def _tasks(store: Store, tenant: int, account_id: int | None = None) -> list[Task]:
    with store.session(tenant) as s:
        query = select(Task).order_by(Task.id)
        if account_id is not None:
            query = query.where(Task.account_id == account_id)
        return list(s.scalars(query))


def _runs(store: Store, tenant: int) -> list[PlayRun]:
    with store.session(tenant) as s:
        return list(s.scalars(select(PlayRun).order_by(PlayRun.id)))


def test_an_alert_play_walks_its_steps_across_days_and_never_twice(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    play_id = _live(store, tenant, "usage-drop-get-well")

    first = evaluate_plays(store, tenant, DAY)
    assert first.started == {"Usage drop get-well plan": 2}
    assert first.tasks_created == 2
    tasks = _tasks(store, tenant)
    assert [(t.account_id, t.title, t.priority, t.due_date, t.source) for t in tasks] == [
        (ids["Dropping"], "Find out why usage dropped at Dropping", "high", days(2), "play"),
        (ids["Orphan"], "Find out why usage dropped at Orphan", "high", days(2), "play"),
    ]
    assert tasks[0].assignee_user_id == ids["ana"] and tasks[0].owner == "ana@cs.example"
    # Orphan's owner left: the rule falls back to the CSM's manager, there is none (no CSM) → round-robin
    assert tasks[1].assignee_user_id in (ids["ana"], ids["ben"])
    assert tasks[0].body == "Weekly active users fell 70 %"

    again = evaluate_plays(store, tenant, DAY)  # same day again: nothing new, nobody skipped
    assert (sum(again.started.values()), again.skipped, again.tasks_created) == (0, 0, 0)
    assert evaluate_plays(store, tenant, days(1)).tasks_created == 0  # waiting for the first task

    with store.session(tenant) as s:
        complete_task(s.get(Task, tasks[0].id))
    step2 = evaluate_plays(store, tenant, days(2))
    assert step2.tasks_created == 1
    dropping = _tasks(store, tenant, ids["Dropping"])
    assert [t.title for t in dropping] == ["Find out why usage dropped at Dropping",
                                          "Agree a get-well plan with Dropping"]
    assert evaluate_plays(store, tenant, days(10)).tasks_created == 0  # inside the 14-day wait
    step3 = evaluate_plays(store, tenant, days(16))
    assert step3.tasks_created == 1 and step3.done == 1
    runs = [r for r in _runs(store, tenant) if r.account_id == ids["Dropping"]]
    assert [(r.state, r.active_key) for r in runs] == [("done", None)]
    states = [e["state"] for e in runs[0].log]
    assert states[0] == "queued" and states[-1] == "done"
    assert any("waiting 14 day(s), until" in e["message"] for e in runs[0].log)
    with store.session(tenant) as s:
        log = runs_of_account(s, ids["Dropping"])
    assert [(name, r.state) for r, name in log] == [("Usage drop get-well plan", "done")]
    assert play_id


def test_auto_close_closes_the_run_and_its_open_tasks_when_the_alert_resolves(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    _live(store, tenant, "usage-drop-get-well")
    evaluate_plays(store, tenant, DAY)
    with store.session(tenant) as s:
        alert = s.scalar(select(Alert).where(Alert.account_id == ids["Dropping"]))
        alert.status = "resolved"
    summary = evaluate_plays(store, tenant, days(1))
    assert (summary.closed, summary.tasks_closed) == (1, 1)
    task = _tasks(store, tenant, ids["Dropping"])[0]
    assert task.status == "done"
    assert task.closed_reason == ("Closed by play “Usage drop get-well plan”: trigger cleared: "
                                  "the usage_drop alert resolved")
    run = next(r for r in _runs(store, tenant) if r.account_id == ids["Dropping"])
    assert (run.state, run.active_key) == ("closed", None)
    orphan = next(r for r in _runs(store, tenant) if r.account_id == ids["Orphan"])
    assert orphan.state == "running"


def test_a_second_firing_while_running_is_skipped_with_why(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    with store.session(tenant) as s:  # the NPS play does not auto-close: a new alert meets a running run
        definition = load_definition({**template("usage-drop-get-well").as_dict(), "auto_close": False})
        play = create_play(s, definition, "boss@cs.example")
        publish(s, play, "boss@cs.example", None, DAY)
    evaluate_plays(store, tenant, DAY)
    with store.session(tenant) as s:
        old = s.scalar(select(Alert).where(Alert.account_id == ids["Dropping"]))
        old.status = "resolved"
        s.add(Alert(account_id=ids["Dropping"], rule="usage_drop", dedupe_key="usage_drop:again", title="Again",
                    reasons=["fell again"], raised_at=dt.datetime.combine(days(3), dt.time(6), dt.UTC)))
    summary = evaluate_plays(store, tenant, days(3))
    assert (sum(summary.started.values()), summary.skipped, summary.tasks_created) == (0, 1, 0)
    skipped = [r for r in _runs(store, tenant) if r.state == "skipped"]
    assert len(skipped) == 1 and skipped[0].account_id == ids["Dropping"]
    assert skipped[0].why.startswith(f"already running since {DAY}")
    assert evaluate_plays(store, tenant, days(4)).skipped == 0  # each firing is handled once


def test_editing_a_live_play_changes_no_started_run_unless_asked(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    play_id = _live(store, tenant, "usage-drop-get-well")
    evaluate_plays(store, tenant, DAY)
    edited = load_definition({**template("usage-drop-get-well").as_dict(),
                              "steps": [{"type": "task", "subject": "New first step for {account}"}]})
    with store.session(tenant) as s:
        play = s.get(Play, play_id)
        save_draft(s, play, edited, "boss@cs.example")
        assert play.version == 1 and play.draft is not None
    with store.session(tenant) as s:
        complete_task(s.scalar(select(Task).where(Task.account_id == ids["Dropping"])))
    evaluate_plays(store, tenant, days(1))  # the draft is not live: version 1's second step runs
    assert [t.title for t in _tasks(store, tenant, ids["Dropping"])][-1] == "Agree a get-well plan with Dropping"
    with store.session(tenant) as s:
        play = s.get(Play, play_id)
        assert publish(s, play, "boss@cs.example", None, days(1)) == 2
        assert s.scalar(select(func.count()).select_from(PlayVersion).where(PlayVersion.play_id == play_id)) == 2
    runs = {r.account_id: r.version for r in _runs(store, tenant)}
    assert runs == {ids["Dropping"]: 1, ids["Orphan"]: 1}
    with store.session(tenant) as s:
        play = s.get(Play, play_id)
        save_draft(s, play, edited, "boss@cs.example")
        publish(s, play, "boss@cs.example", None, days(1), migrate_runs=True)
    assert {r.version for r in _runs(store, tenant)} == {3}
    with store.session(tenant) as s:
        assert s.scalar(select(AuditEvent.detail).where(AuditEvent.action == "play.published")
                        .order_by(AuditEvent.id.desc()).limit(1))["runs_moved"] == 2


def test_a_date_trigger_fires_inside_its_window_only(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    _live(store, tenant, "renewal-120")
    summary = evaluate_plays(store, tenant, DAY)
    assert summary.started == {"Renewal 120-day path": 1}  # renews in 110 days: inside −120…−90
    task = _tasks(store, tenant)[0]
    assert task.account_id == ids["Renewing"]
    assert task.title == f"Renewal kickoff for Renewing (renews {days(110)})"
    run = _runs(store, tenant)[0]
    assert run.episode == days(110).isoformat()
    assert run.trigger_reasons == [f"Renewal date {days(110)} (in 110 days)"]


def test_preview_says_who_would_start_and_what_tasks_and_writes_nothing(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    with store.session(tenant) as s:
        play = create_from_template(s, "usage-drop-get-well", "boss@cs.example")
        result = preview(s, play, template("usage-drop-get-well"), DAY)
    assert (result.starts, result.skips, result.tasks) == (2, 0, 2)
    row = next(r for r in result.rows if r.account_id == ids["Dropping"])
    assert row.action == "start"
    assert [(t.subject, t.assignee, t.due) for t in row.tasks] == [
        ("Find out why usage dropped at Dropping", "ana@cs.example", days(2))]
    assert row.later[0] == "Wait until the previous task is done"
    assert _tasks(store, tenant) == [] and _runs(store, tenant) == []


def test_email_and_webhook_steps_retry_then_fail_and_turning_off_closes_tasks(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    definition = load_definition({
        "name": "Notify", "trigger": {"type": "alert", "rule": "usage_drop"},
        "steps": [{"type": "task", "subject": "Look at {account}"},
                  {"type": "email", "to": "owner", "subject": "{account} dropped", "body": "{reasons}"},
                  {"type": "webhook", "url": "https://hooks.example/canary"},
                  {"type": "set_field", "field": "account.lifecycle_stage", "value": "at-risk"}]})
    with store.session(tenant) as s:
        play = create_play(s, definition, "boss@cs.example")
        publish(s, play, "boss@cs.example", None, DAY)
        play_id = play.id
    sent: list[tuple[str, str, str]] = []
    calls: list[dict[str, Any]] = []
    answers = iter([500, 503, 204, 500, 500, 500])

    def post(url: str, body: Any, headers: Any) -> int:
        calls.append({"url": url, "body": body, "delivery": headers["Canary-Delivery"]})
        return next(answers)

    effects = Effects(mailer=lambda to, subject, body: sent.append((to, subject, body)), post=post)
    evaluate_plays(store, tenant, DAY, effects=effects)
    assert sorted(sent) == [("ana@cs.example", "Dropping dropped", "Weekly active users fell 70 %"),
                            ("gone@cs.example", "Orphan dropped", "Weekly active users fell 70 %")]
    assert len(calls) == 2  # both runs' webhook failed once (500, 503)
    evaluate_plays(store, tenant, days(1), effects=effects)  # 204 for the first, 500 for the second
    evaluate_plays(store, tenant, days(2), effects=effects)  # second: 500 again: its third failure
    states = {r.account_id: r.state for r in _runs(store, tenant)}
    assert states == {ids["Dropping"]: "done", ids["Orphan"]: "failed"}
    assert len(sent) == 2 and len(calls) == 5
    assert {c["delivery"] for c in calls} == {f"play-run-{r.id}-step-3" for r in _runs(store, tenant)}
    with store.session(tenant) as s:
        assert s.get(Account, ids["Dropping"]).lifecycle_stage == "at-risk"
        assert s.get(Account, ids["Orphan"]).lifecycle_stage is None
        play = s.get(Play, play_id)
        assert turn_off(s, play, "boss@cs.example", None, days(3)) == (0, 0)  # nothing running any more
        with pytest.raises(PlayStateError):
            start_by_hand(s, play, [ids["Calm"]], "boss@cs.example", None, days(3))


def test_turning_off_closes_running_runs_and_their_open_tasks(store: Store, tenant: int) -> None:
    _world(store, tenant)
    play_id = _live(store, tenant, "usage-drop-get-well")
    evaluate_plays(store, tenant, DAY)
    with store.session(tenant) as s:
        assert turn_off(s, s.get(Play, play_id), "boss@cs.example", None, days(1)) == (2, 2)
    assert {t.status for t in _tasks(store, tenant)} == {"done"}
    assert all(t.closed_reason and "turned off by boss@cs.example" in t.closed_reason for t in _tasks(store, tenant))
    assert {r.state for r in _runs(store, tenant)} == {"closed"}


def test_started_by_hand_once_per_account_until_done(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    play_id = _live(store, tenant, "thirty-day-check-in")
    with store.session(tenant) as s:
        play = s.get(Play, play_id)
        first = start_by_hand(s, play, [ids["Calm"]], "boss@cs.example", ids["boss"], DAY)
        second = start_by_hand(s, play, [ids["Calm"]], "boss@cs.example", ids["boss"], DAY)
        with pytest.raises(ValueError, match="no such account"):
            start_by_hand(s, play, [999999], "boss@cs.example", ids["boss"], DAY)
    assert (first.started["30-day check-in"], first.tasks_created, first.done) == (1, 1, 1)
    assert (second.skipped, second.tasks_created) == (0, 1)  # the first run is done: a new one starts
    task = _tasks(store, tenant, ids["Calm"])[0]
    assert task.assignee_user_id == ids["ben"]


def test_a_list_trigger_starts_for_members_and_closes_when_they_leave(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    definition = load_definition({"name": "Renewals soon", "trigger": {"type": "list_entered", "list": "renewal-120"},
                                  "auto_close": True, "steps": [{"type": "task", "subject": "Plan {account}"}]})
    evaluate_lists(store, tenant, DAY)
    with store.session(tenant) as s:
        play = create_play(s, definition, "boss@cs.example")
        publish(s, play, "boss@cs.example", None, DAY)
    summary = evaluate_plays(store, tenant, DAY)
    assert summary.started == {"Renewals soon": 1}
    run = _runs(store, tenant)[0]
    assert run.account_id == ids["Renewing"] and run.trigger_reasons[0].startswith("Entered list “Renewals in 120")
    assert run.state == "done"  # one task, no wait: done at once, the task stays open
    with store.session(tenant) as s:
        sub = s.scalar(select(Subscription).where(Subscription.account_id == ids["Renewing"]))
        sub.renewal_date = days(400)
        portfolio_keys.refresh(s)
    evaluate_lists(store, tenant, days(1))
    assert evaluate_plays(store, tenant, days(1)).closed == 0  # a done run is not closed again
