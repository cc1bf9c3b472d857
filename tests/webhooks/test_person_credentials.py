"""Each emulator's second, human credential: a person's edit made with the real SDKs reaches Canary's receiver
and is handed over, while the very same edit made with Canary's own credential is counted as Canary's own
(the loop guard) -- for each vendor, end to end over HTTP. And the sandbox's Salesforce OAuth names the
user its API stamps on Canary's writes, so the loop guard's user recorded at install is the right one."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hubspot.crm.companies import SimplePublicObjectInput

import jobs
from cli.demo import sandbox_connections
from extensions import canary_store, credential_cipher
from integrations.registry import vendor
from integrations.salesforce.adapter import SalesforceAdapter
from sandbox.core import LoopbackServer
from sandbox.server import Sandbox
from store.tenants import create_tenant
from sync.connections import build_adapter, save_connection, with_connected_user
from tests.shared import WORLD_AS_OF, WORLD_NOW, pinned_clock
from tests.webhooks.helpers import Recorder

LIMITS: dict[str, Any] = {"hubspot": {"requests_per_10s": 100_000, "search_lag_seconds": 0},
                          "zendesk": {"plan": "enterprise_plus", "incremental_requests_per_minute": None}}
SECRETS = ("client_secret", "app_id", "webhook_secret", "webhook_token")


@pytest.fixture
def clock() -> Iterator[None]:
    with pinned_clock(WORLD_NOW):
        yield


def _own_changes(records: list[logging.LogRecord], system: str) -> int:
    """Events the receivers counted as Canary's own (their summary log line)."""
    total = 0
    for record in records:
        text = record.getMessage()
        if text.startswith(f"{system} webhook:"):
            match = re.search(r"own_changes (\d+)", text)
            assert match is not None, text
            total += int(match.group(1))
    return total


def _edit(system: str, clients: Any, box: Sandbox, value: str) -> tuple[str, str]:
    """The same edit through one set of SDK clients: (Canary's object name, record id)."""
    if system == "salesforce":
        account = str(box.emulators["salesforce"].records("Account")[0]["Id"])
        clients.salesforce.Account.update(account, {"Description": value})
        return "accounts", account
    if system == "zendesk":
        ticket = clients.zendesk.tickets(id=box.emulators["zendesk"].records("tickets")[0]["id"])
        ticket.subject = value
        clients.zendesk.tickets.update(ticket)
        return "tickets", str(ticket.id)
    company = str(box.emulators["hubspot"].records("companies")[0]["id"])
    clients.hubspot.crm.companies.basic_api.update(company, SimplePublicObjectInput(properties={"description": value}))
    return "accounts", company


@pytest.mark.parametrize("system", ["salesforce", "zendesk", "hubspot"])
def test_a_persons_sdk_edit_is_handed_over_and_canarys_own_is_not(
        system: str, app_factory: Any, clock: None, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    monkeypatch.setattr(jobs, "submit_changes", recorder)
    app = app_factory()
    canary = LoopbackServer(app).start()
    caplog.set_level(logging.INFO, logger="canary")
    try:
        with Sandbox(accounts=6, seed=4, as_of=WORLD_AS_OF, webhooks=canary.url, **LIMITS) as box:
            store, cipher = canary_store(app), credential_cipher(app)
            with store.session() as s:
                tenant_id = create_tenant(s, "hooks", "Hooks")[0].id
            creds, base, ref = sandbox_connections(box)[system]
            extra = {k: v for k, v in box.emulators[system].credentials.items() if k in SECRETS}
            stored = with_connected_user(system, {**creds, **extra}, build_adapter(system, creds, base))
            with store.session(tenant_id) as s:
                save_connection(s, cipher, system, stored, base_url=base, account_ref=ref, actor="test")
            caplog.clear()

            canary_object, canary_record = _edit(system, box.sdk_clients(), box, "Edited by Canary")
            box.flush_webhooks()
            assert recorder.changes == []
            assert _own_changes(caplog.records, system) >= 1  # announced, and dropped as Canary's own

            caplog.clear()
            person_object, person_record = _edit(system, box.person_clients(), box, "Edited by a person")
            box.flush_webhooks()
            handed = [(c.system, c.object, c.external_id) for c in recorder.changes]
            assert handed == [(system, person_object, person_record)]
            assert (canary_object, canary_record) == (person_object, person_record)  # the very same edit
            assert _own_changes(caplog.records, system) == 0
            emulator = box.emulators[system]
            if system == "salesforce":
                row = emulator.record("Account", person_record)
                assert row["LastModifiedById"] == emulator.credentials["person_user_id"]
                assert row["LastModifiedById"] != stored["integration_user_id"]
            if system == "zendesk":
                assert emulator.credentials["person_user_id"] != stored["api_user_id"]
    finally:
        canary.stop()


def test_the_person_credentials_act_as_another_vendor_user(clock: None) -> None:
    with Sandbox(accounts=6, seed=4, as_of=WORLD_AS_OF, **LIMITS) as box:
        canary, person = box.sdk_clients(), box.person_clients()
        creds = box.credentials
        sf_ids = [c.salesforce.restful("")["identity"].rsplit("/", 1)[-1] for c in (canary, person)]
        assert sf_ids == [creds["salesforce"]["integration_user_id"], creds["salesforce"]["person_user_id"]]
        active = {u["Id"]: u["IsActive"] for u in box.emulators["salesforce"].records("User")}
        assert active[sf_ids[1]] is True
        zd_ids = [str(c.zendesk.users.me().id) for c in (canary, person)]
        assert zd_ids == [creds["zendesk"]["api_user_id"], creds["zendesk"]["person_user_id"]]
        agent = next(u for u in box.emulators["zendesk"].records("users") if str(u["id"]) == zd_ids[1])
        assert (agent["email"], agent["role"], agent["suspended"]) == (creds["zendesk"]["person_email"], "agent", False)
        page = person.hubspot.crm.companies.basic_api.get_page(limit=1)
        assert len(page.results) == 1
        assert creds["hubspot"]["person_access_token"] != creds["hubspot"]["access_token"]


def test_salesforce_install_records_the_user_the_emulator_stamps(clock: None) -> None:
    """The OAuth identity answer (nobody named: the sandbox's integration user) and the API's identity agree,
    so `connected_user()` at install is the ``LastModifiedById`` of Canary's writes."""
    import requests

    from integrations.oauth import authorize_url, client_from_config, exchange_code, new_pkce, new_state
    from sandbox.oauth import install_config

    with Sandbox(accounts=4, seed=4, as_of=WORLD_AS_OF, vendors=("salesforce",)) as box:
        config = install_config(box, "http://canary.test")
        client = client_from_config("salesforce", config, None)
        verifier, challenge = new_pkce()
        session = requests.Session()
        session.trust_env = False
        session.verify = box.tls.cert_path if box.tls else True
        answer = session.get(authorize_url(client, redirect_uri="http://canary.test/install/salesforce/callback",
                                           state=new_state(), code_challenge=challenge), allow_redirects=False)
        assert answer.status_code == 302
        code = re.search(r"code=([^&]+)", answer.headers["Location"])
        assert code is not None
        tokens = exchange_code(client, code=requests.utils.unquote(code.group(1)),
                               redirect_uri="http://canary.test/install/salesforce/callback", code_verifier=verifier)
        found = vendor("salesforce").oauth.identify(client, tokens, None)
        adapter = build_adapter("salesforce", found.credentials, found.base_url)
        assert isinstance(adapter, SalesforceAdapter)
        installed = with_connected_user("salesforce", found.credentials, adapter)
        account = str(box.emulators["salesforce"].records("Account")[0]["Id"])
        adapter.connection.sf.Account.update(account, {"Description": "Written by Canary"})
        stamped = box.emulators["salesforce"].record("Account", account)["LastModifiedById"]
        assert installed["integration_user_id"] == stamped == box.emulators["salesforce"].credentials[
            "integration_user_id"]
        assert str(tokens.raw["id"]).rsplit("/", 1)[-1] == stamped  # the OAuth identity names that user too
