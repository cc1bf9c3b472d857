"""A whole workspace's one-day run inserts its snapshots once, with their benchmarks already in their parts
(`sync.health._insert_day`): the same rows — scores, bands, parts' and reasons' text, trends — as writing them
chunk by chunk and adding the benchmarks afterwards (the way before, `ONE_PASS_DAY = False`), a parent's
roll-up and benchmarks included, and every panel made stale at commit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Text, cast, delete, select

import sync.health
from scoring import default_model
from store.db import Store
from store.models import Account, AccountFact, Alert, HealthSnapshot, Subscription, Task, Tenant, UsageDaily
from store.tenants import create_tenant
from sync import base_reports as br
from sync.health import score_tenant

DAY = dt.date(2026, 11, 20)


def _world(store: Store) -> tuple[int, dict[str, int]]:
    with store.session() as s:
        tenant_id = create_tenant(s, "day-writes", "Day writes")[0].id
    with store.session(tenant_id) as s:
        names = ("holding", "busy", "fading", "quiet", "lone", "segmentless")
        accounts = {n: Account(name=n.title(), segment=None if n == "segmentless" else
                               ("enterprise" if n in ("holding", "lone") else "smb"), tier="growth",
                               lifecycle_stage="customer") for n in names}
        s.add_all(accounts.values())
        s.flush()
        for child in ("busy", "fading", "quiet"):
            accounts[child].parent_id = accounts["holding"].id
        for k, name in enumerate(names):
            s.add(Subscription(account_id=accounts[name].id, system="salesforce", external_id=f"006-{k}",
                               arr=Decimal(10000 + 5000 * k), seats_purchased=4 + k, start_date=dt.date(2025, 1, 1),
                               renewal_date=DAY + dt.timedelta(days=20 + 40 * k), status="active"))
        rows = []
        for k, name in enumerate(names):
            if name == "quiet":
                continue
            for back in range(0, 45):
                if name == "fading" and back < 14 and back % 4:
                    continue
                for u in range(1 + k % 3):
                    rows.append(UsageDaily(account_id=accounts[name].id, user_key=f"{name}-u{u}", event="Logged In",
                                           day=DAY - dt.timedelta(days=back), count=1 + (back + u) % 3, minutes=5.0))
                    if back % 2 == 0:
                        rows.append(UsageDaily(account_id=accounts[name].id, user_key=f"{name}-u{u}",
                                               event="Report Created", day=DAY - dt.timedelta(days=back), count=2,
                                               minutes=5.0))
        s.add_all(rows)
        return tenant_id, {n: a.id for n, a in accounts.items()}


def _stored(store: Store, tenant_id: int) -> list[tuple[Any, ...]]:
    with store.session(tenant_id) as s:
        return [tuple(r) for r in s.execute(
            select(HealthSnapshot.account_id, HealthSnapshot.day, HealthSnapshot.score, HealthSnapshot.band,
                   HealthSnapshot.profile, cast(HealthSnapshot.parts, Text()), cast(HealthSnapshot.reasons, Text()),
                   HealthSnapshot.trend).where(HealthSnapshot.day == DAY).order_by(HealthSnapshot.id))]


def _alerts(store: Store, tenant_id: int) -> list[tuple[Any, ...]]:
    with store.session(tenant_id) as s:
        return [tuple(r) for r in s.execute(select(Alert.account_id, Alert.rule, Alert.dedupe_key, Alert.title)
                                            .order_by(Alert.id))]


def _epoch(store: Store, tenant_id: int) -> int:
    with store.session() as s:
        return int(s.scalar(select(Tenant.panel_epoch).where(Tenant.id == tenant_id)) or 0)


@pytest.mark.parametrize(("insert_batch", "on_thread"), [(1000, True), (2, True), (2, False)])
def test_one_pass_day_stores_what_chunk_writes_and_benchmarks_stored(store: Store, monkeypatch: pytest.MonkeyPatch,
                                                                       insert_batch: int, on_thread: bool) -> None:
    """`insert_batch` 2: the day's INSERTs in several batches, each written on the helper thread (SQLite) while
    the next batch's texts are made, or (`on_thread` False) one executemany each; 1000: one batch in two multi-row
    statements (four rows at most each): the same rows in the same order (ids)."""
    monkeypatch.setattr(sync.health, "INSERT_BATCH", insert_batch)
    monkeypatch.setattr(sync.health, "INSERT_ON_THREAD", on_thread)
    monkeypatch.setattr(sync.health, "ROWS_PER_INSERT", 4)
    tenant_id, ids = _world(store)
    model = default_model()
    score_tenant(store, tenant_id, model, DAY - dt.timedelta(days=1), since=DAY - dt.timedelta(days=6))
    monkeypatch.setattr(sync.health, "ONE_PASS_DAY", False)
    with store.session(tenant_id) as s:  # the day's alerts raised anew by each run below
        s.execute(delete(Task))
        s.execute(delete(Alert))
    before = _epoch(store, tenant_id)
    chunked = score_tenant(store, tenant_id, model, DAY)
    expected, expected_alerts = _stored(store, tenant_id), _alerts(store, tenant_id)
    assert _epoch(store, tenant_id) > before
    with store.session(tenant_id) as s:
        s.execute(delete(HealthSnapshot).where(HealthSnapshot.day == DAY))
        s.execute(delete(Task))
        s.execute(delete(Alert))
    monkeypatch.setattr(sync.health, "ONE_PASS_DAY", True)
    before = _epoch(store, tenant_id)
    one_pass = score_tenant(store, tenant_id, model, DAY)
    got = _stored(store, tenant_id)
    assert _epoch(store, tenant_id) > before  # every panel stale
    assert got == expected
    # the scores built at the insert (`_LazyChunk`) are the run's in the accounts' order: the same alerts, raised
    # in the same order, the same band changes
    assert _alerts(store, tenant_id) == expected_alerts and expected_alerts
    assert (one_pass.band_changes, one_pass.bands) == (chunked.band_changes, chunked.bands)
    assert len(got) == len(ids)
    parts = {row[0]: row[5] for row in got}
    assert '"rollup"' in parts[ids["holding"]] and '"benchmarks"' in parts[ids["holding"]]
    assert parts[ids["holding"]].index('"rollup"') < parts[ids["holding"]].index('"benchmarks"')
    assert all('"benchmarks"' in parts[ids[n]] for n in ("busy", "fading", "lone"))
    assert sum(row[7] is not None for row in got) >= 4  # trends from the days before


def test_a_day_scored_again_keeps_one_snapshot_each_with_benchmarks(store: Store) -> None:
    tenant_id, ids = _world(store)
    model = default_model()
    score_tenant(store, tenant_id, model, DAY)
    first = _stored(store, tenant_id)
    score_tenant(store, tenant_id, model, DAY)  # the day's snapshots exist: updated in place
    again = _stored(store, tenant_id)
    assert len(first) == len(again) == len(ids)
    assert [r[:5] for r in again] == [r[:5] for r in first]
    for row in again:
        assert row[5].count('"benchmarks"') == 1


@pytest.mark.parametrize("reads_slow", [False, True])
def test_one_pass_day_with_chunks_built_now_and_at_the_insert_keeps_the_accounts_order(
        store: Store, monkeypatch: pytest.MonkeyPatch, reads_slow: bool) -> None:
    """Chunks of two accounts; one account keeps its snapshot of the day (its chunk is scored as before, its
    snapshot updated in place), the other chunks' scores are built at the insert (`_LazyChunk`) — or, `reads_slow`
    (SQLite: the next chunk's usage never read yet when asked), while the loop waits —: the same rows, and the
    alerts raised in the accounts' order, as the chunked path."""
    if reads_slow:
        monkeypatch.setattr(sync.health._SeriesAhead, "ready", lambda self, k: False)
    monkeypatch.setattr(sync.health, "_chunks", lambda ids, size=2: [ids[k:k + 2] for k in range(0, len(ids), 2)])
    tenant_id, ids = _world(store)
    model = default_model()
    score_tenant(store, tenant_id, model, DAY - dt.timedelta(days=1), since=DAY - dt.timedelta(days=6))

    def fresh_day(keep: int | None) -> None:
        with store.session(tenant_id) as s:
            s.execute(delete(HealthSnapshot).where(HealthSnapshot.day == DAY, HealthSnapshot.account_id != keep))
            s.execute(delete(Task))
            s.execute(delete(Alert))

    monkeypatch.setattr(sync.health, "ONE_PASS_DAY", False)
    fresh_day(None)
    chunked = score_tenant(store, tenant_id, model, DAY)
    expected, expected_alerts = sorted(_stored(store, tenant_id)), _alerts(store, tenant_id)
    monkeypatch.setattr(sync.health, "ONE_PASS_DAY", True)
    fresh_day(ids["fading"])  # the second chunk (busy, fading) has a snapshot of the day
    one_pass = score_tenant(store, tenant_id, model, DAY)
    assert sorted(_stored(store, tenant_id)) == expected
    assert len(expected) == len(ids)
    assert _alerts(store, tenant_id) == expected_alerts and len({a[0] for a in expected_alerts}) > 1
    assert (one_pass.band_changes, one_pass.bands) == (chunked.band_changes, chunked.bands)


@pytest.mark.parametrize("one_chunk_kept", [False, True])
def test_account_facts_take_the_runs_measure_values_the_same_as_read_from_the_snapshots(
        store: Store, monkeypatch: pytest.MonkeyPatch, one_chunk_kept: bool) -> None:
    """The account facts the run's base reports build take the measure values of the snapshots it inserted from
    its arrays (`KnownMeasures`), not from the snapshots' JSON: the same rows as facts built from the snapshots
    alone. `one_chunk_kept`: a chunk whose account kept its snapshot of the day is scored as before (not known):
    its accounts' values are read from their JSON."""
    monkeypatch.setattr(sync.health, "_chunks", lambda ids, size=2: [ids[k:k + 2] for k in range(0, len(ids), 2)])
    tenant_id, ids = _world(store)
    model = default_model()
    score_tenant(store, tenant_id, model, DAY - dt.timedelta(days=1), since=DAY - dt.timedelta(days=6))
    if one_chunk_kept:
        score_tenant(store, tenant_id, model, DAY)
        with store.session(tenant_id) as s:
            s.execute(delete(HealthSnapshot).where(HealthSnapshot.day == DAY,
                                                   HealthSnapshot.account_id != ids["fading"]))
    reads: list[tuple[dt.date | None, int]] = []
    measure_rows = br._measure_rows

    def recording(session: Any, lead: Any, latest: Any, where: Any, measures: Any, tenant: Any = None,
                  skip_day: dt.date | None = None) -> Any:
        found = measure_rows(session, lead, latest, where, measures, tenant, skip_day)
        reads.append((skip_day, len(found[0])))
        return found

    monkeypatch.setattr(br, "_measure_rows", recording)
    score_tenant(store, tenant_id, model, DAY)
    monkeypatch.undo()

    def facts() -> list[tuple[Any, ...]]:
        with store.session(tenant_id) as s:
            return [tuple(r) for r in s.execute(select(*[c for c in AccountFact.__table__.c if c.name != "id"])
                                                .order_by(AccountFact.account_id))]

    from_run = facts()
    with store.session(tenant_id) as s:
        assert br.refresh_account_facts(s, sorted(model.measures)) == len(ids)
    assert from_run == facts()
    # the values are there (not all missing), and the run read the JSON only of the snapshots it did not write
    # from arrays: the kept chunk's two accounts (busy, fading), else none
    blobs = [r[[c.name for c in AccountFact.__table__.c if c.name != "id"].index("measures")] for r in from_run]
    assert sum(np.isfinite(np.frombuffer(b, dtype=np.float64)).sum() for b in blobs) >= len(ids)
    assert reads[0] == (DAY, len(ids))
    assert reads[1:] == ([(None, 2)] if one_chunk_kept else [])
