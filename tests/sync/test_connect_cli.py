"""`canary connect` against the sandbox: a checked, encrypted connection; one workspace per vendor account."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from app import cli
from extensions import canary_store, credential_cipher
from integrations.registry import vendor
from sandbox.server import Sandbox
from store.models import Connection, Tenant
from store.tenants import create_tenant
from tests.shared import WORLD_AS_OF, sandbox_connect_args


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox(accounts=3, seed=5, as_of=date(2026, 11, 20), vendors=("zendesk",)) as running:
        yield running


def _connect(app: Any, box: Sandbox, tenant: str, token: str | None = None) -> Any:
    c = box.credentials["zendesk"]
    return app.test_cli_runner().invoke(cli, [
        "connect", "zendesk", "--tenant", tenant, "--url", c["base_url"], "--subdomain", c["subdomain"],
        "--email", c["email"]], env={"CANARY_CONNECT_TOKEN": token or c["token"]})


def test_connect_checks_the_credentials_and_keeps_a_vendor_account_to_one_workspace(
        app: Any, box: Sandbox) -> None:
    store, cipher = canary_store(app), credential_cipher(app)
    with store.session() as session:
        for slug in ("acme", "beta"):
            create_tenant(session, slug, slug.title())
    wrong = _connect(app, box, "acme", token="not-the-token")
    assert wrong.exit_code == 1 and "zendesk refused the credentials" in wrong.output
    assert "not-the-token" not in wrong.output

    first = _connect(app, box, "acme")
    assert first.exit_code == 0, first.output
    assert "Connected zendesk to workspace 'acme'" in first.output
    again = _connect(app, box, "acme")  # reconnecting the same workspace replaces its credentials
    assert again.exit_code == 0, again.output

    taken = _connect(app, box, "beta")
    assert taken.exit_code == 1
    assert (f"zendesk account {box.credentials['zendesk']['subdomain']!r} is already connected to workspace "
            "'acme'") in taken.output
    with store.session() as session:
        rows = session.execute(select(Tenant.slug, Connection.account_ref).join(
            Connection, Connection.tenant_id == Tenant.id)).all()
        assert [(slug, ref) for slug, ref in rows] == [("acme", box.credentials["zendesk"]["subdomain"])]
        stored = cipher.load(session.scalars(select(Connection)).one())
    assert stored["token"] == box.credentials["zendesk"]["token"]


@pytest.fixture(scope="module")
def crm_box() -> Iterator[Sandbox]:
    with Sandbox(accounts=3, seed=6, as_of=WORLD_AS_OF, vendors=("salesforce", "zendesk")) as running:
        yield running


ME = {"salesforce": ("GET", "/services/data/v<version>"), "zendesk": ("GET", "/api/v2/users/me.json")}
"""The identity call each vendor answers `Adapter.connected_user` with, as its emulator counts it."""


def _connect_api(app: Any, box: Sandbox, system: str) -> Any:
    args, env = sandbox_connect_args(box, system)
    return app.test_cli_runner().invoke(cli, ["connect", system, "--tenant", "acme", *args], env=env)


def _stored(app: Any, system: str) -> dict[str, Any]:
    with canary_store(app).session() as session:
        conn = session.scalars(select(Connection).where(Connection.system == system)).one()
        return credential_cipher(app).load(conn)


@pytest.mark.parametrize(("system", "key"), [("salesforce", "integration_user_id"), ("zendesk", "api_user_id")])
def test_connect_stores_the_user_the_credentials_act_as_from_the_vendor(
        app: Any, crm_box: Sandbox, system: str, key: str, tmp_path: Any) -> None:
    spec = vendor(system).webhooks
    assert spec is not None and spec.user_key == key  # the name the receiver's loop guard reads
    emulator = crm_box.emulators[system]
    own_user = emulator.credentials[key]  # who the emulator stamps on changes made through its API
    with canary_store(app).session() as session:
        create_tenant(session, "acme", "Acme")
    before = emulator.stats.calls(*ME[system])
    first = _connect_api(app, crm_box, system)
    assert first.exit_code == 0, first.output
    assert emulator.stats.calls(*ME[system]) == before + 1  # asked of the vendor, once
    assert _stored(app, system)[key] == own_user

    # a stale id (another user's) is replaced when the API credentials are given again
    with canary_store(app).session() as session:
        conn = session.scalars(select(Connection).where(Connection.system == system)).one()
        credential_cipher(app).store(conn, {**credential_cipher(app).load(conn), key: "stale-user"})
    again = _connect_api(app, crm_box, system)
    assert again.exit_code == 0, again.output
    assert emulator.stats.calls(*ME[system]) == before + 2
    assert _stored(app, system)[key] == own_user

    # a webhook secret alone makes no call and keeps the id
    (tmp_path / "hook").write_text("a-webhook-secret\n")
    panel = app.test_cli_runner().invoke(cli, ["connect", system, "--tenant", "acme",
                                               "--webhook-secret-file", str(tmp_path / "hook")])
    assert panel.exit_code == 0, panel.output
    assert emulator.stats.calls(*ME[system]) == before + 2
    stored = _stored(app, system)
    assert (stored[key], stored[spec.secret_key]) == (own_user, "a-webhook-secret")


def test_connect_registers_the_zendesk_webhooks_once_and_prints_them(app: Any, tmp_path: Any) -> None:
    with Sandbox(accounts=3, seed=6, as_of=WORLD_AS_OF, vendors=("zendesk",)) as box:
        app.config["PUBLIC_URL"] = "https://canary.example"
        with canary_store(app).session() as session:
            create_tenant(session, "acme", "Acme")
        hooks, stats = box.emulators["zendesk"].hooks, box.emulators["zendesk"].stats
        first = _connect_api(app, box, "zendesk")
        assert first.exit_code == 0, first.output
        assert first.output.count("zendesk webhooks: ") == 3 and "to do by hand" not in first.output
        assert (len(hooks.webhooks), len(hooks.triggers), stats.calls("POST", "/api/v2/webhooks.json")) == (2, 1, 2)
        assert {w["endpoint"] for w in hooks.webhooks.values()} == {
            "https://canary.example/webhooks/zendesk/canary-sandbox"}
        stored = _stored(app, "zendesk")
        assert {stored["webhook_secret"], stored["ticket_webhook_secret"]} == set(hooks.secrets.values())
        assert all(secret not in first.output for secret in hooks.secrets.values())
        again = _connect_api(app, box, "zendesk")  # new API credentials: registered again, found, nothing added
        assert again.exit_code == 0, again.output
        assert (len(hooks.webhooks), len(hooks.triggers), stats.calls("POST", "/api/v2/webhooks.json")) == (2, 1, 2)
