"""From a stored Connection to a live adapter, and back: the one place credentials are turned into clients.

Credentials live encrypted in `Connection.credentials_encrypted` (see `store.crypto`). Each
system's dict holds what its adapter needs; ``base_url`` on the connection points at a
non-default host (the sandbox), and ``cert_path`` in the credentials at a CA bundle for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.base import Adapter
from store.crypto import CredentialCipher
from store.models import Connection

REQUIRED = {
    "salesforce": ("instance_url", "access_token"),
    "zendesk": ("subdomain",),
    "hubspot": ("access_token",),
}


class ConnectionError_(ValueError):
    """Credentials are incomplete or the system is unknown; the message says what is missing."""


def check_credentials(system: str, credentials: Mapping[str, Any]) -> None:
    if system not in REQUIRED:
        raise ConnectionError_(f"unknown system {system!r}: choose salesforce, zendesk or hubspot")
    missing = [k for k in REQUIRED[system] if not credentials.get(k)]
    if system == "zendesk" and not credentials.get("oauth_token") and not (
            credentials.get("email") and credentials.get("token")):
        missing.append("email and token (or oauth_token)")
    if missing:
        raise ConnectionError_(f"{system}: missing {', '.join(missing)}")


def build_adapter(system: str, credentials: Mapping[str, Any], base_url: str | None = None,
                  **options: Any) -> Adapter:
    """A ready adapter for one system (not yet called)."""
    check_credentials(system, credentials)
    cert = credentials.get("cert_path")
    if system == "zendesk":
        from integrations.zendesk.adapter import ZendeskAdapter

        return ZendeskAdapter(subdomain=credentials["subdomain"], email=credentials.get("email"),
                              token=credentials.get("token"), oauth_token=credentials.get("oauth_token"),
                              url=base_url, verify=cert or True, **options)
    if system == "hubspot":
        from integrations.hubspot.adapter import HubSpotAdapter

        return HubSpotAdapter(credentials["access_token"], base_url=base_url, ca_cert=cert, **options)
    from integrations.salesforce.adapter import SalesforceAdapter

    return SalesforceAdapter(instance_url=credentials["instance_url"], access_token=credentials["access_token"],
                             ca_cert=cert, **options)


def save_connection(session: Session, cipher: CredentialCipher, system: str, credentials: Mapping[str, Any], *,
                    base_url: str | None, account_ref: str | None) -> Connection:
    """Create or replace the tenant's connection to ``system`` (the session is tenant-scoped)."""
    check_credentials(system, credentials)
    conn = session.scalar(select(Connection).where(Connection.system == system))
    if conn is None:
        conn = Connection(system=system)
        session.add(conn)
    conn.base_url = base_url
    conn.account_ref = account_ref
    conn.status = "active"
    cipher.store(conn, dict(credentials))
    return conn


def adapters_for_tenant(session: Session, cipher: CredentialCipher, systems: list[str] | None = None,
                        **options: Any) -> dict[str, Adapter]:
    adapters: dict[str, Adapter] = {}
    for conn in session.scalars(select(Connection).order_by(Connection.system)):
        if systems and conn.system not in systems:
            continue
        adapters[conn.system] = build_adapter(conn.system, cipher.load(conn), conn.base_url,
                                              **options.get(conn.system, {}))
    return adapters
