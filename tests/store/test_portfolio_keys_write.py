"""`store.portfolio_keys` writes changed keys on SQLite through the driver (`_write_sqlite`): the stored values,
their SQLite types and the accounts' `updated_at` are those of the SQLAlchemy UPDATE (`_write`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from store import portfolio_keys
from store.db import Store
from store.models import Account, HealthSnapshot, Subscription
from store.tenants import create_tenant

DAY = dt.date(2026, 11, 20)


def _stored(store: Store) -> list[tuple[Any, ...]]:
    with store.session() as s:
        return [tuple(r) for r in s.execute(text(
            "SELECT id, health_band, typeof(health_band), score_key, typeof(score_key), trend_key, typeof(trend_key), "
            "arr, typeof(arr), arr_key, typeof(arr_key), renewal_key, typeof(renewal_key), updated_at "
            "FROM accounts ORDER BY id"))]


def test_driver_write_stores_what_the_sqlalchemy_update_stores(store: Store, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("the driver write is SQLite's")
    with store.session() as s:
        tenant_id = create_tenant(s, "keys", "Keys")[0].id
    with store.session(tenant_id) as s:
        accounts = [Account(name=f"A{k}", lifecycle_stage="customer") for k in range(4)]
        s.add_all(accounts)
        s.flush()
        a, b, c, _ = (x.id for x in accounts)
        s.add_all([Subscription(account_id=a, system="salesforce", external_id="s1", arr=Decimal("1200.30"),
                                status="active", renewal_date=DAY + dt.timedelta(days=30)),
                   Subscription(account_id=b, system="hubspot", external_id="h1", arr=None, status="active"),
                   HealthSnapshot(account_id=a, day=DAY, score=71.5, band="good", profile="p", trend=-0.25),
                   HealthSnapshot(account_id=c, day=DAY, score=None, band=None, profile="p", trend=None)])

    def refreshed() -> list[tuple[Any, ...]]:
        with store.session(tenant_id) as s:
            s.execute(text("UPDATE accounts SET health_band = 'poor', score_key = 3, trend_key = 1, arr = 9, "
                           "arr_key = 9, renewal_key = '2030-01-01'"))
        with store.session(tenant_id) as s:
            assert portfolio_keys.refresh(s) == 4
        return _stored(store)

    got = refreshed()
    monkeypatch.setattr(portfolio_keys, "_write_sqlite", portfolio_keys._write)
    assert got == refreshed()
    assert got[0][1:13] == ("good", "text", 71.5, "real", -0.25, "real", 1200.3, "real", 1200.3, "real",
                            (DAY + dt.timedelta(days=30)).isoformat(), "text")
