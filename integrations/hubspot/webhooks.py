"""HubSpot webhooks into Canary: batched JSON arrays of CRM events, signed with ``X-HubSpot-Signature-v3``.

HubSpot POSTs up to 100 events a request to the app's one target URL (``webhooks.json``):
``[{eventId, subscriptionId, portalId, appId, occurredAt (ms), subscriptionType, attemptNumber, objectId,
changeSource, sourceId, changeFlag, propertyName, propertyValue}]``; merges add ``primaryObjectId`` and
``mergedObjectIds``, association changes ``fromObjectId``/``toObjectId``. Verification is the panel's v3
check (`integrations.hubspot.signatures`: the client secret over method + URI (HubSpot's listed escapes
decoded) + body + timestamp, the timestamp a string of milliseconds no older than 5 minutes). A batch may
name several portals; each is the workspace whose connection's ``account_ref`` it is.

Events are de-duplicated on ``eventId`` for 24 h (HubSpot retries up to 10 times over 24 h, each attempt
signed afresh). The loop guard: an event whose ``sourceId`` is Canary's own app (the ``appId`` the event
was delivered to, or the connection's ``app_id``) was made by Canary's write-back and is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations import hosts
from integrations.bounded_json import JSONRefused, loads_bounded
from integrations.errors import SignatureError
from integrations.hubspot.signatures import verify_hubspot_v3
from integrations.replay import CLOCK_SKEW_S
from integrations.values import from_epoch_millis
from integrations.webhooks import Delivery, MalformedDelivery, Replay, VendorEvent, header

RETRY_HORIZON_S = 24 * 3600.0
MAX_EVENTS = 1000
OBJECTS = {"company": "accounts", "contact": "contacts", "deal": "deals", "ticket": "tickets", "task": "tasks"}
OBJECT_TYPE_IDS = {"0-1": "contacts", "0-2": "accounts", "0-3": "deals", "0-5": "tickets", "0-27": "tasks"}
KINDS = {"creation": "upsert", "propertyChange": "upsert", "restore": "upsert", "associationChange": "upsert",
         "deletion": "delete", "privacyDeletion": "delete", "merge": "merge"}


def _events(delivery: Delivery) -> list[dict[str, Any]]:
    try:
        body = loads_bounded(delivery.body, max_depth=8, max_bytes=1024 * 1024)
    except (JSONRefused, ValueError, UnicodeDecodeError) as exc:
        raise MalformedDelivery(f"the body is not JSON: {exc}") from None
    if not isinstance(body, list) or not all(isinstance(e, dict) for e in body):
        raise MalformedDelivery("a HubSpot webhook body is a JSON array of event objects")
    if not body:
        raise MalformedDelivery("the batch holds no events")
    if len(body) > MAX_EVENTS:
        raise MalformedDelivery(f"more than {MAX_EVENTS} events in one batch")
    return body


def _portal(event: Mapping[str, Any]) -> str:
    raw = event.get("portalId")
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise MalformedDelivery("every event needs a numeric portalId")
    try:
        return hosts.hubspot_portal_id(str(raw))
    except hosts.InvalidHost:
        raise MalformedDelivery("every event needs a numeric portalId") from None


def accounts(delivery: Delivery) -> tuple[str, ...]:
    """The portals the batch names, in first-seen order."""
    return tuple(dict.fromkeys(_portal(e) for e in _events(delivery)))


def verify(delivery: Delivery, credentials: Mapping[str, Any], *, now: float, scope: str | int,
           app_secret: str | None = None) -> Replay:
    secret = credentials.get("client_secret") or app_secret
    captured: list[Replay] = []

    class _Capture:
        def check_and_remember(self, key: str, expires_at: float) -> None:
            captured.append(Replay(key, expires_at))

    verify_hubspot_v3(delivery.method, delivery.url, delivery.body,
                      header(delivery, "X-HubSpot-Request-Timestamp"), header(delivery, "X-HubSpot-Signature-v3"),
                      str(secret or ""), replay_guard=_Capture(), replay_scope=scope, now=now)
    if not captured:
        raise SignatureError("signature could not be checked")
    return Replay(captured[0].key, max(captured[0].expires_at, now + CLOCK_SKEW_S))


def _id(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise MalformedDelivery(f"{what} must be a numeric id, not {value!r}")
    return str(value)


def _object_of(event: Mapping[str, Any]) -> tuple[str | None, str]:
    subscription = event.get("subscriptionType")
    if not isinstance(subscription, str) or "." not in subscription:
        raise MalformedDelivery("every event needs a subscriptionType such as company.propertyChange")
    prefix, _, action = subscription.partition(".")
    if prefix == "object":
        return OBJECT_TYPE_IDS.get(str(event.get("objectTypeId", ""))), action
    return OBJECTS.get(prefix), action


def parse(delivery: Delivery, credentials: Mapping[str, Any], account: str) -> list[VendorEvent]:
    """The events of portal ``account``; objects Canary does not keep (line items, products) are skipped."""
    own_apps = {str(credentials["app_id"])} if credentials.get("app_id") else set()
    out: list[VendorEvent] = []
    for event in _events(delivery):
        if _portal(event) != account:
            continue
        key = _id(event.get("eventId"), "eventId")
        target, action = _object_of(event)
        kind = KINDS.get(action)
        if target is None or kind is None:
            continue
        stamp = event.get("occurredAt")
        occurred = from_epoch_millis(stamp) if isinstance(stamp, int) and not isinstance(stamp, bool) else None
        source = str(event.get("sourceId") or "")
        own = bool(source) and source in (own_apps | ({str(event["appId"])} if event.get("appId") else set()))
        if kind == "merge":
            primary = _id(event.get("primaryObjectId"), "primaryObjectId")
            merged = event.get("mergedObjectIds")
            if not isinstance(merged, list) or not merged:
                raise MalformedDelivery("a merge event needs mergedObjectIds")
            out.extend(VendorEvent(key, target, _id(m, "mergedObjectIds"), "merge", occurred, primary, own)
                       for m in merged)
            out.append(VendorEvent(key, target, primary, "upsert", occurred, None, own))
            continue
        if action == "associationChange":
            record = _id(event.get("fromObjectId"), "fromObjectId")
        else:
            record = _id(event.get("objectId"), "objectId")
        out.append(VendorEvent(key, target, record, kind, occurred, None, own))
    return out
