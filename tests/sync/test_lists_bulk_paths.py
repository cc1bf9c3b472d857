"""`sync.lists` reads the facts as columns, evaluates each list on the accounts that may belong only
(`worklists.evaluate_columns`) and writes memberships and their history as INSERT/UPDATE … SELECT over one JSON
parameter (`store.bulk.json_rows`). On a varied world (measures now and a
week before, open and resolved alerts, product users, subscriptions of two systems, unscored and retired
accounts), across three days with accounts entering, staying with new reasons and leaving, both give what the
way before gave: the same `AccountFacts` (all accounts, some by id, many by id) and the same stored members and
events (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from sqlalchemy import Table, and_, bindparam, case, delete, func, insert, select, update
from sqlalchemy.orm import Session

from store import portfolio_keys
from store.db import Store
from store.models import (
    NO_RENEWAL,
    NO_SCORE,
    NO_TREND,
    Account,
    Alert,
    HealthSnapshot,
    PortfolioList,
    PortfolioListEvent,
    PortfolioListMember,
    ProductUser,
    Subscription,
)
from store.queries import live_accounts
from store.tenants import create_tenant
from sync import lists
from sync.base_reports import refresh_account_facts
from tests.shared import WORLD_AS_OF, pinned_clock
from worklists import AccountFacts, EarlierHealth, FactColumns, ListDefinition, OpenAlert, evaluate
from worklists.evaluate import Member

DAY = WORLD_AS_OF
MEASURES = ("active_users_trend", "feature_breadth", "license_utilisation")


def _old_load_facts(session: Session, as_of: dt.date, measures: Iterable[str] = (), change_days: Iterable[int] = (),
                    *, account_ids: Iterable[int] | None = None) -> list[AccountFacts]:
    """`load_facts` the way before (rows by name, a mapping made for every account)."""
    wanted = sorted(set(account_ids)) if account_ids is not None else None
    only = wanted if wanted is not None and len(wanted) <= lists.ONLY_LIMIT else None
    if wanted is not None and only is None:
        keep = set(wanted)
        return [f for f in _old_load_facts(session, as_of, measures, change_days) if f.account_id in keep]
    measures = sorted(set(measures))
    latest = session.scalar(select(func.max(HealthSnapshot.day)))
    now_values = lists._health_on(session, latest, measures, only) if latest is not None and measures else {}
    earlier: dict[int, dict[int, tuple[Any, ...]]] = {}
    if latest is not None:
        for days in sorted(set(change_days)):
            earlier[days] = lists._health_on(session, latest - dt.timedelta(days=days), measures, only)
    alerts: dict[int, list[OpenAlert]] = defaultdict(list)
    for account_id, rule, title, raised_at in session.execute(lists._within(
            select(Alert.account_id, Alert.rule, Alert.title, Alert.raised_at).where(Alert.status == "open")
            .order_by(Alert.raised_at, Alert.id), Alert.account_id, only)):
        alerts[account_id].append(OpenAlert(rule, title, raised_at.date() if raised_at else None))
    starts = lists._subscription_starts(session, only)
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), dt.UTC)
    since7 = dt.datetime.combine(as_of - dt.timedelta(days=6), dt.time(), dt.UTC)
    since28 = dt.datetime.combine(as_of - dt.timedelta(days=27), dt.time(), dt.UTC)
    seen = ProductUser.last_seen
    usage = {r[0]: r[1:] for r in session.execute(lists._within(
        select(ProductUser.account_id, func.min(ProductUser.first_seen),
               func.max(case((seen < end, seen))),
               func.sum(case((and_(seen >= since7, seen < end), 1), else_=0)),
               func.sum(case((and_(seen >= since28, seen < end), 1), else_=0)))
        .where(ProductUser.account_id.is_not(None)), ProductUser.account_id, only).group_by(ProductUser.account_id))}
    empty: MappingProxyType[str, float | None] = MappingProxyType({})
    out = []
    for a in session.execute(lists._within(select(
            Account.id, Account.name, Account.segment, Account.tier, Account.lifecycle_stage, Account.owner,
            Account.health_band, Account.score_key, Account.trend_key, Account.arr, Account.renewal_key)
            .where(live_accounts()), Account.id, only).order_by(Account.id)):
        values = now_values.get(a.id)
        then = {days: EarlierHealth(found[0], MappingProxyType(dict(zip(measures, found[1:], strict=True))))
                for days, by_account in earlier.items() if (found := by_account.get(a.id)) is not None}
        first_seen, last_seen, active7, active28 = usage.get(a.id, (None, None, None, None))
        start = starts.get(a.id)
        renewal = a.renewal_key
        if isinstance(renewal, str):
            renewal = dt.date.fromisoformat(renewal)
        out.append(AccountFacts(
            account_id=a.id, name=a.name, segment=a.segment, tier=a.tier, lifecycle_stage=a.lifecycle_stage,
            owner=a.owner, band=a.health_band,
            score=None if a.score_key == NO_SCORE else a.score_key,
            trend_30d=None if a.trend_key == NO_TREND else a.trend_key * 30,
            measures=MappingProxyType(dict(zip(measures, values[1:], strict=True))) if values else empty,
            earlier=MappingProxyType(then), open_alerts=tuple(alerts.get(a.id, ())),
            arr=a.arr, renewal_date=None if renewal in (None, NO_RENEWAL) else renewal, start_date=start,
            onboarding_start=start or (first_seen.date() if first_seen else None),
            last_active_date=last_seen.date() if last_seen else None,
            active_users_7d=int(active7) if active7 is not None else None,
            active_users_28d=int(active28) if active28 is not None else None))
    return out


def _old_store_members(session: Session, tenant_id: int, row: PortfolioList, members: dict[int, list[str]],
                       day: dt.date, only: Sequence[int] | None = None) -> tuple[int, int]:
    """`_store_members` the way before: executemany of dicts."""
    table: Table = PortfolioListMember.__table__  # type: ignore[assignment]
    events: Table = PortfolioListEvent.__table__  # type: ignore[assignment]
    query = select(table.c.id, table.c.account_id, table.c.reasons).where(table.c.tenant_id == tenant_id,
                                                                          table.c.list_id == row.id)
    if only is not None and len(only) <= lists.ONLY_LIMIT:
        query = query.where(table.c.account_id.in_(only))
    stored = {r.account_id: r for r in session.execute(query)}
    if only is not None:
        keep = set(only)
        stored = {a: r for a, r in stored.items() if a in keep}
    now = dt.datetime.combine(day, dt.time(10), dt.UTC)  # the day's stamp, not the wall clock
    entered = [a for a in members if a not in stored]
    left = [a for a in stored if a not in members]
    changed = [{"b_id": stored[a].id, "reasons": members[a], "version": row.version}
               for a in members if a in stored and list(stored[a].reasons or []) != members[a]]
    conn = session.connection()
    if entered:
        conn.execute(insert(table), [{"tenant_id": tenant_id, "list_id": row.id, "account_id": a, "entered_on": day,
                                      "reasons": members[a], "version": row.version} for a in entered])
    if left:
        conn.execute(delete(table).where(table.c.tenant_id == tenant_id, table.c.id.in_([stored[a].id for a in left])))
    if changed:
        conn.execute(update(table).where(table.c.id == bindparam("b_id"), table.c.tenant_id == tenant_id)
                     .values(reasons=bindparam("reasons"), version=bindparam("version")), changed)
    history = [{"tenant_id": tenant_id, "list_id": row.id, "account_id": a, "kind": "entered", "day": day,
                "reasons": members[a], "version": row.version, "created_at": now} for a in entered]
    history += [{"tenant_id": tenant_id, "list_id": row.id, "account_id": a, "kind": "left", "day": day,
                 "reasons": list(stored[a].reasons or []), "version": row.version, "created_at": now} for a in left]
    if history:
        conn.execute(insert(events), history)
    return len(entered), len(left)


def _snapshot(account_id: int, day: dt.date, score: float | None, band: str | None, trend: float | None,
              values: dict[str, float | None]) -> HealthSnapshot:
    return HealthSnapshot(account_id=account_id, day=day, score=score, band=band, trend=trend, reasons=[],
                          parts={"parts": {m: {"signal": m, "value": v, "status": "good", "points": 50.0,
                                               "weight": 1.0, "dimension": "engagement", "label": m}
                                           for m, v in values.items()}})


def _world(store: Store, tenant_id: int, accounts: int = 24) -> list[int]:
    with store.session(tenant_id) as s:
        rows = [Account(name=f"Co {k}", segment=("smb", "mid_market", None)[k % 3], tier=("gold", None)[k % 2],
                        owner=f"csm{k % 4}@example.com" if k % 5 else None,
                        lifecycle_stage="retired" if k == 7 else "customer") for k in range(accounts)]
        s.add_all(rows)
        s.flush()
        ids = [a.id for a in rows]
        for k, account_id in enumerate(ids):
            if k % 4 != 3:
                s.add(Subscription(account_id=account_id, system=("salesforce", "hubspot")[k % 2],
                                   external_id=f"d{k}", arr=Decimal(1000 * k), status="active",
                                   start_date=DAY - dt.timedelta(days=30 * k + 5),
                                   renewal_date=DAY + dt.timedelta(days=10 * k - 20) if k % 6 else None))
            if k % 6 == 1:  # a second system: Salesforce's start counts
                s.add(Subscription(account_id=account_id, system="salesforce", external_id=f"x{k}", arr=None,
                                   status="active", start_date=DAY - dt.timedelta(days=95)))
            if k % 5 != 4:
                s.add(_snapshot(account_id, DAY, 20.0 + 3 * k if k % 9 else None, ("poor", "average", "good")[k % 3],
                                0.5 - k / 20 if k % 4 else None,
                                {"active_users_trend": -10.0 * (k % 7), "feature_breadth": 12.5 * (k % 5),
                                 "license_utilisation": 10.0 * k if k % 3 else None}))
            if k % 3 != 2:
                s.add(_snapshot(account_id, DAY - dt.timedelta(days=7), 30.0 + k, "average", 0.0,
                                {"active_users_trend": 0.0, "feature_breadth": 12.5 * (k % 3)}))
            if k % 4 == 0:
                for rule, raised in (("usage_drop", 2), ("champion_inactive", 40), ("onboarding_overdue", 1)):
                    s.add(Alert(account_id=account_id, rule=rule, dedupe_key=f"{rule}:{account_id}",
                                title=f"{rule} {k}", status="resolved" if k % 8 == 4 and rule == "usage_drop"
                                else "open", raised_at=dt.datetime.combine(DAY - dt.timedelta(days=raised),
                                                                           dt.time(6), dt.UTC)))
            for u in range(k % 3):
                s.add(ProductUser(user_key=f"u{k}-{u}", account_id=account_id,
                                  first_seen=dt.datetime.combine(DAY - dt.timedelta(days=50 + u), dt.time(), dt.UTC),
                                  last_seen=dt.datetime.combine(DAY - dt.timedelta(days=3 * k + u), dt.time(9),
                                                                dt.UTC)))
        s.flush()
        portfolio_keys.refresh(s)
    return ids


def _facts(f: AccountFacts) -> dict[str, Any]:
    out = {field.name: getattr(f, field.name) for field in dataclasses.fields(f)}  # mappings by their items
    out["measures"] = dict(f.measures)
    out["earlier"] = {d: (e.score, dict(e.measures)) for d, e in f.earlier.items()}
    return out


def test_facts_read_in_one_pass_are_the_facts_read_before(store: Store) -> None:
    with store.session() as s:
        tenant_id = create_tenant(s, "facts", "Facts")[0].id
    ids = _world(store, tenant_id)
    with store.session(tenant_id) as s:
        for measures, days in (((), ()), (MEASURES, (7,)), (MEASURES[1:], (7, 14)), ((), (7,))):
            for some in (None, ids[::3], ids[:1]):
                new = [_facts(f) for f in lists.load_facts(s, DAY, measures, days, account_ids=some)]
                old = [_facts(f) for f in _old_load_facts(s, DAY, measures, days, account_ids=some)]
                assert new == old
                assert len(new) == (len(ids) - 1 if some is None else len(some))  # the retired one left out
        everything = lists.load_facts(s, DAY, MEASURES, (7,))
        assert lists._kept_measures(s, DAY, MEASURES) is None  # no account facts kept yet: the snapshots' JSON
    # The account facts the reports keep (as every full score run leaves them): the latest measures read from them.
    with store.session(tenant_id) as s:
        refresh_account_facts(s, sorted({*MEASURES, "usage_trend"}))
    with store.session(tenant_id) as s:
        kept = lists._kept_measures(s, DAY, MEASURES[::-1])
        assert kept is not None and len(kept) == len(ids) - len(ids[4::5])  # every account scored on DAY
        for measures, days in ((MEASURES, (7,)), (MEASURES[1:], ())):
            new = [_facts(f) for f in lists.load_facts(s, DAY, measures, days)]
            assert new == [_facts(f) for f in _old_load_facts(s, DAY, measures, days)]
            assert new == [_facts(f) for f in everything] if days else True
        assert lists._kept_measures(s, DAY, ("nps",)) is None  # a measure they do not hold
        s.add(_snapshot(ids[4], DAY, 50.0, "average", 0.0, {"feature_breadth": 99.0}))  # a newer snapshot
        s.flush()
        assert lists._kept_measures(s, DAY, MEASURES) is None  # stale: the JSON again
        assert [_facts(f) for f in lists.load_facts(s, DAY, MEASURES, (7,))] == [
            _facts(f) for f in _old_load_facts(s, DAY, MEASURES, (7,))]
    assert any(f.earlier for f in everything) and any(not f.earlier for f in everything)
    assert any(f.open_alerts for f in everything) and any(f.active_users_28d for f in everything)
    assert any(f.measures.get("license_utilisation") is None and f.measures for f in everything)


def _stored(store: Store, tenant_id: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with store.session(tenant_id) as s:
        members = [tuple(r) for r in s.execute(select(
            PortfolioListMember.id, PortfolioListMember.list_id, PortfolioListMember.account_id,
            PortfolioListMember.entered_on, PortfolioListMember.reasons, PortfolioListMember.version)
            .order_by(PortfolioListMember.id))]
        events = [tuple(r) for r in s.execute(select(
            PortfolioListEvent.id, PortfolioListEvent.list_id, PortfolioListEvent.account_id, PortfolioListEvent.kind,
            PortfolioListEvent.day, PortfolioListEvent.reasons, PortfolioListEvent.version)
            .order_by(PortfolioListEvent.id))]
    return members, events


def _every_account(definition: ListDefinition, columns: FactColumns, as_of: dt.date,
                   made: dict[int, AccountFacts] | None = None) -> list[Member]:
    """The evaluation before: every account's facts made, every list's checks run on each."""
    return evaluate(definition, [columns.row(i) for i in range(len(columns))], as_of)


def _three_days(store: Store, tenant_id: int, ids: list[int]) -> list[Any]:
    seen = []
    for n in range(3):
        day = DAY + dt.timedelta(days=n)
        with store.session(tenant_id) as s:
            if n:  # the next day: scores and measures move, an alert is resolved, one raised
                for k, account_id in enumerate(ids):
                    s.add(_snapshot(account_id, day, 15.0 + (5 * k * (n + 1)) % 80, ("poor", "average", "good")[
                        (k + n) % 3], 0.1 * n, {"active_users_trend": -15.0 * ((k + n) % 5),
                                                "feature_breadth": 12.5 * ((k + n) % 6),
                                                "license_utilisation": 20.0 * ((k * n) % 6)}))
                for alert in s.scalars(select(Alert).where(Alert.account_id.in_(ids[: 4 * n]))):
                    alert.status = "resolved"
                s.add(Alert(account_id=ids[n + 1], rule="usage_drop", dedupe_key=f"usage_drop:{ids[n + 1]}:{n}",
                            title=f"Drop {n}", raised_at=dt.datetime.combine(day, dt.time(5), dt.UTC)))
                s.flush()
                portfolio_keys.refresh(s)
        summary = lists.evaluate_lists(store, tenant_id, day)
        some = lists.evaluate_lists(store, tenant_id, day, account_ids=ids[::5])  # a real-time pass of a few
        seen.append((summary.as_dict(), some.as_dict(), _stored(store, tenant_id)))
    return seen


def test_memberships_written_in_bulk_are_those_written_before(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = []
    narrowed = lists.evaluate_columns
    with pinned_clock():  # the code under test stamps rows with the clock: pinned to the suite's day
        for slug, writer, evaluated in (("old", _old_store_members, _every_account), ("new", lists._store_members,
                                                                                      narrowed)):
            with store.session() as s:
                tenant_id = create_tenant(s, slug, slug)[0].id
            ids = _world(store, tenant_id)
            monkeypatch.setattr(lists, "_store_members", writer)
            monkeypatch.setattr(lists, "evaluate_columns", evaluated)
            days = _three_days(store, tenant_id, ids)
            # Ids differ between the two workspaces: compare positions (account k, list k) instead.
            accounts = {account_id: k for k, account_id in enumerate(ids)}
            with store.session(tenant_id) as s:
                list_ids = {list_id: k for k, list_id in enumerate(s.scalars(select(PortfolioList.id)
                                                                            .order_by(PortfolioList.id)))}
            runs.append([(summary, some, [(list_ids[m[1]], accounts[m[2]], *m[3:]) for m in members],
                          [(list_ids[e[1]], accounts[e[2]], *e[3:]) for e in events])
                         for summary, some, (members, events) in days])
    old, new = runs
    assert new == old
    first, second, third = old
    assert first[0]["entered"] > 10 and second[0]["left"] > 0 and third[0]["entered"] > 0
    assert len(third[3]) > len(first[3])  # events only added
    assert any(m[-2] != n[-2] for m in first[2] for n in second[2] if m[:2] == n[:2])  # reasons refreshed
