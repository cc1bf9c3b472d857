"""`canary connect`: connect a workspace to a system, or change one part of its connection.

A connection's credentials are one encrypted JSON object holding the API credentials (tokens,
instance URL, ...) and the panel settings (the Zendesk app's public key and installation id, the
Canvas consumer secret, the HubSpot client secret). ``canary connect`` merges what it is given
into what is stored: changing the token keeps the public key, and setting the public key keeps
the tokens. New or changed API credentials are checked with one call to the vendor first; panel
settings alone are stored without a call. Checked credentials are stored with the vendor user they
act as (one more call), which the webhooks' loop guard reads. Secrets are read from files or the environment (never
needed on the command line) and never printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from cli.pipeline import app_store, resolve_tenant
from extensions import credential_cipher
from integrations import hosts
from integrations.errors import AuthError, CanaryIntegrationError
from integrations.registry import VENDOR_NAMES, vendor, vendors
from store.audit import COMMAND_LINE
from store.db import Store
from store.models import Connection
from sync.connections import (
    ConnectionError_,
    account_owner,
    build_adapter,
    save_connection,
    with_connected_user,
)
from sync.subscriptions import app_settings, subscribe

_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


def _secret_text(path: Path | None, env_value: str | None, what: str) -> str | None:
    """A secret from a file (first line) or an environment variable; never from argv."""
    if path is not None:
        text = path.read_text(encoding="utf-8").strip()
    elif env_value:
        text = env_value.strip()
    else:
        return None
    if not text or any(ord(c) < 32 for c in text):
        raise click.BadParameter(f"the {what} must be one line of text")
    return text


def _public_key(path: Path) -> str:
    pem = path.read_text(encoding="utf-8").strip() + "\n"
    try:
        key = load_pem_public_key(pem.encode())
    except ValueError:
        raise click.BadParameter("not a PEM public key (-----BEGIN PUBLIC KEY-----)",
                                 param_hint="--app-public-key") from None
    if not isinstance(key, RSAPublicKey):
        raise click.BadParameter("Zendesk signs with RS256: the key must be an RSA public key",
                                 param_hint="--app-public-key")
    return pem


def _checked(check: Any, value: str | None, hint: str) -> str | None:
    if value is None:
        return None
    try:
        result: str = check(value)
    except hosts.InvalidHost as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None
    return result


def _existing(store: Store, tenant_id: int, system: str) -> tuple[dict[str, Any], str | None, str | None] | None:
    with store.session(tenant_id) as session:
        conn = session.scalar(select(Connection).where(Connection.system == system))
        if conn is None:
            return None
        return credential_cipher().load(conn), conn.base_url, conn.account_ref


def _check_api(system: str, credentials: dict[str, Any], base_url: str | None) -> dict[str, Any]:
    """``credentials`` once one call checked them, with the vendor user they act as (a second call; the
    webhooks' loop guard reads it, `sync.connections.with_connected_user`)."""
    try:
        adapter = build_adapter(system, credentials, base_url)
        adapter.check_connection()
        return with_connected_user(system, credentials, adapter)
    except ConnectionError_ as exc:
        raise click.ClickException(str(exc)) from exc
    except AuthError as exc:
        raise click.ClickException(f"{system} refused the credentials: {exc}") from exc
    except CanaryIntegrationError as exc:
        raise click.ClickException(f"{system} could not be reached: {exc}") from exc


def _subscribe(store: Store, tenant_id: int, system: str, credentials: dict[str, Any], base_url: str | None,
               ref: str | None) -> None:
    """Register the vendor's webhooks to ``PUBLIC_URL`` (`sync.subscriptions`); a failure is printed, not raised."""
    config = current_app.config
    outcome = subscribe(store, credential_cipher(), tenant_id, system, build_adapter(system, credentials, base_url),
                        public_url=config.get("PUBLIC_URL"), app_config=app_settings(config), actor=COMMAND_LINE,
                        account_ref=ref)
    for line in outcome.lines():
        click.echo(line)


def _panel_label(key: str) -> str:
    """What a panel setting is, in the words of the vendor it belongs to."""
    return next(label for descriptor in vendors() for k, label in descriptor.panel.settings if k == key)


def _panel_parts(system: str, options: dict[str, Any]) -> dict[str, Any]:
    parts: dict[str, Any] = {}
    if options["app_public_key"] is not None:
        parts["app_public_key"] = _public_key(options["app_public_key"])
    if options["app_installation_id"] is not None:
        parts["installation_id"] = options["app_installation_id"]
    consumer = _secret_text(options["canvas_consumer_secret_file"], options["canvas_consumer_secret_env"],
                            "Canvas consumer secret")
    if consumer is not None:
        parts["consumer_secret"] = consumer
    client_secret = _secret_text(options["client_secret_file"], options["client_secret_env"], "client secret")
    if client_secret is not None:
        parts["client_secret"] = client_secret
    spec = vendor(system).webhooks
    hook_secret = _secret_text(options["webhook_secret_file"], options["webhook_secret_env"], "webhook secret")
    if hook_secret is not None:
        if spec is None:
            raise click.UsageError(f"{system} sends Canary no webhooks")
        parts[spec.secret_key] = hook_secret
    webhook_key = spec.secret_key if spec is not None else None
    foreign = [_panel_label(k) for k in parts if k not in dict(vendor(system).panel.settings) and k != webhook_key]
    if foreign:
        raise click.UsageError(f"{', '.join(foreign)}: not a setting of a {system} connection")
    return parts


def _api_parts(system: str, options: dict[str, Any]) -> dict[str, Any]:
    """API credentials given; where the vendor's address is a credential, ``--url`` gives it too."""
    address = options["base_url"] if vendor(system).address_credential else None
    instance_url = options["instance_url"] or address
    return {k: v for k, v in {
        "subdomain": _checked(hosts.zendesk_subdomain, options["subdomain"], "--subdomain"),
        "email": options["email"], "token": options["token"], "access_token": options["access_token"],
        "instance_url": _checked(hosts.salesforce_instance_url, instance_url, "--instance-url"),
        "cert_path": options["ca_cert"],
    }.items() if v}


@click.command("connect", help="Connect a workspace to Salesforce, Zendesk or HubSpot, or change one part of "
                                "its connection (API credentials are checked with one call; everything is "
                                "stored encrypted; parts not given are kept).")
@click.argument("system", type=click.Choice(VENDOR_NAMES))
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@click.option("--url", "base_url", help="API base URL when it is not the vendor's default (e.g. the sandbox).")
@click.option("--subdomain", help="Zendesk subdomain.")
@click.option("--email", help="Zendesk agent e-mail (API token auth).")
@click.option("--token", envvar="CANARY_CONNECT_TOKEN", help="Zendesk API token (or env CANARY_CONNECT_TOKEN).")
@click.option("--access-token", envvar="CANARY_CONNECT_ACCESS_TOKEN",
              help="Salesforce session/access token or HubSpot private-app token (or env CANARY_CONNECT_ACCESS_TOKEN).")
@click.option("--instance-url", help="Salesforce instance URL (https://yourorg.my.salesforce.com).")
@click.option("--account-ref", help="The vendor account id (Salesforce org id, HubSpot portal id) for embeds.")
@click.option("--ca-cert", type=click.Path(exists=True, dir_okay=False), help="CA bundle for a test certificate.")
@click.option("--app-public-key", type=_FILE, help="Zendesk: PEM file with the Canary app's public key "
                                                   "(signed URLs of the sidebar panel).")
@click.option("--app-installation-id", type=click.IntRange(min=1),
              help="Zendesk: the Canary app's installation id in this account.")
@click.option("--canvas-consumer-secret-file", type=_FILE,
              help="Salesforce: file holding the Canvas connected app's consumer secret "
                   "(or env CANARY_CONNECT_CANVAS_CONSUMER_SECRET).")
@click.option("--client-secret-file", type=_FILE,
              help="HubSpot: file holding the app's client secret, which signs the card's requests "
                   "(or env CANARY_CONNECT_CLIENT_SECRET).")
@click.option("--webhook-secret-file", type=_FILE,
              help="File holding the webhook secret: Zendesk's signing secret, Salesforce's outbound-message "
                   "endpoint token, HubSpot's client secret (or env CANARY_CONNECT_WEBHOOK_SECRET).")
@with_appcontext
def connect(system: str, tenant_slug: str | None, account_ref: str | None, **options: Any) -> None:
    options["webhook_secret_env"] = os.environ.get("CANARY_CONNECT_WEBHOOK_SECRET")
    options["canvas_consumer_secret_env"] = os.environ.get("CANARY_CONNECT_CANVAS_CONSUMER_SECRET")
    options["client_secret_env"] = os.environ.get("CANARY_CONNECT_CLIENT_SECRET")
    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    panel = _panel_parts(system, options)
    api = _api_parts(system, options)
    uses_base_url = vendor(system).address_credential is None
    base_url = _checked(hosts.base_url, options["base_url"], "--url") if uses_base_url else None
    ref = _checked(vendor(system).account_ref, account_ref, "--account-ref") or api.get("subdomain")
    existing = _existing(store, tenant.id, system)
    if existing is None and not api:
        raise click.ClickException(f"workspace {tenant.slug!r} has no {system} connection yet: connect its API "
                                   "first (install the app, or give its credentials here)")
    stored, stored_base_url, stored_ref = existing or ({}, None, None)
    credentials = {**stored, **api, **panel}
    base_url = base_url if options["base_url"] is not None else stored_base_url
    ref = ref or stored_ref
    if not (api or panel or base_url != stored_base_url or ref != stored_ref):
        raise click.UsageError("nothing to change: give credentials or panel settings")
    if existing is None or api or base_url != stored_base_url:
        credentials = _check_api(system, credentials, base_url)
    owner = account_owner(store, system, ref)
    if owner is not None and owner[0] != tenant.id:
        raise click.ClickException(f"{system} account {ref!r} is already connected to workspace {owner[1]!r}; "
                                   "a vendor account belongs to one workspace (nothing was changed)")
    with store.session(tenant.id) as session:
        save_connection(session, credential_cipher(), system, credentials, base_url=base_url, account_ref=ref,
                        actor=COMMAND_LINE)
    if existing is None or api or base_url != stored_base_url:  # new API credentials: (re)register webhooks
        _subscribe(store, tenant.id, system, credentials, base_url, ref)
    if existing is None:
        click.echo(f"Connected {system} to workspace {tenant.slug!r} (credentials stored encrypted).")
        return
    spec = vendor(system).webhooks
    changed = [("webhook secret" if spec is not None and k == spec.secret_key and k not in dict(
        vendor(system).panel.settings) else _panel_label(k)) for k in panel] + (["API credentials"] if api else [])
    click.echo(f"Updated the {system} connection of workspace {tenant.slug!r}: "
               f"{', '.join(changed) or 'address'} (stored encrypted; everything else kept).")
