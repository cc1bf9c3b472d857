"""A whole workspace's score run on a SQLite file: the WAL checkpointed by a helper thread (`_checkpoints_aside`),
the run's own connections checkpointing nothing meanwhile, everything as before once the run is over."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import sync.health as health
from scoring import default_model
from store.db import Store
from store.migrate import upgrade
from store.models import Alert, HealthLegend, HealthSnapshot
from store.tenants import create_tenant
from sync.health import score_tenant
from tests.sync.test_health_run import TODAY, _world

MODEL = default_model()


def _autocheckpoint(session: Any) -> int:
    return int(session.connection().exec_driver_sql("PRAGMA wal_autocheckpoint").scalar())


def _stored(store: Store, tenant: int, ids: dict[str, int]) -> list[Any]:
    names = {v: k for k, v in ids.items()}
    with store.session(tenant) as s:
        # the workspaces' own account ids named instead (in the parts, a roll-up's children, the alerts' keys), and
        # the workspace's legend by its model's fingerprint
        legends = dict(s.execute(select(HealthLegend.id, HealthLegend.fingerprint)).all())
        snaps = [(names[a], d, score, band, {k: legends[v] if k == "legend" else v for k, v in parts.items()
                                             if k not in ("account_id", "rollup")},
                  [names[c] for c in parts.get("rollup", {}).get("counted", [])], reasons, trend)
                 for a, d, score, band, parts, reasons, trend in
                 s.execute(select(HealthSnapshot.account_id, HealthSnapshot.day, HealthSnapshot.score,
                                  HealthSnapshot.band, HealthSnapshot.parts, HealthSnapshot.reasons,
                                  HealthSnapshot.trend))]
        alerts = [(names[a], rule, key.replace(str(a), names[a])) for a, rule, key in s.execute(
            select(Alert.account_id, Alert.rule, Alert.dedupe_key))]
    for part in (snaps, alerts):
        part.sort(key=repr)
    return [snaps, alerts]


def test_the_wal_is_checkpointed_aside_during_a_whole_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'canary.db'}"
    upgrade(url)
    store = Store(url)
    with store.session() as s:
        aside, _ = create_tenant(s, "aside", "Aside")
        before, _ = create_tenant(s, "before", "Before")
    worlds = {aside.id: _world(store, aside.id), before.id: _world(store, before.id)}
    seen: list[tuple[int, bool]] = []
    write_day = health._write_day

    def write_day_seen(store_: Store, tenant_id: int, *args: Any, **kwargs: Any) -> Any:
        with store_.session(tenant_id) as s:  # the run's connections: no checkpoint of their own
            seen.append((_autocheckpoint(s), any(t.name == "checkpoints" for t in threading.enumerate())))
        return write_day(store_, tenant_id, *args, **kwargs)

    monkeypatch.setattr(health, "_write_day", write_day_seen)
    listeners = len(store.engine.pool.dispatch.checkout)
    score_tenant(store, aside.id, MODEL, TODAY)
    assert seen == [(0, True)]
    assert not any(t.name == "checkpoints" for t in threading.enumerate())
    with store.session(aside.id) as s:  # checked out again: SQLite's own limit
        assert _autocheckpoint(s) == 1000
    score_tenant(store, aside.id, MODEL, TODAY)  # again: the same listener (one per engine)
    assert seen[1:] == [(0, True)]
    assert len(store.engine.pool.dispatch.checkout) == listeners + 1
    seen.clear()
    monkeypatch.setattr(health, "CHECKPOINT_ASIDE", False)
    score_tenant(store, before.id, MODEL, TODAY)
    assert seen == [(1000, False)]
    aside_rows, before_rows = _stored(store, aside.id, worlds[aside.id]), _stored(store, before.id, worlds[before.id])
    assert len(aside_rows[0]) == 3 and aside_rows[1]
    assert [row[5] for row in aside_rows[0] if row[0] == "parent"] == [["steady", "falling"]]
    assert aside_rows == before_rows
    score_tenant(store, aside.id, MODEL, TODAY, only=[worlds[aside.id]["steady"]])  # a few accounts: no thread
    assert seen[1:] == [(1000, False)]
    store.dispose()
