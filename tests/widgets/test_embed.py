"""Embedded panels: real signatures made in the test; forged, expired, wrong-audience and replayed fail."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from itsdangerous import URLSafeTimedSerializer

from tests.widgets.conftest import Tenantry, canvas_request, hubspot_headers, zendesk_token


def _session_from(html: str) -> str:
    match = re.search(r'name="canary-session" content="([^"]+)"', html)
    assert match, html
    return match.group(1)


def test_zendesk_valid_token_opens_a_panel_for_its_own_tenant(embed_app: Any) -> None:
    a: Tenantry = embed_app.config["TENANT_A"]
    client = embed_app.test_client()
    shell = client.post("/widgets/zendesk/sidebar", data={"token": zendesk_token(a)})
    assert shell.status_code == 200
    csp = shell.headers["Content-Security-Policy"]
    assert "frame-ancestors https://*.zendesk.com" in csp and "script-src 'self'" in csp
    session = _session_from(shell.get_data(as_text=True))
    panel = client.get("/widgets/zendesk/panel?organization_id=100", headers={"Authorization": f"Bearer {session}"})
    assert panel.status_code == 200
    html = panel.get_data(as_text=True)
    assert "Alpha Industries" in html and "Bravo" not in html
    assert 'data-testid="band">Poor<' in html
    assert 'data-testid="score">34<' in html
    assert "Weekly active users fell from 42 to 17" in html
    assert "$120,000" in html and "01 Feb 2027" in html
    assert "Usage dropped 58 % in two weeks" in html
    assert "Dana Lee" in html
    assert "<svg" in html
    assert "https://" not in html.split("<body", 1)[1]  # nothing loaded from elsewhere


def test_zendesk_session_of_tenant_a_cannot_read_tenant_b(embed_app: Any) -> None:
    a: Tenantry = embed_app.config["TENANT_A"]
    client = embed_app.test_client()
    session = _session_from(client.post("/widgets/zendesk/sidebar", data={"token": zendesk_token(a)}).get_data(
        as_text=True))
    # Both tenants have a Zendesk organization 100; A's session must only ever see A's.
    html = client.get("/widgets/zendesk/panel?organization_id=100",
                      headers={"Authorization": f"Bearer {session}"}).get_data(as_text=True)
    assert "Alpha Industries" in html and "Bravo Logistics" not in html


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("forged", "signature"),
        ("expired", "expired"),
        ("wrong_audience", "audience"),
        ("unknown_account", "no Canary workspace"),
        ("garbage", "not a JWT"),
    ],
)
def test_zendesk_bad_tokens_get_401_json(embed_app: Any, case: str, fragment: str) -> None:
    a: Tenantry = embed_app.config["TENANT_A"]
    token = {
        "forged": lambda: zendesk_token(a, key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "expired": lambda: zendesk_token(a, exp_in=-120),
        "wrong_audience": lambda: zendesk_token(a, aud="https://evil.zendesk.com/api/v2/apps/installations/1.json"),
        "unknown_account": lambda: zendesk_token(a, iss="nobody.zendesk.com"),
        "garbage": lambda: "not-a-token",
    }[case]()
    response = embed_app.test_client().post("/widgets/zendesk/sidebar", data={"token": token})
    assert response.status_code == 401
    assert fragment.lower() in response.get_json()["error"].lower()


def test_zendesk_replayed_token_is_refused(embed_app: Any) -> None:
    a: Tenantry = embed_app.config["TENANT_A"]
    token = zendesk_token(a)
    client = embed_app.test_client()
    assert client.post("/widgets/zendesk/sidebar", data={"token": token}).status_code == 200
    again = client.post("/widgets/zendesk/sidebar", data={"token": token})
    assert again.status_code == 401
    assert "replay" in again.get_json()["error"].lower()


def test_zendesk_panel_without_session_is_refused(embed_app: Any) -> None:
    response = embed_app.test_client().get("/widgets/zendesk/panel?organization_id=100")
    assert response.status_code == 401
    tampered = embed_app.test_client().get("/widgets/zendesk/panel?organization_id=100",
                                           headers={"Authorization": "Bearer eyJ0IjoxfQ.forged.sig"})
    assert tampered.status_code == 401


def test_salesforce_canvas_valid_request_renders_the_record(embed_app: Any) -> None:
    b: Tenantry = embed_app.config["TENANT_B"]
    response = embed_app.test_client().post("/widgets/salesforce/canvas",
                                            data={"signed_request": canvas_request(b, "001000000000001AAA")})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Bravo Logistics" in html and "Alpha" not in html
    assert 'data-testid="band">Good<' in html
    assert "frame-ancestors https://*.force.com" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda t: canvas_request(t, "001000000000001AAA", secret="wrong-secret"), "signature"),
        (lambda t: canvas_request(t, "001000000000001AAA", issued_at=int(time.time()) - 3600), "old"),
        (lambda t: "bm90LWEtc2lnbmF0dXJl.e30=", "workspace"),
    ],
)
def test_salesforce_canvas_bad_requests_get_401(embed_app: Any, make: Any, fragment: str) -> None:
    b: Tenantry = embed_app.config["TENANT_B"]
    response = embed_app.test_client().post("/widgets/salesforce/canvas", data={"signed_request": make(b)})
    assert response.status_code == 401
    assert fragment in response.get_json()["error"].lower()


def test_hubspot_card_valid_signature_returns_health_json(embed_app: Any) -> None:
    a: Tenantry = embed_app.config["TENANT_A"]
    url = f"http://localhost/widgets/hubspot/card?companyId=555&portalId={a.portal_id}"
    response = embed_app.test_client().get(url, headers=hubspot_headers("GET", url))
    assert response.status_code == 200
    body = response.get_json()
    assert body["account"]["name"] == "Alpha Industries"
    assert (body["score"], body["band"], body["band_label"]) == (34, "poor", "Poor")
    assert body["reasons"][0].startswith("Weekly active users fell")
    assert len(body["history"]) == 90
    assert "app.hubspot.com" in response.headers["Content-Security-Policy"]


def test_hubspot_portal_of_tenant_b_never_sees_tenant_a(embed_app: Any) -> None:
    b: Tenantry = embed_app.config["TENANT_B"]
    url = f"http://localhost/widgets/hubspot/card?companyId=555&portalId={b.portal_id}"
    body = embed_app.test_client().get(url, headers=hubspot_headers("GET", url)).get_json()
    assert body["account"]["name"] == "Bravo Logistics"


@pytest.mark.parametrize(
    ("headers_for", "fragment"),
    [
        (lambda url: hubspot_headers("GET", url, secret="wrong"), "signature"),
        (lambda url: hubspot_headers("GET", url, timestamp_ms=int((time.time() - 600) * 1000)), "5 minutes"),
        (lambda url: {}, "signature"),
    ],
)
def test_hubspot_bad_signatures_get_401(embed_app: Any, headers_for: Any, fragment: str) -> None:
    a: Tenantry = embed_app.config["TENANT_A"]
    url = f"http://localhost/widgets/hubspot/card?companyId=555&portalId={a.portal_id}"
    response = embed_app.test_client().get(url, headers=headers_for(url))
    assert response.status_code == 401
    assert fragment in response.get_json()["error"].lower()


def test_hubspot_replayed_request_is_refused(embed_app: Any) -> None:
    a: Tenantry = embed_app.config["TENANT_A"]
    url = f"http://localhost/widgets/hubspot/card?companyId=555&portalId={a.portal_id}"
    headers = hubspot_headers("GET", url)
    client = embed_app.test_client()
    assert client.get(url, headers=headers).status_code == 200
    again = client.get(url, headers=headers)
    assert again.status_code == 401 and "replay" in again.get_json()["error"].lower()


def test_console_pages_refuse_framing(embed_app: Any) -> None:
    response = embed_app.test_client().get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp


def test_hubspot_request_naming_two_portals_is_refused(embed_app: Any) -> None:
    a: Tenantry = embed_app.config["TENANT_A"]
    b: Tenantry = embed_app.config["TENANT_B"]
    url = f"http://localhost/widgets/hubspot/card?companyId=555&portalId={a.portal_id}&portalId={b.portal_id}"
    response = embed_app.test_client().get(url, headers=hubspot_headers("GET", url))
    assert response.status_code == 401
    assert "exactly one" in response.get_json()["error"]


def test_portfolio_is_closed_without_sign_in(embed_app: Any) -> None:
    client = embed_app.test_client()
    for path in ("/accounts", "/accounts/1", "/accounts/999999"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/sign-in?next=")
        assert "Alpha" not in answer.get_data(as_text=True)


def _full_view_url(app: Any, t: Tenantry) -> str:
    url = f"http://localhost/widgets/hubspot/card?companyId=555&portalId={t.portal_id}"
    body = app.test_client().get(url, headers=hubspot_headers("GET", url)).get_json()
    full: str = body["full_view_url"]
    assert full.startswith("http://localhost/widgets/hubspot/full?token=")
    return full


def test_hubspot_full_view_opens_the_company_the_card_showed(embed_app: Any) -> None:
    a, b = embed_app.config["TENANT_A"], embed_app.config["TENANT_B"]
    client = embed_app.test_client()
    page = client.get(_full_view_url(embed_app, a).removeprefix("http://localhost"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Alpha Industries" in html and "Poor" in html and "<svg" in html and "Bravo" not in html
    assert "Usage dropped 58 % in two weeks" in html
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors https://app.hubspot.com" in csp and "zendesk" not in csp
    assert page.headers["Referrer-Policy"] == "no-referrer"
    other = client.get(_full_view_url(embed_app, b).removeprefix("http://localhost")).get_data(as_text=True)
    assert "Bravo Logistics" in other and "Alpha" not in other


def test_hubspot_full_view_refuses_a_forged_or_expired_token(embed_app: Any, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    a: Tenantry = embed_app.config["TENANT_A"]
    client = embed_app.test_client()
    path = _full_view_url(embed_app, a).removeprefix("http://localhost")
    forged = URLSafeTimedSerializer("not-canary's-key", salt="canary-widget-session").dumps(
        {"t": a.tenant_id, "v": "hubspot", "c": "555"})
    zendesk_session = URLSafeTimedSerializer(embed_app.config["SECRET_KEY"], salt="canary-widget-session").dumps(
        {"t": a.tenant_id, "v": "zendesk"})
    for token in (forged, zendesk_session, ""):
        refused = client.get(f"/widgets/hubspot/full?token={token}")
        assert refused.status_code == 401
        assert refused.get_json()["error"] == "open the full view from the Canary card on a company record"
    later = int(time.time()) + 16 * 60  # the view token lives as long as a panel session: 15 minutes
    monkeypatch.setattr("itsdangerous.timed.TimestampSigner.get_timestamp", lambda _self: later)
    expired = client.get(path)
    assert expired.status_code == 401 and "expired" in expired.get_json()["error"]
