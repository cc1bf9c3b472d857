"""The real-time loop end to end, inline (no broker), over HTTP: a person's edits in the emulated
vendors → their webhooks → Canary's receivers → the changed records fetched by id → only their accounts
rescored → their new health pushed to Salesforce and HubSpot; Canary's own push starts nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

import jobs
from cli.demo import sandbox_connections
from extensions import canary_store, credential_cipher
from sandbox.core import LoopbackServer
from sandbox.server import Sandbox
from scoring import default_model
from store.models import HealthSnapshot, PushLedger, SourceLink
from store.tenants import create_tenant
from sync import realtime
from sync.connections import build_adapter, save_connection
from sync.health import first_score
from sync.push import push
from sync.runner import sync
from tests.shared import WORLD_AS_OF, WORLD_NOW, pinned_clock

LIMITS: dict[str, Any] = {"hubspot": {"requests_per_10s": 100_000, "search_lag_seconds": 30},
                          "zendesk": {"plan": "enterprise_plus", "incremental_requests_per_minute": None}}
SECRETS = ("client_secret", "app_id", "webhook_secret", "api_user_id", "webhook_token", "integration_user_id")


def test_a_persons_edits_reach_the_scores_and_the_crms_through_webhooks(
        app_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app = app_factory(REALTIME_COALESCE_SECONDS=0)
    passes: list[realtime.RealtimeSummary] = []
    real = realtime.process_changes

    def counted(*args: Any, **kwargs: Any) -> realtime.RealtimeSummary:
        result = real(*args, **kwargs)
        passes.append(result)
        return result

    monkeypatch.setattr(realtime, "process_changes", counted)
    canary = LoopbackServer(app).start()
    try:
        with pinned_clock(), Sandbox(accounts=40, seed=9, as_of=WORLD_AS_OF, webhooks=canary.url, **LIMITS) as box:
            store = canary_store(app)
            with store.session() as s:
                tenant_id = create_tenant(s, "loop", "Loop")[0].id
            connections = sandbox_connections(box)
            with store.session(tenant_id) as s:
                for system, (creds, base, ref) in connections.items():
                    extra = {k: v for k, v in box.emulators[system].credentials.items() if k in SECRETS}
                    save_connection(s, credential_cipher(app), system, {**creds, **extra}, base_url=base,
                                    account_ref=ref, actor="test")
            adapters = {system: build_adapter(system, creds, base) for system, (creds, base, _) in connections.items()}
            sync(store, tenant_id, adapters)
            first_score(store, tenant_id, default_model(), WORLD_AS_OF, history_days=30)
            for system, adapter in adapters.items():
                push(store, tenant_id, system, adapter, now=WORLD_NOW)
            box.flush_webhooks()
            jobs.queue_of(app).drain()
            assert passes == []  # Canary's own push came back as webhooks and started nothing

            with store.session(tenant_id) as s:
                before = {a: c for a, c in s.execute(select(HealthSnapshot.account_id, HealthSnapshot.computed_at)
                                                     .where(HealthSnapshot.day == WORLD_AS_OF))}
            box.mutate(changes=12, deletions=0, merges=0, seed=3)  # a person's edits in the three vendors
            box.flush_webhooks()
            jobs.queue_of(app).drain()
            # Five urgent tickets for one customer known in Zendesk and Salesforce: its health must move.
            with store.session(tenant_id) as s:
                linked = s.execute(select(SourceLink.account_id, SourceLink.system, SourceLink.external_id).where(
                    SourceLink.system.in_(("zendesk", "salesforce")))).all()
            systems_of: dict[int, dict[str, str]] = {}
            for account_id, system, external_id in linked:
                systems_of.setdefault(account_id, {})[system] = external_id
            target = min(a for a, found in systems_of.items() if {"zendesk", "salesforce"} <= set(found))
            with store.session(tenant_id) as s:
                sf_before = s.scalar(select(PushLedger.value).where(
                    PushLedger.system == "salesforce", PushLedger.external_id == systems_of[target]["salesforce"],
                    PushLedger.field == "score"))
            for n in range(5):
                box.emulators["zendesk"].create_ticket(systems_of[target]["zendesk"], None, f"Outage #{n}", "urgent")
            box.flush_webhooks()
            jobs.queue_of(app).drain()
    finally:
        canary.stop()

    assert passes, "no webhook reached the real-time path"
    touched = set().union(*(p.accounts for p in passes))
    assert touched and all(p.problems == [] for p in passes), [p.problems for p in passes]
    assert sum(sum(p.fetch_calls.values()) for p in passes) > 0  # fetched by id: HubSpot's search lags 30 s
    with store.session(tenant_id) as s:
        after = {a: (c, score, band) for a, c, score, band in s.execute(
            select(HealthSnapshot.account_id, HealthSnapshot.computed_at, HealthSnapshot.score, HealthSnapshot.band)
            .where(HealthSnapshot.day == WORLD_AS_OF))}
        ledger = {(system, ext, field): value for system, ext, field, value in s.execute(
            select(PushLedger.system, PushLedger.external_id, PushLedger.field, PushLedger.value))}
        links = s.execute(select(SourceLink.account_id, SourceLink.system, SourceLink.external_id).where(
            SourceLink.system.in_(("salesforce", "hubspot")), SourceLink.account_id.in_(sorted(touched)))).all()
    rescored = {a for a in after if after[a][0] != before.get(a)}
    assert rescored and rescored <= touched | _parents(store, tenant_id, touched)
    assert len(rescored) < len(after)  # the others were left alone
    checked = 0
    for account_id, system, external_id in links:  # what the CRMs hold now is the account's new health
        if account_id in rescored and (system, external_id, "band") in ledger:
            assert ledger[(system, external_id, "band")] == after[account_id][2]
            checked += 1
    assert checked > 0
    last = passes[-1]  # the tickets' pass: that account alone, its new score in Salesforce
    assert last.accounts == [target] and last.pushed["salesforce"] == 1, last.as_dict()
    sf_now = ledger[("salesforce", systems_of[target]["salesforce"], "score")]
    assert sf_now != sf_before and float(sf_now) == pytest.approx(after[target][1], abs=0.5)


def _parents(store: Any, tenant_id: int, ids: set[int]) -> set[int]:
    from store.models import Account

    with store.session(tenant_id) as s:
        return {p for p in s.scalars(select(Account.parent_id).where(Account.id.in_(sorted(ids)))) if p}
