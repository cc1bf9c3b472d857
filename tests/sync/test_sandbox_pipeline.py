"""Issue 4 end to end: the three real SDKs against the sandbox, the store on SQLite.

Linking against truth.json, incremental pulls, physical-minimum pushes, faults, a killed
sync, and the Salesforce quota guard.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cli.demo import sandbox_connections
from integrations.http import RetryPolicy
from sandbox.server import Sandbox
from store.crypto import CredentialCipher
from store.db import Store
from store.models import Account, Contact, HealthSnapshot, PushLedger, SourceLink, Subscription, SyncCursor, Ticket
from store.tenants import create_tenant
from sync.connections import build_adapter, save_connection
from sync.identity import pairwise_quality
from sync.push import HEALTH_FIELDS, _spec_version, push
from sync.runner import sync
from sync.writer import save_cursor
from tests.dbtemplate import migrate_new
from tests.shared import WORLD_AS_OF, WORLD_NOW

ROOT = Path(__file__).resolve().parents[2]
SECRET = "pipeline-secret-key-0123456789"
LIMITS: dict[str, Any] = {"hubspot": {"requests_per_10s": 100_000},
                          "zendesk": {"plan": "enterprise_plus", "incremental_requests_per_minute": None}}
FAST: dict[str, dict[str, Any]] = {"zendesk": {"poll_interval": 0.01}, "salesforce": {"bulk_poll_interval": 0.01}}


class Clock:
    """The emulators' clock: half an hour before `WORLD_NOW`, moved on only by the test."""

    def __init__(self) -> None:
        self.now = WORLD_NOW - dt.timedelta(minutes=30)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def stored_credentials(box: Sandbox) -> dict[str, tuple[dict[str, Any], str | None]]:
    return {system: (creds, base) for system, (creds, base, _ref) in sandbox_connections(box).items()}


def adapters(box: Sandbox, **extra: dict[str, Any]) -> dict[str, Any]:
    return {system: build_adapter(system, creds, base, **{**FAST.get(system, {}), **extra.get(system, {})})
            for system, (creds, base) in stored_credentials(box).items()}


def new_store(path: Path) -> tuple[Store, int]:
    url = f"sqlite:///{path}"
    migrate_new(url)
    store = Store(url)
    with store.session() as s:
        tenant, _ = create_tenant(s, "pipeline", "Pipeline")
    return store, tenant.id


def truth_groups(box: Sandbox) -> list[list[tuple[str, str]]]:
    truth = json.loads(Path(box.truth_path).read_text())
    return [[(r["system"], r["id"]) for r in g["records"]] for g in truth["same_customer_groups"]]


def linked_groups(store: Store, tenant: int) -> list[list[tuple[str, str]]]:
    groups: dict[int, list[tuple[str, str]]] = {}
    with store.session(tenant) as s:
        for system, ext, account in s.execute(select(SourceLink.system, SourceLink.external_id,
                                                     SourceLink.account_id).where(SourceLink.system != "product")):
            groups.setdefault(account, []).append((system, ext))
    return list(groups.values())


def score_everything(store: Store, tenant: int, score: float, band: str) -> int:
    with store.session(tenant) as s:
        ids = list(s.scalars(select(Account.id)))
        day = dt.date(2026, 11, 20)
        existing = {x.account_id: x for x in s.scalars(select(HealthSnapshot).where(HealthSnapshot.day == day))}
        for account_id in ids:
            snap = existing.get(account_id) or HealthSnapshot(account_id=account_id, day=day)
            snap.score, snap.band, snap.trend = score, band, -0.5
            snap.reasons = [{"text": "Weekly active users fell 40 %"}]
            s.add(snap)
        return len(ids)


def state(store: Store, tenant: int) -> dict[str, Any]:
    """What a sync and push leave behind, comparable across runs (no ids that depend on insert order)."""
    with store.session(tenant) as s:
        links = sorted(linked_groups_sorted(s))
        return {
            "links": links,
            "contacts": sorted(s.scalars(select(Contact.email))),
            "subscriptions": sorted((x.system, x.external_id, str(x.arr)) for x in s.scalars(select(Subscription))),
            "tickets": sorted((x.system, x.external_id, x.priority, x.status) for x in s.scalars(select(Ticket))),
            "ledger": sorted((x.system, x.external_id, x.field, x.value) for x in s.scalars(
                select(PushLedger).where(PushLedger.field != "scored_at"))),
        }


def linked_groups_sorted(s: Any) -> list[tuple[tuple[str, str], ...]]:
    groups: dict[int, list[tuple[str, str]]] = {}
    for system, ext, account in s.execute(select(SourceLink.system, SourceLink.external_id, SourceLink.account_id)):
        groups.setdefault(account, []).append((system, ext))
    return [tuple(sorted(g)) for g in groups.values()]


@pytest.fixture(scope="module")
def big_box() -> Iterator[tuple[Sandbox, Clock]]:
    clock = Clock()
    box = Sandbox(accounts=2000, seed=11, as_of=WORLD_AS_OF, clock=clock, **LIMITS)
    box.start()
    yield box, clock
    box.stop()


def test_full_incremental_and_push_on_2000_companies(big_box: tuple[Sandbox, Clock], tmp_path: Path) -> None:
    box, clock = big_box
    store, tenant = new_store(tmp_path / "pipeline.db")
    live = adapters(box)

    # 1. Full sync links every company truth.json calls shared, with no false merge.
    summary = sync(store, tenant, live)
    assert all(s.stopped is None for s in summary.systems.values()), summary.as_dict()
    precision, recall = pairwise_quality(linked_groups(store, tenant), truth_groups(box))
    assert (precision, recall) == (1.0, 1.0)
    expected_accounts = {s: len(box.emulators[s].records(n)) for s, n in
                         (("salesforce", "Account"), ("zendesk", "organizations"), ("hubspot", "companies"))}
    for system, n in expected_accounts.items():
        assert summary.systems[system].objects["accounts"].pulled == n

    # 2. A second sync with no vendor change pulls nothing and spends at most one call per object.
    clock.advance(120)
    again_adapters = adapters(box)
    again = sync(store, tenant, again_adapters)
    for system, adapter in again_adapters.items():
        assert sum(o.pulled for o in again.systems[system].objects.values()) == 0, system
        assert adapter.calls <= len(adapter.objects), (system, adapter.calls)

    # 3. Change 5 records in each system: exactly those are pulled.
    for system, native in (("salesforce", "Account"), ("zendesk", "organizations"), ("hubspot", "companies")):
        ids = [r["Id"] if system == "salesforce" else str(r["id"]) for r in box.emulators[system].records(native)[:5]]
        box.emulators[system].touch(native, ids if system != "zendesk" else [int(i) for i in ids])
    clock.advance(120)
    changed = sync(store, tenant, adapters(box))
    for system in ("salesforce", "zendesk", "hubspot"):
        assert changed.systems[system].objects["accounts"].pulled == 5, (system, changed.as_dict())

    # 4. Push N changed scores in the physical minimum of calls; nothing changed -> no call.
    score_everything(store, tenant, 55.0, "average")
    writers = adapters(box)
    for system, adapter in writers.items():
        adapter.ensure_fields(HEALTH_FIELDS)
        with store.session(tenant) as s:
            save_cursor(s, system, "fields", _spec_version())
    for system, adapter in writers.items():
        with store.session(tenant) as s:
            n = s.scalar(select(func.count()).select_from(SourceLink).where(SourceLink.system == system))
        result = push(store, tenant, system, adapter)
        assert result.pushed == n and not result.failed, (system, result.as_dict())
        per_call = 200 if system == "salesforce" else 100
        minimum = math.ceil(n / per_call)
        if system == "zendesk":
            assert result.calls == minimum + math.ceil(minimum / 100)  # update_many each + one show_many poll
        else:
            assert result.calls == minimum, (system, result.calls, minimum)
        assert push(store, tenant, system, adapter).calls == 0
    sf_account = box.emulators["salesforce"].records("Account")[0]
    assert sf_account["Canary_Health_Band__c"] == "average"
    assert float(sf_account["Canary_Health_Score__c"]) == 55.0


def test_faults_end_in_the_same_state_as_a_clean_run(tmp_path: Path) -> None:
    results = []
    for rate in (0.0, 0.2):
        clock = Clock()
        with Sandbox(accounts=150, seed=5, as_of=WORLD_AS_OF, clock=clock, faults=rate,
                     fault_kinds=("429", "500", "503", "drop"), **LIMITS) as box:
            store, tenant = new_store(tmp_path / f"faults-{rate}.db")
            options = {s: {"policy": RetryPolicy(sleep=lambda _s: None, max_attempts=30)}
                       for s in ("salesforce", "zendesk", "hubspot")}
            live = adapters(box, **options)
            summary = sync(store, tenant, live)
            assert all(s.stopped is None for s in summary.systems.values()), summary.as_dict()
            score_everything(store, tenant, 61.0, "average")
            for system, adapter in live.items():
                result = push(store, tenant, system, adapter)
                assert result.stopped is None and not result.failed, (system, result.as_dict())
            vendor = {
                "salesforce": sorted((r["Id"], r.get("Canary_Health_Band__c")) for r in
                                     box.emulators["salesforce"].records("Account")),
                "zendesk": sorted((r["id"], r["organization_fields"].get("canary_health_band")) for r in
                                  box.emulators["zendesk"].records("organizations")),
                "hubspot": sorted((r["id"], r["properties"].get("canary_health_band")) for r in
                                  box.emulators["hubspot"].records("companies")),
            }
            injected = sum(box.stats()[v].get("faults", {}).get("injected_total", 0)
                           for v in ("salesforce", "zendesk", "hubspot"))
            results.append((state(store, tenant), vendor, injected))
    (clean, clean_vendor, none), (faulty, faulty_vendor, injected) = results
    assert none == 0 and injected >= 5
    assert faulty == clean
    assert faulty_vendor == clean_vendor


def test_a_sync_killed_with_sigkill_resumes_to_the_same_state(tmp_path: Path) -> None:
    clock = Clock()
    with Sandbox(accounts=300, seed=9, as_of=WORLD_AS_OF, clock=clock, **LIMITS) as box:
        reference, ref_tenant = new_store(tmp_path / "reference.db")
        sync(store=reference, tenant_id=ref_tenant, adapters=adapters(box))

        url = f"sqlite:///{tmp_path / 'killed.db'}"
        migrate_new(url)
        store = Store(url)
        cipher = CredentialCipher(SECRET)
        with store.session() as s:
            tenant, _ = create_tenant(s, "pipeline", "Pipeline")
        with store.session(tenant.id) as s:
            for system, (creds, base) in stored_credentials(box).items():
                save_connection(s, cipher, system, creds, base_url=base, account_ref=system, actor="test")
        env = {**os.environ, "DATABASE_URL": url, "CANARY_SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-c", "from app import main; main()", "sync"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:  # kill it once a few pages are stored, mid-way
            with store.session(tenant.id) as s:
                if (s.scalar(select(func.count()).select_from(SyncCursor)) or 0) >= 3:
                    break
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        assert state(store, tenant.id) == state(reference, ref_tenant)
        store.dispose()


def test_salesforce_quota_guard_stops_the_run_and_the_next_run_resumes(tmp_path: Path) -> None:
    clock = Clock()
    with Sandbox(accounts=300, seed=4, as_of=WORLD_AS_OF, clock=clock, salesforce={"daily_api_limit": 1000},
                 **LIMITS) as box:
        emulator = box.emulators["salesforce"]
        store, tenant = new_store(tmp_path / "quota.db")
        # The org has already spent 79.5 % of its day: the 80 % ceiling leaves this run 5 calls.
        emulator.api_usage = 795
        live = adapters(box, salesforce={"query_batch_size": 200})
        summary = sync(store, tenant, {"salesforce": live["salesforce"]})
        stopped = summary.systems["salesforce"].stopped
        assert stopped is not None and "salesforce" in stopped and "%" in stopped
        with store.session(tenant) as s:
            partial = s.scalar(select(func.count()).select_from(Contact)) or 0
        emulator.reset_allocation()
        resumed = sync(store, tenant, {"salesforce": adapters(box)["salesforce"]})
        assert resumed.systems["salesforce"].stopped is None
        with store.session(tenant) as s:
            total = s.scalar(select(func.count()).select_from(Contact)) or 0
        assert total == len(emulator.records("Contact")) and total > partial
