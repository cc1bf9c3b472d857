"""One account at a time: a change rescores only the accounts it touches, with exactly what a whole
run gives them (score, band, reasons, parents' roll-up, alerts), and leaves the others alone."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from sqlalchemy import delete, select

from scoring import default_model
from store.db import Store
from store.models import Alert, HealthSnapshot, SourceLink, UsageDaily
from sync.changes import Change
from sync.health import score_tenant
from sync.realtime import process_changes
from tests.sync.test_health_run import TODAY, _world, tenant  # noqa: F401 — the fixture is used by name


def _snapshots(store: Store, tenant_id: int) -> dict[int, dict[str, Any]]:
    with store.session(tenant_id) as s:
        out = {}
        for snap in s.scalars(select(HealthSnapshot).where(HealthSnapshot.day == TODAY)):
            parts = {k: v for k, v in (snap.parts or {}).items() if k != "benchmarks"}
            out[snap.account_id] = {"score": snap.score, "band": snap.band, "reasons": snap.reasons,
                                    "parts": parts, "trend": snap.trend, "computed_at": snap.computed_at}
        return out


def _alerts(store: Store, tenant_id: int) -> set[tuple[int, str, str]]:
    with store.session(tenant_id) as s:
        return {(a.account_id, a.rule, a.status) for a in s.scalars(select(Alert))}


def test_a_usage_change_rescores_that_account_as_a_whole_run_would(store: Store, tenant: int) -> None:  # noqa: F811
    ids = _world(store, tenant)
    model = default_model()
    score_tenant(store, tenant, model, TODAY, since=TODAY - dt.timedelta(days=30))
    before = _snapshots(store, tenant)
    with store.session(tenant) as s:  # Steady's product usage stops for the last two weeks
        s.add(SourceLink(system="product", external_id="prod-steady", account_id=ids["steady"], name="Steady Co",
                         method="product", reason="the product's account id"))
        s.execute(delete(UsageDaily).where(UsageDaily.account_id == ids["steady"],
                                           UsageDaily.day > TODAY - dt.timedelta(days=14)))

    summary = process_changes(store, tenant, [Change("product", "usage", "prod-steady"),
                                              Change("product", "usage", "prod-steady")],
                              adapters={}, model=model, as_of=TODAY)
    assert summary.changes == 1 and summary.accounts == [ids["steady"]]
    after = _snapshots(store, tenant)
    assert after[ids["falling"]] == before[ids["falling"]]  # not touched: not even rewritten
    assert after[ids["steady"]]["score"] < before[ids["steady"]]["score"]
    assert after[ids["parent"]]["score"] != before[ids["parent"]]["score"]  # its roll-up follows
    assert after[ids["parent"]]["computed_at"] > before[ids["parent"]]["computed_at"]  # rescored with it
    alerts = _alerts(store, tenant)
    assert (ids["steady"], "usage_drop", "open") in alerts

    whole = score_tenant(store, tenant, model, TODAY)  # the whole run: the same answer for everyone
    assert whole.alerts_raised == 0 and whole.alerts_resolved == 0
    again = _snapshots(store, tenant)
    for account in ids.values():
        mine = {k: v for k, v in after[account].items() if k != "computed_at"}
        theirs = {k: v for k, v in again[account].items() if k != "computed_at"}
        assert mine == theirs, account
    assert _alerts(store, tenant) == alerts


def test_changes_of_records_canary_does_not_know_touch_nothing(store: Store, tenant: int) -> None:  # noqa: F811
    _world(store, tenant)
    score_tenant(store, tenant, default_model(), TODAY)
    before = _snapshots(store, tenant)
    summary = process_changes(store, tenant, [Change("product", "usage", "nobody")], adapters={},
                              model=default_model(), as_of=TODAY)
    assert summary.accounts == [] and summary.pushed == {}
    assert _snapshots(store, tenant) == before


def test_a_collector_batch_rescores_the_accounts_it_moved_once_per_burst(
        app_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Usage arriving at /v1/batch after the workspace's first score: its accounts are rescored in the
    background, a burst of batches coalesced into one pass; other accounts are left alone."""
    import jobs
    from extensions import canary_store
    from store.models import Account
    from store.tenants import create_tenant
    from sync import realtime
    from tests.collector.conftest import WRITE_KEY, post
    from tests.shared import WORLD_NOW, pinned_clock

    app = app_factory(REALTIME_USAGE=True, REALTIME_COALESCE_SECONDS=0.5)
    store = canary_store(app)
    with store.session() as s:
        tenant_id = create_tenant(s, "live", "Live CS", write_key=WRITE_KEY)[0].id
    client = app.test_client()
    passes: list[list[Change]] = []
    results: list[realtime.RealtimeSummary] = []
    real = realtime.process_changes

    def counted(*args: Any, **kwargs: Any) -> Any:
        passes.append(list(args[2]))
        results.append(real(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(realtime, "process_changes", counted)

    def events(group: str, user: str, days_ago: int, n: int) -> list[dict[str, Any]]:
        stamp = (WORLD_NOW - dt.timedelta(days=days_ago)).isoformat()
        return [{"type": "group", "userId": user, "groupId": group, "traits": {"name": group}, "timestamp": stamp,
                 "messageId": f"g-{group}-{days_ago}"},
                *({"type": "track", "userId": user, "event": "Logged In", "timestamp": stamp,
                   "messageId": f"{group}-{user}-{days_ago}-{i}", "context": {"groupId": group}} for i in range(n))]

    day = WORLD_NOW.date()
    with pinned_clock():
        for days_ago in range(1, 20):  # before the first score: collected, nothing rescored
            assert post(client, "/v1/batch", {"batch": events("acme", "ann", days_ago, 3)
                                              + events("initech", "bob", days_ago, 3)}).status_code == 200
        jobs.queue_of(app).drain()
        assert passes == []
        with store.session(tenant_id) as s:
            ids = {a.name: a.id for a in s.scalars(select(Account))}
        score_tenant(store, tenant_id, default_model(), day)
        first = _snapshots_on(store, tenant_id, day)
        for n in range(3):  # a burst: three batches for Acme within the coalescing window
            assert post(client, "/v1/batch", {"batch": events("acme", "ann", 0, 5 + n)}).status_code == 200
        deadline = time.monotonic() + 30
        while not passes and time.monotonic() < deadline:
            time.sleep(0.1)
        jobs.queue_of(app).drain()
    assert [[c.external_id for c in p] for p in passes] == [["acme"]]  # one pass for the burst
    after = _snapshots_on(store, tenant_id, day)
    assert after[ids["initech"]] == first[ids["initech"]]
    assert results[0].accounts == [ids["acme"]] and sum(results[0].bands.values()) == 1  # Acme alone, rescored


def _snapshots_on(store: Store, tenant_id: int, day: dt.date) -> dict[int, dict[str, Any]]:
    with store.session(tenant_id) as s:
        return {snap.account_id: {"score": snap.score, "computed_at": snap.computed_at}
                for snap in s.scalars(select(HealthSnapshot).where(HealthSnapshot.day == day))}
