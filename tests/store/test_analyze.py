"""Planner statistics after a bulk load: a workspace's first score refreshes them on PostgreSQL.

Without it, a query planned before autovacuum's analyze saw `health_snapshots` as empty, and the push's
newest-snapshot join ran as a nested loop over millions of rows (bench_scaleout, 20 × 2,000 accounts).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from scoring import default_model
from store.db import Store
from store.models import HealthSnapshot
from store.tenants import create_tenant
from sync.health import first_score
from tests.shared import WORLD_AS_OF


def _reltuples(store: Store, table: str) -> float:
    with store.engine.connect() as conn:
        return float(conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}).scalar_one())


def test_analyze_refreshes_postgresql_statistics(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        store.analyze("health_snapshots")  # SQLite: nothing to do, and no error
        return
    with store.session() as session:
        tenant, _ = create_tenant(session, "stats", "Stats")
        session.flush()
        session.execute(text(
            "INSERT INTO accounts (tenant_id, name, lifecycle_stage, created_at, updated_at) "
            "SELECT :t, 'A' || n, 'customer', now(), now() FROM generate_series(1, 300) AS n"), {"t": tenant.id})
    assert _reltuples(store, "accounts") < 300  # never analyzed yet: -1
    store.analyze("accounts")
    assert _reltuples(store, "accounts") == 300


def test_the_first_score_refreshes_the_snapshot_statistics(store: Store, monkeypatch: Any) -> None:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(store, "analyze", lambda *tables: calls.append(tables))
    with store.session() as session:
        tenant, _ = create_tenant(session, "first", "First")
        tenant_id = tenant.id
    first_score(store, tenant_id, default_model(), WORLD_AS_OF, history_days=3)
    assert calls == [(HealthSnapshot.__tablename__,)]
    first_score(store, tenant_id, default_model(), WORLD_AS_OF, history_days=1)  # one day: no bulk load
    assert calls == [(HealthSnapshot.__tablename__,)]
