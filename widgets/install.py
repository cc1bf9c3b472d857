"""Marketplace installs: ``/install/<vendor>`` → the vendor's consent page → ``/install/<vendor>/callback``.

The start step makes a PKCE verifier and a random ``state`` and keeps them in a signed,
short-lived, HttpOnly ``SameSite=Lax`` cookie (nothing server-side, no table). The callback
accepts the code only when the cookie verifies, is younger than `FLOW_MAX_AGE`, names the same
vendor and ``state``, and that state was not used before (the app's replay guard). Then it
trades the code for tokens, finds out which vendor account this is, and creates or updates the
tenant and its `Connection` with the tokens encrypted. Every refusal is a 400 page that says
what to do; nothing is stored before all checks have passed. Tokens, codes and secrets never
appear in a page or a log line.

Every input that names a host or account is checked whole (`integrations.hosts`): the Zendesk
subdomain a visitor types, and the org id, instance URL and hub id in the vendor's answers. A
Zendesk install started as ``/install/zendesk?subdomain=acme&installation_id=123`` (the Canary
app knows its installation id) stores that id for the sidebar panel; the app's public key is
not part of any OAuth answer and is set with ``canary connect zendesk --app-public-key FILE``.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from typing import Any

from flask import Blueprint, Response, current_app, make_response, redirect, render_template, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as ResponseBase

from integrations import hosts
from integrations.errors import SignatureError
from integrations.oauth import (
    ACCESS_KEY,
    VENDORS,
    ConfigurationError,
    OAuthClient,
    OAuthError,
    TokenSet,
    authorize_url,
    client_from_config,
    credentials_with,
    exchange_code,
    hubspot_token_info,
    new_pkce,
    new_state,
    salesforce_org_id,
    salesforce_signature_ok,
)
from integrations.replay import ReplayGuard
from store.crypto import CredentialCipher
from store.db import Store
from store.models import Connection, Tenant
from store.tenants import create_tenant

log = logging.getLogger("canary.install")

install = Blueprint("install", __name__, url_prefix="/install", template_folder="templates")

FLOW_COOKIE = "canary_install"
FLOW_SALT = "canary-install-flow"
FLOW_MAX_AGE = 600
"""Seconds between the start of an install and its callback."""
LABELS = {"salesforce": "Salesforce", "zendesk": "Zendesk", "hubspot": "HubSpot"}
_INSTALLATION_ID = re.compile(r"[0-9]{1,20}")


class InstallRefused(Exception):
    """Why an install cannot go on, in words for the admin (never a secret)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=FLOW_SALT)


def _redirect_uri(vendor: str) -> str:
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/install/{vendor}/callback"


def _refusal(vendor: str, message: str, status: int = 400) -> Response:
    response = make_response(render_template("install/refused.html", vendor=LABELS.get(vendor, vendor),
                                             message=message), status)
    response.delete_cookie(FLOW_COOKIE, path="/install/")
    return response


@install.get("/<vendor>")
def start(vendor: str) -> ResponseBase:
    if vendor not in VENDORS:
        return _refusal(vendor, "Canary installs into Salesforce, Zendesk or HubSpot.", 404)
    subdomain = None
    if vendor == "zendesk":
        try:
            subdomain = hosts.zendesk_subdomain(request.args.get("subdomain"))
        except hosts.InvalidHost as exc:
            return _refusal(vendor, f"Give your Zendesk subdomain: /install/zendesk?subdomain=yourcompany "
                                    f"(the part before .zendesk.com): {exc}.")
    installation_id = request.args.get("installation_id")
    if installation_id is not None and (vendor != "zendesk" or not _INSTALLATION_ID.fullmatch(installation_id)):
        return _refusal(vendor, "installation_id is the Zendesk app's installation number (digits only).")
    try:
        client = client_from_config(vendor, current_app.config, subdomain)
    except ConfigurationError as exc:
        return _refusal(vendor, str(exc), 503)
    verifier, challenge = new_pkce()
    state = new_state()
    flow = _serializer().dumps({"v": vendor, "s": state, "p": verifier, "d": subdomain,
                                "i": int(installation_id) if installation_id else None})
    response = redirect(authorize_url(client, redirect_uri=_redirect_uri(vendor), state=state,
                                      code_challenge=challenge))
    response.set_cookie(FLOW_COOKIE, flow, max_age=FLOW_MAX_AGE, path="/install/", httponly=True,
                        samesite="Lax", secure=current_app.config["PUBLIC_URL"].startswith("https://"))
    return response


@install.get("/<vendor>/callback")
def callback(vendor: str) -> Response:
    if vendor not in VENDORS:
        return _refusal(vendor, "Canary installs into Salesforce, Zendesk or HubSpot.", 404)
    try:
        flow = _checked_flow(vendor)
        client = client_from_config(vendor, current_app.config, flow["d"])
        tokens = exchange_code(client, code=request.args["code"], redirect_uri=_redirect_uri(vendor),
                               code_verifier=flow["p"])
        account_ref, name, credentials, base_url = _identify(vendor, client, tokens, flow["d"])
        if flow.get("i"):  # the Zendesk app named its installation: the sidebar panel's signed URLs need it
            credentials["installation_id"] = int(flow["i"])
        tenant = _save(vendor, account_ref, name, credentials, base_url)
    except InstallRefused as refused:
        log.warning("install refused: %s: %s", vendor, refused)
        return _refusal(vendor, str(refused), refused.status)
    except ConfigurationError as exc:
        return _refusal(vendor, str(exc), 503)
    except OAuthError as exc:
        log.warning("install failed: %s token exchange: %s", vendor, exc.error)
        return _refusal(vendor, f"{LABELS[vendor]} did not accept the authorization ({exc.error}). "
                                "Start the install again; if it fails again, check Canary's client id, "
                                "secret and callback URL in the app's settings at the vendor.",
                        400 if exc.status and exc.status < 500 else 502)
    log.info("installed %s for tenant %s (account %s)", vendor, tenant["slug"], account_ref)
    response = make_response(render_template("install/installed.html", vendor=LABELS[vendor], system=vendor,
                                             tenant=tenant, account_ref=account_ref))
    response.delete_cookie(FLOW_COOKIE, path="/install/")
    return response


def _checked_flow(vendor: str) -> dict[str, Any]:
    """The flow the browser started here, or `InstallRefused` saying what is wrong."""
    if request.args.get("error"):
        error = re.sub(r"[^A-Za-z0-9_.-]", "", request.args["error"])[:64]
        raise InstallRefused(f"{LABELS[vendor]} did not grant access ({error}). Nothing was installed; "
                             "start again and choose Allow.")
    raw = request.cookies.get(FLOW_COOKIE)
    if not raw:
        raise InstallRefused("This install was not started from this browser, or it was already finished. "
                             "Start it again from the beginning.")
    try:
        flow: dict[str, Any] = _serializer().loads(raw, max_age=FLOW_MAX_AGE)
    except SignatureExpired:
        raise InstallRefused("This install took longer than 10 minutes and expired. Start it again.") from None
    except BadSignature:
        raise InstallRefused("This install's state could not be verified. Start it again.") from None
    state = request.args.get("state", "")
    if flow.get("v") != vendor or not state or not _same(state, str(flow.get("s", ""))):
        raise InstallRefused("The answer does not belong to the install started in this browser "
                             "(state mismatch). Start it again.")
    if not request.args.get("code"):
        raise InstallRefused(f"{LABELS[vendor]} sent no authorization code. Start the install again.")
    try:
        _replay_guard().check_and_remember(f"install:{state}", time.time() + FLOW_MAX_AGE)
    except SignatureError:
        raise InstallRefused("This install answer was already used. Start the install again.") from None
    return flow


def _replay_guard() -> ReplayGuard:
    guard: ReplayGuard | None = current_app.extensions.get("canary.replay_guard")
    if guard is None:  # never silently without: a used state must stay used
        raise RuntimeError("no replay guard: create the app with app.create_app (widgets.embed.init_app)")
    return guard


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _identify(vendor: str, client: OAuthClient, tokens: TokenSet,
              subdomain: str | None) -> tuple[str, str, dict[str, Any], str | None]:
    """(account_ref, display name, credentials, base_url) of the vendor account that consented.

    Everything taken from the vendor's answer that names a host or an account is checked strictly.
    """
    answer = tokens.raw
    base: dict[str, Any] = {"cert_path": client.ca_cert} if client.ca_cert else {}
    try:
        if vendor == "salesforce":
            org_id = salesforce_org_id(answer)
            if not org_id or not salesforce_signature_ok(client, answer):
                raise InstallRefused("Salesforce's answer could not be verified (identity or signature). "
                                     "Start the install again.", 502)
            org_id = hosts.salesforce_org_id(org_id)
            hosts.salesforce_instance_url(answer.get("instance_url"))
            credentials = credentials_with(vendor, {**base, "org_id": org_id}, tokens)
            credentials["issued_at"] = answer.get("issued_at")
            return org_id, f"Salesforce org {org_id}", credentials, None
        if vendor == "zendesk":
            subdomain = hosts.zendesk_subdomain(subdomain)
            return subdomain, subdomain, credentials_with(vendor, {**base, "subdomain": subdomain}, tokens), \
                client.api_url
        info = hubspot_token_info(client, tokens.access_token)
        hub_id = hosts.hubspot_portal_id(info.get("hub_id"))
    except hosts.InvalidHost as exc:
        raise InstallRefused(f"{LABELS[vendor]}'s answer named an invalid account or host ({exc}). "
                             "Start the install again.", 502) from None
    credentials = credentials_with(vendor, {**base, "hub_id": hub_id}, tokens)
    return hub_id, hosts.display_name(info.get("hub_domain")) or f"HubSpot {hub_id}", credentials, client.api_url


def _slug_for(session: Session, vendor: str, account_ref: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", account_ref.lower()).strip("-")
    stem = {"salesforce": f"sf-{stem}", "hubspot": f"hub-{stem}"}.get(vendor, stem)[:56] or vendor
    stem = stem if len(stem) >= 2 else f"{vendor}-{stem}"
    slug, n = stem, 1
    while session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        n += 1
        slug = f"{stem}-{n}"
    return slug


def _save(vendor: str, account_ref: str, name: str, credentials: dict[str, Any],
          base_url: str | None) -> dict[str, Any]:
    """Create or update the tenant and its connection in one transaction; returns the tenant's slug/name.

    Keys stored earlier and not part of the install (e.g. a Zendesk app's public key) are kept.
    """
    store: Store = current_app.extensions["canary.store"]
    cipher: CredentialCipher = current_app.extensions["canary.cipher"]
    if not credentials.get(ACCESS_KEY[vendor]):
        raise InstallRefused(f"{LABELS[vendor]} sent no access token. Start the install again.", 502)
    try:
        return _save_once(store, cipher, vendor, account_ref, name, credentials, base_url)
    except IntegrityError:  # a concurrent install of the same vendor account created it first: update that one
        return _save_once(store, cipher, vendor, account_ref, name, credentials, base_url)


def _save_once(store: Store, cipher: CredentialCipher, vendor: str, account_ref: str, name: str,
               credentials: dict[str, Any], base_url: str | None) -> dict[str, Any]:
    with store.session() as session:
        connection = session.scalar(select(Connection).where(Connection.system == vendor,
                                                             Connection.account_ref == account_ref)
                                    .with_for_update())
        if connection is None:
            tenant, _write_key = create_tenant(session, _slug_for(session, vendor, account_ref), name[:200])
            connection = Connection(tenant_id=tenant.id, system=vendor, account_ref=account_ref)
            session.add(connection)
            kept: dict[str, Any] = {}
            created = True
        else:
            tenant = session.get_one(Tenant, connection.tenant_id)
            kept = cipher.load(connection)
            created = False
        connection.base_url = base_url
        connection.status = "active"
        cipher.store(connection, {**kept, **credentials})
        return {"slug": tenant.slug, "name": tenant.name, "created": created}
