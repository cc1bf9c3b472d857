"""Portfolio lists in the store (SQLite and PostgreSQL): shipped lists installed once, memberships and
their history written only where they change across days, versions of an edited list, and the event
stream a play engine will read."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from store import portfolio_keys
from store.db import Store
from store.models import (
    Account,
    Alert,
    AuditEvent,
    HealthSnapshot,
    PortfolioList,
    PortfolioListEvent,
    PortfolioListMember,
    PortfolioListVersion,
    ProductUser,
    Subscription,
)
from store.tenants import create_tenant
from sync.lists import create_list, edit_list, evaluate_lists, membership_events
from tests.shared import WORLD_AS_OF
from worklists import default_lists, load_definition

DAY1 = WORLD_AS_OF
DAY2 = WORLD_AS_OF + dt.timedelta(days=1)


@pytest.fixture
def tenant(store: Store) -> int:
    with store.session() as s:
        t, _ = create_tenant(s, "lists", "Lists CS")
        return t.id


def _snapshot(account_id: int, day: dt.date, score: float, band: str, measures: dict[str, float]) -> HealthSnapshot:
    return HealthSnapshot(account_id=account_id, day=day, score=score, band=band, trend=0.0, reasons=[],
                          parts={"parts": {name: {"signal": name, "value": value, "status": "good", "points": 50.0,
                                                  "weight": 1.0, "dimension": "engagement", "label": name}
                                           for name, value in measures.items()}})


def _world(store: Store, tenant: int) -> dict[str, int]:
    """Renewing (30 days), Later (100 days), Dropping (open usage_drop alert), Quiet (nothing yet)."""
    with store.session(tenant) as s:
        ids = {}
        for name, renewal in (("Renewing", 30), ("Later", 100), ("Dropping", None), ("Quiet", None)):
            account = Account(name=name, segment="smb")
            s.add(account)
            s.flush()
            ids[name] = account.id
            if renewal is not None:
                s.add(Subscription(account_id=account.id, system="hubspot", external_id=f"deal-{name}",
                                   arr=Decimal(12000), status="active", start_date=dt.date(2026, 1, 15),
                                   renewal_date=DAY1 + dt.timedelta(days=renewal)))
            s.add(_snapshot(account.id, DAY1 - dt.timedelta(days=6), 60.0, "average", {"feature_breadth": 25.0}))
            s.add(_snapshot(account.id, DAY1, 61.0, "average", {"feature_breadth": 25.0}))
        s.add(Alert(account_id=ids["Dropping"], rule="usage_drop", dedupe_key=f"usage_drop:{ids['Dropping']}",
                    title="Usage dropped 70 % over two weeks", raised_at=dt.datetime(2026, 11, 29, 6, tzinfo=dt.UTC)))
        s.add(ProductUser(user_key="u1", account_id=ids["Quiet"], first_seen=dt.datetime(2026, 10, 20, tzinfo=dt.UTC),
                          last_seen=dt.datetime(2026, 11, 28, 9, tzinfo=dt.UTC)))
        portfolio_keys.refresh(s)
    return ids


def _members(store: Store, tenant: int) -> dict[str, dict[int, Any]]:
    with store.session(tenant) as s:
        rows = s.execute(select(PortfolioList.key, PortfolioListMember.account_id, PortfolioListMember.entered_on,
                                PortfolioListMember.reasons)
                         .join(PortfolioList, PortfolioList.id == PortfolioListMember.list_id)).all()
    out: dict[str, dict[int, Any]] = {}
    for key, account_id, entered_on, reasons in rows:
        out.setdefault(key, {})[account_id] = (entered_on, reasons)
    return out


def _events(store: Store, tenant: int) -> list[tuple[str, int, str, dt.date]]:
    with store.session(tenant) as s:
        return [(e.list_name, e.account_id, e.kind, e.day) for e in membership_events(s)]


def test_memberships_and_history_follow_the_facts_across_two_days(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    first = evaluate_lists(store, tenant, DAY1)
    assert first.installed == 12 and first.lists == 12
    members = _members(store, tenant)
    assert set(members["renewal-30"]) == {ids["Renewing"]}
    assert set(members["renewal-120"]) == {ids["Renewing"], ids["Later"]}
    assert set(members["usage-dropped"]) == {ids["Dropping"]}
    assert "key-feature-adopted" not in members
    assert members["renewal-30"][ids["Renewing"]] == (
        DAY1, ["Renewal date 2026-12-30, in 30 days (between today and 30 days ahead)"])
    assert first.entered == 6 and first.left == 0  # Renewing in 4 renewal lists, Later in one, Dropping in one

    with store.session(tenant) as s:  # day 2: the alert is resolved, a key feature is adopted, scores move
        alert = s.scalar(select(Alert).where(Alert.account_id == ids["Dropping"]))
        assert alert is not None
        alert.status = "resolved"
        for name, account_id in ids.items():
            s.add(_snapshot(account_id, DAY2, 62.0, "average",
                            {"feature_breadth": 37.5 if name == "Quiet" else 25.0}))
        s.flush()
        portfolio_keys.refresh(s)
    second = evaluate_lists(store, tenant, DAY2)
    assert second.installed == 0 and (second.entered, second.left) == (1, 1)
    members = _members(store, tenant)
    assert "usage-dropped" not in members
    assert members["key-feature-adopted"] == {ids["Quiet"]: (DAY2, [
        "Key features used rose from 25 % to 38 % in 7 days (by 12.5; at least 1)"])}
    assert members["renewal-30"][ids["Renewing"]] == (  # stays in since day 1; its reason follows the day
        DAY1, ["Renewal date 2026-12-30, in 29 days (between today and 30 days ahead)"])
    events = _events(store, tenant)
    assert events[-2:] == [("Usage dropped", ids["Dropping"], "left", DAY2),  # in list order
                           ("Started using a key feature", ids["Quiet"], "entered", DAY2)]
    with store.session(tenant) as s:
        left = s.scalars(select(PortfolioListEvent).where(PortfolioListEvent.kind == "left")).one()
        assert left.reasons == ["Open alert: Usage dropped 70 % over two weeks (raised 2026-11-29)"]

    again = evaluate_lists(store, tenant, DAY2)  # nothing changed: nothing written
    assert (again.entered, again.left) == (0, 0)
    assert _events(store, tenant) == events


def test_a_merged_account_leaves_its_lists(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    evaluate_lists(store, tenant, DAY1)
    with store.session(tenant) as s:
        account = s.get(Account, ids["Later"])
        assert account is not None
        account.lifecycle_stage = "merged"
    summary = evaluate_lists(store, tenant, DAY1)
    assert (summary.entered, summary.left) == (0, 1)
    assert _events(store, tenant)[-1] == ("Renewals in 120 days", ids["Later"], "left", DAY1)


def test_editing_a_list_makes_a_new_version_and_reevaluates_it(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    evaluate_lists(store, tenant, DAY1)
    first = load_definition({"name": "Big renewals", "conditions": [
        {"field": "subscription.renewal_date", "op": "within", "from_days": 0, "to_days": 40}]})
    with store.session(tenant) as s:
        row = create_list(s, first, "manager@lists.example", None)
        list_id = row.id
    evaluate_lists(store, tenant, DAY1, list_ids=[list_id])
    assert set(_members(store, tenant)[None]) == {ids["Renewing"]}

    wider = load_definition({"name": "Big renewals", "description": "Six months out.", "conditions": [
        {"field": "subscription.renewal_date", "op": "within", "from_days": 0, "to_days": 180},
        {"field": "subscription.arr", "op": "gte", "value": 10000}]})
    with store.session(tenant) as s:
        row2 = s.get(PortfolioList, list_id)
        assert row2 is not None
        assert edit_list(s, row2, wider, "admin@lists.example", None) == 2
        assert edit_list(s, row2, wider, "admin@lists.example", None) == 2  # the same again: no new version
        versions = s.execute(select(PortfolioListVersion.version, PortfolioListVersion.author,
                                    PortfolioListVersion.definition).where(PortfolioListVersion.list_id == list_id)
                             .order_by(PortfolioListVersion.version)).all()
        assert [(v, a) for v, a, _ in versions] == [(1, "manager@lists.example"), (2, "admin@lists.example")]
        assert versions[0][2]["conditions"][0]["to_days"] == 40 and versions[1][2]["conditions"][0]["to_days"] == 180
        audit = s.execute(select(AuditEvent.action, AuditEvent.actor).where(AuditEvent.action.like("list.%"))
                          .order_by(AuditEvent.id)).all()
        assert audit == [("list.create", "manager@lists.example"), ("list.edit", "admin@lists.example")]
    summary = evaluate_lists(store, tenant, DAY1, list_ids=[list_id])
    assert (summary.lists, summary.entered, summary.left) == (1, 1, 0)
    mine = _members(store, tenant)[None]
    assert set(mine) == {ids["Renewing"], ids["Later"]}
    assert mine[ids["Later"]][1] == ["Renewal date 2027-03-10, in 100 days (between today and 180 days ahead)",
                                     "ARR is 12,000 (at least 10,000)"]
    with store.session(tenant) as s:
        # Both members' reasons now come from version 2 (Renewing's gained the ARR reason).
        assert set(s.scalars(select(PortfolioListMember.version).where(PortfolioListMember.list_id == list_id))) == {2}


def test_a_shipped_list_edited_keeps_its_key_and_is_not_installed_again(store: Store, tenant: int) -> None:
    _world(store, tenant)
    evaluate_lists(store, tenant, DAY1)
    with store.session(tenant) as s:
        row = s.scalar(select(PortfolioList).where(PortfolioList.key == "renewal-30"))
        assert row is not None
        shorter = load_definition({"name": "Renewals in 14 days", "key": "sneaky", "conditions": [
            {"field": "subscription.renewal_date", "op": "within", "from_days": 0, "to_days": 14}]})
        edit_list(s, row, shorter, "admin@lists.example", None)
        assert row.key == "renewal-30" and row.version == 2
    summary = evaluate_lists(store, tenant, DAY1)
    assert summary.installed == 0 and summary.left == 1  # Renewing (30 days out) is not within 14
    with store.session(tenant) as s:
        assert s.scalar(select(func.count()).select_from(PortfolioList)) == len(default_lists())
