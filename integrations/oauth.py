"""OAuth 2.0 for the marketplace installs and vendor sign-in: PKCE, state, the token endpoint, refresh.

Pure helpers (`new_pkce`, `new_state`, `authorize_url`) and the two token requests
(`exchange_code`, `refresh_tokens`) made through ``requests`` with timeouts. Each vendor's
endpoints, scopes and details are in its descriptor (`integrations.registry`). Vendor errors
become `OAuthError` (``invalid_grant`` as `InvalidGrant`) carrying the vendor's error code
only; no token, code or secret ever reaches an exception message.

Signing in to the console with a vendor (`console.vendor_sign_in`) uses the same client with the
vendor's sign-in scopes (`sign_in_client`) and one identity call made with `get_json`.

Storing a refreshed pair is persistence and lives with it: `sync.tokens.rotate_connection_tokens`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from integrations.errors import AuthError
from integrations.hosts import InvalidHost
from integrations.registry import UnknownVendor, vendor

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
    json_token_requests: bool = False
    scope_in_code_exchange: bool = False

    @property
    def verify(self) -> bool | str:
        return self.ca_cert or True


def client_from_config(name: str, config: Mapping[str, Any], subdomain: str | None = None) -> OAuthClient:
    """The client for vendor ``name`` from ``OAUTH_<VENDOR>_*`` settings; ``{subdomain}`` in URLs is filled in."""
    try:
        spec = vendor(name).oauth
    except UnknownVendor as exc:
        raise ConfigurationError(str(exc)) from None
    prefix = f"OAUTH_{name.upper()}_"
    client_id, client_secret = config.get(prefix + "CLIENT_ID"), config.get(prefix + "CLIENT_SECRET")
    if not client_id or not client_secret:
        raise ConfigurationError(f"{name} installs are not configured: set {prefix}CLIENT_ID and "
                                 f"{prefix}CLIENT_SECRET (CANARY_{prefix}... in the environment)")
    if spec.subdomain is not None:
        if not subdomain:
            raise ConfigurationError(f"{name} installs need the {vendor(name).label} subdomain "
                                     "(?subdomain=yourcompany)")
        try:
            subdomain = spec.subdomain(subdomain)
        except InvalidHost as exc:
            raise ConfigurationError(str(exc)) from None

    def url(kind: str, default: str) -> str:
        template = str(config.get(prefix + kind) or default)
        return template.replace("{subdomain}", subdomain or "")

    return OAuthClient(
        vendor=name,
        authorize_url=url("AUTHORIZE_URL", spec.authorize_url),
        token_url=url("TOKEN_URL", spec.token_url),
        client_id=str(client_id),
        client_secret=str(client_secret),
        scopes=spec.scopes,
        api_url=config.get(prefix + "API_URL") or None,
        ca_cert=config.get(prefix + "CA_CERT") or None,
        json_token_requests=spec.json_token_requests,
        scope_in_code_exchange=spec.scope_in_code_exchange,
    )


def configured(name: str, config: Mapping[str, Any]) -> bool:
    """Whether vendor ``name``'s OAuth client (id and secret) is set."""
    prefix = f"OAUTH_{name.upper()}_"
    return bool(config.get(prefix + "CLIENT_ID") and config.get(prefix + "CLIENT_SECRET"))


def authorize_origin(name: str, config: Mapping[str, Any]) -> str:
    """Where a browser is sent to consent (``scheme://host[:port]``; ``*.`` for a per-subdomain host), for the
    ``form-action`` of a page whose form redirects there."""
    template = str(config.get(f"OAUTH_{name.upper()}_AUTHORIZE_URL") or vendor(name).oauth.authorize_url)
    parts = urlsplit(template.replace("{subdomain}", "subdomain-placeholder"))
    return f"{parts.scheme}://{parts.netloc}".replace("subdomain-placeholder", "*")


def sign_in_client(name: str, config: Mapping[str, Any], subdomain: str | None = None) -> OAuthClient:
    """The vendor's client with its sign-in scopes (`integrations.registry.SignInSpec`) instead of the install's."""
    client = client_from_config(name, config, subdomain)
    spec = vendor(name).oauth.sign_in
    if spec is None:
        raise ConfigurationError(f"signing in with {vendor(name).label} is not offered")
    return dataclasses.replace(client, scopes=spec.scopes)


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
        if client.json_token_requests:
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
    if client.scope_in_code_exchange:
        form["scope"] = " ".join(client.scopes)
    return _token_request(client, form, session=session, timeout=timeout, now=now)


def refresh_tokens(client: OAuthClient, refresh_token: str, *, session: requests.Session | None = None,
                   timeout: float | tuple[float, float] = TIMEOUT, now: Callable[[], float] = time.time) -> TokenSet:
    """One ``refresh_token`` grant. The answer's refresh token replaces the old one (rotation);
    when a vendor sends none, the old one stays valid (Salesforce without rotation)."""
    return _token_request(client, {"grant_type": "refresh_token", "refresh_token": refresh_token},
                          session=session, timeout=timeout, now=now)


def get_json(client: OAuthClient, url: str, access_token: str, *, what: str,
             session: requests.Session | None = None,
             timeout: float | tuple[float, float] = TIMEOUT) -> dict[str, Any]:
    """``GET url`` with the bearer token (an identity call); the JSON object answered, or `OAuthError`
    naming ``what`` and the HTTP status only (never the token)."""
    http = session or requests.Session()
    try:
        response = http.get(url, headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                            timeout=timeout, verify=client.verify, allow_redirects=False)
        answer: Any = response.json()
    except (requests.RequestException, ValueError):
        raise OAuthError(f"{client.vendor} {what} unavailable", error="temporarily_unavailable") from None
    finally:
        if session is None:
            http.close()
    if response.status_code != 200 or not isinstance(answer, dict):
        raise OAuthError(f"{client.vendor} {what} refused (HTTP {response.status_code})",
                         error=f"http_{response.status_code}", status=response.status_code)
    return answer


def credentials_with(name: str, credentials: Mapping[str, Any], tokens: TokenSet) -> dict[str, Any]:
    """``credentials`` with the new tokens in the keys the adapter reads; other keys are kept."""
    descriptor = vendor(name)
    out = dict(credentials)
    out[descriptor.access_key] = tokens.access_token
    if tokens.refresh_token:
        out["refresh_token"] = tokens.refresh_token
    out["expires_at"] = tokens.expires_at
    for key in descriptor.oauth.token_answer_keys:
        if tokens.raw.get(key):
            out[key] = tokens.raw[key]
    return out


def installed_credentials(client: OAuthClient, tokens: TokenSet, **account: Any) -> dict[str, Any]:
    """What an install stores: the account's own keys, the tokens, and the CA bundle of a test endpoint."""
    base: dict[str, Any] = {"cert_path": client.ca_cert} if client.ca_cert else {}
    return credentials_with(client.vendor, {**base, **account}, tokens)
