"""The score run's reads as columns give what the ORM objects gave (the reads before, kept here as the
reference): each account's inputs but its usage — subscriptions of one system of record, tickets, survey
answers, contacts with their product users — on a small world with every case, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from scoring import AccountInputs, ContactFact, CsatAnswer, NpsAnswer, TicketFact, default_model
from store.db import Store
from store.models import Account, Contact, ProductUser, Subscription, SurveyResponse, Ticket
from store.queries import active_subscription_terms, active_subscriptions
from store.tenants import create_tenant
from sync.health import InputLoader, Sources, _day

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
    with store.session(tenant_id) as s:
        loader = InputLoader(s, default_model(), DAY, DAY, Sources(usage=False, helpdesk=True))
        got = loader._inputs(ids, {}, {})
        expected = _orm_inputs(loader, ids)
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
