"""Installs register Canary's webhook subscriptions: one caller (`subscribe`) for every vendor's
`WebhookSubscriber.subscribe_webhooks`, wherever a connection is saved (``canary connect``, the OAuth install,
``canary demo``).

The target is the app's ``PUBLIC_URL``. What the vendor answered is kept with the connection (its secrets
encrypted with the rest of its credentials); what it registered, what the admin must still do by hand, and any
problem are one ``connection.webhooks`` audit row (names, ids and steps, never a secret), which the console's
Connections page shows. A registration that fails never fails the install: the problem and the vendor's manual
steps are recorded instead. Running it again finds what it registered before and adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from cli.logs import register_secret
from integrations.base import Subscribed
from integrations.errors import CanaryIntegrationError
from integrations.registry import vendor
from store.audit import record_audit
from store.crypto import CredentialCipher
from store.db import Store
from store.models import AuditEvent, Connection

log = logging.getLogger("canary.webhooks")

ACTION = "connection.webhooks"
APP_CONFIG = ("HUBSPOT_APP_ID", "HUBSPOT_DEVELOPER_API_KEY", "HUBSPOT_CLIENT_SECRET")
"""App-wide settings the vendors' registrations read (HubSpot's are the app's, not a portal's)."""
SECRET_CONFIG = ("HUBSPOT_DEVELOPER_API_KEY", "HUBSPOT_CLIENT_SECRET")


@dataclass
class Subscription:
    """What `subscribe` did for one connection."""

    system: str
    registered: list[str] = field(default_factory=list)
    manual_steps: list[str] = field(default_factory=list)
    created: int = 0
    problem: str | None = None

    def lines(self) -> list[str]:
        """For a console: what sends webhooks now, what to do by hand, what went wrong."""
        out = [f"{self.system} webhooks: {item}" for item in self.registered]
        if self.problem:
            out.append(f"{self.system} webhooks could not be registered: {self.problem}")
        out += [f"{self.system} webhooks, to do by hand: {step}" for step in self.manual_steps]
        return out


def app_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    return {key: config.get(key) for key in APP_CONFIG if config.get(key)}


def subscribe(store: Store, cipher: CredentialCipher, tenant_id: int, system: str, adapter: Any, *,
              public_url: str | None, app_config: Mapping[str, Any] | None = None, actor: str,
              account_ref: str | None = None) -> Subscription:
    """Register ``system``'s webhooks to ``public_url`` through ``adapter`` and record the outcome with the
    tenant's connection (which must be saved already). Never raises for the vendor's refusal or a network error:
    the problem and the manual steps are recorded instead."""
    spec = vendor(system).webhooks
    outcome = Subscription(system)
    answer = Subscribed()
    manual = [step.format(public=(public_url or "https://<canary>").rstrip("/"), account=account_ref or "<account>")
              for step in (spec.manual_steps if spec is not None else ())]
    if spec is None:
        return outcome
    if not public_url:
        outcome.problem = "PUBLIC_URL is not set: the vendor would not know where to send"
    elif not hasattr(adapter, "subscribe_webhooks"):
        outcome.problem = f"the {system} adapter cannot register webhooks"
    else:
        for key in SECRET_CONFIG:  # app-wide keys travel in URLs (HubSpot's hapikey): masked in any log line
            register_secret(str((app_config or {}).get(key) or "") or None)
        try:
            answer = adapter.subscribe_webhooks(public_url.rstrip("/"), app_config or {})
        except CanaryIntegrationError as exc:
            outcome.problem = str(exc)
        except Exception as exc:  # the install goes on; the error's text may hold a URL with a key: name it only
            outcome.problem = f"{type(exc).__name__} while registering"
            log.exception("%s webhooks: registering failed", system)
    outcome.registered, outcome.created = list(answer.registered), answer.created
    outcome.manual_steps = list(answer.manual_steps) or (manual if outcome.problem else [])
    with store.session(tenant_id) as session:
        conn = session.scalar(select(Connection).where(Connection.system == system))
        kept: dict[str, Any] = {}
        if conn is not None:
            kept = cipher.load(conn)
            merged = {**kept, **answer.credentials}
            if merged != kept:
                cipher.store(conn, merged)
                kept = merged
        has_secret = bool(kept.get(spec.secret_key)) or bool(
            spec.app_secret_config and (app_config or {}).get(spec.app_secret_config))
        if not has_secret and not any(spec.setup in step for step in outcome.manual_steps):
            outcome.manual_steps.append(f"Canary has no {system} webhook secret yet: {spec.setup}.")
        record_audit(session, actor, ACTION, system, registered=outcome.registered, created=outcome.created,
                     manual_steps=outcome.manual_steps, problem=outcome.problem,
                     settings=sorted(answer.credentials))
    if outcome.problem:
        log.warning("%s webhooks not registered for tenant %s: %s", system, tenant_id, outcome.problem)
    else:
        log.info("%s webhooks for tenant %s: %d registered (%d new or changed), %d manual steps", system, tenant_id,
                 len(outcome.registered), outcome.created, len(outcome.manual_steps))
    return outcome


def latest(session: Any, system: str) -> dict[str, Any] | None:
    """The last recorded registration of ``system`` in the session's tenant (the Connections page)."""
    row = session.scalar(select(AuditEvent).where(AuditEvent.action == ACTION, AuditEvent.target == system)
                         .order_by(AuditEvent.id.desc()))
    return dict(row.detail or {}) if row is not None else None
