"""`AuthorizationServer`: the OAuth 2.0 authorization server of one sandbox emulator.

It sits in front of an emulator's WSGI app (`AuthorizationServer.wrap`) and serves the vendor's
own OAuth paths on the emulator's host:

* Salesforce: ``/services/oauth2/authorize``, ``/services/oauth2/token``
* Zendesk: ``/oauth/authorizations/new``, ``/oauth/tokens``
* HubSpot: ``/oauth/authorize``, ``/oauth/v1/token``, ``GET /oauth/v1/access-tokens/<token>``

plus ``/oauth/authorize`` and ``/oauth/token`` on every vendor. The authorize step consents at
once (a 302 straight back to ``redirect_uri`` with a code) after checking ``client_id``,
``redirect_uri`` and an S256 ``code_challenge``. The token step takes ``authorization_code``
(client secret, single-use code, redirect URI and PKCE verifier checked) and ``refresh_token``
with rotation: the old refresh token is dead once used (``invalid_grant``, or HubSpot's
``BAD_REFRESH_TOKEN``); on Zendesk the old access token dies with it, as Zendesk documents.

Access tokens it issued are accepted by the emulator behind it: the wrapper swaps them for the
emulator's own static token on the way in, so no emulator needs to know about OAuth. Answers
follow each vendor's shapes (Salesforce's ``signature`` is the real HMAC-SHA256 of ``id`` +
``issued_at`` keyed with the client secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

VENDOR_PATHS: dict[str, dict[str, str]] = {
    "salesforce": {"authorize": "/services/oauth2/authorize", "token": "/services/oauth2/token"},
    "zendesk": {"authorize": "/oauth/authorizations/new", "token": "/oauth/tokens"},
    "hubspot": {"authorize": "/oauth/authorize", "token": "/oauth/v1/token"},
}
HUBSPOT_TOKEN_INFO = "/oauth/v1/access-tokens/"  # noqa: S105 - a URL path, not a secret
STATIC_TOKEN_KEY = {"salesforce": "session_id", "zendesk": "oauth_token", "hubspot": "access_token"}
"""Which of the emulator's ``credentials`` its API accepts as a bearer token."""
DEFAULT_SALESFORCE_ORG = "00D5g000004CnryEAC"
DEFAULT_SALESFORCE_USER = "0055g000001CnryAAA"
HUBSPOT_SCOPES = ("oauth", "crm.objects.companies.read", "crm.objects.companies.write",
                  "crm.schemas.companies.read", "crm.schemas.companies.write", "crm.objects.contacts.read",
                  "crm.objects.deals.read", "crm.objects.owners.read", "tickets")


def s256(verifier: str) -> str:
    """The PKCE S256 code challenge of ``verifier`` (RFC 7636)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    expires_at: float


@dataclass
class _Issued:
    access: dict[str, float] = field(default_factory=dict)
    """access token -> expiry (epoch seconds)"""
    refresh: dict[str, str] = field(default_factory=dict)
    """live refresh token -> the access token issued with it"""
    scopes: dict[str, str] = field(default_factory=dict)
    """access token -> scope string"""


class AuthorizationServer:
    """One vendor's OAuth server for one emulator; thread-safe; time comes from ``clock``."""

    def __init__(
        self,
        vendor: str,
        *,
        api_token: str,
        client_id: str | None = None,
        client_secret: str | None = None,
        account: str | None = None,
        redirect_uris: Iterable[str] = (),
        access_ttl: int = 7200,
        code_ttl: int = 600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if vendor not in VENDOR_PATHS:
            raise ValueError(f"unknown vendor {vendor!r}; choose salesforce, zendesk or hubspot")
        self.vendor = vendor
        self.api_token = api_token
        self.client_id = client_id or f"canary-sandbox-{vendor}"
        self.client_secret = client_secret or f"canary-sandbox-{vendor}-secret"
        self.account = account or (DEFAULT_SALESFORCE_ORG if vendor == "salesforce" else "canary-sandbox")
        self.redirect_uris: set[str] = set(redirect_uris)
        self.access_ttl = access_ttl
        self.code_ttl = code_ttl
        self.clock = clock
        self.rotations = 0
        """Refresh-token grants answered successfully (each one rotated the refresh token)."""
        self.refused_refreshes = 0
        self._lock = threading.Lock()
        self._codes: dict[str, _Grant] = {}
        self._issued = _Issued()
        paths = VENDOR_PATHS[vendor]
        self._routes: dict[str, Callable[[Request], Response]] = {
            paths["authorize"]: self._on_authorize, "/oauth/authorize": self._on_authorize,
            paths["token"]: self._on_token, "/oauth/token": self._on_token,
        }

    def __repr__(self) -> str:
        return f"<AuthorizationServer {self.vendor} client_id={self.client_id} [secrets redacted]>"

    @classmethod
    def for_emulator(cls, vendor: str, emulator: Any, **options: Any) -> AuthorizationServer:
        """A server whose issued tokens the emulator accepts, for the account the emulator serves."""
        creds: Mapping[str, str] = emulator.credentials
        account = {"zendesk": creds.get("subdomain"), "hubspot": creds.get("portal_id")}.get(vendor)
        options.setdefault("account", account)
        return cls(vendor, api_token=creds[STATIC_TOKEN_KEY[vendor]], **options)

    # ------------------------------------------------------------------ in-process helpers

    def allow_redirect_uri(self, uri: str) -> None:
        """Register a callback URL, as an app's settings page at the vendor would."""
        with self._lock:
            self.redirect_uris.add(uri)

    def accepts(self, access_token: str) -> bool:
        with self._lock:
            expiry = self._issued.access.get(access_token)
            return expiry is not None and expiry > self.clock()

    def live_refresh_tokens(self) -> list[str]:
        with self._lock:
            return list(self._issued.refresh)

    def wrap(self, app: WSGIApplication) -> WSGIApplication:
        """``app`` with the OAuth paths served in front and issued access tokens accepted."""

        def middleware(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            handler = self._routes.get(path.rstrip("/") or "/")
            if handler is None and self.vendor == "hubspot" and path.startswith(HUBSPOT_TOKEN_INFO):
                handler = self._on_token_info
            if handler is not None:
                return handler(Request(environ))(environ, start_response)
            scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
            if scheme.lower() in ("bearer", "oauth") and token.strip() and self.accepts(token.strip()):
                environ["HTTP_AUTHORIZATION"] = f"{scheme} {self.api_token}"
            return app(environ, start_response)

        return middleware

    # ------------------------------------------------------------------ authorize

    def _on_authorize(self, request: Request) -> Response:
        args = request.args
        client_id, redirect_uri = args.get("client_id", ""), args.get("redirect_uri", "")
        if not hmac.compare_digest(client_id, self.client_id):
            return _page(400, "invalid_client", "Unknown client_id: this app is not registered here.")
        with self._lock:
            registered = redirect_uri in self.redirect_uris
        if not registered:
            return _page(400, "redirect_uri_mismatch", "redirect_uri is not registered for this app.")
        state = args.get("state")
        if args.get("response_type", "code") != "code":
            return _redirect(redirect_uri, {"error": "unsupported_response_type", "state": state})
        challenge = args.get("code_challenge", "")
        if not challenge or args.get("code_challenge_method", "S256") != "S256":
            return _redirect(redirect_uri, {"error": "invalid_request", "state": state,
                                            "error_description": "code_challenge (S256) is required"})
        code = secrets.token_urlsafe(24)
        grant = _Grant(client_id, redirect_uri, challenge, args.get("scope", ""), self.clock() + self.code_ttl)
        with self._lock:
            self._codes[code] = grant
        return _redirect(redirect_uri, {"code": code, "state": state})

    # ------------------------------------------------------------------ token

    def _on_token(self, request: Request) -> Response:
        if request.method != "POST":
            return self._error(405, "invalid_request", "use POST")
        form: Mapping[str, Any] = request.form
        if request.is_json:
            form = request.get_json(silent=True) or {}
        client_id, client_secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        if request.authorization and request.authorization.type == "basic":
            client_id = request.authorization.username or client_id
            client_secret = request.authorization.password or client_secret
        if not (hmac.compare_digest(client_id, self.client_id)
                and hmac.compare_digest(client_secret, self.client_secret)):
            return self._error(401, "invalid_client", "client authentication failed")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._code_grant(request, form)
        if grant_type == "refresh_token":
            return self._refresh_grant(request, form)
        return self._error(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def _code_grant(self, request: Request, form: Mapping[str, Any]) -> Response:
        code = str(form.get("code", ""))
        with self._lock:
            grant = self._codes.pop(code, None)  # single use, whatever happens next
        if grant is None or grant.expires_at < self.clock():
            return self._error(400, "invalid_grant", "authorization code is invalid, expired or used", "code")
        if form.get("redirect_uri") != grant.redirect_uri:
            return self._error(400, "invalid_grant", "redirect_uri does not match the authorization", "code")
        verifier = str(form.get("code_verifier", ""))
        if not verifier or not hmac.compare_digest(s256(verifier), grant.challenge):
            return self._error(400, "invalid_grant", "PKCE verification failed", "code")
        return self._answer(request, self._issue(grant.scope))

    def _refresh_grant(self, request: Request, form: Mapping[str, Any]) -> Response:
        old = str(form.get("refresh_token", ""))
        with self._lock:
            old_access = self._issued.refresh.pop(old, None)
            if old_access is None:
                self.refused_refreshes += 1
        if old_access is None:
            return self._error(400, "invalid_grant", "refresh token is invalid, expired or revoked", "refresh")
        with self._lock:
            scope = self._issued.scopes.get(old_access, "")
            if self.vendor == "zendesk":  # Zendesk deletes the previous access token too
                self._issued.access.pop(old_access, None)
            self.rotations += 1
        return self._answer(request, self._issue(scope))

    def _issue(self, scope: str) -> tuple[str, str, str]:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        if self.vendor == "salesforce":
            access = f"{self.account}!{access}"
        with self._lock:
            self._issued.access[access] = self.clock() + self.access_ttl
            self._issued.refresh[refresh] = access
            self._issued.scopes[access] = scope
        return access, refresh, scope

    def _answer(self, request: Request, issued: tuple[str, str, str]) -> Response:
        access, refresh, scope = issued
        body: dict[str, Any]
        if self.vendor == "salesforce":
            issued_at = str(int(self.clock() * 1000))
            identity = f"{_host_url(request)}/id/{self.account}/{DEFAULT_SALESFORCE_USER}"
            signature = base64.b64encode(
                hmac.new(self.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
            ).decode()
            body = {"access_token": access, "refresh_token": refresh, "signature": signature,
                    "scope": scope or "api refresh_token", "instance_url": _host_url(request), "id": identity,
                    "token_type": "Bearer", "issued_at": issued_at}
        elif self.vendor == "zendesk":
            body = {"access_token": access, "refresh_token": refresh, "token_type": "bearer",
                    "scope": scope or "read write", "expires_in": self.access_ttl,
                    "refresh_token_expires_in": 30 * 86400}
        else:
            body = {"token_type": "bearer", "refresh_token": refresh, "access_token": access,
                    "expires_in": self.access_ttl}
        return _json(body, 200)

    def _on_token_info(self, request: Request) -> Response:
        token = request.path[len(HUBSPOT_TOKEN_INFO):]
        with self._lock:
            expiry = self._issued.access.get(token)
            scope = self._issued.scopes.get(token, "")
        if expiry is None or expiry <= self.clock():
            return _json({"status": "error", "message": "The OAuth token used to make this call expired.",
                          "correlationId": str(uuid.uuid4()), "category": "EXPIRED_AUTHENTICATION"}, 401)
        scopes = scope.split() or list(HUBSPOT_SCOPES)
        return _json({"token": token, "user": "sandbox-admin@canary.test", "hub_domain": "canary-sandbox.com",
                      "scopes": scopes, "signed_access_token": {}, "hub_id": int(self.account),
                      "app_id": 1_234_567, "expires_in": int(expiry - self.clock()), "user_id": 7_654_321,
                      "token_type": "access"}, 200)

    def _error(self, status: int, error: str, description: str, grant: str = "") -> Response:
        """The vendor's error answer: RFC 6749 shape, or HubSpot's own."""
        if self.vendor == "hubspot":
            code = {"code": "BAD_AUTH_CODE", "refresh": "BAD_REFRESH_TOKEN"}.get(grant, error.upper())
            if error == "invalid_client":
                code = "BAD_CLIENT_ID"
            return _json({"status": code, "message": description, "correlationId": str(uuid.uuid4())}, status)
        return _json({"error": error, "error_description": description}, status)


def _host_url(request: Request) -> str:
    """The emulator's own base URL, from the request being answered."""
    return request.host_url.rstrip("/")


def _json(body: Mapping[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json",
                    headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _page(status: int, error: str, description: str) -> Response:
    return Response(f"<!doctype html><title>OAuth error</title><h1>{error}</h1><p>{description}</p>",
                    status=status, mimetype="text/html")


def _redirect(uri: str, params: Mapping[str, str | None]) -> Response:
    parts = urlsplit(uri)
    query = "&".join(p for p in (parts.query, urlencode({k: v for k, v in params.items() if v is not None})) if p)
    return Response(status=302, headers={"Location": urlunsplit(parts._replace(query=query))})


def install_config(sandbox: Any, public_url: str) -> dict[str, str]:
    """Canary app settings (``OAUTH_<VENDOR>_*``) that point the install flows at ``sandbox``.

    Registers ``{public_url}/install/<vendor>/callback`` with each running vendor's server.
    """
    config: dict[str, str] = {}
    for vendor, server in sandbox.oauth.items():
        url = sandbox.urls[vendor]
        paths = VENDOR_PATHS[vendor]
        server.allow_redirect_uri(f"{public_url.rstrip('/')}/install/{vendor}/callback")
        prefix = f"OAUTH_{vendor.upper()}_"
        config.update({prefix + "AUTHORIZE_URL": url + paths["authorize"], prefix + "TOKEN_URL": url + paths["token"],
                       prefix + "CLIENT_ID": server.client_id, prefix + "CLIENT_SECRET": server.client_secret})
        if vendor == "salesforce":
            config[prefix + "CA_CERT"] = sandbox.tls.cert_path
        else:
            config[prefix + "API_URL"] = url
    return config
