"""Refreshing a stored connection's OAuth tokens: the one place a refreshed pair is stored.

The token requests themselves are `integrations.oauth` (pure of storage); this module locks the
connection row, asks for a new pair and stores it (encrypted) in the same commit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from integrations.oauth import InvalidGrant, OAuthError, TokenSet, credentials_with
from integrations.registry import vendor
from store.crypto import CredentialCipher
from store.db import Store
from store.models import Connection


def rotate_connection_tokens(store: Store, cipher: CredentialCipher, tenant_id: int, system: str,
                             refresh: Callable[[str], TokenSet], *, stale_access_token: str | None = None,
                             leeway: float = 60.0, now: Callable[[], float] = time.time) -> str:
    """A valid access token for the tenant's ``system`` connection, refreshing it when needed.

    ``refresh(refresh_token)`` is usually ``functools.partial(refresh_tokens, client)``. The stored
    token is returned without a refresh while it lives longer than ``leeway`` seconds and is not
    ``stale_access_token`` (the one a caller just saw refused).

    Why it is safe with rotating refresh tokens (Zendesk: each refresh invalidates the old pair):

    * One refresher at a time: the connection row is locked before the refresh token is read
      (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite a no-op ``UPDATE`` of the row takes the
      database's write lock, so the read below sees the newest commit). A second caller waits, then
      finds the pair the first one stored and uses it: one rotation, both callers hold a valid token.
    * The pair is stored before it is used: the new access **and** refresh token are written and
      committed in the same transaction that read the old ones, and only then is the access token
      returned. The stored pair is therefore always whole (never a new access token beside an old
      refresh token), and no caller can make the vendor see the new tokens used before they are durable.
    * A crash between the vendor's answer and the commit rolls the transaction back: the stored
      pair is the old, whole one. No design can keep it usable against a vendor that kills the
      old refresh token the instant it answers (the answer is lost with the process); this keeps the
      window to the single commit after the answer, with no other work in it, and the next call then
      gets ``invalid_grant``, which is reported as `InvalidGrant` ("reinstall") rather than retried.
    * ``invalid_grant`` while a newer pair is already stored (a process that did not take the lock
      rotated first) is not an error: the stored pair is re-read in a fresh transaction and used.
    """
    access_key = vendor(system).access_key
    with store.session(tenant_id) as session:
        connection = _locked_connection(session, system)
        credentials = cipher.load(connection)
        current = credentials.get(access_key)
        expires_at = credentials.get("expires_at")
        fresh = expires_at is None or float(expires_at) > now() + leeway
        if current and current != stale_access_token and fresh:
            return str(current)
        used = credentials.get("refresh_token")
        if not used:
            raise InvalidGrant(f"{system}: no refresh token stored; reinstall Canary", error="invalid_grant")
        try:
            tokens = refresh(str(used))
        except InvalidGrant:
            session.rollback()
            newer = _stored_access_if_rotated(store, cipher, tenant_id, system, used)
            if newer is None:
                raise
            return newer
        cipher.store(connection, credentials_with(system, credentials, tokens))
    return tokens.access_token


def _locked_connection(session: Any, system: str) -> Connection:
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Connection).where(Connection.system == system)
                        .values(status=Connection.status).execution_options(synchronize_session=False))
    connection = session.scalar(select(Connection).where(Connection.system == system).with_for_update())
    if connection is None:
        raise OAuthError(f"no {system} connection to refresh", error="invalid_request")
    return connection


def _stored_access_if_rotated(store: Store, cipher: CredentialCipher, tenant_id: int, system: str,
                              used_refresh_token: str) -> str | None:
    with store.session(tenant_id) as session:
        connection = session.scalar(select(Connection).where(Connection.system == system))
        if connection is None:
            return None
        credentials = cipher.load(connection)
    access_key = vendor(system).access_key
    if credentials.get("refresh_token") not in (None, used_refresh_token) and credentials.get(access_key):
        return str(credentials[access_key])
    return None
