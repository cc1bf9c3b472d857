"""Installs register the webhook subscriptions (`sync.subscriptions.subscribe`): the emulators count the
registration calls, send nothing before it and only what was registered after it, a re-run adds nothing, the
vendor's secrets are kept encrypted, and Salesforce (no API for outbound messages) answers the admin's steps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hubspot.crm.companies import SimplePublicObjectInput
from sqlalchemy import select

import jobs
from cli.demo import sandbox_connections
from extensions import canary_store, credential_cipher
from integrations.hubspot.adapter import webhook_subscriptions
from integrations.zendesk.webhooks import SUBSCRIPTIONS, TICKET_BODY
from sandbox.core import LoopbackServer
from sandbox.server import Sandbox
from sandbox.zendesk.hooks import ADMIN_TICKET_BODY, EVENT_TYPES
from store.models import AuditEvent, Connection
from store.tenants import create_tenant
from sync.connections import build_adapter, save_connection
from sync.subscriptions import subscribe
from tests.shared import WORLD_AS_OF, WORLD_NOW, pinned_clock
from tests.webhooks.helpers import Recorder

LIMITS: dict[str, Any] = {"hubspot": {"requests_per_10s": 100_000, "search_lag_seconds": 0},
                          "zendesk": {"plan": "enterprise_plus", "incremental_requests_per_minute": None}}


@pytest.fixture
def clock() -> Iterator[None]:
    with pinned_clock(WORLD_NOW):
        yield


class Canary:
    """A served Canary app with one workspace connected to the sandbox (no webhooks registered yet)."""

    def __init__(self, app: Any, box: Sandbox, url: str) -> None:
        self.app, self.box, self.url = app, box, url
        self.store, self.cipher = canary_store(app), credential_cipher(app)
        with self.store.session() as s:
            self.tenant_id = create_tenant(s, "hooks", "Hooks")[0].id
        self.connections = sandbox_connections(box)
        with self.store.session(self.tenant_id) as s:
            for system in box.emulators:
                creds, base, ref = self.connections[system]
                save_connection(s, self.cipher, system, creds, base_url=base, account_ref=ref, actor="test")

    def subscribe(self, system: str, app_config: dict[str, Any] | None = None) -> Any:
        creds, base, ref = self.connections[system]
        return subscribe(self.store, self.cipher, self.tenant_id, system, build_adapter(system, creds, base),
                         public_url=self.url, app_config=app_config, actor="test", account_ref=ref)

    def stored(self, system: str) -> tuple[dict[str, Any], bytes]:
        with self.store.session(self.tenant_id) as s:
            conn = s.scalars(select(Connection).where(Connection.system == system)).one()
            return self.cipher.load(conn), conn.credentials_encrypted

    def audits(self) -> list[dict[str, Any]]:
        with self.store.session(self.tenant_id) as s:
            return [e.detail for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "connection.webhooks")
                                                .order_by(AuditEvent.id))]


@pytest.fixture
def served(app_factory: Any, clock: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Canary, Recorder]]:
    recorder = Recorder()
    monkeypatch.setattr(jobs, "submit_changes", recorder)
    app = app_factory()
    server = LoopbackServer(app).start()
    app.config["PUBLIC_URL"] = server.url
    try:
        with Sandbox(accounts=6, seed=4, as_of=WORLD_AS_OF, **LIMITS) as box:
            yield Canary(app, box, server.url), recorder
    finally:
        server.stop()


def test_zendesk_registration_is_counted_idempotent_and_its_secrets_are_kept_encrypted(
        served: tuple[Canary, Recorder]) -> None:
    canary, recorder = served
    box = canary.box
    emulator = box.emulators["zendesk"]
    person = box.person_clients().zendesk
    ticket = person.tickets(id=emulator.records("tickets")[0]["id"])
    ticket.subject = "Before Canary registered"
    person.tickets.update(ticket)
    emulator.update("organizations", emulator.records("organizations")[0]["id"], {"name": "Renamed before"})
    box.flush_webhooks()
    assert emulator.webhooks.sender is None and recorder.calls == []  # nothing subscribed: nothing sent

    first = canary.subscribe("zendesk")
    assert (first.problem, first.manual_steps, first.created, len(first.registered)) == (None, [], 3, 3)
    stats = emulator.stats
    assert (stats.calls("POST", "/api/v2/webhooks.json"), stats.calls("POST", "/api/v2/triggers.json"),
            stats.calls("GET", "/api/v2/webhooks/{id}/signing_secret.json")) == (2, 1, 2)
    hooks = emulator.hooks
    events = next(w for w in hooks.webhooks.values() if "conditional_ticket_events" not in w["subscriptions"])
    tickets = next(w for w in hooks.webhooks.values() if w["subscriptions"] == ["conditional_ticket_events"])
    assert events["subscriptions"] == list(SUBSCRIPTIONS)
    assert events["endpoint"] == tickets["endpoint"] == f"{canary.url}/webhooks/zendesk/canary-sandbox"
    (trigger,) = hooks.triggers.values()
    assert trigger["actions"] == [{"field": "notification_webhook", "value": [tickets["id"], TICKET_BODY]}]
    stored, encrypted = canary.stored("zendesk")
    assert (stored["webhook_secret"], stored["ticket_webhook_secret"]) == (
        hooks.secrets[events["id"]], hooks.secrets[tickets["id"]])
    assert hooks.secrets[events["id"]] != hooks.secrets[tickets["id"]]
    for secret in (stored["webhook_secret"], stored["ticket_webhook_secret"]):
        assert secret.encode() not in encrypted

    again = canary.subscribe("zendesk")
    assert (again.created, again.registered, again.problem) == (0, first.registered, None)
    assert (stats.calls("POST", "/api/v2/webhooks.json"), stats.calls("POST", "/api/v2/triggers.json"),
            stats.calls("PUT", "/api/v2/triggers/{id}.json"), len(hooks.webhooks), len(hooks.triggers)) == (
        2, 1, 0, 2, 1)
    assert [a["created"] for a in canary.audits()] == [3, 0]
    assert all(stored["webhook_secret"] not in str(a) for a in canary.audits())  # names and ids, never a secret

    ticket.subject = "After Canary registered"
    person.tickets.update(ticket)  # through the trigger, signed with the ticket webhook's own secret
    organization = emulator.records("organizations")[1]["id"]
    emulator.update("organizations", organization, {"name": "Renamed after"})  # an event subscription
    box.flush_webhooks()
    handed = sorted((c.object, c.external_id) for c in recorder.changes)
    assert handed == sorted([("tickets", str(ticket.id)), ("accounts", str(organization))])


def test_hubspot_registers_the_app_subscriptions_with_the_developer_key(served: tuple[Canary, Recorder]) -> None:
    canary, recorder = served
    box = canary.box
    emulator = box.emulators["hubspot"]
    person = box.person_clients().hubspot
    company = str(emulator.records("companies")[0]["id"])

    def edit(value: str) -> None:
        person.crm.companies.basic_api.update(company, SimplePublicObjectInput(properties={"name": value}))
        box.flush_webhooks()

    without = canary.subscribe("hubspot")  # no app settings: the manual step is the app's webhooks.json
    assert without.registered == [] and without.problem is None
    assert '"targetUrl":"' + canary.url + '/webhooks/hubspot"' in without.manual_steps[0]
    edit("Before Canary registered")
    assert emulator.stats.calls(endpoint="/webhooks/v3/{appId}/subscriptions") == 0 and recorder.calls == []

    canary.app.config["HUBSPOT_CLIENT_SECRET"] = emulator.client_secret  # the app's: signs what HubSpot sends
    config = {"HUBSPOT_APP_ID": str(emulator.app_id), "HUBSPOT_DEVELOPER_API_KEY": emulator.developer_api_key,
              "HUBSPOT_CLIENT_SECRET": emulator.client_secret}
    first = canary.subscribe("hubspot", config)
    wanted = len(webhook_subscriptions())
    assert (first.problem, first.created) == (None, 1 + wanted)
    stats = emulator.stats
    assert (stats.calls("PUT", "/webhooks/v3/{appId}/settings"),
            stats.calls("POST", "/webhooks/v3/{appId}/subscriptions")) == (1, wanted)
    assert emulator.app.settings is not None and emulator.app.settings["targetUrl"] == f"{canary.url}/webhooks/hubspot"
    assert all(s["active"] for s in emulator.app.subscriptions.values())
    assert canary.stored("hubspot")[0]["app_id"] == str(emulator.app_id)

    again = canary.subscribe("hubspot", config)
    assert again.created == 0 and len(emulator.app.subscriptions) == wanted
    assert (stats.calls("PUT", "/webhooks/v3/{appId}/settings"),
            stats.calls("POST", "/webhooks/v3/{appId}/subscriptions")) == (1, wanted)

    edit("After Canary registered")  # name is a subscribed property
    assert [(c.object, c.external_id) for c in recorder.changes] == [("accounts", company)]
    person.crm.companies.basic_api.update(company, SimplePublicObjectInput(properties={"description": "x"}))
    box.flush_webhooks()
    assert len(recorder.changes) == 1  # description: no subscription, no event

    bad = canary.subscribe("hubspot", {**config, "HUBSPOT_DEVELOPER_API_KEY": "wrong"})
    assert bad.problem is not None and "developer API key was refused" in bad.problem
    assert "wrong" not in bad.problem and bad.manual_steps and "webhooks/hubspot" in bad.manual_steps[0]


def test_salesforce_answers_what_the_admin_sets_up_and_sends_nothing_before(
        served: tuple[Canary, Recorder]) -> None:
    canary, recorder = served
    box = canary.box
    emulator = box.emulators["salesforce"]
    calls = emulator.stats.snapshot()["calls_total"]
    outcome = canary.subscribe("salesforce")
    assert emulator.stats.snapshot()["calls_total"] == calls  # nothing to register through the API
    assert outcome.registered == [] and outcome.problem is None
    steps = " ".join(outcome.manual_steps)
    for needed in ("Account, Contact, Opportunity, Case, Task", "Id, LastModifiedById, SystemModstamp",
                   f"{canary.url}/webhooks/salesforce?token=", "record-triggered flow", "integration_user_id",
                   "canary connect salesforce"):
        assert needed in steps, needed
    account = str(emulator.records("Account")[0]["Id"])
    box.person_clients().salesforce.Account.update(account, {"Description": "Before the admin"})
    box.flush_webhooks()
    assert emulator.webhooks.sender is None and recorder.calls == []


def test_the_sandbox_admin_and_canary_agree_on_the_zendesk_setup() -> None:
    assert EVENT_TYPES == SUBSCRIPTIONS
    assert ADMIN_TICKET_BODY == TICKET_BODY
