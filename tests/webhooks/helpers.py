"""Signing deliveries as each vendor does, a workspace connected to all three, and a recorder of hand-overs."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from extensions import canary_store, credential_cipher
from integrations.hubspot.signatures import hubspot_v3_signature
from integrations.salesforce.webhooks import envelope
from integrations.zendesk.webhooks import signature as zendesk_signature
from store.models import Connection
from store.tenants import create_tenant
from sync.changes import Change

HUBSPOT_SECRET = "hubspot-webhook-client-secret"
ZENDESK_SECRET = "zendesk-webhook-signing-secret"
SALESFORCE_TOKEN = "salesforce-outbound-token-123"
PORTAL = "24681357"
APP_ID = "777001"
SUBDOMAIN = "acme-support"
ORG = "00D000000000001AAA"
INTEGRATION_USER = "005000000000001AAA"
ZENDESK_API_USER = "9001"


@dataclass
class Recorder:
    calls: list[tuple[int, list[Change]]] = field(default_factory=list)

    def __call__(self, app: Any, tenant_id: int, changes: Any) -> int:
        self.calls.append((tenant_id, list(changes)))
        return len(changes)

    @property
    def changes(self) -> list[Change]:
        return [c for _, batch in self.calls for c in batch]


def connect_workspace(app: Any, slug: str = "acme", portal: str = PORTAL, subdomain: str = SUBDOMAIN,
                      org: str = ORG) -> int:
    store, cipher = canary_store(app), credential_cipher(app)
    with store.session() as s:
        tenant, _ = create_tenant(s, slug, slug.title())
        tenant_id = tenant.id
    with store.session(tenant_id) as s:
        for system, ref, creds in [
            ("hubspot", portal, {"access_token": "x", "client_secret": HUBSPOT_SECRET, "app_id": APP_ID}),
            ("zendesk", subdomain, {"oauth_token": "x", "subdomain": subdomain, "webhook_secret": ZENDESK_SECRET,
                                    "api_user_id": ZENDESK_API_USER}),
            ("salesforce", org, {"access_token": "x", "instance_url": "https://acme.my.salesforce.com",
                                 "webhook_token": SALESFORCE_TOKEN, "integration_user_id": INTEGRATION_USER}),
        ]:
            conn = Connection(system=system, account_ref=ref)
            cipher.store(conn, creds)
            s.add(conn)
    return tenant_id


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def hubspot_event(event_id: int, kind: str = "company.propertyChange", object_id: int = 501, *,
                  portal: str = PORTAL, at: dt.datetime, **extra: Any) -> dict[str, Any]:
    return {"eventId": event_id, "subscriptionId": 11, "portalId": int(portal), "appId": int(APP_ID),
            "occurredAt": ms(at), "subscriptionType": kind, "attemptNumber": 0, "objectId": object_id,
            "changeSource": "CRM_UI", "sourceId": "userId:45", **extra}


def hubspot_post(client: Any, events: list[dict[str, Any]], *, at: dt.datetime, secret: str = HUBSPOT_SECRET,
                 timestamp: str | None = None) -> Any:
    body = json.dumps(events).encode()
    stamp = timestamp or str(ms(at))
    url = "http://localhost/webhooks/hubspot"
    sig = hubspot_v3_signature("POST", url, body, stamp, secret)
    return client.post("/webhooks/hubspot", data=body, content_type="application/json",
                       headers={"X-HubSpot-Request-Timestamp": stamp, "X-HubSpot-Signature-v3": sig})


def zendesk_event(event_id: str, kind: str = "organization.name_changed", record: str = "360001", *,
                  at: dt.datetime, event: dict[str, Any] | None = None) -> dict[str, Any]:
    noun = kind.split(".")[0]
    return {"type": f"zen:event-type:{kind}", "account_id": 10973248, "id": event_id,
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "zendesk_event_version": "2022-06-20",
            "subject": f"zen:{noun}:{record}", "detail": {"id": record}, "event": event or {}}


def zendesk_post(client: Any, payload: dict[str, Any], *, at: dt.datetime, secret: str = ZENDESK_SECRET,
                 subdomain: str = SUBDOMAIN, raw: bytes | None = None) -> Any:
    body = raw if raw is not None else json.dumps(payload).encode()
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return client.post(f"/webhooks/zendesk/{subdomain}", data=body, content_type="application/json",
                       headers={"X-Zendesk-Webhook-Signature": zendesk_signature(secret, stamp, body),
                                "X-Zendesk-Webhook-Signature-Timestamp": stamp})


def salesforce_body(notifications: list[tuple[str, str, str]], *, at: dt.datetime, org: str = ORG,
                    modified_by: str = "005000000000077AAA") -> bytes:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return envelope(org, "04k000000000001AAA", [
        (nid, sobject, {"Id": rid, "LastModifiedById": modified_by, "SystemModstamp": stamp})
        for nid, sobject, rid in notifications])


def salesforce_post(client: Any, body: bytes, token: str = SALESFORCE_TOKEN) -> Any:
    return client.post(f"/webhooks/salesforce?token={token}", data=body, content_type="text/xml; charset=utf-8",
                       headers={"SOAPAction": '""'})
