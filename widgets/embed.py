"""Embedded health panels for Zendesk, Salesforce and HubSpot.

Every entry point verifies the vendor's signature before it trusts anything in the
request, finds the tenant from the vendor account the verified request names, and reads
only inside that tenant's scoped session — a valid request for tenant A can never reach
tenant B's accounts.

- Zendesk (signed URLs): Zendesk POSTs a ZAF JWT (RS256) to ``/widgets/zendesk/sidebar``.
  The page answered carries a short-lived panel session; its script asks the ZAF client
  which organization is in view and loads ``/widgets/zendesk/panel`` with that session.
- Salesforce (Canvas): Salesforce POSTs ``signed_request`` (HMAC-SHA256 with the connected
  app's consumer secret) to ``/widgets/salesforce/canvas``; the record in context is shown.
- HubSpot (app card): the card calls ``/widgets/hubspot/card`` with ``hubspot.fetch``,
  signed with ``X-HubSpot-Signature-v3``; the answer is JSON for the React card, with a
  ``full_view_url`` the card opens in HubSpot's iframe modal: ``/widgets/hubspot/full``
  with a short-lived token naming the tenant and the company (nothing else is trusted).

Failures answer 401 with a JSON ``{"error": ...}`` that says what was wrong, never a secret.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from extensions import canary_store, credential_cipher, replay_guard
from integrations import hosts
from integrations.errors import SignatureError
from integrations.registry import vendor as vendor_of
from store import panel_views
from store.crypto import CredentialCipher
from store.models import Connection
from widgets.health import AccountHealthView, view_from_payload
from widgets.sparkline import sparkline_svg

embed = Blueprint("embed", __name__, url_prefix="/widgets")

SESSION_SALT = "canary-widget-session"
SESSION_MAX_AGE_S = 15 * 60
PANEL_ANSWER = "canary.panel_answer"
"""WSGI environ key: set when a panel request was answered from a current view — (view key, variant, vendor)
— so `widgets.fastpath` may keep the whole answer for the next request that finds the same view."""


def _csp(vendor: str | None) -> str:
    ancestors = "'none'"
    if vendor is not None:
        extra = current_app.config.get("WIDGET_FRAME_ANCESTORS_EXTRA", [])
        ancestors = " ".join([*vendor_of(vendor).panel.frame_ancestors, *extra])
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}")


def _with_headers(response: Response, vendor: str | None) -> Response:
    response.headers["Content-Security-Policy"] = _csp(vendor)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _unauthorized(message: str, vendor: str | None) -> Response:
    response = jsonify({"error": message})
    response.status_code = 401
    return _with_headers(response, vendor)


def _not_found(message: str, vendor: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = 404
    return _with_headers(response, vendor)


def _connection(system: str, account_ref: str) -> tuple[int, dict[str, Any]] | None:
    """(tenant id, decrypted credentials) of the connection for this vendor account.

    ``account_ref`` comes from an unverified request: anything that is not a well-formed account
    id of ``system`` (a NUL byte, a newline, 60 KB of text) finds nothing, without a query.
    """
    try:
        account_ref = vendor_of(system).account_ref(account_ref)
    except hosts.InvalidHost:
        return None
    with canary_store().session() as session:
        row = session.execute(select(Connection.tenant_id, Connection.credentials_encrypted).where(
            Connection.system == system, Connection.account_ref == account_ref)).first()
    if row is None:
        return None
    return row[0], dict(_decrypted(credential_cipher(), bytes(row[1])))


@lru_cache(maxsize=256)
def _decrypted(cipher: CredentialCipher, ciphertext: bytes) -> dict[str, Any]:
    """A connection's credentials, decrypted once per process for each stored ciphertext (new credentials
    are a new ciphertext; the cache holds nothing a process did not already decrypt)."""
    return cipher.decrypt(ciphertext)


def _serializer() -> URLSafeTimedSerializer:
    """The panel sessions' signer, made once per app (and again if its secret key is changed)."""
    key = current_app.config["SECRET_KEY"]
    cached = current_app.extensions.get("canary_panel_serializer")
    if cached is None or cached[0] != key:
        cached = (key, URLSafeTimedSerializer(key, salt=SESSION_SALT))
        current_app.extensions["canary_panel_serializer"] = cached
    return cast(URLSafeTimedSerializer, cached[1])


def _today(app: Any = None) -> dt.date:
    override = (app or current_app).config.get("WIDGET_TODAY")
    return dt.date.fromisoformat(override) if override else dt.datetime.now(dt.UTC).date()


class _PanelCache:
    """Per process: each prepared view decoded once and each variant rendered once, keyed by the view's
    (tenant, account, version, epoch, day) — under one key a view's content never changes."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self.secret: Any = None
        self.entries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Any:
        with self.lock:
            value = self.entries.get(key)
            if value is not None:
                self.entries.move_to_end(key)
            return value

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


def _panel_cache(app: Any = None) -> _PanelCache:
    extensions = (app or current_app).extensions
    cache = extensions.get("canary_panel_cache")
    if cache is None:
        cache = extensions.setdefault("canary_panel_cache", _PanelCache())
    return cast(_PanelCache, cache)


def panel_view(tenant_id: int, system: str, external_id: str) -> tuple[tuple[Any, ...], AccountHealthView] | None:
    """The view of the account a vendor record is linked to: one indexed read of its prepared view, built
    and stored first when there is none for today (a fresh install, or a change since)."""
    today = _today()
    store = canary_store()
    found = panel_views.lookup(store.engine, tenant_id, system, external_id, today)
    if found is None:
        return None
    cache = _panel_cache()
    if found.payload is not None:
        entry = cache.get(found.key)
        if entry is None:
            entry = {"view": view_from_payload(panel_views.decode(found.payload))}
            cache.put(found.key, entry)
        return found.key, entry["view"]
    with store.session(tenant_id) as session:
        built = panel_views.refresh(session, [found.account_id], today).get(found.account_id)
    if built is None:
        return None
    key, payload = built
    entry = {"view": view_from_payload(panel_views.decode(payload))}
    cache.put(key, entry)
    return key, entry["view"]


def render_panel(tenant_id: int, system: str, external_id: str, variant: str, vendor: str) -> Response:
    found = panel_view(tenant_id, system, external_id)
    if found is None:
        response = Response(render_template("widgets/not_linked.html", system=system, external_id=external_id),
                            status=404)
        return _with_headers(response, vendor)
    key, view = found
    entry = _panel_cache().get(key) or {}
    html = entry.get(variant)
    if html is None:
        width = 292 if variant == "compact" else 760
        svg = sparkline_svg(view.points, width=width, height=48 if variant == "compact" else 80)
        html = render_template("widgets/panel.html", view=view, sparkline=svg, variant=variant)
        entry[variant] = html
    request.environ[PANEL_ANSWER] = (key, variant, vendor)
    return _with_headers(Response(html), vendor)


# --- Zendesk ------------------------------------------------------------------------


def _dig(value: Any, *keys: str) -> Any:
    """``value[k1][k2]...`` through JSON objects only; None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _secret(credentials: dict[str, Any], key: str, system: str) -> str:
    value = credentials.get(key)
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value):
        raise SignatureError(f"this workspace's panel is not set up yet ({key} is missing): "
                             f"{vendor_of(system).panel.setup}")
    return str(value)


@embed.post("/zendesk/sidebar")
def zendesk_sidebar() -> Response:
    from integrations.zendesk.signatures import unverified_jwt_part

    token = request.form.get("token", "")
    if not token:
        return _unauthorized("missing token: install the Canary app with signed URLs enabled", "zendesk")
    try:
        issuer = unverified_jwt_part(token, 1).get("iss")
        subdomain = issuer.split(".", 1)[0] if isinstance(issuer, str) else ""
        found = _connection("zendesk", subdomain) if subdomain else None
        if found is None:
            raise SignatureError("no Canary workspace is connected to this Zendesk account")
        tenant_id, credentials = found
        installation_id = _secret(credentials, "installation_id", "zendesk")
        audience = f"https://{subdomain}.zendesk.com/api/v2/apps/installations/{installation_id}.json"
        vendor_of("zendesk").panel.verify(token, public_key_pem=_secret(credentials, "app_public_key", "zendesk"),
                                          audience=audience, issuer=f"{subdomain}.zendesk.com",
                                          replay_guard=replay_guard(), replay_scope=tenant_id)
    except SignatureError as exc:
        return _unauthorized(str(exc), "zendesk")
    session_token = _serializer().dumps({"t": tenant_id, "v": "zendesk"})
    zaf_sdk = Path(embed.root_path, "static", "vendor", "zaf_sdk.min.js")
    html = render_template("widgets/zendesk_shell.html", session_token=session_token,
                           organization_id=request.args.get("organization_id", ""),
                           zaf_sdk_available=zaf_sdk.exists())
    return _with_headers(Response(html), "zendesk")


def _load_session(token: str) -> Any:
    """A panel session's data, or `BadSignature` / `SignatureExpired` as ``loads`` raises them.

    A token whose signature was checked once is remembered (per app and secret key, the last 4,096): a
    repeat only has its age checked, against the time it was signed."""
    cache = _session_cache(current_app)
    if cache.secret != current_app.config["SECRET_KEY"]:
        cache = current_app.extensions["canary_panel_sessions"] = _PanelCache(4096)
        cache.secret = current_app.config["SECRET_KEY"]
    known = known_session(current_app, token)
    if known is None:
        data, signed_at = _serializer().loads(token, max_age=SESSION_MAX_AGE_S, return_timestamp=True)
        cache.put((token,), (data, signed_at))
        return data
    return known[0]


def _session_cache(app: Any) -> _PanelCache:
    cache = app.extensions.get("canary_panel_sessions")
    return cast(_PanelCache, cache) if cache is not None else _PanelCache(0)


def known_session(app: Any, token: str) -> tuple[Any] | None:
    """A panel session whose signature this process checked before under the app's current key: its data
    (in a 1-tuple) once its age is checked, None when the token was never checked here (or under another key).

    Raises `SignatureExpired` when the session is older than `SESSION_MAX_AGE_S` (or dated in the future)."""
    cache = _session_cache(app)
    if cache.secret is None or cache.secret != app.config["SECRET_KEY"]:
        return None
    known = cache.get((token,))
    if known is None:
        return None
    data, signed_at = known
    age = (dt.datetime.now(dt.UTC) - signed_at).total_seconds()
    if age > SESSION_MAX_AGE_S or age < 0:
        raise SignatureExpired("the panel session expired")
    return (data,)


def _session_tenant(vendor: str) -> int | Response:
    auth = request.headers.get("Authorization", "")
    token = auth[7:] if auth.startswith("Bearer ") else ""
    if not token:
        return _unauthorized("missing panel session: open the panel from the Canary app", vendor)
    try:
        data = _load_session(token)
    except SignatureExpired:
        return _unauthorized("the panel session expired: reload the app", vendor)
    except BadSignature:
        return _unauthorized("the panel session is not valid", vendor)
    if not _session_for(data, vendor):
        return _unauthorized("the panel session is not valid", vendor)
    return int(data["t"])


def _session_for(data: Any, vendor: str) -> bool:
    """Whether a decoded panel session is one this app issued for ``vendor``'s panel (with a tenant)."""
    return isinstance(data, dict) and data.get("v") == vendor and isinstance(data.get("t"), int)


@embed.get("/zendesk/panel")
def zendesk_panel() -> Response:
    tenant = _session_tenant("zendesk")
    if isinstance(tenant, Response):
        return tenant
    organization_id = request.args.get("organization_id", "").strip()
    if not (organization_id.isascii() and organization_id.isdigit()):
        return _not_found("this ticket or user has no organization", "zendesk")
    variant = "full" if request.args.get("variant") == "full" else "compact"
    return render_panel(tenant, "zendesk", organization_id, variant, "zendesk")


# --- Salesforce ---------------------------------------------------------------------


@embed.post("/salesforce/canvas")
def salesforce_canvas() -> Response:
    from integrations.salesforce.signatures import decode_canvas_context

    signed = request.form.get("signed_request", "")
    if "." not in signed:
        return _unauthorized("missing or malformed signed_request", "salesforce")
    try:
        org_id = _dig(decode_canvas_context(signed.split(".", 1)[1]), "context", "organization", "organizationId")
        org_id = org_id if isinstance(org_id, str) else ""
        found = (_connection("salesforce", org_id[:15]) or _connection("salesforce", org_id)) if org_id else None
        if found is None:
            raise SignatureError("no Canary workspace is connected to this Salesforce org")
        tenant_id, credentials = found
        secret = _secret(credentials, "consumer_secret", "salesforce")
        context = vendor_of("salesforce").panel.verify(signed, secret, replay_guard=replay_guard(),
                                                       replay_scope=tenant_id)
    except SignatureError as exc:
        return _unauthorized(str(exc), "salesforce")
    record = _dig(context, "context", "environment", "record")
    record_id = str(_dig(record, "Id") or _dig(record, "id") or "")
    if not record_id:
        return _not_found("open Canary from an Account record", "salesforce")
    return render_panel(tenant_id, "salesforce", record_id, "full", "salesforce")


# --- HubSpot ------------------------------------------------------------------------


def _hubspot_portal() -> tuple[int, str]:
    """(tenant id, client secret) of the one portal the request names, or `SignatureError`."""
    portals = request.args.getlist("portalId")
    if len(portals) != 1:
        raise SignatureError("the request must name exactly one HubSpot portal")
    found = _connection("hubspot", portals[0]) if portals[0] else None
    if found is None:
        raise SignatureError("no Canary workspace is connected to this HubSpot account")
    tenant_id, credentials = found
    secret = credentials.get("client_secret") or current_app.config.get("HUBSPOT_CLIENT_SECRET")
    if not secret:
        raise SignatureError(f"HubSpot is not configured on this Canary: {vendor_of('hubspot').panel.setup}")
    return tenant_id, str(secret)


@embed.route("/hubspot/card", methods=["GET", "POST"])
def hubspot_card() -> Response:
    try:
        tenant_id, secret = _hubspot_portal()
        vendor_of("hubspot").panel.verify(
            request.method,
            request.url,
            request.get_data(),
            request.headers.get("X-HubSpot-Request-Timestamp", ""),
            request.headers.get("X-HubSpot-Signature-v3", ""),
            secret,
            replay_guard=replay_guard(),
            replay_scope=tenant_id,
        )
    except SignatureError as exc:
        return _unauthorized(str(exc), "hubspot")
    company_id = request.args.get("companyId", "") or request.args.get("hs_object_id", "")
    found = panel_view(tenant_id, "hubspot", company_id)
    if found is None:
        return _not_found("this company is not linked to a Canary account yet", "hubspot")
    token = _serializer().dumps({"t": tenant_id, "v": "hubspot", "c": company_id})
    full_view = f"{current_app.config['PUBLIC_URL'].rstrip('/')}/widgets/hubspot/full?token={token}"
    return _with_headers(jsonify({**found[1].as_dict(), "full_view_url": full_view}), "hubspot")


@embed.get("/hubspot/full")
def hubspot_full_view() -> Response:
    """The full panel in HubSpot's iframe modal, opened from the card with the token it was given.

    An iframe cannot send headers, so the token rides in the URL; it is signed, bound to one
    tenant and one company, expires with the panel session, and the page sends no referrer.
    """
    try:
        data = _load_session(request.args.get("token", ""))
    except SignatureExpired:
        return _unauthorized("this view expired: close it and open it again from the Canary card", "hubspot")
    except BadSignature:
        return _unauthorized("open the full view from the Canary card on a company record", "hubspot")
    if not _session_for(data, "hubspot") or not data.get("c"):
        return _unauthorized("open the full view from the Canary card on a company record", "hubspot")
    return render_panel(int(data["t"]), "hubspot", str(data["c"]), "full", "hubspot")
