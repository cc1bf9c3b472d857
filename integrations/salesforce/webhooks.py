"""Salesforce outbound messages into Canary: SOAP ``notifications`` sent by a flow or workflow rule.

Why outbound messages and not Change Data Capture: they are a plain HTTPS push like Zendesk's and
HubSpot's webhooks (no long-lived gRPC Pub/Sub subscriber to run and resume by replay id), they work in
every edition that has workflow, and a self-hosted Canary needs nothing but its public URL. What they do
not carry: deletions and merges (a record-triggered flow runs on create and update); those still come
from the regular sync (``queryAll`` with ``IsDeleted`` / ``MasterRecordId``).

The body: ``notifications{OrganizationId, ActionId, SessionId, EnterpriseUrl, PartnerUrl,
Notification[<=100]{Id, sObject}}``, each sObject with the fields the message was set up to send — Canary
asks for ``Id``, ``LastModifiedById`` and ``SystemModstamp``. The sender carries no signature: the endpoint
URL holds a per-connection secret token (``/webhooks/salesforce?token=...``, compared in constant time
with the connection's ``webhook_token``), and the ``OrganizationId`` must be the connection's org.

Answers: ``notificationsResponse`` with ``<Ack>true</Ack>``; Salesforce resends an unacknowledged message
with backoff until it is 24 h old. A notification whose record was last modified more than 24 h ago
cannot be a genuine delivery and is refused as stale. A repeated notification ``Id`` (an acknowledgement
that was lost) is acknowledged again and handed over only once (de-duplicated for 24 h). Loop guard: a
record whose ``LastModifiedById`` is the integration user Canary connects as (``integration_user_id``)
was changed by Canary's write-back and is dropped.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from integrations import hosts
from integrations.errors import SignatureError
from integrations.values import iso_datetime
from integrations.webhooks import Delivery, MalformedDelivery, VendorEvent

RETRY_HORIZON_S = 24 * 3600.0
MAX_NOTIFICATIONS = 100
USER_KEY = "integration_user_id"
"""The credential naming the user Canary connects as (`WebhookSpec.user_key`), the loop guard's."""
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
SOBJECT = "urn:sobject.enterprise.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
OBJECTS = {"Account": "accounts", "Contact": "contacts", "Opportunity": "deals", "Case": "tickets", "Task": "tasks"}
FIELDS = ("Id", "LastModifiedById", "SystemModstamp")
"""The fields each outbound message sends."""
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_FORBIDDEN = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _root(delivery: Delivery) -> ElementTree.Element:
    if _FORBIDDEN.search(delivery.body):
        raise MalformedDelivery("document type declarations are not accepted")
    try:
        # no DOCTYPE (so no entity of any kind) is let through above; expat resolves nothing external
        root = ElementTree.fromstring(delivery.body)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise MalformedDelivery(f"the body is not XML: {exc}") from None
    notifications = root.find(f"{{{SOAP}}}Body/{{{OUTBOUND}}}notifications")
    if notifications is None:
        raise MalformedDelivery("not a SOAP envelope holding Salesforce outbound-message notifications")
    return notifications


def _text(element: ElementTree.Element, path: str) -> str:
    found = element.find(path)
    return (found.text or "").strip() if found is not None else ""


def accounts(delivery: Delivery) -> tuple[str, ...]:
    org = _text(_root(delivery), f"{{{OUTBOUND}}}OrganizationId")
    try:
        return (hosts.salesforce_org_id(org),)
    except hosts.InvalidHost:
        raise MalformedDelivery("OrganizationId is not a Salesforce org id") from None


def verify(delivery: Delivery, credentials: Mapping[str, Any], *, now: float, scope: str | int,
           app_secret: str | None = None) -> None:
    """The token in the endpoint URL must be the connection's, compared in constant time."""
    expected = str(credentials.get("webhook_token") or "")
    given = str((delivery.query or {}).get("token") or "")
    if not expected:
        raise SignatureError("this workspace's Salesforce outbound-message token is not set")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise SignatureError("the endpoint token does not match this org's connection")
    for notification in _root(delivery).findall(f"{{{OUTBOUND}}}Notification"):
        stamp = iso_datetime(_text(notification, f"{{{OUTBOUND}}}sObject/{{{SOBJECT}}}SystemModstamp"))
        if stamp is not None and now - stamp.timestamp() > RETRY_HORIZON_S:
            raise SignatureError("a notification is older than Salesforce's 24-hour resend window: refused as stale")
    return None


def _same_user(a: str, b: str) -> bool:
    return bool(a) and bool(b) and a[:15] == b[:15]


def parse(delivery: Delivery, credentials: Mapping[str, Any], account: str) -> list[VendorEvent]:
    notifications = _root(delivery)
    org = _text(notifications, f"{{{OUTBOUND}}}OrganizationId")
    if org[:15] != account[:15]:
        raise MalformedDelivery("OrganizationId is not this connection's org")
    items = notifications.findall(f"{{{OUTBOUND}}}Notification")
    if not items:
        raise MalformedDelivery("the message holds no Notification")
    if len(items) > MAX_NOTIFICATIONS:
        raise MalformedDelivery(f"more than {MAX_NOTIFICATIONS} notifications in one message")
    integration_user = str(credentials.get(USER_KEY) or "")
    out: list[VendorEvent] = []
    for item in items:
        key = _text(item, f"{{{OUTBOUND}}}Id")
        sobject = item.find(f"{{{OUTBOUND}}}sObject")
        if not key or sobject is None:
            raise MalformedDelivery("every Notification needs an Id and an sObject")
        kind_text = sobject.get(f"{{{XSI}}}type", "")
        target = OBJECTS.get(kind_text.rpartition(":")[2])
        record = _text(sobject, f"{{{SOBJECT}}}Id")
        if not _RECORD_ID.fullmatch(record):
            raise MalformedDelivery("every sObject needs its Id")
        if target is None:
            continue
        occurred: dt.datetime | None = iso_datetime(_text(sobject, f"{{{SOBJECT}}}SystemModstamp"))
        own = _same_user(_text(sobject, f"{{{SOBJECT}}}LastModifiedById"), integration_user)
        out.append(VendorEvent(key, target, record, "upsert", occurred, None, own))
    return out


def answer(accepted: Any) -> tuple[bytes, str]:
    return (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP}"><soapenv:Body>'
            f'<notificationsResponse xmlns="{OUTBOUND}"><Ack>true</Ack></notificationsResponse>'
            "</soapenv:Body></soapenv:Envelope>").encode(), "text/xml; charset=utf-8"


def refusal(status: int, message: str) -> tuple[bytes, str]:
    code = "soapenv:Client" if status < 500 else "soapenv:Server"
    return (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP}"><soapenv:Body>'
            f"<soapenv:Fault><faultcode>{code}</faultcode><faultstring>{escape(message)}</faultstring>"
            "</soapenv:Fault></soapenv:Body></soapenv:Envelope>").encode(), "text/xml; charset=utf-8"


def envelope(org_id: str, action_id: str, notifications: list[tuple[str, str, Mapping[str, str]]]) -> bytes:
    """An outbound message as Salesforce sends it: (notification id, sObject type, fields) each."""
    parts = [f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP}" '
             f'xmlns:xsi="{XSI}"><soapenv:Body><notifications xmlns="{OUTBOUND}">'
             f"<OrganizationId>{escape(org_id)}</OrganizationId><ActionId>{escape(action_id)}</ActionId>"
             '<SessionId xsi:nil="true"/>']
    for notification_id, sobject, fields in notifications:
        values = "".join(f"<sf:{k}>{escape(str(v))}</sf:{k}>" for k, v in fields.items())
        parts.append(f"<Notification><Id>{escape(notification_id)}</Id>"
                     f'<sObject xsi:type="sf:{sobject}" xmlns:sf="{SOBJECT}">{values}</sObject></Notification>')
    parts.append("</notifications></soapenv:Body></soapenv:Envelope>")
    return "".join(parts).encode()
