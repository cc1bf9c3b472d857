"""`AuthorizationServer`: the OAuth 2.0 authorization server of one sandbox emulator.

It sits in front of an emulator's WSGI app (`AuthorizationServer.wrap`) and serves the vendor's
own OAuth paths on the emulator's host:

* Salesforce: ``/services/oauth2/authorize``, ``/services/oauth2/token``
* Zendesk: ``/oauth/authorizations/new``, ``/oauth/tokens``
* HubSpot: ``/oauth/authorize``, ``/oauth/v1/token``, ``GET /oauth/v1/access-tokens/<token>``

plus ``/oauth/authorize`` and ``/oauth/token`` on every vendor, and who a token's user is, in each
vendor's own shape (what Canary's vendor sign-in asks):

* Salesforce (OpenID Connect): with the ``openid`` scope the token answer carries an RS256
  ``id_token`` (keys at ``/id/keys``); ``GET /services/oauth2/userinfo`` answers ``sub``,
  ``user_id``, ``organization_id``, ``preferred_username``, ``email``, ``email_verified``, ``active``...
* HubSpot (no OpenID Connect): the token information names ``user`` (the e-mail) and ``user_id``.
* Zendesk: ``GET /api/v2/users/me`` answers ``{"user": {...}}`` with ``id``, ``email``, ``role``,
  ``verified``, ``active``, ``suspended``.

Who consents is one of the vendor's users (`Person`): the emulator's own (Salesforce ``User``
records, Zendesk agents and admins, HubSpot owners: the world's team), plus any a test adds
(`AuthorizationServer.add_person`). The authorize step picks them like this: ``login_hint`` (an
e-mail or username, as Salesforce documents it) names the user; else, with ``login_page`` on (the
demo, a browser), a sign-in page lists the vendor's users to choose from; else it consents at once
as the emulator's integration user where it has one (Salesforce: the User its API stamps on Canary's
writes, so the identity answers and ``LastModifiedById`` agree), else the sandbox's admin
(`default_person`). It then answers with a 302 straight back to
``redirect_uri`` with a code after checking ``client_id``, ``redirect_uri`` and an S256
``code_challenge``. The token step takes ``authorization_code``
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import jwt
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from sandbox.core import CallStats

VENDOR_PATHS: dict[str, dict[str, str]] = {
    "salesforce": {"authorize": "/services/oauth2/authorize", "token": "/services/oauth2/token"},
    "zendesk": {"authorize": "/oauth/authorizations/new", "token": "/oauth/tokens"},
    "hubspot": {"authorize": "/oauth/authorize", "token": "/oauth/v1/token"},
}
HUBSPOT_TOKEN_INFO = "/oauth/v1/access-tokens/"  # noqa: S105 - a URL path, not a secret
SALESFORCE_USERINFO = "/services/oauth2/userinfo"
SALESFORCE_KEYS = "/id/keys"
ZENDESK_ME = ("/api/v2/users/me", "/api/v2/users/me.json")
OPENID_SCOPES = {"openid", "profile", "email", "id"}
"""Salesforce answers UserInfo for a token with one of these scopes."""
ZENDESK_STAFF = ("agent", "admin")
STATIC_TOKEN_KEY = {"salesforce": "session_id", "zendesk": "oauth_token", "hubspot": "access_token"}
"""Which of the emulator's ``credentials`` its API accepts as a bearer token."""
DEFAULT_SALESFORCE_ORG = "00D5g000004CnryEAC"
DEFAULT_SALESFORCE_USER = "0055g000001CnryAAA"
HUBSPOT_SCOPES = ("oauth", "crm.objects.companies.read", "crm.objects.companies.write",
                  "crm.schemas.companies.read", "crm.schemas.companies.write", "crm.objects.contacts.read",
                  "crm.objects.deals.read", "crm.objects.owners.read", "tickets",
                  "communication_preferences.read_write")


def s256(verifier: str) -> str:
    """The PKCE S256 code challenge of ``verifier`` (RFC 7636)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass(frozen=True)
class Person:
    """One of the vendor's users, who can consent at the sandbox's authorize step."""

    id: str
    email: str
    name: str
    username: str | None = None
    role: str = "agent"
    active: bool = True
    verified: bool = True
    row: Mapping[str, Any] | None = None
    """The emulator's own record (a Zendesk user row), answered as is where the vendor answers it."""


def default_person(vendor: str) -> Person:
    """Who consents when nobody is named: the sandbox's admin (the ids the installs have always seen)."""
    user_id = {"salesforce": DEFAULT_SALESFORCE_USER, "hubspot": "7654321"}.get(vendor, "1")
    return Person(user_id, "sandbox-admin@canary.test", "Sandbox Admin", role="admin")


def _title(email: str) -> str:
    return " ".join(part.capitalize() for part in email.split("@")[0].split("."))


def emulator_people(vendor: str, emulator: Any) -> Callable[[], list[Person]]:
    """The vendor users kept in ``emulator``'s store: Salesforce ``User`` records, Zendesk agents and
    admins, HubSpot owners (their ``userId``); an emulator that keeps none gives an empty list."""

    def salesforce() -> list[Person]:
        return [Person(str(r["Id"]), str(r.get("Email") or ""), str(r.get("Name") or ""),
                       username=r.get("Username"), role="standard", active=r.get("IsActive") is not False)
                for r in emulator.records("User") if r.get("Email")]

    def zendesk() -> list[Person]:
        return [Person(str(r["id"]), str(r.get("email") or ""), str(r.get("name") or ""), role=str(r["role"]),
                       active=r.get("active") is not False and not r.get("suspended"),
                       verified=r.get("verified") is not False, row=r)
                for r in emulator.records("users") if r.get("role") in ZENDESK_STAFF and r.get("email")]

    def hubspot() -> list[Person]:
        owners = getattr(getattr(emulator, "store", None), "owners", None) or {}
        return [Person(str(o.get("userIdIncludingInactive") or o["id"]), str(o["email"]),
                       f"{o.get('firstName') or ''} {o.get('lastName') or ''}".strip() or _title(str(o["email"])),
                       active=not o.get("archived"))
                for o in owners.values() if o.get("email")]

    return {"salesforce": salesforce, "zendesk": zendesk, "hubspot": hubspot}[vendor]


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    expires_at: float
    subject: Person


@dataclass
class _Issued:
    access: dict[str, float] = field(default_factory=dict)
    """access token -> expiry (epoch seconds)"""
    refresh: dict[str, str] = field(default_factory=dict)
    """live refresh token -> the access token issued with it"""
    scopes: dict[str, str] = field(default_factory=dict)
    """access token -> scope string"""
    subjects: dict[str, Person] = field(default_factory=dict)
    """access token -> the user who consented"""


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
        people: Callable[[], Sequence[Person]] | None = None,
        login_page: bool = False,
        stats: CallStats | None = None,
        default_subject: Callable[[], Person | None] | None = None,
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
        self.login_page = login_page
        self.stats = stats
        """The emulator's call accounting: Zendesk's ``users/me`` answered here for issued tokens is counted
        there, as the emulator counts it for its own credentials."""
        """Show the vendor's sign-in page (choose a user) when ``login_hint`` names nobody (a browser, the demo)."""
        self._people = people or (lambda: ())
        self._default_subject = default_subject or (lambda: None)
        """Who consents when nobody is named (the emulator's integration user), else `default_person`."""
        self._added: list[Person] = []
        self._signing_key: Any = None
        self._lock = threading.Lock()
        self._codes: dict[str, _Grant] = {}
        self._issued = _Issued()
        paths = VENDOR_PATHS[vendor]
        self._routes: dict[str, Callable[[Request], Response]] = {
            paths["authorize"]: self._on_authorize, "/oauth/authorize": self._on_authorize,
            paths["token"]: self._on_token, "/oauth/token": self._on_token,
        }
        if vendor == "salesforce":
            self._routes.update({SALESFORCE_USERINFO: self._on_userinfo, SALESFORCE_KEYS: self._on_keys})

    def __repr__(self) -> str:
        return f"<AuthorizationServer {self.vendor} client_id={self.client_id} [secrets redacted]>"

    @classmethod
    def for_emulator(cls, vendor: str, emulator: Any, **options: Any) -> AuthorizationServer:
        """A server whose issued tokens the emulator accepts, for the account the emulator serves."""
        creds: Mapping[str, str] = emulator.credentials
        account = {"zendesk": creds.get("subdomain"), "hubspot": creds.get("portal_id")}.get(vendor)
        options.setdefault("account", account)
        options.setdefault("people", emulator_people(vendor, emulator))
        options.setdefault("stats", getattr(emulator, "stats", None))
        integration_user = creds.get("integration_user_id")
        if integration_user:  # the identity answers name the user the emulator stamps on Canary's writes
            people = options["people"]
            options.setdefault("default_subject", lambda: next(
                (p for p in people() if p.id == integration_user), None))
        return cls(vendor, api_token=creds[STATIC_TOKEN_KEY[vendor]], **options)

    # ------------------------------------------------------------------ the vendor's users

    def people(self) -> list[Person]:
        """Who can consent here: users a test added, then the emulator's."""
        own = list(self._people())
        with self._lock:
            return [*self._added, *own]

    def add_person(self, person: Person) -> Person:
        with self._lock:
            self._added.append(person)
        return person

    def _person(self, hint: str) -> Person | None:
        wanted = hint.strip().lower()
        return next((p for p in self.people() if wanted in (p.email.lower(), (p.username or "").lower(), p.id.lower())),
                    None)

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
            if handler is None and self.vendor == "zendesk" and path in ZENDESK_ME and self._bearer(environ):
                handler = self._on_users_me
            if handler is not None:
                if handler == self._on_users_me and self.stats is not None:  # the emulator's own API route
                    self.stats.record_call("GET", f"{ZENDESK_ME[0]}.json")
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
        chosen = request.form.get("login_as") if request.method == "POST" else None
        hint = chosen or args.get("login_hint")
        if hint:
            subject = self._person(hint)
            if subject is None:
                return _page(400, "unknown_user", "No user of this sandbox account has that name.")
        elif self.login_page:
            return self._sign_in_page(request)
        else:
            subject = self._default()
        code = secrets.token_urlsafe(24)
        grant = _Grant(client_id, redirect_uri, challenge, args.get("scope", ""), self.clock() + self.code_ttl,
                       subject)
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
        return self._answer(request, self._issue(grant.scope, grant.subject), grant.client_id)

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
            named = self._issued.subjects.get(old_access)
            if self.vendor == "zendesk":  # Zendesk deletes the previous access token too
                self._issued.access.pop(old_access, None)
            self.rotations += 1
        return self._answer(request, self._issue(scope, named or self._default()), self.client_id)

    def _issue(self, scope: str, subject: Person) -> tuple[str, str, str]:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        if self.vendor == "salesforce":
            access = f"{self.account}!{access}"
        with self._lock:
            self._issued.access[access] = self.clock() + self.access_ttl
            self._issued.refresh[refresh] = access
            self._issued.scopes[access] = scope
            self._issued.subjects[access] = subject
        return access, refresh, scope

    def _answer(self, request: Request, issued: tuple[str, str, str], client_id: str) -> Response:
        access, refresh, scope = issued
        body: dict[str, Any]
        if self.vendor == "salesforce":
            issued_at = str(int(self.clock() * 1000))
            subject = self._subject(access)
            identity = f"{_host_url(request)}/id/{self.account}/{subject.id}"
            signature = base64.b64encode(
                hmac.new(self.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
            ).decode()
            body = {"access_token": access, "refresh_token": refresh, "signature": signature,
                    "scope": scope or "api refresh_token", "instance_url": _host_url(request), "id": identity,
                    "token_type": "Bearer", "issued_at": issued_at}
            if "openid" in scope.split():
                body["id_token"] = self._id_token(request, access, identity, subject, client_id)
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
        subject = self._subject(token)
        return _json({"token": token, "user": subject.email, "hub_domain": "canary-sandbox.com",
                      "scopes": scopes, "signed_access_token": {}, "hub_id": int(self.account),
                      "app_id": 1_234_567, "expires_in": int(expiry - self.clock()), "user_id": int(subject.id),
                      "token_type": "access"}, 200)

    # ------------------------------------------------------------------ who a token's user is

    def _default(self) -> Person:
        """Who consents when nobody is named: the emulator's integration user where it has one (Salesforce:
        the user its API stamps on Canary's writes), else the sandbox's admin."""
        return self._default_subject() or default_person(self.vendor)

    def _subject(self, access_token: str) -> Person:
        with self._lock:
            subject = self._issued.subjects.get(access_token)
        return subject or self._default()

    def _bearer(self, environ: Mapping[str, Any]) -> str | None:
        """The environ's bearer token when this server issued it and it is live."""
        scheme, _, token = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and token and self.accepts(token) else None

    def _on_userinfo(self, request: Request) -> Response:
        """Salesforce's UserInfo endpoint (OpenID Connect) for the token's user."""
        token = self._bearer(request.environ) or request.values.get("access_token", "")
        if not token or not self.accepts(token):
            return Response("Bad_OAuth_Token", status=403, mimetype="text/plain")
        with self._lock:
            scope = set(self._issued.scopes.get(token, "").split())
        if not scope & OPENID_SCOPES:
            return _json({"error": "insufficient_scope", "error_description": "openid scope required"}, 403)
        subject, host = self._subject(token), _host_url(request)
        given, _, family = subject.name.partition(" ")
        return _json({
            "sub": f"{host}/id/{self.account}/{subject.id}", "user_id": subject.id, "organization_id": self.account,
            "preferred_username": subject.username or subject.email, "nickname": subject.email.split("@")[0],
            "name": subject.name, "email": subject.email, "email_verified": subject.verified,
            "given_name": given, "family_name": family, "zoneinfo": "America/Los_Angeles",
            "photos": {"picture": f"{host}/profilephoto/005/F", "thumbnail": f"{host}/profilephoto/005/T"},
            "profile": f"{host}/{subject.id}", "picture": f"{host}/profilephoto/005/F", "address": {},
            "is_salesforce_integration_user": False,
            "urls": {"enterprise": f"{host}/services/Soap/c/{{version}}/{self.account}",
                     "rest": f"{host}/services/data/v{{version}}/",
                     "sobjects": f"{host}/services/data/v{{version}}/sobjects/",
                     "query": f"{host}/services/data/v{{version}}/query/",
                     "profile": f"{host}/{subject.id}"},
            "active": subject.active, "user_type": "STANDARD", "language": "en_US", "locale": "en_US",
            "utcOffset": -28800000, "updated_at": "2026-01-01T00:00:00Z", "is_app_installed": True}, 200)

    def _key(self) -> Any:
        with self._lock:
            if self._signing_key is None:
                from cryptography.hazmat.primitives.asymmetric import rsa

                self._signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._signing_key

    def _on_keys(self, request: Request) -> Response:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key().public_key()))
        return _json({"keys": [{**jwk, "kid": "CNRY", "alg": "RS256", "use": "sig"}]}, 200)

    def _id_token(self, request: Request, access: str, identity: str, subject: Person, client_id: str) -> str:
        """An OpenID Connect ID token as Salesforce signs it (RS256, keys at ``/id/keys``)."""
        now = int(self.clock())
        digest = hashlib.sha256(access.encode()).digest()
        at_hash = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
        claims = {"at_hash": at_hash, "sub": identity, "aud": client_id, "iss": _host_url(request),
                  "exp": now + 300, "iat": now, "email": subject.email, "email_verified": subject.verified,
                  "name": subject.name, "preferred_username": subject.username or subject.email}
        return jwt.encode(claims, self._key(), algorithm="RS256", headers={"kid": "CNRY"})

    def _on_users_me(self, request: Request) -> Response:
        """Zendesk's ``GET /api/v2/users/me`` for the token's user (the emulator's own row when it has one)."""
        token = self._bearer(request.environ) or ""
        subject = self._subject(token)
        host = _host_url(request)
        user: dict[str, Any] = dict(subject.row) if subject.row else {
            "id": int(subject.id), "name": subject.name, "email": subject.email,
            "created_at": "2025-01-06T09:00:00Z", "updated_at": "2026-01-05T09:00:00Z",
            "time_zone": "America/New_York", "iana_time_zone": "America/New_York", "phone": None,
            "shared_phone_number": None, "photo": None, "locale_id": 1, "locale": "en-US", "organization_id": None,
            "role": subject.role, "verified": subject.verified, "external_id": None, "tags": [], "alias": None,
            "active": subject.active, "shared": False, "shared_agent": False, "last_login_at": None,
            "two_factor_auth_enabled": None, "signature": None, "details": None, "notes": None,
            "role_type": None, "custom_role_id": None, "moderator": subject.role == "admin",
            "ticket_restriction": None, "only_private_comments": False, "restricted_agent": False,
            "suspended": not subject.active, "default_group_id": None, "report_csv": False, "user_fields": {}}
        user["url"] = f"{host}/api/v2/users/{user['id']}.json"
        return _json({"user": user}, 200)

    def _sign_in_page(self, request: Request) -> Response:
        """The vendor's sign-in page, sandbox style: choose which of the vendor's users you are."""
        label = {"salesforce": "Salesforce", "zendesk": "Zendesk", "hubspot": "HubSpot"}[self.vendor]
        action = escape(request.full_path.rstrip("?"))
        rows = "".join(
            f'<li><form method="post" action="{action}"><input type="hidden" name="login_as" '
            f'value="{escape(p.id)}"><button type="submit" data-email="{escape(p.email)}">'
            f"{escape(p.name)} &lt;{escape(p.email)}&gt;</button></form></li>"
            for p in self.people())
        return Response(f"<!doctype html><title>Sign in to {label}</title><h1>Sign in to {label}</h1>"
                        f"<p>Canary sandbox: choose who you are at {label}.</p><ul>{rows}</ul>",
                        status=200, mimetype="text/html")

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
    """Canary app settings (``OAUTH_<VENDOR>_*``) that point the install and sign-in flows at ``sandbox``.

    Registers ``{public_url}/install/<vendor>/callback`` and ``{public_url}/sign-in/<vendor>/callback``
    with each running vendor's server.
    """
    config: dict[str, str] = {}
    for vendor, server in sandbox.oauth.items():
        url = sandbox.urls[vendor]
        paths = VENDOR_PATHS[vendor]
        server.allow_redirect_uri(f"{public_url.rstrip('/')}/install/{vendor}/callback")
        server.allow_redirect_uri(f"{public_url.rstrip('/')}/sign-in/{vendor}/callback")
        prefix = f"OAUTH_{vendor.upper()}_"
        config.update({prefix + "AUTHORIZE_URL": url + paths["authorize"], prefix + "TOKEN_URL": url + paths["token"],
                       prefix + "CLIENT_ID": server.client_id, prefix + "CLIENT_SECRET": server.client_secret})
        if vendor == "salesforce":
            config[prefix + "CA_CERT"] = sandbox.tls.cert_path
        else:
            config[prefix + "API_URL"] = url
    return config
