"""The Settings page's in-app section: only admins create, rotate and see the secret, set origins and make
VAPID keys; every change is audited by name, never by value; a rotation stops the old hashes at once."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from extensions import canary_store
from inapp.rules import user_hash
from store.models import AuditEvent, InAppSettings
from tests.console.conftest import CHEAP_ARGON2, csrf_of, seed_workspace, signed_in_client


def test_an_admin_manages_the_in_app_settings_and_others_cannot(app_factory: Any) -> None:
    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False)
    ws = seed_workspace(app, "alpha", "Alpha")
    admin = signed_in_client(app, ws.emails["admin"])
    csm = signed_in_client(app, ws.emails["csm"])
    assert csm.post("/admin/settings/inapp/secret", data={"csrf_token": csrf_of(csm)}).status_code == 403
    assert admin.post("/admin/settings/inapp/secret", data={}).status_code in (400, 403)  # no CSRF token

    page = admin.get("/admin/settings").get_data(as_text=True)
    assert 'data-testid="inapp-no-secret"' in page
    assert admin.post("/admin/settings/inapp/secret", data={"csrf_token": csrf_of(admin)}).status_code == 302
    bad = admin.post("/admin/settings/inapp/origins", data={"origins": "https://*.example.com",
                                                            "csrf_token": csrf_of(admin)})
    assert bad.status_code == 400 and "is not an origin" in bad.get_data(as_text=True)
    saved = admin.post("/admin/settings/inapp/origins", data={"origins": "https://app.alpha.example/\nhttps://APP.alpha.example",
                                                              "csrf_token": csrf_of(admin)})
    assert saved.status_code == 302
    assert admin.post("/admin/settings/inapp/vapid", data={"subject": "mailto:cs@alpha.example",
                                                           "csrf_token": csrf_of(admin)}).status_code == 302

    store = canary_store(app)
    with store.session(ws.tenant_id) as s:
        row = s.scalar(select(InAppSettings))
        assert row is not None
        assert row.allowed_origins == ["https://app.alpha.example"]
        assert row.vapid_public_key is not None and len(row.vapid_public_key) == 87  # 65 bytes, base64url
        audits = [(a.action, a.actor, a.detail) for a in s.scalars(
            select(AuditEvent).where(AuditEvent.action.like("inapp.%")).order_by(AuditEvent.id))]
    page = admin.get("/admin/settings").get_data(as_text=True)
    start = page.index('data-testid="inapp-secret">') + len('data-testid="inapp-secret">')
    secret = page[start:page.index("<", start)]
    assert len(secret) == 64
    assert row.vapid_public_key in page and "/inapp/v1/canary-inapp.js?v=" in page
    assert audits == [("inapp.secret", ws.emails["admin"], {"change": "created"}),
                      ("inapp.origins", ws.emails["admin"], {"count": 1}),
                      ("inapp.vapid", ws.emails["admin"], {"change": "created", "subscriptions_dropped": 0})]
    assert secret not in json.dumps([a[2] for a in audits])
    assert secret not in csm.get("/admin/settings").get_data(as_text=True)

    api = app.test_client()
    path = "/inapp/v1/w/alpha/messages"
    assert api.get(path, headers={"X-Canary-User": "u-1", "X-Canary-User-Hash": user_hash(secret, "u-1")}
                   ).status_code == 200
    admin.post("/admin/settings/inapp/secret", data={"csrf_token": csrf_of(admin)})
    assert api.get(path, headers={"X-Canary-User": "u-1", "X-Canary-User-Hash": user_hash(secret, "u-1")}
                   ).status_code == 403
    with store.session(ws.tenant_id) as s:
        assert s.scalars(select(AuditEvent.detail).where(AuditEvent.action == "inapp.secret")
                         .order_by(AuditEvent.id.desc())).first() == {"change": "rotated"}
