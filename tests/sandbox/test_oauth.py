"""The sandbox's OAuth authorization server: consent, code grant with PKCE, refresh with rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from sandbox.oauth import AuthorizationServer, Person, s256
from sandbox.server import Sandbox

CALLBACK = "http://localhost/install/x/callback"
VERIFIER = "v" * 64


def _api(environ: Any, start_response: Any) -> Any:
    """A stand-in emulator: 200 only for its own static token."""
    ok = Request(environ).headers.get("Authorization") in ("Bearer static", "OAuth static")
    return Response("ok" if ok else "no", status=200 if ok else 401)(environ, start_response)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _server(vendor: str, clock: Clock | None = None) -> tuple[AuthorizationServer, Client]:
    account = "24681357" if vendor == "hubspot" else None
    server = AuthorizationServer(vendor, api_token="static", account=account, redirect_uris=[CALLBACK],
                                 clock=clock or Clock())
    return server, Client(server.wrap(_api))


def _authorize(server: AuthorizationServer, client: Client, **overrides: str) -> Any:
    params = {"response_type": "code", "client_id": server.client_id, "redirect_uri": CALLBACK,
              "state": "st-1", "code_challenge": s256(VERIFIER), "code_challenge_method": "S256", **overrides}
    path = {"salesforce": "/services/oauth2/authorize", "zendesk": "/oauth/authorizations/new",
            "hubspot": "/oauth/authorize"}[server.vendor]
    return client.get(path + "?" + urlencode(params))


def _token(server: AuthorizationServer, client: Client, **form: str) -> Any:
    path = {"salesforce": "/services/oauth2/token", "zendesk": "/oauth/tokens",
            "hubspot": "/oauth/v1/token"}[server.vendor]
    body = {"client_id": server.client_id, "client_secret": server.client_secret, **form}
    return client.post(path, data=body)


def _code(server: AuthorizationServer, client: Client) -> str:
    answer = _authorize(server, client)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == ["st-1"]
    return query["code"][0]


def _grant(server: AuthorizationServer, client: Client) -> dict[str, Any]:
    code = _code(server, client)
    answer = _token(server, client, grant_type="authorization_code", code=code, redirect_uri=CALLBACK,
                    code_verifier=VERIFIER)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json
    return body


@pytest.mark.parametrize(("vendor", "keys"), [
    ("salesforce", {"access_token", "refresh_token", "instance_url", "id", "issued_at", "signature",
                    "token_type", "scope"}),
    ("zendesk", {"access_token", "refresh_token", "token_type", "scope", "expires_in", "refresh_token_expires_in"}),
    ("hubspot", {"access_token", "refresh_token", "expires_in", "token_type"}),
])
def test_code_grant_answers_in_the_vendors_shape_and_the_token_opens_the_api(vendor: str, keys: set[str]) -> None:
    server, client = _server(vendor)
    body = _grant(server, client)
    assert set(body) == keys
    assert client.get("/api", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 200
    assert client.get("/api", headers={"Authorization": "Bearer made-up"}).status_code == 401


def test_salesforce_signature_is_hmac_of_id_and_issued_at() -> None:
    server, client = _server("salesforce")
    body = _grant(server, client)
    digest = hmac.new(server.client_secret.encode(), (body["id"] + body["issued_at"]).encode(), hashlib.sha256)
    assert body["signature"] == base64.b64encode(digest.digest()).decode()
    assert body["id"].endswith(f"/id/{server.account}/0055g000001CnryAAA")
    assert body["instance_url"] == "http://localhost"


@pytest.mark.parametrize(("overrides", "status", "error"), [
    ({"client_id": "someone-else"}, 400, None),
    ({"redirect_uri": "https://evil.example/cb"}, 400, None),
    ({"code_challenge": ""}, 302, "invalid_request"),
    ({"code_challenge_method": "plain"}, 302, "invalid_request"),
    ({"response_type": "token"}, 302, "unsupported_response_type"),
])
def test_authorize_refuses_bad_requests(overrides: dict[str, str], status: int, error: str | None) -> None:
    server, client = _server("zendesk")
    answer = _authorize(server, client, **overrides)
    assert answer.status_code == status
    if status == 302:
        query = parse_qs(urlsplit(answer.headers["Location"]).query)
        assert query["error"] == [error]
        assert "code" not in query


@pytest.mark.parametrize(("change", "status", "error"), [
    ({"code_verifier": "w" * 64}, 400, "invalid_grant"),
    ({"code_verifier": ""}, 400, "invalid_grant"),
    ({"redirect_uri": "http://localhost/other"}, 400, "invalid_grant"),
    ({"code": "not-a-code"}, 400, "invalid_grant"),
    ({"client_secret": "wrong"}, 401, "invalid_client"),
    ({"grant_type": "password"}, 400, "unsupported_grant_type"),
])
def test_code_grant_refusals(change: dict[str, str], status: int, error: str) -> None:
    server, client = _server("salesforce")
    form = {"grant_type": "authorization_code", "code": _code(server, client), "redirect_uri": CALLBACK,
            "code_verifier": VERIFIER, **change}
    answer = _token(server, client, **form)
    assert (answer.status_code, answer.json["error"]) == (status, error)
    assert server.live_refresh_tokens() == []


def test_codes_are_single_use_even_after_a_failed_attempt() -> None:
    server, client = _server("zendesk")
    code = _code(server, client)
    first = _token(server, client, grant_type="authorization_code", code=code, redirect_uri=CALLBACK,
                   code_verifier="w" * 64)
    second = _token(server, client, grant_type="authorization_code", code=code, redirect_uri=CALLBACK,
                    code_verifier=VERIFIER)
    assert (first.status_code, second.status_code) == (400, 400)
    assert second.json == {"error": "invalid_grant",
                           "error_description": "authorization code is invalid, expired or used"}


def test_codes_expire() -> None:
    clock = Clock()
    server, client = _server("zendesk", clock)
    code = _code(server, client)
    clock.now += 601
    answer = _token(server, client, grant_type="authorization_code", code=code, redirect_uri=CALLBACK,
                    code_verifier=VERIFIER)
    assert answer.json["error"] == "invalid_grant"


@pytest.mark.parametrize(("vendor", "old_access_survives", "refused"), [
    ("zendesk", False, {"error": "invalid_grant"}),
    ("salesforce", True, {"error": "invalid_grant"}),
    ("hubspot", True, {"status": "BAD_REFRESH_TOKEN"}),
])
def test_refresh_rotates_and_the_old_refresh_token_dies(vendor: str, old_access_survives: bool,
                                                        refused: dict[str, str]) -> None:
    server, client = _server(vendor)
    first = _grant(server, client)
    answer = _token(server, client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert answer.status_code == 200
    second = answer.json
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert server.rotations == 1
    again = _token(server, client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert again.status_code == 400
    assert {k: again.json[k] for k in refused} == refused
    assert server.accepts(second["access_token"])
    assert server.accepts(first["access_token"]) is old_access_survives
    assert server.live_refresh_tokens() == [second["refresh_token"]]


def test_access_tokens_expire() -> None:
    clock = Clock()
    server, client = _server("hubspot", clock)
    token = _grant(server, client)["access_token"]
    assert client.get(f"/oauth/v1/access-tokens/{token}").get_data(as_text=True).count("\"hub_id\": 24681357") == 1
    clock.now += 7201
    assert client.get("/api", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.get(f"/oauth/v1/access-tokens/{token}").status_code == 401


def test_json_token_requests_are_accepted_like_zendesks() -> None:
    server, client = _server("zendesk")
    code = _code(server, client)
    answer = client.post("/oauth/tokens", data=json.dumps({
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": VERIFIER,
        "client_id": server.client_id, "client_secret": server.client_secret}), content_type="application/json")
    assert answer.status_code == 200
    assert json.loads(answer.get_data())["scope"] == "read write"


def test_repr_hides_the_client_secret() -> None:
    server, _ = _server("zendesk")
    assert server.client_secret not in repr(server)


# ------------------------------------------------------------------ the real emulators over loopback


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(accounts=4, seed=3, as_of=date(2026, 11, 20)) as running:
        for server in running.oauth.values():
            server.allow_redirect_uri(CALLBACK)
        yield running


def _loopback_session(sandbox: Sandbox) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    assert sandbox.tls is not None
    session.verify = sandbox.tls.cert_path
    return session


@pytest.mark.parametrize(("vendor", "api_path"), [
    ("salesforce", "/services/data/v59.0/limits"),
    ("zendesk", "/api/v2/organization_fields.json"),
    ("hubspot", "/crm/v3/objects/companies?limit=1"),
])
def test_emulators_accept_issued_tokens_over_loopback(sandbox: Sandbox, vendor: str, api_path: str) -> None:
    server = sandbox.oauth[vendor]
    base = sandbox.urls[vendor]
    http = _loopback_session(sandbox)
    paths = {"salesforce": "/services/oauth2/", "zendesk": "/oauth/", "hubspot": "/oauth/"}[vendor]
    consent = http.get(base + paths + ("authorizations/new" if vendor == "zendesk" else "authorize"), params={
        "response_type": "code", "client_id": server.client_id, "redirect_uri": CALLBACK, "state": "s",
        "code_challenge": s256(VERIFIER), "code_challenge_method": "S256"}, allow_redirects=False)
    code = parse_qs(urlsplit(consent.headers["Location"]).query)["code"][0]
    token_path = {"salesforce": "/services/oauth2/token", "zendesk": "/oauth/tokens",
                  "hubspot": "/oauth/v1/token"}[vendor]
    tokens = http.post(base + token_path, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": VERIFIER,
        "client_id": server.client_id, "client_secret": server.client_secret}).json()
    ok = http.get(base + api_path, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    refused = http.get(base + api_path, headers={"Authorization": "Bearer not-issued"})
    assert (ok.status_code, refused.status_code) == (200, 401)


# ---------------------------------------------------------------------- who a token's user is (vendor sign-in)

DANA = Person("005AL0000000777AAA", "dana.whitfield@canary.example", "Dana Whitfield", username="dana@sf.example")


def _signed_in(vendor: str, person: Person, scope: str = "") -> tuple[AuthorizationServer, Client, dict[str, Any]]:
    server, client = _server(vendor)
    server.add_person(person)
    extra = {"login_hint": person.email, **({"scope": scope} if scope else {})}
    answer = _authorize(server, client, **extra)
    assert answer.status_code == 302
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    token = _token(server, client, grant_type="authorization_code", code=code, redirect_uri=CALLBACK,
                   code_verifier=VERIFIER)
    assert token.status_code == 200, token.text
    return server, client, token.json


def test_salesforce_openid_connect_userinfo_and_id_token() -> None:
    import jwt

    server, client, body = _signed_in("salesforce", DANA, "openid email profile")
    assert body["id"].endswith(f"/id/{server.account}/{DANA.id}")
    info = client.get("/services/oauth2/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200
    assert {k: info.json[k] for k in ("user_id", "organization_id", "email", "email_verified",
                                      "preferred_username", "active")} == {
        "user_id": DANA.id, "organization_id": server.account, "email": DANA.email, "email_verified": True,
        "preferred_username": "dana@sf.example", "active": True}
    assert info.json["sub"] == body["id"]
    keys = client.get("/id/keys").json["keys"]
    key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(keys[0]))
    claims = jwt.decode(body["id_token"], key=key, algorithms=["RS256"], audience=server.client_id,  # type: ignore[arg-type]
                        options={"verify_exp": False, "verify_iat": False})  # the server clock is pinned
    assert (claims["sub"], claims["email"], claims["iat"]) == (body["id"], DANA.email, 1_800_000_000)
    assert client.get("/services/oauth2/userinfo",
                      headers={"Authorization": "Bearer made-up"}).status_code == 403


def test_salesforce_userinfo_needs_an_openid_scope() -> None:
    _srv, client, body = _signed_in("salesforce", DANA, "api refresh_token")
    assert "id_token" not in body
    info = client.get("/services/oauth2/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 403 and info.json["error"] == "insufficient_scope"


def test_hubspot_token_information_names_the_user_who_consented() -> None:
    person = Person("4242", "grace.okoye@canary.example", "Grace Okoye")
    _srv, client, body = _signed_in("hubspot", person)
    info = client.get(f"/oauth/v1/access-tokens/{body['access_token']}")
    assert info.status_code == 200
    assert (info.json["user"], info.json["user_id"], info.json["hub_id"]) == (person.email, 4242, 24681357)


def test_zendesk_users_me_answers_the_token_user() -> None:
    person = Person("381000000042", "ravi.menon@canary.example", "Ravi Menon", role="admin", verified=False)
    _srv, client, body = _signed_in("zendesk", person)
    me = client.get("/api/v2/users/me.json", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    user = me.json["user"]
    assert (user["id"], user["email"], user["role"], user["verified"], user["active"]) == (
        381000000042, person.email, "admin", False, True)
    assert client.get("/api/v2/users/me.json", headers={"Authorization": "Bearer made-up"}).status_code == 401


def test_refresh_keeps_the_user_and_nobody_named_is_the_sandbox_admin() -> None:
    server, client, body = _signed_in("hubspot", Person("4243", "jon.ortega@canary.example", "Jon Ortega"))
    fresh = _token(server, client, grant_type="refresh_token", refresh_token=body["refresh_token"]).json
    assert client.get(f"/oauth/v1/access-tokens/{fresh['access_token']}").json["user"] == "jon.ortega@canary.example"
    anyone = _grant(server, client)
    assert client.get(f"/oauth/v1/access-tokens/{anyone['access_token']}").json["user"] == "sandbox-admin@canary.test"


def test_the_login_page_lists_the_vendor_users_and_signs_in_the_one_chosen() -> None:
    server, client = _server("zendesk")
    server.login_page = True
    server.add_person(Person("381000000050", "sophie.laurent@canary.example", "Sophie Laurent"))
    page = _authorize(server, client)
    assert page.status_code == 200 and "Sophie Laurent" in page.text
    chosen = client.post(urlsplit(page.request.url).path + "?" + page.request.query_string.decode(),
                         data={"login_as": "381000000050"})
    assert chosen.status_code == 302
    assert parse_qs(urlsplit(chosen.headers["Location"]).query)["state"] == ["st-1"]
    unknown = _authorize(server, client, login_hint="nobody@nowhere.example")
    assert unknown.status_code == 400


def test_every_vendor_s_sign_in_users_are_the_team_its_emulator_serves(sandbox: Sandbox) -> None:
    """Who can consent is the emulator's own users (Salesforce Users, Zendesk staff, HubSpot owners): the world's
    team, the one who left among them but not active."""
    members = sandbox.world.team_members()  # type: ignore[union-attr]
    assert len(members) >= 2
    for vendor in ("salesforce", "zendesk", "hubspot"):
        people = {p.email: p.active for p in sandbox.oauth[vendor].people()}
        assert {m.email for m in members} <= set(people), vendor
        assert {e for e, active in people.items() if not active} == {m.email for m in members if not m.active}, vendor

