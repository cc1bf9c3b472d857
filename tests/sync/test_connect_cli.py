"""`canary connect` against the sandbox: a checked, encrypted connection; one workspace per vendor account."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from app import cli
from extensions import canary_store, credential_cipher
from sandbox.server import Sandbox
from store.models import Connection, Tenant
from store.tenants import create_tenant


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
