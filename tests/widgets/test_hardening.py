"""Issue 11 through the app: replays, abusive payloads, what anonymous visitors see, headers on every answer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import jwt
import pytest

import extensions
from extensions import canary_store, credential_cipher
from tests.widgets.conftest import HUBSPOT_SECRET, Tenantry, canvas_request, hubspot_headers


def _zaf_token(t: Tenantry, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": f"{t.subdomain}.zendesk.com",
            "aud": f"https://{t.subdomain}.zendesk.com/api/v2/apps/installations/{t.installation_id}.json",
            "iat": now, "exp": now + 300, "sub": "user:7", "qsh": "x", "context": {"location": "ticket_sidebar"},
            **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, t.private_key, algorithm="RS256")


def _sidebar(app: Any, token: str) -> Any:
    return app.test_client().post("/widgets/zendesk/sidebar", data={"token": token})


# --- replays -------------------------------------------------------------------------


def test_zendesk_token_re_encoded_with_padding_is_a_replay(embed_app: Any) -> None:
    a: Tenantry = embed_app.config["TENANT_A"]
    token = _zaf_token(a)  # no jti: the key comes from the decoded claims
    assert _sidebar(embed_app, token).status_code == 200
    again = _sidebar(embed_app, token + "==")
    assert again.status_code == 401
    assert "replayed" in again.get_json()["error"]


def test_two_workspaces_tokens_sharing_a_jti_both_open(embed_app: Any) -> None:
    a: Tenantry = embed_app.config["TENANT_A"]
    b: Tenantry = embed_app.config["TENANT_B"]
    assert _sidebar(embed_app, _zaf_token(a, jti="shared-jti")).status_code == 200
    assert _sidebar(embed_app, _zaf_token(b, jti="shared-jti")).status_code == 200
    replayed = _sidebar(embed_app, _zaf_token(b, jti="shared-jti"))
    assert replayed.status_code == 401 and "replayed" in replayed.get_json()["error"]


def test_canvas_without_issued_at_is_refused(embed_app: Any) -> None:
    b: Tenantry = embed_app.config["TENANT_B"]
    context = {"algorithm": "HMACSHA256", "issuedAt": None,
               "context": {"organization": {"organizationId": b.sf_org + "XYZ"},
                           "environment": {"record": {"Id": "001000000000001AAA"}}}}
    encoded = base64.b64encode(json.dumps(context).encode()).decode()
    digest = base64.b64encode(hmac.new(b.consumer_secret.encode(), encoded.encode(), hashlib.sha256).digest())
    client = embed_app.test_client()
    for _ in range(2):  # before: 200 the first time
        answer = client.post("/widgets/salesforce/canvas", data={"signed_request": f"{digest.decode()}.{encoded}"})
        assert answer.status_code == 401
        assert "no issuedAt" in answer.get_json()["error"]


def test_canvas_dated_in_the_future_is_refused(embed_app: Any) -> None:
    b: Tenantry = embed_app.config["TENANT_B"]
    signed = canvas_request(b, "001000000000001AAA", issued_at=int(time.time()) + 14 * 60)
    answer = embed_app.test_client().post("/widgets/salesforce/canvas", data={"signed_request": signed})
    assert answer.status_code == 401 and "in the future" in answer.get_json()["error"]


def test_canvas_replayed_with_another_signature_spelling_is_refused(embed_app: Any) -> None:
    b: Tenantry = embed_app.config["TENANT_B"]
    signed = canvas_request(b, "001000000000001AAA")
    signature, encoded = signed.split(".", 1)
    client = embed_app.test_client()
    assert client.post("/widgets/salesforce/canvas", data={"signed_request": signed}).status_code == 200
    urlsafe = signature.replace("+", "-").replace("/", "_").rstrip("=")
    again = client.post("/widgets/salesforce/canvas", data={"signed_request": f"{urlsafe}.{encoded}"})
    assert again.status_code == 401 and "replayed" in again.get_json()["error"]


def test_hubspot_replay_is_per_workspace(embed_app: Any) -> None:
    a: Tenantry = embed_app.config["TENANT_A"]
    url = f"http://localhost/widgets/hubspot/card?companyId=555&portalId={a.portal_id}"
    headers = hubspot_headers("GET", url)
    client = embed_app.test_client()
    assert client.get(url, headers=headers).status_code == 200
    again = client.get(url, headers=headers)
    assert again.status_code == 401 and "replayed" in again.get_json()["error"]


def test_the_app_always_has_a_replay_guard(embed_app: Any) -> None:
    from extensions import CanaryWiring, replay_guard, wiring
    from integrations.replay import LedgerReplayGuard
    from store.replay import UsedSignatures

    guard = replay_guard(embed_app)
    assert isinstance(guard, LedgerReplayGuard) and isinstance(guard.ledger, UsedSignatures)
    with pytest.raises(RuntimeError, match="no replay guard"):  # the wiring cannot be made without one
        extensions.init_app(embed_app, CanaryWiring(wiring(embed_app).store, wiring(embed_app).cipher,
                                                    None))  # type: ignore[arg-type]
    del embed_app.extensions[extensions.KEY]
    a: Tenantry = embed_app.config["TENANT_A"]
    embed_app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(RuntimeError, match="not wired"):  # never silently without replay protection
        _sidebar(embed_app, _zaf_token(a))


# --- abusive payloads: a clean 401/400/413, never a 500 or a logged traceback -------------------


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


DEEP = ("[" * 55_000 + "]" * 55_000).encode()


@pytest.mark.parametrize("case", ["zendesk header", "zendesk claims", "canvas context", "hubspot timestamp ²"])
def test_abusive_payloads_get_a_json_refusal_and_no_traceback(embed_app: Any, caplog: pytest.LogCaptureFixture,
                                                              case: str) -> None:
    a: Tenantry = embed_app.config["TENANT_A"]
    client = embed_app.test_client()
    caplog.set_level(logging.DEBUG)
    if case == "zendesk header":
        header = _b64url(b'{"alg":"RS256","x":' + DEEP + b"}")
        token = f"{header}.{_b64url(b'{}')}.c2ln"
        answer = client.post("/widgets/zendesk/sidebar", data={"token": token})
    elif case == "zendesk claims":
        claims = b'{"iss":"' + a.subdomain.encode() + b'.zendesk.com","x":' + DEEP + b"}"
        token = f"{_b64url(b'{}')}.{_b64url(claims)}.c2ln"
        answer = client.post("/widgets/zendesk/sidebar", data={"token": token})
    elif case == "canvas context":
        encoded = base64.b64encode(b'{"context":' + DEEP + b"}").decode()
        answer = client.post("/widgets/salesforce/canvas", data={"signed_request": f"c2ln.{encoded}"})
    else:
        url = f"http://localhost/widgets/hubspot/card?companyId=555&portalId={a.portal_id}"
        answer = client.get(url, headers={"X-HubSpot-Request-Timestamp": "²", "X-HubSpot-Signature-v3": "c2ln"})
    assert answer.status_code == 401
    assert answer.is_json and answer.get_json()["error"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize("path", ["/widgets/salesforce/canvas", "/widgets/zendesk/sidebar", "/v1/batch",
                                  "/widgets/hubspot/card"])
def test_request_bodies_over_the_cap_are_refused_before_parsing(embed_app: Any, path: str) -> None:
    assert embed_app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    body = b"signed_request=" + b"A" * (1024 * 1024 + 10)
    answer = embed_app.test_client().post(path, data=body,
                                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413
    assert answer.is_json and "larger than" in answer.get_json()["error"]


def test_panel_not_set_up_is_a_clear_401(embed_app: Any) -> None:
    a: Tenantry = embed_app.config["TENANT_A"]
    store, cipher = canary_store(embed_app), credential_cipher(embed_app)
    from sqlalchemy import select

    from store.models import Connection

    with store.session(a.tenant_id) as session:
        conn = session.scalars(select(Connection).where(Connection.system == "zendesk")).one()
        cipher.store(conn, {"installation_id": a.installation_id})
    answer = _sidebar(embed_app, _zaf_token(a))
    assert answer.status_code == 401
    assert "app_public_key is missing" in answer.get_json()["error"]
    assert "canary connect zendesk --app-public-key" in answer.get_json()["error"]


# --- the start page --------------------------------------------------------------------


def test_start_page_shows_nothing_about_any_workspace(embed_app: Any) -> None:
    """Before: every workspace's name, connected systems and account count, to anyone."""
    html = embed_app.test_client().get("/").get_data(as_text=True)
    assert "Customer health, one glance away." in html and "Database reachable and migrated." in html
    for leak in ("Alpha", "Bravo", "alpha", "bravo", "Workspace</th>", "Accounts</th>", "none yet"):
        assert leak not in html


def test_portfolio_needs_a_signed_in_user(embed_app: Any) -> None:
    """The open demo workspace is gone: the portfolio answers only a signed-in user (tests/console)."""
    client = embed_app.test_client()
    assert 'href="/sign-in"' in client.get("/").get_data(as_text=True)
    answer = client.get("/accounts")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/sign-in")
    assert "Alpha Industries" not in answer.get_data(as_text=True)


# --- one header policy on every answer -------------------------------------------------------

NONE = "frame-ancestors 'none'"


@pytest.mark.parametrize(("method", "path", "status", "frame"), [
    ("GET", "/", 200, NONE),
    ("GET", "/accounts", 302, NONE),
    ("GET", "/healthz", 200, NONE),
    ("GET", "/no-such-page", 404, NONE),
    ("POST", "/healthz", 405, NONE),
    ("GET", "/v1/batch", 405, NONE),
    ("POST", "/v1/batch", 401, NONE),
    ("GET", "/install/pipedrive", 404, NONE),
    ("GET", "/widgets/zendesk/sidebar", 405, NONE),
    ("POST", "/widgets/zendesk/sidebar", 401, "frame-ancestors https://*.zendesk.com"),
    ("POST", "/widgets/salesforce/canvas", 401, "frame-ancestors https://*.force.com"),
    ("GET", "/widgets/hubspot/full?token=x", 401, "frame-ancestors https://app.hubspot.com"),
])
def test_security_headers_on_every_answer(embed_app: Any, method: str, path: str, status: int, frame: str) -> None:
    answer = embed_app.test_client().open(path, method=method, json={} if path == "/v1/batch" else None)
    assert answer.status_code == status
    headers = answer.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert frame in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"
    if frame == NONE:
        assert headers["X-Frame-Options"] == "DENY"
    else:
        assert "X-Frame-Options" not in headers  # it would stop the vendor from framing the panel


@pytest.mark.parametrize("path", ["/", "/sign-in", "/accounts", "/accounts/1", "/install/pipedrive"])
def test_console_and_install_pages_have_a_script_policy(embed_app: Any, path: str) -> None:
    answer = embed_app.test_client().get(path)
    assert answer.mimetype == "text/html"
    csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and NONE in csp
    assert answer.headers["Cache-Control"] == "no-store"


def test_static_files_stay_cacheable(embed_app: Any) -> None:
    answer = embed_app.test_client().get("/static/console/console.css")
    assert answer.status_code == 200
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers.get("Cache-Control") != "no-store"


def test_hubspot_secret_from_the_connection_wins_over_the_app_setting(embed_app: Any) -> None:
    a: Tenantry = embed_app.config["TENANT_A"]
    store, cipher = canary_store(embed_app), credential_cipher(embed_app)
    from sqlalchemy import select

    from store.models import Connection

    with store.session(a.tenant_id) as session:
        conn = session.scalars(select(Connection).where(Connection.system == "hubspot")).one()
        cipher.store(conn, {**cipher.load(conn), "client_secret": "per-connection-secret"})
    url = f"http://localhost/widgets/hubspot/card?companyId=555&portalId={a.portal_id}"
    client = embed_app.test_client()
    refused = client.get(url, headers=hubspot_headers("GET", url, secret=HUBSPOT_SECRET))
    assert refused.status_code == 401 and "signature" in refused.get_json()["error"]
    assert client.get(url, headers=hubspot_headers("GET", url, secret="per-connection-secret")).status_code == 200


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_malformed_account_ids_find_no_workspace_on_either_database(
        app_factory: Any, request: pytest.FixtureRequest, backend: str) -> None:
    """A NUL byte in an unverified account id made PostgreSQL raise (a 500) before the signature was checked."""
    url = None
    if backend == "postgresql":
        from tests.pg import create_database

        url = create_database(request.getfixturevalue("postgres_admin_url"))
    app = app_factory(HUBSPOT_CLIENT_SECRET=HUBSPOT_SECRET, **({"DATABASE_URL": url} if url else {}))
    client = app.test_client()
    claims = _b64url(json.dumps({"iss": "ac\x00me.zendesk.com"}).encode())
    zaf = f"{_b64url(b'{}')}.{claims}.c2ln"
    canvas = base64.b64encode(json.dumps({"context": {"organization": {"organizationId": "00D\x00"}}}).encode())
    answers = [
        client.post("/widgets/zendesk/sidebar", data={"token": zaf}),
        client.post("/widgets/salesforce/canvas", data={"signed_request": f"c2ln.{canvas.decode()}"}),
        client.get("/widgets/hubspot/card?portalId=12%0034&companyId=1",
                   headers={"X-HubSpot-Request-Timestamp": "1", "X-HubSpot-Signature-v3": "c2ln"}),
    ]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert all("no Canary workspace" in a.get_json()["error"] for a in answers)
    canary_store(app).dispose()
