"""What admins change lands in the audit log: connections (connect, update, install), write keys, models.

Only the names of changed settings are recorded, never their values.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from cli.pipeline import note_model
from extensions import canary_store, credential_cipher
from scoring import default_model, model_fingerprint
from store.models import AuditEvent
from sync.connections import save_connection
from tests.console.conftest import Workspace, signed_in_client

SECRET = "zd-api-token-that-must-not-be-logged"


def _events(app: Any, tenant_id: int, action: str) -> list[AuditEvent]:
    with canary_store(app).session(tenant_id) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action.like(action))
                              .order_by(AuditEvent.id)))


def test_connecting_and_changing_a_connection_is_audited_by_name_only(
        console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, b = two_workspaces
    store, cipher = canary_store(console_app), credential_cipher(console_app)
    first = {"subdomain": "acme", "email": "agent@acme.test", "token": SECRET}
    with console_app.app_context(), store.session(a.tenant_id) as s:
        save_connection(s, cipher, "zendesk", first, base_url=None, account_ref="acme", actor="command line")
    with console_app.app_context(), store.session(a.tenant_id) as s:  # the same settings again: nothing changed
        save_connection(s, cipher, "zendesk", first, base_url=None, account_ref="acme", actor="command line")
    with console_app.app_context(), store.session(a.tenant_id) as s:
        save_connection(s, cipher, "zendesk", {**first, "token": SECRET + "-2"}, base_url=None,
                        account_ref="acme", actor="ops@alpha.test")

    events = _events(console_app, a.tenant_id, "connection.%")
    assert [(e.action, e.actor, e.target) for e in events] == [
        ("connection.connect", "command line", "zendesk"),
        ("connection.update", "ops@alpha.test", "zendesk"),
    ]
    assert events[0].detail["settings"] == ["account_ref", "email", "subdomain", "token"]
    assert events[1].detail["settings"] == ["token"]
    assert all(SECRET not in json.dumps(e.detail) for e in events)
    assert _events(console_app, b.tenant_id, "connection.%") == []  # workspace B saw none of it
    page = signed_in_client(console_app, a.emails["admin"]).get("/admin/audit").get_data(as_text=True)
    assert "connection.update" in page and "settings: token" in page and SECRET not in page
    assert "settings: account_ref, email, subdomain, token" in page


def test_rotating_a_write_key_is_audited(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    from app import cli

    result = console_app.test_cli_runner().invoke(cli, ["tenant", "rotate-write-key", "alpha"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().split()[-1]
    events = _events(console_app, a.tenant_id, "workspace.%")
    assert [(e.action, e.target) for e in events] == [("workspace.write_key_rotate", "alpha")]
    assert key not in json.dumps(events[0].detail)


def test_a_model_change_is_audited_once_per_change(console_app: Any,
                                                   two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    store = canary_store(console_app)
    shipped = default_model()
    stricter = replace(shipped, name="stricter", bands=replace(shipped.bands, good=80.0))
    path = "models/stricter.yaml"
    assert model_fingerprint(stricter) != model_fingerprint(shipped)

    assert note_model(store, a.tenant_id, shipped, None) is True
    assert note_model(store, a.tenant_id, shipped, None) is False  # same model again: no change
    assert note_model(store, a.tenant_id, stricter, path, actor="ops@alpha.test") is True
    events = _events(console_app, a.tenant_id, "model.change")
    assert [(e.actor, e.target, e.detail["source"]) for e in events] == [
        ("command line", shipped.name, "shipped model"), ("ops@alpha.test", "stricter", path)]
    assert events[1].detail["previous"] == model_fingerprint(shipped)
    assert events[1].detail["fingerprint"] == model_fingerprint(stricter)
