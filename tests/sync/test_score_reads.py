"""The score run's reads as columns and its set-wise writes give what the ORM objects gave (the code before,
kept here as the reference), on a small world with every case, on SQLite and PostgreSQL: each account's inputs
but its usage — subscriptions of one system of record, tickets, survey answers, contacts with their product
users —, and the alerts raised with their tasks."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from scoring import (
    AccountInputs,
    ContactFact,
    CsatAnswer,
    HealthScore,
    NpsAnswer,
    Signals,
    TicketFact,
    compute_signals,
    default_model,
    evaluate_alerts,
    score_account,
)
from store.db import Store
from store.models import Account, Alert, Contact, ProductUser, Subscription, SurveyResponse, Task, Ticket
from store.queries import active_subscription_terms, active_subscriptions
from store.tenants import create_tenant
from sync.health import InputLoader, ScoreSummary, Sources, _alerts, _day
from sync.tasks import create_task

DAY = dt.date(2026, 11, 20)
AT = dt.datetime(2026, 11, 10, 9, tzinfo=dt.UTC)


@pytest.fixture
def world(store: Store) -> tuple[int, list[int]]:
    with store.session() as s:
        tenant_id = create_tenant(s, "reads", "Reads")[0].id
    with store.session(tenant_id) as s:
        accounts = [Account(name=f"Account {k}", segment="smb" if k % 2 else "enterprise", tier="growth",
                            lifecycle_stage="customer") for k in range(5)]
        s.add_all(accounts)
        s.flush()
        a, b, c, d, e = (x.id for x in accounts)

        def sub(account: int, system: str, ext: str, arr: str | None, seats: int | None, renewal: dt.date | None,
                **kw: Any) -> Subscription:
            return Subscription(account_id=account, system=system, external_id=ext,
                                arr=None if arr is None else Decimal(arr), seats_purchased=seats,
                                start_date=kw.pop("start", dt.date(2025, 3, 1)), renewal_date=renewal, **kw)

        s.add_all([
            # two systems: Salesforce's count; two of its deals add up
            sub(a, "hubspot", "h1", "99000.00", 90, DAY + dt.timedelta(days=40)),
            sub(a, "salesforce", "s2", "1200.10", 10, DAY + dt.timedelta(days=300), start=dt.date(2024, 1, 2)),
            sub(a, "salesforce", "s1", "0.20", 3, DAY + dt.timedelta(days=20)),
            # HubSpot only; a renewed term (term_end) and a lost deal do not count
            sub(b, "hubspot", "h2", "5000.00", None, DAY - dt.timedelta(days=5)),
            sub(b, "hubspot", "h3", "7000.00", 4, DAY + dt.timedelta(days=360), term_end=DAY),
            sub(b, "salesforce", "s3", "8000.00", 4, DAY + dt.timedelta(days=9), status="lost"),
            sub(c, "zendesk", "z1", None, 12, None, start=None),
        ])
        s.add_all([
            Ticket(account_id=a, system="zendesk", external_id="t1", priority="urgent", status="open",
                   escalated=True, created_at=AT),
            Ticket(account_id=a, system="zendesk", external_id="t2", priority="low", status="solved",
                   created_at=AT - dt.timedelta(days=3), solved_at=AT),
            Ticket(account_id=b, system="zendesk", external_id="t3", priority="high", status="pending",
                   created_at=AT - dt.timedelta(days=200)),  # old but still open
            Ticket(account_id=b, system="zendesk", external_id="t4", priority="high", status="closed",
                   created_at=AT - dt.timedelta(days=200), solved_at=AT - dt.timedelta(days=190)),  # old, closed
            Ticket(account_id=None, system="zendesk", external_id="t5", priority="high", status="open",
                   created_at=AT),
        ])
        s.add_all([
            SurveyResponse(account_id=a, kind="csat", score=1, submitted_at=AT),
            SurveyResponse(account_id=a, kind="csat", score=0, submitted_at=AT - dt.timedelta(days=1)),
            SurveyResponse(account_id=c, kind="nps", score=9, submitted_at=AT - dt.timedelta(days=30)),
            SurveyResponse(account_id=c, kind="nps", score=3, submitted_at=AT - dt.timedelta(days=400)),  # too old
        ])
        s.add_all([
            Contact(account_id=a, email="cham@a.example", name="Cham", role="champion",
                    last_active_at=AT - dt.timedelta(days=9)),
            Contact(account_id=a, email="exec@a.example", name="Exec", role="executive_sponsor"),
            Contact(account_id=a, email="plain@a.example", name="Plain", role="user"),
            Contact(account_id=d, email="twin@d.example", name=None, role="admin", last_active_at=AT),
            ProductUser(user_key="u-cham", account_id=a, email="cham@a.example", last_seen=AT),
            ProductUser(user_key="u-twin", account_id=e, email="twin@d.example", last_seen=AT),  # another account
        ])
    return tenant_id, [a, b, c, d, e, 10**6]


def _orm_inputs(loader: InputLoader, ids: list[int]) -> list[AccountInputs]:
    """`InputLoader._inputs` as it read before: ORM objects for subscriptions, tickets, answers and contacts."""
    s = loader.session
    accounts = {a.id: a for a in s.scalars(select(Account).where(Account.id.in_(ids)))}
    subs = active_subscriptions(s, ids)
    tickets: dict[int, list[TicketFact]] = defaultdict(list)
    for t in s.scalars(select(Ticket).where(Ticket.account_id.in_(ids)).where(
            (Ticket.created_at >= dt.datetime.combine(loader.ticket_start, dt.time(), dt.UTC))
            | Ticket.status.not_in(("solved", "closed")))):
        if t.account_id is not None:
            tickets[t.account_id].append(TicketFact(t.external_id, t.priority, t.status,  # type: ignore[arg-type]
                                                    t.created_at.date(), _day(t.solved_at), t.escalated))
    csat: dict[int, list[CsatAnswer]] = defaultdict(list)
    nps: dict[int, list[NpsAnswer]] = defaultdict(list)
    survey_start = dt.datetime.combine(loader.window_start - dt.timedelta(days=180), dt.time(), dt.UTC)
    for r in s.scalars(select(SurveyResponse).where(SurveyResponse.account_id.in_(ids),
                                                    SurveyResponse.submitted_at >= survey_start)):
        if r.account_id is not None:
            if r.kind == "csat":
                csat[r.account_id].append(CsatAnswer(r.submitted_at.date(), r.score >= 1))
            else:
                nps[r.account_id].append(NpsAnswer(r.submitted_at.date(), r.score))
    contacts: dict[int, list[ContactFact]] = defaultdict(list)
    for contact, user_key, last_seen in s.execute(
            select(Contact, ProductUser.user_key, ProductUser.last_seen)
            .outerjoin(ProductUser, (ProductUser.email == Contact.email)
                       & (ProductUser.account_id == Contact.account_id))
            .where(Contact.account_id.in_(ids), Contact.role != "user")).all():
        if contact.account_id is not None:
            last = max((d for d in (_day(contact.last_active_at), _day(last_seen)) if d is not None), default=None)
            contacts[contact.account_id].append(
                ContactFact(user_key or contact.email, contact.role, contact.name, last))  # type: ignore[arg-type]
    out = []
    for account_id in ids:
        a = accounts.get(account_id)
        if a is None:
            continue
        mine = sorted(subs.get(account_id, []), key=lambda x: x.id)
        renewals = sorted(x.renewal_date for x in mine if x.renewal_date)
        starts = sorted(x.start_date for x in mine if x.start_date)
        seats = [x.seats_purchased for x in mine if x.seats_purchased]
        arr = [float(x.arr) for x in mine if x.arr is not None]
        out.append(AccountInputs(
            account_id=account_id, name=a.name, segment=a.segment, tier=a.tier, lifecycle_stage=a.lifecycle_stage,
            parent_id=a.parent_id, arr=sum(arr) if arr else None, seats_purchased=sum(seats) if seats else None,
            renewal_date=next((r for r in renewals if r >= loader.last_day), renewals[-1] if renewals else None),
            onboarding_start=starts[0] if starts else None, usage=None,
            tickets=tuple(tickets.get(account_id, ())) if loader.has_helpdesk else None,
            csat=tuple(csat.get(account_id, ())), nps=tuple(nps.get(account_id, ())),
            contacts=tuple(contacts.get(account_id, ()))))
    return out


def test_inputs_read_as_columns_equal_the_orm_reads(store: Store, world: tuple[int, list[int]]) -> None:
    tenant_id, ids = world
    with store.session() as s:  # another workspace's account, subscription and ticket: never read
        other = create_tenant(s, "other", "Other")[0].id
    with store.session(other) as s:
        stranger = Account(name="Stranger", segment="smb", tier="growth", lifecycle_stage="customer")
        s.add(stranger)
        s.flush()
        s.add_all([Subscription(account_id=stranger.id, system="salesforce", external_id="x1", arr=Decimal("7.00"),
                                seats_purchased=3, start_date=DAY, renewal_date=DAY),
                   Ticket(account_id=stranger.id, system="zendesk", external_id="x-t", priority="high", status="open",
                          created_at=AT)])
    with store.session(tenant_id) as s:
        loader = InputLoader(s, default_model(), DAY, DAY, Sources(usage=False, helpdesk=True))
        got = loader._inputs(ids, {}, {})
        expected = _orm_inputs(loader, ids)
        # A whole run's facts, each table read once for the workspace, give each chunk the same inputs.
        facts = loader.read_facts(None)
        whole = InputLoader(s, default_model(), DAY, DAY, Sources(usage=False, helpdesk=True), facts)
        assert whole._inputs(ids, {}, {}) == expected
        assert whole._inputs(ids[3:], {}, {}) == expected[3:]
        assert set(facts.accounts) == set(ids[:5])
        assert stranger.id not in facts.subscriptions and stranger.id not in facts.tickets
        terms = active_subscription_terms(s, ids)
        objects = active_subscriptions(s, ids)
    assert got == expected
    assert len(got) == 5  # the unknown id is left out
    a, b, c = got[0], got[1], got[2]
    # The values the ORM reads gave, spelt out: Salesforce's two deals for A, HubSpot's one live deal for B.
    assert (a.arr, a.seats_purchased, a.renewal_date) == (1200.3, 13, DAY + dt.timedelta(days=20))
    assert (b.arr, b.seats_purchased, b.renewal_date) == (5000.0, None, DAY - dt.timedelta(days=5))
    assert (c.arr, c.seats_purchased, c.onboarding_start) == (None, 12, None)
    assert [t.ticket_id for t in a.tickets or ()] == ["t1", "t2"] and [t.ticket_id for t in b.tickets or ()] \
        == ["t3"]
    assert len(a.csat) == 2 and [n.score for n in c.nps] == [9]
    assert sorted((f.role, f.user_key) for f in a.contacts) == [("champion", "u-cham"),
                                                                 ("executive_sponsor", "exec@a.example")]
    assert got[3].contacts[0].user_key == "twin@d.example"  # the twin address at another account is not its user
    # The subscriptions themselves: the same ones, of the same system, in id order.
    assert sorted(terms) == sorted(objects)
    for account_id, rows in objects.items():
        by_id = sorted(rows, key=lambda x: x.id)
        assert terms[account_id] == [(x.system, x.arr, x.seats_purchased, x.start_date, x.renewal_date)
                                     for x in by_id]


def _orm_alerts(session: Session, model: Any, day: dt.date, scores: dict[int, HealthScore],
                signals: dict[int, Signals], summary: ScoreSummary) -> None:
    """`sync.health._alerts` as it wrote before (a whole run): ORM `Alert` objects, one flush, `create_task`."""
    open_alerts: dict[int, dict[str, Alert]] = defaultdict(dict)
    for alert in session.scalars(select(Alert).where(Alert.status == "open")):
        open_alerts[alert.account_id][alert.dedupe_key] = alert
    owners = {a: (o, c) for a, o, c in session.execute(select(Account.id, Account.owner, Account.csm_user_id))}
    now = dt.datetime.combine(day, dt.time(6), tzinfo=dt.UTC)  # a fixed stamp (`_written` leaves it out)
    raised: list[Alert] = []
    for account_id, score in scores.items():
        mine = open_alerts.get(account_id, {})
        outcome = evaluate_alerts(score, [], signals[account_id], model, set(mine))
        for candidate in outcome.new:
            raised.append(Alert(account_id=account_id, rule=candidate.rule, dedupe_key=candidate.dedupe_key,
                                severity=candidate.severity, title=candidate.title,
                                reasons=list(candidate.reasons), raised_at=now))
            summary.alerts_raised += 1
            summary.alerts_by_rule[candidate.rule] += 1
    session.add_all(raised)
    session.flush()
    for alert in raised:
        owner, csm = owners.get(alert.account_id, (None, None))
        urgent = alert.severity in ("high", "critical")
        create_task(session, alert.account_id, alert.title, body="\n".join(alert.reasons), owner=owner,
                    assignee_user_id=csm, source="alert", alert_id=alert.id,
                    priority="high" if urgent else "low" if alert.severity == "info" else "normal",
                    due_date=day + dt.timedelta(days=3 if urgent else 7))
    session.flush()


def _written(session: Session) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The alerts and their tasks as stored (ids replaced by the alert's place in id order)."""
    alerts = session.execute(select(Alert.id, Alert.tenant_id, Alert.account_id, Alert.rule, Alert.dedupe_key,
                                    Alert.severity, Alert.title, Alert.reasons, Alert.status, Alert.resolved_at)
                             .order_by(Alert.id)).all()
    place = {row[0]: k for k, row in enumerate(alerts)}
    tasks = session.execute(select(Task.id, Task.tenant_id, Task.account_id, Task.alert_id, Task.title, Task.body,
                                   Task.owner, Task.due_date, Task.status, Task.system, Task.external_id,
                                   Task.assignee_user_id, Task.priority, Task.source, Task.source_ref,
                                   Task.completed_at, Task.play_run_id, Task.closed_reason).order_by(Task.id)).all()
    return ([tuple(r[1:]) for r in alerts],
            [(*r[1:3], place[r[3]], *r[4:]) for r in tasks])


def test_alerts_and_tasks_written_set_wise_equal_the_orm_writes(store: Store, world: tuple[int, list[int]]) -> None:
    tenant_id, ids = world
    model = default_model()
    with store.session(tenant_id) as s:
        s.execute(update(Account).where(Account.id == ids[0]).values(owner="owner@example.com"))
        s.add(SurveyResponse(account_id=ids[2], kind="nps", score=2, submitted_at=AT))
    with store.session(tenant_id) as s:
        inputs = InputLoader(s, model, DAY, DAY).load(ids)
    signals = {a.account_id: compute_signals(a, DAY, model) for a in inputs}
    scores = {k: score_account(v, model) for k, v in signals.items()}
    written = []
    for write in (_alerts, _orm_alerts):
        summary = ScoreSummary()
        with store.session(tenant_id) as s:
            write(s, model, DAY, scores, signals, summary)
            s.flush()
            written.append((_written(s), summary.alerts_raised, dict(summary.alerts_by_rule)))
            s.rollback()
    assert written[0] == written[1]
    (alerts, tasks), raised, by_rule = written[0]
    assert raised == len(alerts) == len(tasks) >= 2
    assert len(by_rule) >= 2 and {t[11] for t in tasks} >= {"high", "normal"}
    assert any(t[5] == "owner@example.com" for t in tasks)
