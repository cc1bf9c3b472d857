"""Marketplace installs: ``/install/<vendor>`` → the vendor's consent page → ``/install/<vendor>/callback``.

The start step makes a PKCE verifier and a random ``state`` and keeps them in a signed,
short-lived, HttpOnly ``SameSite=Lax`` cookie (nothing server-side, no table). The callback
accepts the code only when the cookie verifies, is younger than `FLOW_MAX_AGE`, names the same
vendor and ``state``, and that state was not used before (the app's replay guard). Then it
trades the code for tokens, finds out which vendor account this is, asks the vendor which user the
token acts as (`Adapter.connected_user`: the webhooks' loop guard reads it), and creates or updates
the tenant and its `Connection` with the tokens encrypted. Every refusal is a 400 page that says
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

from extensions import canary_store, credential_cipher, replay_guard
from integrations import hosts
from integrations.errors import AuthError, CanaryIntegrationError, SignatureError
from integrations.oauth import (
    ConfigurationError,
    OAuthClient,
    OAuthError,
    TokenSet,
    authorize_url,
    client_from_config,
    exchange_code,
    new_pkce,
    new_state,
)
from integrations.registry import VENDOR_NAMES, Installation, UntrustedAnswer, vendors
from integrations.registry import vendor as vendor_of
from store.audit import changed_keys, record_audit
from store.crypto import CredentialCipher
from store.db import Store
from store.models import Connection, Tenant
from store.tenants import create_tenant
from sync.connections import ConnectionError_, build_adapter, with_connected_user
from sync.subscriptions import Subscription, app_settings, subscribe

log = logging.getLogger("canary.install")

install = Blueprint("install", __name__, url_prefix="/install", template_folder="templates")

FLOW_COOKIE = "canary_install"
FLOW_SALT = "canary-install-flow"
FLOW_MAX_AGE = 600
"""Seconds between the start of an install and its callback."""
_DIGITS = re.compile(r"[0-9]{1,20}")


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
    label = vendor_of(vendor).label if vendor in VENDOR_NAMES else vendor
    response = make_response(render_template("install/refused.html", vendor=label,
                                             message=message), status)
    response.delete_cookie(FLOW_COOKIE, path="/install/")
    return response


@install.get("/<vendor>")
def start(vendor: str) -> ResponseBase:
    if vendor not in VENDOR_NAMES:
        return _refusal(vendor, f"Canary installs into {_vendor_labels()}.", 404)
    spec = vendor_of(vendor).oauth
    subdomain = None
    if spec.subdomain is not None:
        try:
            subdomain = spec.subdomain(request.args.get("subdomain"))
        except hosts.InvalidHost as exc:
            return _refusal(vendor, f"Give your {vendor_of(vendor).label} subdomain: /install/{vendor}?subdomain="
                                    f"yourcompany: {exc}.")
    params = _install_params(vendor)
    if isinstance(params, Response):
        return params
    try:
        client = client_from_config(vendor, current_app.config, subdomain)
    except ConfigurationError as exc:
        return _refusal(vendor, str(exc), 503)
    verifier, challenge = new_pkce()
    state = new_state()
    flow = _serializer().dumps({"v": vendor, "s": state, "p": verifier, "d": subdomain, "i": params})
    response = redirect(authorize_url(client, redirect_uri=_redirect_uri(vendor), state=state,
                                      code_challenge=challenge))
    response.set_cookie(FLOW_COOKIE, flow, max_age=FLOW_MAX_AGE, path="/install/", httponly=True,
                        samesite="Lax", secure=current_app.config["PUBLIC_URL"].startswith("https://"))
    return response


def _vendor_labels() -> str:
    *first, last = (vendor_of(name).label for name in VENDOR_NAMES)
    return f"{', '.join(first)} or {last}"


def _install_params(vendor: str) -> dict[str, int] | Response:
    """The install's extra parameters (digits: the Zendesk app's ``installation_id``), or a refusal.

    A parameter of another vendor's install is refused, not ignored: it shows a wrong link.
    """
    params: dict[str, int] = {}
    for descriptor in vendors():
        for key, meaning in descriptor.oauth.install_params:
            value = request.args.get(key)
            if value is None:
                continue
            if descriptor.name != vendor or not _DIGITS.fullmatch(value):
                return _refusal(vendor, f"{key} is {meaning} (digits only).")
            params[key] = int(value)
    return params


@install.get("/<vendor>/callback")
def callback(vendor: str) -> Response:
    if vendor not in VENDOR_NAMES:
        return _refusal(vendor, f"Canary installs into {_vendor_labels()}.", 404)
    label = vendor_of(vendor).label
    try:
        flow = _checked_flow(vendor)
        client = client_from_config(vendor, current_app.config, flow["d"])
        tokens = exchange_code(client, code=request.args["code"], redirect_uri=_redirect_uri(vendor),
                               code_verifier=flow["p"])
        found = _identify(vendor, client, tokens, flow["d"])
        # install parameters the vendor's app named (the Zendesk sidebar's signed URLs need its installation id)
        params = flow.get("i")
        credentials = {**found.credentials, **(params if isinstance(params, dict) else {})}
        tenant = _save(vendor, found.account_ref, found.name, credentials, found.base_url)
        hooks = _subscribe(vendor, tenant["id"], found.account_ref, credentials, found.base_url)
    except InstallRefused as refused:
        log.warning("install refused: %s: %s", vendor, refused)
        return _refusal(vendor, str(refused), refused.status)
    except ConfigurationError as exc:
        return _refusal(vendor, str(exc), 503)
    except OAuthError as exc:
        log.warning("install failed: %s token exchange: %s", vendor, exc.error)
        return _refusal(vendor, f"{label} did not accept the authorization ({exc.error}). "
                                "Start the install again; if it fails again, check Canary's client id, "
                                "secret and callback URL in the app's settings at the vendor.",
                        400 if exc.status and exc.status < 500 else 502)
    log.info("installed %s for tenant %s (account %s)", vendor, tenant["slug"], found.account_ref)
    response = make_response(render_template("install/installed.html", vendor=label, system=vendor,
                                             tenant=tenant, account_ref=found.account_ref,
                                             panel_place=vendor_of(vendor).panel.place, hooks=hooks))
    response.delete_cookie(FLOW_COOKIE, path="/install/")
    return response


def _checked_flow(vendor: str) -> dict[str, Any]:
    """The flow the browser started here, or `InstallRefused` saying what is wrong."""
    if request.args.get("error"):
        error = re.sub(r"[^A-Za-z0-9_.-]", "", request.args["error"])[:64]
        raise InstallRefused(f"{vendor_of(vendor).label} did not grant access ({error}). Nothing was installed; "
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
        raise InstallRefused(f"{vendor_of(vendor).label} sent no authorization code. Start the install again.")
    try:
        replay_guard().check_and_remember(f"install:{state}", time.time() + FLOW_MAX_AGE)
    except SignatureError:
        raise InstallRefused("This install answer was already used. Start the install again.") from None
    return flow


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _identify(vendor: str, client: OAuthClient, tokens: TokenSet, subdomain: str | None) -> Installation:
    """The vendor account that consented (the vendor's descriptor checks its answer strictly)."""
    label = vendor_of(vendor).label
    try:
        return vendor_of(vendor).oauth.identify(client, tokens, subdomain)
    except UntrustedAnswer as exc:
        raise InstallRefused(f"{exc} Start the install again.", 502) from None
    except hosts.InvalidHost as exc:
        raise InstallRefused(f"{label}'s answer named an invalid account or host ({exc}). "
                             "Start the install again.", 502) from None


def _slug_for(session: Session, vendor: str, account_ref: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", account_ref.lower()).strip("-")
    stem = f"{vendor_of(vendor).oauth.slug_prefix}{stem}"[:56] or vendor
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
    store, cipher = canary_store(), credential_cipher()
    if not credentials.get(vendor_of(vendor).access_key):
        raise InstallRefused(f"{vendor_of(vendor).label} sent no access token. Start the install again.", 502)
    credentials = _with_connected_user(vendor, credentials, base_url)
    try:
        return _save_once(store, cipher, vendor, account_ref, name, credentials, base_url)
    except IntegrityError:  # a concurrent install of the same vendor account created it first: update that one
        return _save_once(store, cipher, vendor, account_ref, name, credentials, base_url)


def _subscribe(vendor: str, tenant_id: int, account_ref: str, credentials: dict[str, Any],
               base_url: str | None) -> Subscription:
    """Register the vendor's webhooks to ``PUBLIC_URL`` (`sync.subscriptions`): never fails the install."""
    store, cipher = canary_store(), credential_cipher()
    with store.session(tenant_id) as session:  # the saved connection: the install's keys and the kept ones
        conn = session.scalar(select(Connection).where(Connection.system == vendor))
        stored = cipher.load(conn) if conn is not None else credentials
    try:
        adapter = build_adapter(vendor, stored, base_url)
    except ConnectionError_ as exc:
        return Subscription(vendor, problem=str(exc))
    config = current_app.config
    return subscribe(store, cipher, tenant_id, vendor, adapter, public_url=config.get("PUBLIC_URL"),
                     app_config=app_settings(config), actor=f"{vendor_of(vendor).label} install",
                     account_ref=account_ref)


def _with_connected_user(vendor: str, credentials: dict[str, Any], base_url: str | None) -> dict[str, Any]:
    """The installed credentials with the vendor user the token acts as (one call with the new token; the
    webhooks' loop guard reads it), or `InstallRefused` when the vendor cannot be asked."""
    label = vendor_of(vendor).label
    try:
        return with_connected_user(vendor, credentials, build_adapter(vendor, credentials, base_url))
    except (AuthError, ConnectionError_) as exc:
        log.warning("install failed: %s refused the new token when asked who it acts as: %s", vendor, exc)
        raise InstallRefused(f"{label} refused Canary's new access token. Start the install again.", 502) from None
    except CanaryIntegrationError as exc:
        log.warning("install failed: %s could not say who the new token acts as: %s", vendor, exc)
        raise InstallRefused(f"{label} could not be asked which user Canary acts as. Start the install again.",
                             502) from None


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
        merged = {**kept, **credentials}
        record_audit(session, f"{vendor_of(vendor).label} install", "connection.install", vendor,
                     tenant_id=tenant.id, account_ref=account_ref, new_workspace=created,
                     settings=changed_keys({**kept, "base_url": connection.base_url},
                                           {**merged, "base_url": base_url}))
        connection.base_url = base_url
        connection.status = "active"
        cipher.store(connection, merged)
        return {"id": tenant.id, "slug": tenant.slug, "name": tenant.name, "created": created}
