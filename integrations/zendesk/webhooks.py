"""Zendesk webhooks into Canary: organization and user event subscriptions, ticket activity through a trigger.

One Zendesk webhook per connection, its endpoint naming the account: ``/webhooks/zendesk/<subdomain>``.

* Event subscriptions (``zen:event-type:organization.*``, ``zen:event-type:user.*``): one JSON event a
  request, ``{type, account_id, id (uuid), time, zendesk_event_version, subject: "zen:organization:<id>",
  detail: {id, ...}, event: {...}}``.
* Ticket activity comes from a trigger whose ``notification_webhook`` action posts the body Canary
  defines, `TICKET_BODY` (Zendesk fills the placeholders), on every ticket create or update.

Verification: ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(signing secret, timestamp + body)),
``X-Zendesk-Webhook-Signature-Timestamp`` an ISO 8601 instant no older than 5 minutes (and at most
`CLOCK_SKEW_S` ahead), compared in constant time. The signing secret is the webhook's
(``GET /api/v2/webhooks/{id}/signing_secret``), kept in the connection as ``webhook_secret``.

De-duplication: the event ``id``; for trigger bodies the ticket id and its update instant. Zendesk retries a
failed delivery a few times within minutes; keys are kept 24 h. Loop guard: organization events carry no
actor, and Canary writes only its own health fields (`integrations.zendesk.fields.VENDOR_FIELDS`), so a
``custom_field_changed`` event on one of those fields is Canary's own; trigger bodies carry
``{{current_user.id}}``, and a ticket change by the API user Canary connects as (``api_user_id``) is dropped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from integrations import hosts
from integrations.bounded_json import JSONRefused, loads_bounded
from integrations.errors import SignatureError
from integrations.replay import CLOCK_SKEW_S, replay_key
from integrations.values import iso_datetime
from integrations.webhooks import Delivery, MalformedDelivery, Replay, VendorEvent, header
from integrations.zendesk.fields import VENDOR_FIELDS

MAX_AGE_S = 300
RETRY_HORIZON_S = 24 * 3600.0
TICKET_SECRET_KEY = "ticket_webhook_secret"  # noqa: S105 - a credential's name
"""The trigger-connected webhook's signing secret (the events webhook's is the spec's ``webhook_secret``)."""
USER_KEY = "api_user_id"
"""The credential naming the user Canary connects as (`WebhookSpec.user_key`), the loop guard's."""
EVENT_TYPE = re.compile(r"zen:event-type:(organization|user)\.([a-z_]+)")
SUBJECT = re.compile(r"zen:(organization|user):([0-9]{1,20})")
OBJECTS = {"organization": "accounts", "user": "contacts"}
TICKET_EVENT = "canary:ticket"
TICKET_BODY = ('{"type": "canary:ticket", "ticket_id": "{{ticket.id}}", "organization_id": '
               '"{{ticket.organization.id}}", "updated_at": "{{ticket.updated_at_with_timestamp}}", '
               '"actor_id": "{{current_user.id}}"}')
"""The JSON the install's trigger posts for ticket activity (Zendesk's placeholders)."""
SUBSCRIPTIONS = ("zen:event-type:organization.created", "zen:event-type:organization.deleted",
                 "zen:event-type:organization.name_changed", "zen:event-type:organization.external_id_changed",
                 "zen:event-type:organization.tags_changed", "zen:event-type:organization.custom_field_changed",
                 "zen:event-type:user.created", "zen:event-type:user.deleted",
                 "zen:event-type:user.organization_added", "zen:event-type:user.organization_removed",
                 "zen:event-type:user.role_changed")
CANARY_FIELD_KEYS = frozenset(VENDOR_FIELDS.values())


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()).decode()


def accounts(delivery: Delivery) -> tuple[str, ...]:
    try:
        return (hosts.zendesk_subdomain(delivery.path_account or ""),)
    except hosts.InvalidHost:
        raise MalformedDelivery("the endpoint must name the Zendesk subdomain: /webhooks/zendesk/<subdomain>") from None


def verify(delivery: Delivery, credentials: Mapping[str, Any], *, now: float, scope: str | int,
           app_secret: str | None = None) -> Replay:
    """The signature checked with the events webhook's secret, or the ticket webhook's (each Zendesk webhook
    signs with its own: ``webhook_secret``, ``ticket_webhook_secret``)."""
    secret = credentials.get("webhook_secret")
    given = header(delivery, "X-Zendesk-Webhook-Signature")
    stamp = header(delivery, "X-Zendesk-Webhook-Signature-Timestamp")
    if not given or not stamp:
        raise SignatureError("missing X-Zendesk-Webhook-Signature or X-Zendesk-Webhook-Signature-Timestamp header")
    if not secret:
        raise SignatureError("this workspace's Zendesk webhook secret is not set")
    sent = iso_datetime(stamp) if len(stamp) <= 40 else None
    if sent is None:
        raise SignatureError("X-Zendesk-Webhook-Signature-Timestamp is not an ISO 8601 instant")
    sent_at = sent.timestamp()
    if now - sent_at > MAX_AGE_S:
        raise SignatureError(f"timestamp older than {MAX_AGE_S // 60} minutes: request refused")
    if sent_at - now > CLOCK_SKEW_S:
        raise SignatureError("timestamp is in the future: check the server clock")
    candidates = [signature(str(key), stamp, delivery.body)
                  for key in (secret, credentials.get(TICKET_SECRET_KEY)) if key]
    matches = [hmac.compare_digest(c.encode(), given.strip().encode()) for c in candidates]  # all compared
    if not any(matches):
        raise SignatureError("signature does not match the webhook's signing secret")
    expected = candidates[matches.index(True)]
    return Replay(replay_key("zendesk-webhook", scope, base64.b64decode(expected)), sent_at + MAX_AGE_S + CLOCK_SKEW_S)


def _body(delivery: Delivery) -> dict[str, Any]:
    try:
        body = loads_bounded(delivery.body, max_depth=16, max_bytes=1024 * 1024)
    except (JSONRefused, ValueError, UnicodeDecodeError) as exc:
        raise MalformedDelivery(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise MalformedDelivery("a Zendesk webhook body is one JSON object")
    return body


def _digits(value: Any, what: str) -> str:
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not text.isdigit() or len(text) > 20:
        raise MalformedDelivery(f"{what} must be a numeric id, not {value!r}")
    return text


def _canary_field(event: Any) -> bool:
    if not isinstance(event, dict):
        return False
    field = event.get("custom_field") or event.get("field")
    return isinstance(field, dict) and str(field.get("key") or "") in CANARY_FIELD_KEYS


def parse(delivery: Delivery, credentials: Mapping[str, Any], account: str) -> list[VendorEvent]:
    body = _body(delivery)
    kind_text = body.get("type")
    if kind_text == TICKET_EVENT:
        ticket = _digits(body.get("ticket_id"), "ticket_id")
        updated = iso_datetime(body.get("updated_at")) if isinstance(body.get("updated_at"), str) else None
        if updated is None:
            raise MalformedDelivery("a ticket body needs updated_at (an ISO 8601 instant)")
        actor = str(body.get("actor_id") or "")
        own = bool(actor) and actor == str(credentials.get(USER_KEY) or "")
        return [VendorEvent(f"ticket:{ticket}:{updated.isoformat()}", "tickets", ticket, "upsert", updated, None, own)]
    match = EVENT_TYPE.fullmatch(kind_text) if isinstance(kind_text, str) else None
    if match is None:
        raise MalformedDelivery(f"unknown event type {kind_text!r}: organization or user events, or {TICKET_EVENT}")
    event_id = body.get("id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 100:
        raise MalformedDelivery("the event needs its id")
    subject = SUBJECT.fullmatch(str(body.get("subject") or ""))
    if subject is None or subject.group(1) != match.group(1):
        raise MalformedDelivery("the event's subject must be zen:organization:<id> or zen:user:<id>")
    action = match.group(2)
    kind = "delete" if action == "deleted" else "upsert"
    time = body.get("time")
    occurred = iso_datetime(time) if isinstance(time, str) else None
    own = action == "custom_field_changed" and _canary_field(body.get("event"))
    return [VendorEvent(event_id, OBJECTS[match.group(1)], subject.group(2), kind, occurred, None, own)]
