"""`store.portfolio_keys.refresh` works out and writes the keys in one set-based UPDATE. On a varied world (two
workspaces; accounts with and without a snapshot on the latest day, a score or trend of None; subscriptions of
two systems, without ARR or renewal, ended terms, inactive ones, none at all; stored keys right, wrong or unset)
it stores what the row-by-row way before stored — the same values (and SQLite types), the same count of changed
accounts, `updated_at` untouched, the other workspace left alone — for the whole workspace and for some accounts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from store import portfolio_keys
from store.db import Store
from store.models import NO_RENEWAL, NO_SCORE, NO_TREND, Account, HealthSnapshot, Subscription
from store.queries import subscription_facts
from store.scoping import current_tenant
from store.tenants import create_tenant

DAY = dt.date(2026, 11, 20)
KEYS = portfolio_keys.KEYS


def _old_refresh(session: Session, account_ids: list[int] | None = None) -> int:
    """The way before: every account's stored keys, snapshot and facts read into Python, compared there, the
    changed ones written by an UPDATE executemany."""
    tenant_id = current_tenant(session)
    day = session.scalar(select(func.max(HealthSnapshot.day)))
    reference = portfolio_keys.reference_day(day)
    only = [Account.id.in_(account_ids)] if account_ids is not None else []
    stored = {r[0]: tuple(r[1:]) for r in session.execute(select(Account.id, *(getattr(Account, k) for k in KEYS))
                                                          .where(*only))}
    health = {} if day is None else {r.account_id: r for r in session.execute(
        select(HealthSnapshot.account_id, HealthSnapshot.band, HealthSnapshot.score, HealthSnapshot.trend)
        .where(HealthSnapshot.day == day))}
    facts = {r.account_id: r for r in session.execute(select(subscription_facts(reference, account_ids)))}
    changes = []
    for account_id, old in stored.items():
        snap, found = health.get(account_id), facts.get(account_id)
        renewal = None
        if found is not None:
            renewal = found.renewal
            if isinstance(renewal, str):
                renewal = dt.date.fromisoformat(renewal)
        new = (snap.band if snap else None, NO_SCORE if snap is None or snap.score is None else snap.score,
               NO_TREND if snap is None or snap.trend is None else snap.trend,
               None if found is None else found.arr,
               None if found is None else (0.0 if found.arr is None else found.arr),
               None if found is None else (renewal or NO_RENEWAL))
        if new != old:
            changes.append({"b_id": account_id, **dict(zip(KEYS, new, strict=True))})
    if changes:
        table: Table = Account.__table__  # type: ignore[assignment]
        session.connection().execute(
            update(table).where(table.c.id == bindparam("b_id"), table.c.tenant_id == tenant_id)
            .values(updated_at=table.c.updated_at, **{k: bindparam(k) for k in KEYS}), changes)
    return len(changes)


def _world(s: Session, tenant_id: int, shift: int) -> None:
    accounts = [Account(tenant_id=tenant_id, name=f"A{shift}-{k}", lifecycle_stage="customer") for k in range(14)]
    s.add_all(accounts)
    s.flush()
    ids = [a.id for a in accounts]
    later = DAY + dt.timedelta(days=shift)

    def sub(k: int, ext: str, system: str = "salesforce", **kw: Any) -> Subscription:
        return Subscription(tenant_id=tenant_id, account_id=ids[k], system=system, external_id=f"{ext}-{shift}",
                            **{"status": "active", **kw})

    s.add_all([
        sub(0, "s0", arr=Decimal("1200.30"), renewal_date=later + dt.timedelta(days=30)),
        sub(1, "s1", system="hubspot", arr=None),
        sub(2, "s2a", arr=Decimal("100"), renewal_date=later - dt.timedelta(days=5)),
        sub(2, "s2b", arr=Decimal("250.55"), renewal_date=later - dt.timedelta(days=40)),
        sub(3, "s3sf", arr=Decimal("900"), renewal_date=later + dt.timedelta(days=400)),
        sub(3, "s3hs", system="hubspot", arr=Decimal("5000"), renewal_date=later + dt.timedelta(days=3)),
        sub(4, "s4", system="zendesk", arr=Decimal("77.70"), renewal_date=None),
        sub(5, "s5", arr=Decimal("10"), status="closed_lost", renewal_date=later + dt.timedelta(days=9)),
        sub(6, "s6a", arr=Decimal("300"), renewal_date=later - dt.timedelta(days=1),
            term_end=later - dt.timedelta(days=1)),
        sub(6, "s6b", arr=Decimal("330"), renewal_date=later + dt.timedelta(days=364)),
        sub(7, "s7", arr=Decimal("42"), renewal_date=later + dt.timedelta(days=10),
            term_end=later + dt.timedelta(days=10)),
        sub(8, "s8", arr=Decimal("0"), renewal_date=later),
        Subscription(tenant_id=tenant_id, account_id=None, system="salesforce", external_id=f"loose-{shift}",
                     arr=Decimal("999"), status="active"),
    ])
    for k, (score, band, trend) in enumerate([(71.5, "good", -0.25), (None, None, None), (40.0, "poor", 1.5),
                                              (55.25, "average", None), (90.0, "good", 0.0), (12.0, "poor", -2.0),
                                              (66.0, "average", 0.75)]):
        s.add(HealthSnapshot(tenant_id=tenant_id, account_id=ids[k], day=later, score=score, band=band,
                             profile="p", trend=trend))
    for k in (7, 8, 9):  # scored only on an earlier day: no health on the latest one
        s.add(HealthSnapshot(tenant_id=tenant_id, account_id=ids[k], day=later - dt.timedelta(days=1), score=50.0,
                             band="average", profile="p", trend=0.1))
    s.flush()
    # Stored keys: some unset, some wrong, some already right (written by the old way, then one spoilt).
    _old_refresh(s)
    s.execute(update(Account).where(Account.id.in_(ids[:3])).values(health_band="poor", score_key=3.0))
    s.execute(update(Account).where(Account.id.in_(ids[10:12])).values(arr=9.0, arr_key=9.0,
                                                                        renewal_key=dt.date(2030, 1, 1)))
    s.execute(update(Account).where(Account.id == ids[12]).values(trend_key=NO_TREND, renewal_key=NO_RENEWAL))


def _stored(s: Session) -> list[tuple[Any, ...]]:
    sqlite = s.get_bind().dialect.name == "sqlite"
    columns = ", ".join(f"{k}, typeof({k})" if sqlite else k for k in KEYS)
    return [tuple(r) for r in s.execute(text(f"SELECT id, tenant_id, {columns}, updated_at FROM accounts ORDER BY id"))]


def test_the_set_based_refresh_stores_what_the_row_by_row_one_did(store: Store) -> None:
    with store.session() as s:
        tenants = [create_tenant(s, f"keys{k}", f"Keys {k}")[0].id for k in range(2)]
    for shift, tenant_id in enumerate(tenants):
        with store.session(tenant_id) as s:
            _world(s, tenant_id, shift)
    with store.session(tenants[0]) as s:
        ids = list(s.scalars(select(Account.id).order_by(Account.id)))
    for some, expected in ((None, 6), (ids[1:4] + ids[10:13], 5), (ids[5:6], 0)):
        runs = []
        for refresh in (_old_refresh, portfolio_keys.refresh):
            with store.session(tenants[0]) as s:
                changed = refresh(s, some)
                s.flush()
                runs.append((changed, _stored(s)))
                s.rollback()
        (old_count, old_rows), (new_count, new_rows) = runs
        assert new_rows == old_rows
        assert new_count == old_count
        assert old_count == expected
    # Applied for real: the other workspace untouched, a second refresh finds nothing to change.
    with store.session(tenants[0]) as s:
        before = _stored(s)
        assert portfolio_keys.refresh(s) == 6
    with store.session(tenants[0]) as s:
        after = _stored(s)
        assert portfolio_keys.refresh(s) == 0
    assert [r for r in after if r[1] == tenants[1]] == [r for r in before if r[1] == tenants[1]]
    assert [r[-1] for r in after] == [r[-1] for r in before]  # updated_at kept
    by_id = {r[0]: r for r in after}
    if store.engine.dialect.name == "sqlite":
        assert by_id[ids[0]][2:14] == ("good", "text", 71.5, "real", -0.25, "real", 1200.3, "real", 1200.3, "real",
                                      (DAY + dt.timedelta(days=30)).isoformat(), "text")
    with store.session(tenants[0]) as s:
        got = {a.id: tuple(getattr(a, k) for k in KEYS) for a in s.scalars(select(Account))}
    assert got[ids[1]] == (None, NO_SCORE, NO_TREND, None, 0.0, NO_RENEWAL)  # hubspot, no ARR, no renewal
    assert got[ids[2]] == ("poor", 40.0, 1.5, 350.55, 350.55, DAY - dt.timedelta(days=5))  # none ahead: the last
    assert got[ids[3]][3:] == (900.0, 900.0, DAY + dt.timedelta(days=400))  # Salesforce before HubSpot
    assert got[ids[5]][3:] == (None, None, None)  # only an inactive subscription
    assert got[ids[6]][3:] == (330.0, 330.0, DAY + dt.timedelta(days=364))  # the ended term left out
    assert got[ids[8]] == (None, NO_SCORE, NO_TREND, 0.0, 0.0, DAY)
    assert got[ids[13]] == (None, NO_SCORE, NO_TREND, None, None, None)


def test_a_workspace_never_scored_gets_its_keys_from_its_subscriptions(store: Store) -> None:
    with store.session() as s:
        tenant_id = create_tenant(s, "unscored", "Unscored")[0].id
    with store.session(tenant_id) as s:
        a = Account(name="A", lifecycle_stage="customer", health_band="good", score_key=50.0)
        s.add(a)
        s.flush()
        s.add(Subscription(account_id=a.id, system="salesforce", external_id="x", arr=Decimal("10"), status="active",
                           renewal_date=DAY + dt.timedelta(days=2)))
    with store.session(tenant_id) as s:
        assert portfolio_keys.refresh(s, today=DAY) == 1
        row = s.get(Account, a.id)
        assert row is not None
        assert (row.health_band, row.score_key, row.trend_key, row.arr, row.arr_key, row.renewal_key) == (
            None, NO_SCORE, NO_TREND, 10.0, 10.0, DAY + dt.timedelta(days=2))
