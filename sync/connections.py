"""From a stored Connection to a live adapter, and back: the one place credentials are turned into clients.

Credentials live encrypted in `Connection.credentials_encrypted` (see `store.crypto`). Each
system's dict holds what its adapter needs; ``base_url`` on the connection points at a
non-default host (the sandbox), and ``cert_path`` in the credentials at a CA bundle for it.

Connections made by a marketplace install (`widgets.install`) hold OAuth tokens that expire
(HubSpot after 30 minutes, Zendesk and Salesforce by policy). `TenantAdapters` keeps them
usable: a token that expires within ``leeway`` is refreshed before its adapter is built, and a
token the vendor refuses mid-run is refreshed once through `reconnect`. Both go through
`sync.tokens.rotate_connection_tokens`, the one place tokens are rotated and stored. What each
vendor needs is its descriptor's (`integrations.registry`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.base import Adapter
from integrations.errors import AuthError
from integrations.oauth import ConfigurationError, client_from_config, refresh_tokens
from integrations.registry import UnknownVendor, VendorDescriptor, vendor
from store.audit import changed_keys, record_audit
from store.crypto import CredentialCipher
from store.db import Store
from store.models import Connection, Tenant
from sync.tokens import rotate_connection_tokens

log = logging.getLogger(__name__)

class ConnectionError_(ValueError):
    """Credentials are incomplete or the system is unknown; the message says what is missing."""


def check_credentials(system: str, credentials: Mapping[str, Any]) -> VendorDescriptor:
    """The system's descriptor, once ``credentials`` hold what its connections need."""
    try:
        descriptor = vendor(system)
    except UnknownVendor as exc:
        raise ConnectionError_(str(exc).replace("unknown vendor", "unknown system")) from None
    missing = descriptor.missing_credentials(credentials)
    if missing:
        raise ConnectionError_(f"{system}: missing {', '.join(missing)}")
    return descriptor


def build_adapter(system: str, credentials: Mapping[str, Any], base_url: str | None = None,
                  **options: Any) -> Adapter:
    """A ready adapter for one system (not yet called)."""
    return check_credentials(system, credentials).adapter(credentials, base_url, **options)


def with_connected_user(system: str, credentials: Mapping[str, Any], adapter: Adapter) -> dict[str, Any]:
    """``credentials`` with the vendor user they act as under the vendor's `WebhookSpec.user_key` (the loop
    guard's), asked of the vendor through ``adapter`` (`Adapter.connected_user`, one call): a value stored
    earlier is replaced, and dropped when the vendor names no user. Unchanged (no call) for a vendor whose
    loop guard needs no user. Called wherever API credentials are stored (``canary connect``, installs)."""
    spec = vendor(system).webhooks
    out = dict(credentials)
    if spec is None or spec.user_key is None:
        return out
    user = adapter.connected_user()
    if user:
        out[spec.user_key] = user
    else:
        out.pop(spec.user_key, None)
        log.warning("%s named no user for the connection's credentials: its webhooks' loop guard cannot "
                    "recognise Canary's own changes", system)
    return out


def account_owner(store: Store, system: str, account_ref: str | None) -> tuple[int, str] | None:
    """(tenant id, slug) of the workspace whose ``system`` connection is vendor account ``account_ref``."""
    if not account_ref:
        return None
    with store.session() as session:  # across tenants: a vendor account belongs to one of them
        row = session.execute(select(Tenant.id, Tenant.slug).join(Connection, Connection.tenant_id == Tenant.id)
                              .where(Connection.system == system, Connection.account_ref == account_ref)).first()
        return (row[0], row[1]) if row else None


def save_connection(session: Session, cipher: CredentialCipher, system: str, credentials: Mapping[str, Any], *,
                    base_url: str | None, account_ref: str | None, actor: str) -> Connection:
    """Create or replace the tenant's connection to ``system`` (the session is tenant-scoped).

    The audit log gets ``connection.connect`` or ``connection.update`` by ``actor`` with the names of the
    settings that changed (never their values); saving the same settings again records nothing.
    """
    check_credentials(system, credentials)
    conn = session.scalar(select(Connection).where(Connection.system == system))
    before: dict[str, Any] = {}
    if conn is None:
        conn = Connection(system=system)
        session.add(conn)
    else:
        before = {**cipher.load(conn), "base_url": conn.base_url, "account_ref": conn.account_ref}
    after = {**credentials, "base_url": base_url, "account_ref": account_ref}
    changed = changed_keys(before, after)
    if not before:
        record_audit(session, actor, "connection.connect", system, settings=changed)
    elif changed or conn.status != "active":
        record_audit(session, actor, "connection.update", system, settings=changed,
                     reactivated=conn.status != "active")
    conn.base_url = base_url
    conn.account_ref = account_ref
    conn.status = "active"
    cipher.store(conn, dict(credentials))
    return conn


class TenantAdapters:
    """The adapters of one tenant's connections, with OAuth tokens kept fresh.

    ``config`` holds the ``OAUTH_<VENDOR>_*`` client settings (the Flask app's config); without
    them an expired token cannot be refreshed and the run stops with a message that says so.
    ``options`` are per-system adapter options (``{"zendesk": {...}}``).
    """

    def __init__(self, store: Store, cipher: CredentialCipher, tenant_id: int, *,
                 config: Mapping[str, Any] | None = None, leeway: float = 900.0,
                 options: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.store, self.cipher, self.tenant_id = store, cipher, tenant_id
        self.config: Mapping[str, Any] = config or {}
        self.leeway = leeway
        self.options: Mapping[str, Mapping[str, Any]] = options or {}
        self.refreshes = 0
        """Access tokens refreshed through this object (before building or on a refusal)."""
        self._used: dict[str, str | None] = {}

    def build(self, systems: list[str] | None = None) -> dict[str, Adapter]:
        """An adapter per connected system (all, or those in ``systems``), tokens refreshed if due."""
        with self.store.session(self.tenant_id) as session:
            rows = [(c.system, c.base_url, self.cipher.load(c))
                    for c in session.scalars(select(Connection).order_by(Connection.system))
                    if not systems or c.system in systems]
        adapters: dict[str, Adapter] = {}
        for system, base_url, credentials in rows:
            if credentials.get("refresh_token"):
                credentials = self._fresh(system, credentials, stale=None)
            adapters[system] = self._adapter(system, credentials, base_url)
        return adapters

    def reconnect(self, system: str) -> Adapter:
        """A new adapter after ``system`` refused the token it was built with.

        Raises `AuthError` (with what to do) when the connection has no refresh token, when OAuth
        is not configured, or when the vendor refuses the refresh (``invalid_grant``: reinstall).
        """
        with self.store.session(self.tenant_id) as session:
            conn = session.scalar(select(Connection).where(Connection.system == system))
            if conn is None:
                raise AuthError(f"{system}: the connection was removed")
            base_url, credentials = conn.base_url, self.cipher.load(conn)
        if not credentials.get("refresh_token"):
            raise AuthError(f"{system} refused the stored credentials; run `canary connect {system}` again")
        credentials = self._fresh(system, credentials, stale=self._used.get(system))
        return self._adapter(system, credentials, base_url)

    def _adapter(self, system: str, credentials: Mapping[str, Any], base_url: str | None) -> Adapter:
        self._used[system] = credentials.get(vendor(system).access_key)
        return build_adapter(system, credentials, base_url, **self.options.get(system, {}))

    def _fresh(self, system: str, credentials: Mapping[str, Any], *, stale: str | None) -> dict[str, Any]:
        try:
            client = client_from_config(system, self.config, credentials.get("subdomain"))
        except ConfigurationError as exc:
            if stale is None:  # not refused yet: use the stored token while it lasts
                return dict(credentials)
            raise AuthError(f"{system} refused the access token and it cannot be refreshed: {exc}") from None
        access_key = vendor(system).access_key
        before = credentials.get(access_key)
        token = rotate_connection_tokens(self.store, self.cipher, self.tenant_id, system,
                                         functools.partial(refresh_tokens, client),
                                         stale_access_token=stale, leeway=self.leeway)
        if token == before:
            return dict(credentials)
        self.refreshes += 1
        log.info("%s access token refreshed for tenant %s", system, self.tenant_id)
        with self.store.session(self.tenant_id) as session:  # the stored pair (and a moved instance_url)
            conn = session.scalar(select(Connection).where(Connection.system == system))
            return self.cipher.load(conn) if conn is not None else {**credentials, access_key: token}
