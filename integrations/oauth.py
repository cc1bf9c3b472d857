"""OAuth 2.0 for the marketplace installs: PKCE, state, the token endpoint, and refresh with rotation.

Pure helpers (`new_pkce`, `new_state`, `authorize_url`) and the two token requests
(`exchange_code`, `refresh_tokens`) made through ``requests`` with timeouts. Vendor errors
become `OAuthError` (``invalid_grant`` as `InvalidGrant`) carrying the vendor's error code
only; no token, code or secret ever reaches an exception message.

`rotate_connection_tokens` is the one place a stored connection's tokens are refreshed; see
its docstring for how rotation stays safe with several processes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests
from sqlalchemy import select, update

from integrations.errors import AuthError
from integrations.hosts import InvalidHost, zendesk_subdomain
from store.crypto import CredentialCipher
from store.db import Store
from store.models import Connection

VENDORS = ("salesforce", "zendesk", "hubspot")
DEFAULT_AUTHORIZE_URL = {
    "salesforce": "https://login.salesforce.com/services/oauth2/authorize",
    "zendesk": "https://{subdomain}.zendesk.com/oauth/authorizations/new",
    "hubspot": "https://app.hubspot.com/oauth/authorize",
}
DEFAULT_TOKEN_URL = {
    "salesforce": "https://login.salesforce.com/services/oauth2/token",
    "zendesk": "https://{subdomain}.zendesk.com/oauth/tokens",
    "hubspot": "https://api.hubapi.com/oauth/v1/token",
}
HUBSPOT_API_URL = "https://api.hubapi.com"
SCOPES: dict[str, tuple[str, ...]] = {
    "salesforce": ("api", "refresh_token"),
    "zendesk": ("read", "write"),
    "hubspot": ("oauth", "crm.objects.companies.read", "crm.objects.companies.write",
                "crm.schemas.companies.read", "crm.schemas.companies.write", "crm.objects.contacts.read",
                "crm.objects.deals.read", "tickets"),
}
"""HubSpot's are ``requiredScopes`` of ``manifests/hubspot/src/app/app-hsmeta.json``."""
ACCESS_KEY = {"salesforce": "access_token", "zendesk": "oauth_token", "hubspot": "access_token"}
"""Where each adapter reads the access token in a connection's credentials (`sync.connections`)."""
TIMEOUT = (5.0, 20.0)
"""(connect, read) seconds for every token-endpoint request."""
INVALID_GRANT_CODES = {"invalid_grant", "BAD_REFRESH_TOKEN", "BAD_AUTH_CODE"}


class OAuthError(AuthError):
    """The token endpoint refused or could not be reached; ``error`` is the vendor's code."""

    def __init__(self, message: str, *, error: str = "server_error", status: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.status = status


class InvalidGrant(OAuthError):
    """The code or refresh token is invalid, expired, used or revoked (``invalid_grant``)."""


class ConfigurationError(ValueError):
    """A vendor's OAuth client is not configured (``OAUTH_<VENDOR>_CLIENT_ID`` ...)."""


@dataclass(frozen=True)
class OAuthClient:
    """One vendor's OAuth endpoints and Canary's client registration there."""

    vendor: str
    authorize_url: str
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...]
    api_url: str | None = None
    """A non-default API host (the sandbox); None for the vendor's own."""
    ca_cert: str | None = None
    """CA bundle for a token endpoint with a test certificate (the sandbox's Salesforce)."""

    @property
    def verify(self) -> bool | str:
        return self.ca_cert or True


def client_from_config(vendor: str, config: Mapping[str, Any], subdomain: str | None = None) -> OAuthClient:
    """The client for ``vendor`` from ``OAUTH_<VENDOR>_*`` settings; ``{subdomain}`` in URLs is filled in."""
    if vendor not in VENDORS:
        raise ConfigurationError(f"unknown vendor {vendor!r}; choose salesforce, zendesk or hubspot")
    prefix = f"OAUTH_{vendor.upper()}_"
    client_id, client_secret = config.get(prefix + "CLIENT_ID"), config.get(prefix + "CLIENT_SECRET")
    if not client_id or not client_secret:
        raise ConfigurationError(f"{vendor} installs are not configured: set {prefix}CLIENT_ID and "
                                 f"{prefix}CLIENT_SECRET (CANARY_{prefix}... in the environment)")
    if vendor == "zendesk" and not subdomain:
        raise ConfigurationError("zendesk installs need the Zendesk subdomain (?subdomain=yourcompany)")
    if subdomain is not None:
        try:
            subdomain = zendesk_subdomain(subdomain)
        except InvalidHost as exc:
            raise ConfigurationError(str(exc)) from None

    def url(kind: str, default: str) -> str:
        template = str(config.get(prefix + kind) or default)
        return template.replace("{subdomain}", subdomain or "")

    return OAuthClient(
        vendor=vendor,
        authorize_url=url("AUTHORIZE_URL", DEFAULT_AUTHORIZE_URL[vendor]),
        token_url=url("TOKEN_URL", DEFAULT_TOKEN_URL[vendor]),
        client_id=str(client_id),
        client_secret=str(client_secret),
        scopes=SCOPES[vendor],
        api_url=config.get(prefix + "API_URL") or None,
        ca_cert=config.get(prefix + "CA_CERT") or None,
    )


# ------------------------------------------------------------------ PKCE and state


def pkce_challenge(verifier: str) -> str:
    """S256: base64url(sha256(verifier)) without padding (RFC 7636 §4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def new_pkce() -> tuple[str, str]:
    """A fresh (verifier, S256 challenge); the verifier is 64 characters of [A-Za-z0-9_-]."""
    verifier = secrets.token_urlsafe(48)
    return verifier, pkce_challenge(verifier)


def new_state() -> str:
    return secrets.token_urlsafe(24)


def authorize_url(client: OAuthClient, *, redirect_uri: str, state: str, code_challenge: str) -> str:
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": redirect_uri,
              "scope": " ".join(client.scopes), "state": state, "code_challenge": code_challenge,
              "code_challenge_method": "S256"}
    separator = "&" if urlsplit(client.authorize_url).query else "?"
    return client.authorize_url + separator + urlencode(params)


# ------------------------------------------------------------------ token endpoint


@dataclass(frozen=True)
class TokenSet:
    """What a token endpoint answered; ``raw`` is the whole answer (never logged)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float | None
    raw: Mapping[str, Any] = field(repr=False)


def _token_request(client: OAuthClient, form: dict[str, str], *, session: requests.Session | None,
                   timeout: float | tuple[float, float], now: Callable[[], float]) -> TokenSet:
    body = {**form, "client_id": client.client_id, "client_secret": client.client_secret}
    http = session or requests.Session()
    started = now()
    try:
        if client.vendor == "zendesk":  # Zendesk documents a JSON body; the others take a form
            response = http.post(client.token_url, json=body, timeout=timeout, verify=client.verify)
        else:
            response = http.post(client.token_url, data=body, timeout=timeout, verify=client.verify,
                                 headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise OAuthError(f"{client.vendor} token endpoint unreachable ({type(exc).__name__})",
                         error="temporarily_unavailable") from None
    finally:
        if session is None:
            http.close()
    try:
        answer: Any = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise OAuthError(f"{client.vendor} token endpoint answered HTTP {response.status_code} without JSON",
                         status=response.status_code)
    if response.status_code >= 400 or "access_token" not in answer:
        code = str(answer.get("error") or answer.get("status") or f"http_{response.status_code}")[:64]
        kind = InvalidGrant if code in INVALID_GRANT_CODES else OAuthError
        raise kind(f"{client.vendor} refused the token request: {code}", error=code, status=response.status_code)
    expires_in = answer.get("expires_in")
    expires_at = started + float(expires_in) if isinstance(expires_in, int | float) else None
    return TokenSet(access_token=str(answer["access_token"]), refresh_token=answer.get("refresh_token"),
                    expires_at=expires_at, raw=answer)


def exchange_code(client: OAuthClient, *, code: str, redirect_uri: str, code_verifier: str,
                  session: requests.Session | None = None, timeout: float | tuple[float, float] = TIMEOUT,
                  now: Callable[[], float] = time.time) -> TokenSet:
    """Trade an authorization code (with its PKCE verifier and the client secret) for tokens."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": code_verifier}
    if client.vendor == "zendesk":
        form["scope"] = " ".join(client.scopes)
    return _token_request(client, form, session=session, timeout=timeout, now=now)


def refresh_tokens(client: OAuthClient, refresh_token: str, *, session: requests.Session | None = None,
                   timeout: float | tuple[float, float] = TIMEOUT, now: Callable[[], float] = time.time) -> TokenSet:
    """One ``refresh_token`` grant. The answer's refresh token replaces the old one (rotation);
    when a vendor sends none, the old one stays valid (Salesforce without rotation)."""
    return _token_request(client, {"grant_type": "refresh_token", "refresh_token": refresh_token},
                          session=session, timeout=timeout, now=now)


def salesforce_signature_ok(client: OAuthClient, answer: Mapping[str, Any]) -> bool:
    """Salesforce signs ``id`` + ``issued_at`` with the client secret (HMAC-SHA256, base64)."""
    identity, issued_at, signature = answer.get("id"), answer.get("issued_at"), answer.get("signature")
    if not (isinstance(identity, str) and isinstance(issued_at, str) and isinstance(signature, str)):
        return False
    expected = hmac.new(client.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(expected).decode(), signature)


def salesforce_org_id(answer: Mapping[str, Any]) -> str | None:
    """The org id in the token answer's identity URL ``.../id/<org id>/<user id>``."""
    parts = urlsplit(str(answer.get("id") or "")).path.strip("/").split("/")
    if len(parts) >= 3 and parts[-3] == "id" and parts[-2].startswith("00D"):
        return parts[-2]
    return None


_TOKEN_IN_PATH = re.compile(r"(/oauth/v1/access-tokens/)[^\s/?\"]+")


class _TokenPathFilter(logging.Filter):
    """urllib3 logs request paths at DEBUG; HubSpot's token-information path carries the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_PATH.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def _hide_token_paths() -> None:
    pool_log = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _TokenPathFilter) for f in pool_log.filters):
        pool_log.addFilter(_TokenPathFilter())


def hubspot_token_info(client: OAuthClient, access_token: str, *, session: requests.Session | None = None,
                       timeout: float | tuple[float, float] = TIMEOUT) -> dict[str, Any]:
    """``GET /oauth/v1/access-tokens/{token}``: ``hub_id``, ``hub_domain``, ``user``, ``scopes``."""
    base = (client.api_url or HUBSPOT_API_URL).rstrip("/")
    _hide_token_paths()
    http = session or requests.Session()
    try:
        response = http.get(f"{base}/oauth/v1/access-tokens/{quote(access_token, safe='')}", timeout=timeout,
                            verify=client.verify)
        info: Any = response.json()
    except (requests.RequestException, ValueError):
        raise OAuthError("hubspot token information unavailable", error="temporarily_unavailable") from None
    finally:
        if session is None:
            http.close()
    if response.status_code != 200 or not isinstance(info, dict) or "hub_id" not in info:
        raise OAuthError(f"hubspot token information refused (HTTP {response.status_code})",
                         status=response.status_code)
    return info


def credentials_with(system: str, credentials: Mapping[str, Any], tokens: TokenSet) -> dict[str, Any]:
    """``credentials`` with the new tokens in the keys the adapter reads; other keys are kept."""
    out = dict(credentials)
    out[ACCESS_KEY[system]] = tokens.access_token
    if tokens.refresh_token:
        out["refresh_token"] = tokens.refresh_token
    out["expires_at"] = tokens.expires_at
    if system == "salesforce" and tokens.raw.get("instance_url"):
        out["instance_url"] = tokens.raw["instance_url"]
    return out


# ------------------------------------------------------------------ rotation on a stored connection


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
    access_key = ACCESS_KEY[system]
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
    if credentials.get("refresh_token") not in (None, used_refresh_token) and credentials.get(ACCESS_KEY[system]):
        return str(credentials[ACCESS_KEY[system]])
    return None
