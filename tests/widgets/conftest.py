"""Two tenants with linked accounts, health history and real vendor signing material."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from extensions import canary_store, credential_cipher
from store.models import (
    Account,
    Alert,
    Connection,
    HealthSnapshot,
    ProductUser,
    SourceLink,
    Subscription,
    UsageDaily,
)
from store.tenants import create_tenant
from tests.dbtemplate import Templates

TODAY = dt.date(2026, 11, 20)
HUBSPOT_SECRET = "hubspot-client-secret-for-tests"


@dataclass
class Tenantry:
    tenant_id: int
    subdomain: str
    installation_id: int
    private_key: Any
    public_pem: str
    consumer_secret: str
    sf_org: str
    portal_id: str


def _keypair() -> tuple[Any, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, pem


def _seed(app: Any, slug: str, account_name: str, score_today: float, band: str, suffix: str) -> Tenantry:
    store = canary_store(app)
    cipher = credential_cipher(app)
    private_key, public_pem = _keypair()
    t = Tenantry(0, f"{slug}-support", 4242 + len(slug), private_key, public_pem,
                 f"consumer-secret-{slug}", f"00D00000000{suffix}AAA"[:15], f"90{suffix}")
    with store.session() as s:
        tenant, _ = create_tenant(s, slug, slug.title())
        t.tenant_id = tenant.id
    with store.session(t.tenant_id) as s:
        for system, ref, creds in [
            ("zendesk", t.subdomain, {"app_public_key": public_pem, "installation_id": t.installation_id}),
            ("salesforce", t.sf_org, {"consumer_secret": t.consumer_secret}),
            ("hubspot", t.portal_id, {"access_token": "x"}),
        ]:
            conn = Connection(system=system, account_ref=ref)
            cipher.store(conn, creds)
            s.add(conn)
        account = Account(name=account_name, domain=f"{slug}.example", owner="Casey CSM")
        s.add(account)
        s.flush()
        s.add_all([
            SourceLink(account_id=account.id, system="zendesk", external_id="100", method="new", reason="t"),
            SourceLink(account_id=account.id, system="salesforce", external_id="001000000000001AAA", method="new",
                       reason="t"),
            SourceLink(account_id=account.id, system="hubspot", external_id="555", method="new", reason="t"),
            Subscription(account_id=account.id, system="salesforce", external_id="006A", arr=Decimal("120000"),
                         renewal_date=dt.date(2027, 2, 1), seats_purchased=50, status="active"),
            Alert(account_id=account.id, rule="usage_drop", dedupe_key="usage_drop", severity="high",
                  title="Usage dropped 58 % in two weeks"),
            ProductUser(user_key="u-dana", email="dana@example.com", name="Dana Lee", account_id=account.id),
        ])
        for i in range(90):
            day = TODAY - dt.timedelta(days=89 - i)
            score = 80 - i * (80 - score_today) / 89
            s.add(HealthSnapshot(account_id=account.id, day=day, score=score,
                                 band="good" if score >= 70 else "average" if score >= 40 else "poor",
                                 trend=-0.4, reasons=[{"text": "Weekly active users fell from 42 to 17 (−60 %)"},
                                                      {"text": "3 urgent tickets open for 9 days"}]))
        for i in range(12):
            s.add(UsageDaily(account_id=account.id, user_key="u-dana", event="Logged In",
                             day=TODAY - dt.timedelta(days=i), count=1, minutes=20))
    return t


def _seed_both(app: Any) -> tuple[Tenantry, Tenantry]:
    return (_seed(app, "alpha", "Alpha Industries", 34.0, "poor", "1"),
            _seed(app, "bravo", "Bravo Logistics", 88.0, "good", "2"))


@pytest.fixture
def embed_app(app_factory: Any, db_templates: Templates) -> Any:
    """The two tenants are seeded once per session (their RSA keys too) and copied for each test."""
    app = app_factory(HUBSPOT_CLIENT_SECRET=HUBSPOT_SECRET, WIDGET_TODAY=TODAY.isoformat(),
                      PUBLIC_URL="http://localhost")
    secret_key = app.config["SECRET_KEY"]  # the credentials are stored encrypted with it

    def build(url: str) -> tuple[Tenantry, Tenantry]:
        from app import create_app

        builder = create_app({"TESTING": True, "SECRET_KEY": secret_key, "DATABASE_URL": url})
        try:
            return _seed_both(builder)
        finally:
            canary_store(builder).dispose()

    store = canary_store(app)
    store.engine.dispose()  # nothing of the app holds the database while it is replaced
    key = hashlib.sha256(secret_key.encode()).hexdigest()[:12]
    app.config["TENANT_A"], app.config["TENANT_B"] = db_templates.seeded(f"widgets_{key}", store.url, build)
    return app


def zendesk_token(t: Tenantry, *, exp_in: int = 300, aud: str | None = None, iss: str | None = None,
                  key: Any = None) -> str:
    now = int(time.time())
    claims = {
        "iss": iss or f"{t.subdomain}.zendesk.com",
        "aud": aud or f"https://{t.subdomain}.zendesk.com/api/v2/apps/installations/{t.installation_id}.json",
        "iat": now, "exp": now + exp_in, "jti": f"jti-{now}-{exp_in}-{aud}-{iss}",
        "qsh": "x", "context": {"location": "ticket_sidebar"},
    }
    return jwt.encode(claims, key or t.private_key, algorithm="RS256")


def canvas_request(t: Tenantry, record_id: str, *, secret: str | None = None, issued_at: int | None = None) -> str:
    context = {
        "algorithm": "HMACSHA256",
        "issuedAt": issued_at if issued_at is not None else int(time.time()),
        "userId": "005000000000001AAA",
        "client": {"oauthToken": "00Dxx!token", "instanceUrl": "https://example.my.salesforce.com"},
        "context": {"organization": {"organizationId": t.sf_org + "XYZ"},
                    "environment": {"record": {"Id": record_id, "attributes": {"type": "Account"}}}},
    }
    encoded = base64.b64encode(json.dumps(context).encode()).decode()
    digest = hmac.new((secret or t.consumer_secret).encode(), encoded.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode() + "." + encoded


def hubspot_headers(method: str, url: str, body: bytes = b"", *, secret: str = HUBSPOT_SECRET,
                    timestamp_ms: int | None = None) -> dict[str, str]:
    ts = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    raw = f"{method}{url}{body.decode()}{ts}".encode()
    signature = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": ts}
