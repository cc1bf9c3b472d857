"""A webhook registration that fails does not fail the connection: the problem and the manual steps are audited
and shown on the workspace's Connections page (not another workspace's)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from extensions import canary_store, credential_cipher
from integrations.base import Subscribed
from integrations.errors import VendorRefused
from store.models import AuditEvent, Connection
from sync.connections import save_connection
from sync.subscriptions import subscribe
from tests.console.conftest import Workspace, signed_in_client


class Refusing:
    system = "zendesk"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def subscribe_webhooks(self, target_base_url: str, app_config: Any = None) -> Subscribed:
        self.calls.append(target_base_url)
        raise VendorRefused("zendesk: create webhook 'Canary events' refused (403 Forbidden)", status=403)


def test_a_refused_registration_is_audited_and_shown_with_the_manual_steps(
        console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    alpha, bravo = two_workspaces
    store, cipher = canary_store(console_app), credential_cipher(console_app)
    with store.session(alpha.tenant_id) as s:
        save_connection(s, cipher, "zendesk", {"subdomain": "acme", "email": "a@acme.test", "token": "t0ken-value"},
                        base_url=None, account_ref="acme", actor="test")
    adapter = Refusing()
    outcome = subscribe(store, cipher, alpha.tenant_id, "zendesk", adapter, public_url="https://canary.example/",
                        actor="test", account_ref="acme")
    assert adapter.calls == ["https://canary.example"]
    assert outcome.problem == "zendesk: create webhook 'Canary events' refused (403 Forbidden)"
    assert outcome.registered == [] and len(outcome.manual_steps) == 4  # README's three steps + the missing secret
    assert "https://canary.example/webhooks/zendesk/acme" in outcome.manual_steps[0]
    with store.session(alpha.tenant_id) as s:
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "connection.webhooks")).one()
        assert (audit.target, audit.detail["problem"], audit.detail["manual_steps"]) == (
            "zendesk", outcome.problem, outcome.manual_steps)
        assert s.scalars(select(Connection).where(Connection.system == "zendesk")).one().status == "active"

    page = signed_in_client(console_app, alpha.emails["admin"]).get("/connections").get_data(as_text=True)
    assert "Registration failed: zendesk: create webhook &#39;Canary events&#39; refused (403 Forbidden)" in page
    assert "https://canary.example/webhooks/zendesk/acme" in page and "To do by hand" in page
    other = signed_in_client(console_app, bravo.emails["admin"]).get("/connections").get_data(as_text=True)
    assert "Registration failed" not in other and "canary.example/webhooks" not in other
