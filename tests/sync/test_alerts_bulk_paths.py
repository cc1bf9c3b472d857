"""`sync.health._alerts` reads open alerts as columns and writes new ones with one INSERT … SELECT … RETURNING and
resolved ones with one UPDATE. Over four score runs of a varied world (usage falling, recovering and going
quiet, full seats, renewals near with poor health, champions going quiet, a second workspace alongside), it
raises, keeps and resolves the same alerts, with the same tasks (made and completed), as the way before
(SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, cast

import pytest
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from scoring import HealthModel, HealthScore, Signals, default_model, evaluate_alerts
from store.db import Store
from store.models import Account, Alert, Contact, HealthSnapshot, Subscription, Task, UsageDaily
from store.panel_views import touches
from store.scoping import current_tenant
from store.tenants import create_tenant
from sync import health
from sync.health import ScoreSummary, _chunks, _DayScore, score_tenant
from sync.tasks import NewTask, complete_task, create_tasks
from tests.shared import pinned_clock

TODAY = dt.date(2026, 11, 20)


def _old_alerts(session: Session, model: HealthModel, day: dt.date, scores: dict[int, HealthScore],
                signals: dict[int, Signals], summary: ScoreSummary, only: Sequence[int] | None = None,
                meanwhile: Callable[[], Any] | None = None, waited: Any = None, candidates: Any = None) -> None:
    """`sync.health._alerts` the way before: open alerts as ORM objects, new ones by an executemany and their ids
    read back by this run's stamp, resolved ones changed on their objects; `meanwhile` (the portfolio keys' refresh)
    run after them, as it was; the rules evaluated for every account (`candidates` not read)."""
    _old_alerts_only(session, model, day, scores, signals, summary, only)
    if meanwhile is not None:
        meanwhile()


def _old_alerts_only(session: Session, model: HealthModel, day: dt.date, scores: dict[int, HealthScore],
                     signals: dict[int, Signals], summary: ScoreSummary, only: Sequence[int] | None = None) -> None:
    open_alerts: dict[int, dict[str, Alert]] = defaultdict(dict)
    history: dict[int, list[_DayScore]] = defaultdict(list)
    owners: dict[int, tuple[str | None, int | None]] = {}
    for ids in ([None] if only is None else list(_chunks(list(only)))):
        alerts = select(Alert).where(Alert.status == "open")
        # The rules read each earlier day's score and band only: no snapshot objects, no parts to decode.
        snaps = select(HealthSnapshot.account_id, HealthSnapshot.day, HealthSnapshot.score, HealthSnapshot.band
                       ).where(HealthSnapshot.day >= day - dt.timedelta(days=60), HealthSnapshot.day < day)
        people = select(Account.id, Account.owner, Account.csm_user_id)
        if ids is not None:
            alerts = alerts.where(Alert.account_id.in_(ids))
            snaps = snaps.where(HealthSnapshot.account_id.in_(ids))
            people = people.where(Account.id.in_(ids))
        for alert in session.scalars(alerts):
            open_alerts[alert.account_id][alert.dedupe_key] = alert
        for account_id, earlier, points, band in session.execute(snaps):
            history[account_id].append(_DayScore(earlier, points, band))
        for account_id, owner, csm in session.execute(people):
            owners[account_id] = (owner, csm)
    now = dt.datetime.combine(day, dt.time(10), dt.UTC)  # the run's stamp: its day, not the wall clock
    raised: list[dict[str, Any]] = []
    resolved_ids: list[int] = []
    tenant_id = current_tenant(session)
    for account_id, score in scores.items():
        mine = open_alerts.get(account_id, {})
        outcome = evaluate_alerts(score, history.get(account_id, []), signals[account_id], model, set(mine))
        for candidate in outcome.new:
            raised.append({"tenant_id": tenant_id, "account_id": account_id, "rule": candidate.rule,
                           "dedupe_key": candidate.dedupe_key, "severity": candidate.severity,
                           "title": candidate.title, "reasons": list(candidate.reasons), "status": "open",
                           "raised_at": now, "resolved_at": None})
            summary.alerts_raised += 1
            summary.alerts_by_rule[candidate.rule] += 1
        for key in outcome.resolved:
            alert = mine[key]
            alert.status, alert.resolved_at = "resolved", now
            resolved_ids.append(alert.id)
            summary.alerts_resolved += 1
    if raised:
        # New alerts in one executemany (no ORM object each; RETURNING in the rows' order would be a statement per
        # row on SQLite), then their ids read back by what names each of them: account, key and this run's stamp.
        table = cast(Table, Alert.__table__)
        marks = touches(row["account_id"] for row in raised)
        if len({(row["account_id"], row["dedupe_key"]) for row in raised}) == len(raised):
            session.execute(insert(table), raised, execution_options=marks)
            new_ids = {(account_id, key): alert_id for alert_id, account_id, key in session.execute(
                select(table.c.id, table.c.account_id, table.c.dedupe_key).where(
                    table.c.tenant_id == tenant_id, table.c.status == "open", table.c.raised_at == now))}
            alert_ids = [new_ids[(row["account_id"], row["dedupe_key"])] for row in raised]
        else:  # a key raised twice for one account: the ids as RETURNING gives them
            alert_ids = list(session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                             raised, execution_options=marks).scalars())
        tasks = []
        for alert_id, row in zip(alert_ids, raised, strict=True):
            owner, csm = owners.get(row["account_id"], (None, None))
            urgent = row["severity"] in ("high", "critical")
            tasks.append(NewTask(row["account_id"], row["title"], body="\n".join(row["reasons"]), owner=owner,
                                 assignee_user_id=csm, source="alert", alert_id=alert_id,
                                 priority="high" if urgent else "low" if row["severity"] == "info" else "normal",
                                 due_date=day + dt.timedelta(days=3 if urgent else 7)))
        create_tasks(session, tasks)
    for start in range(0, len(resolved_ids), 500):
        for task in session.scalars(select(Task).where(Task.alert_id.in_(resolved_ids[start : start + 500]),
                                                       Task.status == "open")):
            complete_task(task)


def _usage(account_id: int, users: int, days: Sequence[int], events: tuple[str, ...]) -> list[UsageDaily]:
    return [UsageDaily(account_id=account_id, user_key=f"a{account_id}-u{u}", event=event,
                       day=TODAY - dt.timedelta(days=back), count=1 + (back + u) % 3, minutes=10.0)
            for back in days for u in range(users) for event in events]


def _world(store: Store, tenant_id: int, accounts: int = 30) -> list[int]:
    with store.session(tenant_id) as s:
        rows = [Account(name=f"Co {k}", segment=("smb", "mid_market", "enterprise")[k % 3],
                        owner=f"csm{k % 3}@canary.test" if k % 4 else None) for k in range(accounts)]
        s.add_all(rows)
        s.flush()
        ids = [a.id for a in rows]
        for k, account_id in enumerate(ids):
            users = 1 + k % 9
            s.add(Subscription(account_id=account_id, system="salesforce", external_id=f"006-{k}",
                               arr=Decimal(20000 + 1000 * k), seats_purchased=(users, users + 10, 2 * users)[k % 3],
                               start_date=dt.date(2025, 1, 1) + dt.timedelta(days=9 * k),
                               renewal_date=TODAY + dt.timedelta(days=(15, 45, 200, 400)[k % 4]), status="active"))
            events = ("Logged In", "Report Created") if k % 2 else ("Logged In",)
            pattern = k % 5
            if pattern == 0:  # steady
                s.add_all(_usage(account_id, users, range(0, 40), events))
            elif pattern == 1:  # falling two weeks ago
                s.add_all(_usage(account_id, users, range(14, 40), events) +
                          _usage(account_id, max(1, users // 4), range(0, 14), events))
            elif pattern == 2:  # gone quiet
                s.add_all(_usage(account_id, users, range(5 + k % 20, 40), events))
            elif pattern == 3:  # one day in three lately
                s.add_all(_usage(account_id, users, range(14, 40), events) +
                          _usage(account_id, users, range(0, 14, 3), events))
            if k % 3 == 0:
                s.add(Contact(account_id=account_id, email=f"champ{k}@co.test", role="champion",
                              last_active_at=dt.datetime.combine(TODAY - dt.timedelta(days=5 * k), dt.time(9),
                                                                 dt.UTC)))
    return ids


def _next_days(store: Store, tenant_id: int, ids: list[int], step: int) -> None:
    """Usage after TODAY: the falling recover, the steady keep on, the quiet stay quiet."""
    with store.session(tenant_id) as s:
        for k, account_id in enumerate(ids):
            if k % 5 in (0, 1) and (k + step) % 3:
                s.add_all(_usage(account_id, 1 + k % 9, range(-7 * step, -7 * (step - 1)),
                                 ("Logged In", "Report Created")))


def _key(dedupe_key: str) -> str:
    """A dedupe key without its account id (``rule:account[:qualifier]``): the workspaces' ids differ."""
    parts = dedupe_key.split(":")
    return ":".join([parts[0], "#", *parts[2:]])


def _stored(store: Store, tenant_id: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with store.session(tenant_id) as s:
        alerts = [tuple(r) for r in s.execute(select(
            Alert.account_id, Alert.rule, Alert.dedupe_key, Alert.severity, Alert.title, Alert.reasons, Alert.status,
            Alert.resolved_at.is_(None)).order_by(Alert.id))]
        tasks = [tuple(r) for r in s.execute(select(
            Task.account_id, Task.title, Task.body, Task.status, Task.priority, Task.due_date, Task.source,
            Task.owner, Task.assignee_user_id, Task.completed_at.is_(None), Alert.dedupe_key)
            .join(Alert, Alert.id == Task.alert_id).order_by(Task.id))]
    return alerts, tasks


def test_alerts_raised_and_resolved_in_bulk_are_those_of_the_way_before(store: Store,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    model = default_model()
    runs = []
    evaluated: list[int] = []
    evaluate = health._evaluate

    def counting(model: HealthModel, scores: dict[int, HealthScore], *args: Any) -> None:
        evaluated.append(len(scores))
        evaluate(model, scores, *args)

    monkeypatch.setattr(health, "_evaluate", counting)
    with pinned_clock():  # the code under test stamps rows with the clock: pinned to the suite's day
        for slug, writer in (("old", _old_alerts), ("new", health._alerts)):
            monkeypatch.setattr(health, "_alerts", writer)
            with store.session() as s:
                tenant_id = create_tenant(s, slug, slug)[0].id
            ids = _world(store, tenant_id)
            position = {account_id: k for k, account_id in enumerate(ids)}
            seen = []
            for step in range(4):
                if step:
                    _next_days(store, tenant_id, ids, step)
                day = TODAY + dt.timedelta(days=7 * step)
                since = day - dt.timedelta(days=2) if step == 0 else None  # the first run: three days of history
                summary = score_tenant(store, tenant_id, model, day, since=since)
                alerts, tasks = _stored(store, tenant_id)
                seen.append((summary.alerts_raised, summary.alerts_resolved, dict(summary.alerts_by_rule),
                             [(position[a[0]], a[1], _key(a[2]), *a[3:]) for a in alerts],
                             [(position[t[0]], *t[1:-1], _key(t[-1])) for t in tasks]))
            runs.append(seen)
    old, new = runs
    assert new == old
    # the one-day runs' new way evaluated the rules only for the accounts they may raise or resolve for (here most
    # of them, not all); the first run, of three days, evaluated every account
    assert evaluated[0] == 30 and len(evaluated) == 4 and all(0 < n < 30 for n in evaluated[1:]), evaluated
    assert sum(step[0] for step in old) > 10 and sum(step[1] for step in old) > 0
    assert len({a[1] for a in old[-1][3]}) >= 3  # several rules
    assert any(t[3] == "done" for t in old[-1][4]) and any(t[3] == "open" for t in old[-1][4])
