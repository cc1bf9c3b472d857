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

import base64
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from integrations.errors import SignatureError
from store.db import Store
from store.models import Connection
from widgets.health import account_for_record, load_account_health

embed = Blueprint("embed", __name__, url_prefix="/widgets")

FRAME_ANCESTORS = {
    "zendesk": ["https://*.zendesk.com"],
    "salesforce": ["https://*.force.com", "https://*.lightning.force.com", "https://*.salesforce.com",
                   "https://*.visualforce.com"],
    "hubspot": ["https://app.hubspot.com", "https://app-eu1.hubspot.com", "https://app-na2.hubspot.com",
                "https://app-ap1.hubspot.com"],
}
SESSION_SALT = "canary-widget-session"
SESSION_MAX_AGE_S = 15 * 60


def _csp(vendor: str | None) -> str:
    ancestors = "'none'"
    if vendor is not None:
        extra = current_app.config.get("WIDGET_FRAME_ANCESTORS_EXTRA", [])
        ancestors = " ".join([*FRAME_ANCESTORS[vendor], *extra])
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


def _store() -> Store:
    store: Store = current_app.extensions["canary.store"]
    return store


def _connection(system: str, account_ref: str) -> tuple[int, dict[str, Any]] | None:
    """(tenant id, decrypted credentials) of the connection for this vendor account."""
    cipher = current_app.extensions["canary.cipher"]
    with _store().session() as session:
        conn = session.scalar(select(Connection).where(Connection.system == system,
                                                       Connection.account_ref == account_ref))
        if conn is None:
            return None
        return conn.tenant_id, cipher.load(conn)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SESSION_SALT)


def _today() -> dt.date:
    override = current_app.config.get("WIDGET_TODAY")
    return dt.date.fromisoformat(override) if override else dt.datetime.now(dt.UTC).date()


def render_panel(tenant_id: int, system: str, external_id: str, variant: str, vendor: str) -> Response:
    from widgets.sparkline import sparkline_svg

    with _store().session(tenant_id) as session:
        account_id = account_for_record(session, system, external_id)
        view = load_account_health(session, account_id, _today()) if account_id is not None else None
    if view is None:
        response = Response(render_template("widgets/not_linked.html", system=system, external_id=external_id),
                            status=404)
        return _with_headers(response, vendor)
    width = 292 if variant == "compact" else 760
    svg = sparkline_svg(view.points, width=width, height=48 if variant == "compact" else 80)
    html = render_template("widgets/panel.html", view=view, sparkline=svg, variant=variant)
    return _with_headers(Response(html), vendor)


# --- Zendesk ------------------------------------------------------------------------


def _unverified_claims(token: str) -> dict[str, Any]:
    try:
        payload = token.split(".")[1]
        padded = payload + "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (IndexError, ValueError) as exc:
        raise SignatureError("the token is not a JWT") from exc
    if not isinstance(claims, dict):
        raise SignatureError("the token is not a JWT")
    return claims


@embed.post("/zendesk/sidebar")
def zendesk_sidebar() -> Response:
    from integrations.zendesk.signatures import verify_zendesk_signed_url

    token = request.form.get("token", "")
    if not token:
        return _unauthorized("missing token: install the Canary app with signed URLs enabled", "zendesk")
    try:
        issuer = str(_unverified_claims(token).get("iss", ""))
        subdomain = issuer.split(".", 1)[0]
        found = _connection("zendesk", subdomain) if subdomain else None
        if found is None:
            raise SignatureError("no Canary workspace is connected to this Zendesk account")
        tenant_id, credentials = found
        audience = (f"https://{subdomain}.zendesk.com/api/v2/apps/installations/"
                    f"{credentials.get('installation_id')}.json")
        verify_zendesk_signed_url(token, public_key_pem=credentials["app_public_key"], audience=audience,
                                  issuer=f"{subdomain}.zendesk.com",
                                  replay_guard=current_app.extensions.get("canary.replay_guard"))
    except SignatureError as exc:
        return _unauthorized(str(exc), "zendesk")
    session_token = _serializer().dumps({"t": tenant_id, "v": "zendesk"})
    zaf_sdk = Path(embed.root_path, "static", "vendor", "zaf_sdk.min.js")
    html = render_template("widgets/zendesk_shell.html", session_token=session_token,
                           organization_id=request.args.get("organization_id", ""),
                           zaf_sdk_available=zaf_sdk.exists())
    return _with_headers(Response(html), "zendesk")


def _session_tenant(vendor: str) -> int | Response:
    auth = request.headers.get("Authorization", "")
    token = auth[7:] if auth.startswith("Bearer ") else ""
    if not token:
        return _unauthorized("missing panel session: open the panel from the Canary app", vendor)
    try:
        data = _serializer().loads(token, max_age=SESSION_MAX_AGE_S)
    except SignatureExpired:
        return _unauthorized("the panel session expired: reload the app", vendor)
    except BadSignature:
        return _unauthorized("the panel session is not valid", vendor)
    if not isinstance(data, dict) or data.get("v") != vendor or not isinstance(data.get("t"), int):
        return _unauthorized("the panel session is not valid", vendor)
    return int(data["t"])


@embed.get("/zendesk/panel")
def zendesk_panel() -> Response:
    tenant = _session_tenant("zendesk")
    if isinstance(tenant, Response):
        return tenant
    organization_id = request.args.get("organization_id", "").strip()
    if not organization_id.isdigit():
        return _not_found("this ticket or user has no organization", "zendesk")
    variant = "full" if request.args.get("variant") == "full" else "compact"
    return render_panel(tenant, "zendesk", organization_id, variant, "zendesk")


# --- Salesforce ---------------------------------------------------------------------


@embed.post("/salesforce/canvas")
def salesforce_canvas() -> Response:
    from integrations.salesforce.signatures import verify_canvas_signed_request

    signed = request.form.get("signed_request", "")
    if "." not in signed:
        return _unauthorized("missing or malformed signed_request", "salesforce")
    try:
        encoded = signed.split(".", 1)[1]
        unverified = json.loads(base64.b64decode(encoded + "=" * (-len(encoded) % 4)))
        org_id = str(unverified.get("context", {}).get("organization", {}).get("organizationId", ""))
        found = _connection("salesforce", org_id[:15]) or _connection("salesforce", org_id)
        if found is None:
            raise SignatureError("no Canary workspace is connected to this Salesforce org")
        tenant_id, credentials = found
        context = verify_canvas_signed_request(signed, credentials["consumer_secret"],
                                               replay_guard=current_app.extensions.get("canary.replay_guard"))
    except (ValueError, AttributeError) as exc:
        return _unauthorized(f"malformed signed_request: {exc.__class__.__name__}", "salesforce")
    except SignatureError as exc:
        return _unauthorized(str(exc), "salesforce")
    record = context.get("context", {}).get("environment", {}).get("record", {})
    record_id = str(record.get("Id") or record.get("id") or "")
    if not record_id:
        return _not_found("open Canary from an Account record", "salesforce")
    return render_panel(tenant_id, "salesforce", record_id, "full", "salesforce")


# --- HubSpot ------------------------------------------------------------------------


@embed.route("/hubspot/card", methods=["GET", "POST"])
def hubspot_card() -> Response:
    from integrations.hubspot.signatures import verify_hubspot_v3

    secret = current_app.config.get("HUBSPOT_CLIENT_SECRET")
    if not secret:
        return _unauthorized("HubSpot is not configured on this Canary (HUBSPOT_CLIENT_SECRET)", "hubspot")
    try:
        verify_hubspot_v3(
            request.method,
            request.url,
            request.get_data(),
            request.headers.get("X-HubSpot-Request-Timestamp", ""),
            request.headers.get("X-HubSpot-Signature-v3", ""),
            secret,
            replay_guard=current_app.extensions.get("canary.replay_guard"),
        )
    except SignatureError as exc:
        return _unauthorized(str(exc), "hubspot")
    portals = request.args.getlist("portalId")
    if len(portals) != 1:
        return _unauthorized("the request must name exactly one HubSpot portal", "hubspot")
    portal_id = portals[0]
    company_id = request.args.get("companyId", "") or request.args.get("hs_object_id", "")
    found = _connection("hubspot", portal_id) if portal_id else None
    if found is None:
        return _unauthorized("no Canary workspace is connected to this HubSpot account", "hubspot")
    tenant_id, _ = found
    with _store().session(tenant_id) as session:
        account_id = account_for_record(session, "hubspot", company_id)
        view = load_account_health(session, account_id, _today()) if account_id is not None else None
    if view is None:
        return _not_found("this company is not linked to a Canary account yet", "hubspot")
    token = _serializer().dumps({"t": tenant_id, "v": "hubspot", "c": company_id})
    full_view = f"{current_app.config['PUBLIC_URL'].rstrip('/')}/widgets/hubspot/full?token={token}"
    return _with_headers(jsonify({**view.as_dict(), "full_view_url": full_view}), "hubspot")


@embed.get("/hubspot/full")
def hubspot_full_view() -> Response:
    """The full panel in HubSpot's iframe modal, opened from the card with the token it was given.

    An iframe cannot send headers, so the token rides in the URL; it is signed, bound to one
    tenant and one company, expires with the panel session, and the page sends no referrer.
    """
    try:
        data = _serializer().loads(request.args.get("token", ""), max_age=SESSION_MAX_AGE_S)
    except SignatureExpired:
        return _unauthorized("this view expired: close it and open it again from the Canary card", "hubspot")
    except BadSignature:
        return _unauthorized("open the full view from the Canary card on a company record", "hubspot")
    if not isinstance(data, dict) or data.get("v") != "hubspot" or not isinstance(data.get("t"), int) \
            or not data.get("c"):
        return _unauthorized("open the full view from the Canary card on a company record", "hubspot")
    return render_panel(int(data["t"]), "hubspot", str(data["c"]), "full", "hubspot")


def init_app(app: Any, replay_guard_factory: Callable[[], Any] | None = None) -> None:
    """Register the blueprint and a replay guard (by default in the app's database, shared by all workers)."""
    from integrations.replay import StoreReplayGuard

    app.register_blueprint(embed)
    app.extensions["canary.replay_guard"] = (
        replay_guard_factory() if replay_guard_factory else StoreReplayGuard(app.extensions["canary.store"]))
