"""bench_alerts folds usage with migration 0019's ``usage_monthly`` triggers dropped, then rolls the month up with
0019's backfill and puts the triggers back: the roll-up must be the one the triggers would have written, and the
triggers must be 0019's again afterwards (the bench scores from that database)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bench.bench_alerts import fold_usage, rollup_deferred
from bench.bench_pipeline import LIMITS
from bench.workspace import migration_0019
from cli.demo import SANDBOX_OPTIONS, sandbox_connections
from sandbox.server import Sandbox
from store.db import Store
from store.tenants import create_tenant
from sync.connections import build_adapter
from sync.runner import sync
from tests.dbtemplate import migrate_new
from tests.shared import WORLD_AS_OF, pinned_clock

MONTHLY = ("SELECT tenant_id, account_id, user_key, event, month, days, count FROM usage_monthly "
           "ORDER BY tenant_id, account_id, user_key, event, month")
TRIGGERS = "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'usage_daily' ORDER BY name"


def _rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql))]


def _defined_triggers() -> list[tuple[str, str]]:
    return sorted((sql.split()[2], sql) for sql in migration_0019().SQLITE_TRIGGERS)


def test_fold_without_triggers_then_backfill_equals_the_triggers_roll_up(tmp_path: Path) -> None:
    with pinned_clock(), Sandbox(accounts=12, seed=21, as_of=WORLD_AS_OF, **LIMITS) as box:
        assert box.truth_path is not None
        truth = json.loads(Path(box.truth_path).read_text())
        synced = tmp_path / "synced.db"
        migrate_new(f"sqlite:///{synced}")
        store = Store(f"sqlite:///{synced}")
        with store.session() as s:
            tenant_id = create_tenant(s, "bench", "Bench")[0].id
        adapters = {system: build_adapter(system, creds, base, **SANDBOX_OPTIONS.get(system, {}))
                    for system, (creds, base, _ref) in sandbox_connections(box).items()}
        sync(store, tenant_id, adapters)
        store.dispose()
        # the same synced database twice: one folds with the triggers on, the other as the bench does
        shutil.copy(synced, tmp_path / "deferred.db")
        with_triggers, deferred = Store(f"sqlite:///{synced}"), Store(f"sqlite:///{tmp_path / 'deferred.db'}")
        events = fold_usage(with_triggers, tenant_id, box, truth)
        with rollup_deferred(deferred):
            assert _rows(deferred, TRIGGERS) == []  # dropped while the fold writes
            assert fold_usage(deferred, tenant_id, box, truth) == events
            assert _rows(deferred, "SELECT count(*) FROM usage_monthly") == [(0,)]
    expected = _rows(with_triggers, MONTHLY)
    assert events > 1000
    assert len(expected) > 100
    assert any(bin(days).count("1") > 1 for *_, days, _count in expected)  # months of several days
    assert any(event == "" for _t, _a, _u, event, *_ in expected)  # the any-event rows
    assert _rows(deferred, MONTHLY) == expected
    assert _rows(deferred, "SELECT count(*) FROM usage_daily") == _rows(with_triggers,
                                                                        "SELECT count(*) FROM usage_daily")
    assert _rows(deferred, TRIGGERS) == _defined_triggers() == _rows(with_triggers, TRIGGERS)
    # and they work again: one more day of usage rolls up on both
    for store in (with_triggers, deferred):
        with store.engine.begin() as conn:
            account_id, user_key = conn.execute(text(
                "SELECT account_id, user_key FROM usage_daily ORDER BY id LIMIT 1")).one()
            conn.execute(text("INSERT INTO usage_daily (tenant_id, account_id, user_key, event, day, count, minutes) "
                              "VALUES (:t, :a, :u, 'Bench Event', :d, 3, 0)"),
                         {"t": tenant_id, "a": account_id, "u": user_key, "d": dt.date(2026, 12, 1)})
    assert _rows(deferred, MONTHLY) == _rows(with_triggers, MONTHLY) != expected
    with_triggers.dispose()
    deferred.dispose()


def test_triggers_other_than_0019s_are_refused_and_left_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    migrate_new(url)
    store = Store(url)
    with store.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER usage_monthly_delete"))
    with pytest.raises(RuntimeError, match="not migration 0019's"), rollup_deferred(store):
        pytest.fail("the block ran")
    assert [name for name, _sql in _rows(store, TRIGGERS)] == ["usage_monthly_count", "usage_monthly_insert",
                                                               "usage_monthly_move"]
    store.dispose()
