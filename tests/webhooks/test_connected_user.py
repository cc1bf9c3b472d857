"""The loop guards work on a connection made by ``canary connect`` alone: the user Canary acts as comes from the
vendor's identity call at connect time (nobody puts it there by hand), so Canary's own changes, sent back by the
emulators over HTTP, are dropped and a person's are handed over."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import jobs
from app import cli
from extensions import canary_store, credential_cipher
from integrations.base import FieldUpdate
from integrations.registry import vendor
from sandbox.core import LoopbackServer
from sandbox.server import Sandbox
from sandbox.webhooks import as_api
from store.models import Connection
from store.tenants import create_tenant
from sync.connections import TenantAdapters
from sync.push import HEALTH_FIELDS
from tests.shared import WORLD_AS_OF, WORLD_NOW, pinned_clock, sandbox_connect_args
from tests.webhooks.helpers import Recorder


@pytest.fixture
def clock() -> Iterator[None]:
    with pinned_clock(WORLD_NOW):
        yield


def _connect(app: Any, box: Sandbox, system: str, secret_file: Path) -> None:
    spec = vendor(system).webhooks
    assert spec is not None
    secret_file.write_text(box.emulators[system].credentials[spec.secret_key] + "\n")
    args, env = sandbox_connect_args(box, system)
    result = app.test_cli_runner().invoke(cli, ["connect", system, "--tenant", "hooks", *args,
                                                "--webhook-secret-file", str(secret_file)], env=env)
    assert result.exit_code == 0, result.output


def test_connect_alone_arms_the_loop_guards(app_factory: Any, clock: None, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    recorder = Recorder()
    monkeypatch.setattr(jobs, "submit_changes", recorder)
    app = app_factory()
    canary = LoopbackServer(app).start()
    app.config["PUBLIC_URL"] = canary.url  # where `canary connect` registers the webhooks
    try:
        with Sandbox(accounts=4, seed=7, as_of=WORLD_AS_OF, vendors=("salesforce", "zendesk"),
                     webhooks=canary.url) as box:
            store, cipher = canary_store(app), credential_cipher(app)
            with store.session() as s:
                tenant_id = create_tenant(s, "hooks", "Hooks")[0].id
            for system in ("salesforce", "zendesk"):
                _connect(app, box, system, tmp_path / f"{system}.secret")
            with store.session(tenant_id) as s:
                stored = {c.system: cipher.load(c) for c in s.scalars(select(Connection))}
            assert stored["salesforce"]["integration_user_id"] == box.emulators["salesforce"].credentials[
                "integration_user_id"]
            assert stored["zendesk"]["api_user_id"] == box.emulators["zendesk"].credentials["api_user_id"]
            box.flush_webhooks()
            assert recorder.calls == []
            before = {s: box.emulators[s].webhooks.sender.stats.delivered for s in box.emulators}

            # Canary's own changes: a health score written through the Salesforce adapter, a ticket the
            # Zendesk API user changed (the emulator's trigger names it as {{current_user.id}})
            adapters = TenantAdapters(store, cipher, tenant_id).build()
            sf, zd = box.emulators["salesforce"], box.emulators["zendesk"]
            account = str(sf.records("Account")[0]["Id"])
            adapters["salesforce"].ensure_fields(HEALTH_FIELDS)
            assert adapters["salesforce"].push_fields([FieldUpdate(account, {"score": 42.0})]).succeeded == [account]
            organization = zd.records("organizations")[0]["id"]
            with as_api():
                zd.create_ticket(organization, None, "Opened by Canary")
            box.flush_webhooks()
            after = {s: box.emulators[s].webhooks.sender.stats.delivered for s in box.emulators}
            assert all(after[s] > before[s] for s in after), (before, after)  # announced to Canary ...
            assert recorder.changes == []  # ... and dropped by the guards

            # a person's changes are handed over
            person_ticket = zd.create_ticket(organization, None, "Opened by a customer")
            box.mutate(changes=12, deletions=0, merges=0, seed=9)
            box.flush_webhooks()
            handed = {(c.system, c.object, c.external_id) for c in recorder.changes}
            assert ("zendesk", "tickets", str(person_ticket)) in handed
            assert any(system == "salesforce" for system, _, _ in handed)
    finally:
        canary.stop()
