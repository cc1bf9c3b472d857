"""On SQLite a whole workspace's run refreshes the portfolio keys on a helper thread while the alert rules are
evaluated: the same keys, alerts and summary as refreshing them after the rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import delete, select

import sync.health
from scoring import default_model
from store.db import Store
from store.models import Account, Alert, HealthSnapshot, Task
from sync.health import score_tenant
from tests.sync.test_score_day_writes import DAY, _alerts, _world


def _keys(store: Store, tenant_id: int) -> list[tuple[Any, ...]]:
    with store.session(tenant_id) as s:
        return [tuple(r) for r in s.execute(select(Account.id, Account.health_band, Account.score_key,
                                                   Account.trend_key, Account.arr, Account.arr_key,
                                                   Account.renewal_key).order_by(Account.id))]


def test_keys_refreshed_beside_the_alert_rules_equal_refreshed_after_them(store: Store,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's helper threads (PostgreSQL refreshes the keys after the rules)")
    tenant_id, _ = _world(store)
    model = default_model()
    score_tenant(store, tenant_id, model, DAY - dt.timedelta(days=1), since=DAY - dt.timedelta(days=6))
    results = []
    for together in (False, True):
        monkeypatch.setattr(sync.health._SeriesAhead, "usable", staticmethod(lambda _store, t=together: t))
        with store.session(tenant_id) as s:
            s.execute(delete(HealthSnapshot).where(HealthSnapshot.day == DAY))
            s.execute(delete(Task))
            s.execute(delete(Alert))
        summary = score_tenant(store, tenant_id, model, DAY)
        assert ("portfolio_keys" in summary.timings) and summary.timings["portfolio_keys"] >= 0.0
        results.append((_keys(store, tenant_id), _alerts(store, tenant_id), summary.as_dict()))
    assert results[0] == results[1]
    assert results[0][1] and len(results[0][0]) == 6
