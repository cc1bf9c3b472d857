"""The Settings page's in-app section (admins only, every change audited): the identity-verification secret
(shown, rotated), the origins the snippet may call from, the Web Push VAPID keys, and how to install the snippet.

Routes join the console blueprint, so its guard applies (a live session, the CSRF token on every POST).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, current_app, redirect, request, url_for

from console.views import _store, admin_only, console, who
from extensions import credential_cipher
from inapp.rules import InAppError
from inapp.settings import generate_vapid, rotate_secret, save_origins, view_settings
from inapp.web import snippet_url
from store.models import Tenant


def inapp_section(tenant_id: int) -> dict[str, Any]:
    """What the Settings page shows about in-app messages."""
    with _store().session(tenant_id) as s:
        settings = view_settings(s, credential_cipher())
        tenant = s.get(Tenant, tenant_id)
        slug = tenant.slug if tenant is not None else ""
    public = str(current_app.config["PUBLIC_URL"]).rstrip("/")
    return {"settings": settings, "workspace": slug, "snippet_url": snippet_url(),
            "worker_url": f"{public}/inapp/v1/canary-inapp-sw.js"}


def _back(text: str) -> Any:
    return redirect(url_for("console.settings", message=text) + "#inapp")


@console.post("/admin/settings/inapp/secret")
@admin_only
def settings_inapp_secret() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        rotate_secret(s, credential_cipher(), me.email, me.user_id, dt.datetime.now(dt.UTC))
    return _back("New in-app identity secret: hashes signed with the old one no longer work")


@console.post("/admin/settings/inapp/origins")
@admin_only
def settings_inapp_origins() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        try:
            origins = save_origins(s, str(request.form.get("origins") or ""), me.email, me.user_id)
        except InAppError as exc:
            abort(400, description=str(exc))
    return _back(f"In-app origins saved ({len(origins)})")


@console.post("/admin/settings/inapp/vapid")
@admin_only
def settings_inapp_vapid() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        try:
            generate_vapid(s, credential_cipher(), str(request.form.get("subject") or f"mailto:{me.email}"),
                           me.email, me.user_id)
        except InAppError as exc:
            abort(400, description=str(exc))
    return _back("New Web Push keys: browsers subscribe again the next time they enable notifications")
