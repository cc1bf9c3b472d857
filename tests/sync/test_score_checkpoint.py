"""A whole workspace's run on SQLite commits its day without the automatic WAL checkpoint and checkpoints on a helper
thread afterwards (`sync.health._LaterCheckpoint`): when the run returns, every committed page is in the database
file, and the connection that committed checkpoints automatically again. On SQLite the portfolio keys are refreshed
on a helper thread while the alert rules are evaluated: the same keys and alerts as refreshing after them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import delete, func, select

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


def test_the_days_pages_are_checkpointed_when_the_run_returns(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's WAL")
    tenant_id, ids = _world(store)
    seen: list[tuple[int, int, int, int]] = []

    def checkpoint(self: sync.health._LaterCheckpoint) -> None:
        with self.store.engine.connect() as connection:
            # the day committed before: its snapshots are there to copy; every frame copied (none busy)
            scored = connection.execute(select(func.count()).select_from(HealthSnapshot)
                                        .where(HealthSnapshot.day == DAY)).scalar_one()
            busy, frames, copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            seen.append((scored, busy, frames, copied))

    monkeypatch.setattr(sync.health._LaterCheckpoint, "_checkpoint", checkpoint)
    summary = score_tenant(store, tenant_id, default_model(), DAY)
    assert summary.accounts == len(ids)
    assert len(seen) == 1
    scored, busy, frames, copied = seen[0]
    assert (scored, busy) == (len(ids), 0) and frames == copied > 0
    connections = [store.engine.connect() for _ in range(store.engine.pool.size())]  # type: ignore[attr-defined]
    try:  # the connection that committed the day checkpoints automatically again
        assert [c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() for c in connections] == (
            [1000] * len(connections))
    finally:
        for connection in connections:
            connection.close()


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
