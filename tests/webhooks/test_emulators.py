"""The emulators send webhooks as the vendors do; Canary's receivers take them, and Canary's own push
hands nothing over (the loop guard), end to end over HTTP."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

import jobs
from cli.demo import sandbox_connections
from extensions import canary_store, credential_cipher
from integrations.registry import vendor
from integrations.webhooks import Delivery
from sandbox.core import LoopbackServer
from sandbox.server import Sandbox
from store.tenants import create_tenant
from sync.connections import build_adapter, save_connection
from sync.push import push
from sync.runner import sync
from tests.shared import WORLD_AS_OF, WORLD_NOW, pinned_clock
from tests.webhooks.helpers import Recorder

LIMITS: dict[str, Any] = {"hubspot": {"requests_per_10s": 100_000, "search_lag_seconds": 0},
                          "zendesk": {"plan": "enterprise_plus", "incremental_requests_per_minute": None}}


class Receiver:
    """A local endpoint that records every delivery and fails the first ``fail_first`` with 503."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.fail_first = fail_first
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self._lock:
            self.requests.append((request.method, request.url, dict(request.headers.items()), request.get_data()))
            failing = len(self.requests) <= self.fail_first
        if failing:
            return Response("busy", status=503)(environ, start_response)
        if "salesforce" in request.path:
            ack = ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
                   '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>'
                   "</notificationsResponse></soapenv:Body></soapenv:Envelope>")
            return Response(ack, content_type="text/xml")(environ, start_response)
        return Response("{}", content_type="application/json")(environ, start_response)

    def of(self, system: str) -> list[tuple[str, str, dict[str, str], bytes]]:
        return [r for r in self.requests if f"/webhooks/{system}" in r[1]]


@pytest.fixture
def clock() -> Iterator[None]:
    with pinned_clock(WORLD_NOW):
        yield


def _delivery(req: tuple[str, str, dict[str, str], bytes]) -> Delivery:
    from urllib.parse import parse_qsl, urlsplit

    method, url, headers, body = req
    parts = urlsplit(url)
    account = parts.path.rsplit("/", 1)[1] if parts.path.startswith("/webhooks/zendesk/") else None
    return Delivery(method, url, headers, body, account, dict(parse_qsl(parts.query)))


def test_deliveries_verify_with_the_receivers_checks_and_failures_are_retried(clock: None) -> None:
    receiver = Receiver(fail_first=2)
    server = LoopbackServer(receiver).start()
    waits: list[float] = []
    try:
        with Sandbox(accounts=30, seed=3, as_of=WORLD_AS_OF, webhooks=server.url,
                     webhook_options={"sleep": waits.append}, **LIMITS) as box:
            box.mutate(changes=40, deletions=3, merges=2, seed=5)
            box.flush_webhooks()
            creds = {system: box.emulators[system].credentials for system in box.emulators}
            stats = {system: box.emulators[system].webhooks.sender.stats for system in box.emulators}
    finally:
        server.stop()
    assert waits[:2] == [1.0, 2.0] or sorted(waits) == [1.0, 1.0]  # each failing sender backed off from 1 s
    assert sum(s.dropped for s in stats.values()) == 0
    events = {}
    for system in ("hubspot", "zendesk", "salesforce"):
        delivered = [r for r in receiver.of(system)]
        assert delivered, system
        spec = vendor(system).webhooks
        assert spec is not None
        now = WORLD_NOW.timestamp()
        parsed = []
        for req in delivered:
            delivery = _delivery(req)
            (account,) = spec.accounts(delivery)
            spec.verify(delivery, creds[system], now=now + 1, scope=1)  # raises when forged or stale
            parsed.extend(spec.parse(delivery, creds[system], account))
        events[system] = parsed
    hubspot_batches = [len(_json(r[3])) for r in receiver.of("hubspot")]
    assert max(hubspot_batches) <= 100
    assert {e.kind for e in events["hubspot"]} >= {"upsert", "delete", "merge"}
    assert all(not e.own for es in events.values() for e in es)  # a person's edits, not Canary's
    assert events["zendesk"] and {e.object for e in events["zendesk"]} <= {"accounts", "contacts", "tickets"}
    assert {e.object for e in events["salesforce"]} <= {"accounts", "contacts", "deals", "tickets"}


def _json(body: bytes) -> Any:
    import json

    return json.loads(body)


def test_duplicates_and_shuffled_order_when_asked(clock: None) -> None:
    receiver = Receiver()
    server = LoopbackServer(receiver).start()
    try:
        with Sandbox(accounts=20, seed=3, as_of=WORLD_AS_OF, webhooks=server.url, vendors=("hubspot",),
                     webhook_options={"duplicates": 1.0, "shuffle": True, "seed": 1}, **LIMITS) as box:
            for company in box.emulators["hubspot"].records("companies")[:5]:
                box.emulators["hubspot"].update("companies", company["id"], {"numberofemployees": "77"})
            box.flush_webhooks()
    finally:
        server.stop()
    bodies = [_json(r[3]) for r in receiver.of("hubspot")]
    assert len(bodies) == 2 and bodies[0] == bodies[1]  # the batch, delivered twice
    ids = [e["eventId"] for e in bodies[0]]
    assert len(ids) == 5 and ids != sorted(ids)  # out of order


def test_canary_receives_changes_and_its_own_push_hands_nothing_over(app_factory: Any, clock: None,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(jobs, "submit_changes", recorder)
    app = app_factory()
    canary = LoopbackServer(app).start()
    try:
        with Sandbox(accounts=25, seed=4, as_of=WORLD_AS_OF, webhooks=canary.url, **LIMITS) as box:
            store = canary_store(app)
            with store.session() as s:
                tenant, _ = create_tenant(s, "hooks", "Hooks")
                tenant_id = tenant.id
            connections = sandbox_connections(box)
            with store.session(tenant_id) as s:
                for system, (creds, base, ref) in connections.items():
                    extra = {k: v for k, v in box.emulators[system].credentials.items()
                             if k in ("client_secret", "app_id", "webhook_secret", "api_user_id", "webhook_token",
                                      "integration_user_id")}
                    save_connection(s, credential_cipher(app), system, {**creds, **extra}, base_url=base,
                                    account_ref=ref, actor="test")
            adapters = {system: build_adapter(system, creds, base) for system, (creds, base, _) in connections.items()}
            sync(store, tenant_id, adapters)
            box.flush_webhooks()
            assert recorder.calls == []  # a sync only reads
            _score_all(store, tenant_id)
            before = {system: box.emulators[system].webhooks.sender.stats.delivered for system in box.emulators}
            for system, adapter in adapters.items():
                assert push(store, tenant_id, system, adapter, now=WORLD_NOW).pushed > 0
            box.flush_webhooks()
            after = {system: box.emulators[system].webhooks.sender.stats.delivered for system in box.emulators}
            assert all(after[s] > before[s] for s in after), (before, after)  # the pushes were announced ...
            assert recorder.changes == []  # ... and nothing was handed over: Canary's own writes
            box.mutate(changes=30, deletions=2, merges=1, seed=8)
            box.flush_webhooks()
            systems = {c.system for c in recorder.changes}
            assert systems == {"hubspot", "salesforce", "zendesk"}
            assert {t for t, _ in recorder.calls} == {tenant_id}
            ids = [(c.system, c.event_id, c.external_id) for c in recorder.changes]
            assert len(ids) == len(set(ids))
    finally:
        canary.stop()


def _score_all(store: Any, tenant_id: int) -> None:
    from sqlalchemy import select

    from store.models import Account, HealthSnapshot

    with store.session(tenant_id) as s:
        for account_id in s.scalars(select(Account.id)):
            s.add(HealthSnapshot(account_id=account_id, day=dt.date(2026, 11, 29), score=41.0, band="poor",
                                 trend=-1.0, reasons=[{"text": "Logins fell"}]))
