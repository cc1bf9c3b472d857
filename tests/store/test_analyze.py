"""Planner statistics after a bulk load: a workspace's first sync and first score refresh them on PostgreSQL.

Without it, a query planned before autovacuum's analyze saw `health_snapshots` as empty, and the push's
newest-snapshot join ran as a nested loop over millions of rows (bench_scaleout, 20 × 2,000 accounts).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from integrations.base import AccountRecord, ContactRecord
from scoring import default_model
from store.db import Store
from store.models import HealthSnapshot
from store.tenants import create_tenant
from sync.health import first_score
from sync.runner import PULLED_TABLES, sync
from tests.shared import WORLD_AS_OF, WORLD_NOW
from tests.sync.memory_adapter import MemoryAdapter


def _reltuples(store: Store, table: str) -> float:
    with store.engine.connect() as conn:
        found = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                             {"t": f"public.{table}"})  # not bi.accounts, the view of the same name
        return float(found.scalar_one())


def test_analyze_refreshes_postgresql_statistics(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        store.analyze("health_snapshots")  # SQLite: nothing to do, and no error
        return
    with store.engine.begin() as conn:  # this test's own database: autovacuum must not analyze it meanwhile
        conn.execute(text("ALTER TABLE accounts SET (autovacuum_enabled = false)"))
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


def test_a_first_pull_refreshes_the_pulled_tables_and_an_incremental_one_does_not(store: Store,
                                                                                   monkeypatch: Any) -> None:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(store, "analyze", lambda *tables: calls.append(tables))
    with store.session() as session:
        tenant, _ = create_tenant(session, "pull", "Pull")
        tenant_id = tenant.id
    crm = MemoryAdapter("salesforce", {
        "accounts": [AccountRecord("salesforce", f"001{n}", f"Account {n}", WORLD_NOW) for n in range(5)],
        "contacts": [ContactRecord("salesforce", "003A", "dana@initech.io", WORLD_NOW, "0011", "Dana")],
    })
    sync(store, tenant_id, {"salesforce": crm})
    assert calls == [PULLED_TABLES]
    assert {"accounts", "contacts", "source_links", "tickets"} <= set(PULLED_TABLES)
    sync(store, tenant_id, {"salesforce": crm})  # from the stored cursors, nothing new
    assert calls == [PULLED_TABLES]
    crm.data["accounts"].append(AccountRecord("salesforce", "0019", "Late", WORLD_NOW))
    sync(store, tenant_id, {"salesforce": crm})  # incremental with a change: still not a bulk load
    assert calls == [PULLED_TABLES]
    sync(store, tenant_id, {"salesforce": crm}, full=True)  # a full pull rewrites nothing that is unchanged
    assert calls == [PULLED_TABLES]
