"""HubSpot's app-level webhook settings (v3 developer API) in the emulator, and which events they let out.

* ``GET/PUT/DELETE /webhooks/v3/{appId}/settings``: ``{targetUrl, throttling: {maxConcurrentRequests, period}}``
  (404 until set).
* ``GET/POST /webhooks/v3/{appId}/subscriptions``, ``GET/PATCH/DELETE /webhooks/v3/{appId}/subscriptions/{id}``:
  ``{id, eventType, propertyName (propertyChange), objectTypeId (object.*), active, createdAt, updatedAt}``.

Both take the developer account's API key as ``?hapikey=`` (not the portal's token) and name the app.
Events are sent for active subscriptions only, to the settings' ``targetUrl``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sandbox.hubspot.errors import HubSpotError, not_found, validation_error
from sandbox.hubspot.store import iso_ms

LEGACY_OBJECTS = ("contact", "company", "deal", "ticket")
ACTIONS = ("creation", "deletion", "propertyChange", "merge", "restore", "associationChange", "privacyDeletion")
OBJECT_TYPE_IDS = ("0-1", "0-2", "0-3", "0-5", "0-27")


class AppWebhooks:
    """One app's webhook settings and subscriptions (callers hold the store's lock)."""

    def __init__(self, app_id: int, now: Callable[[], datetime]) -> None:
        self.app_id = app_id
        self.now = now
        self.settings: dict[str, Any] | None = None
        self.subscriptions: dict[int, dict[str, Any]] = {}
        self.every_event = False
        """An admin's webhooks.json subscribing to everything (`HubSpotEmulator.admin_subscribe`)."""
        self._ids = itertools.count(1_000_001)

    def put_settings(self, body: Any) -> dict[str, Any]:
        target = body.get("targetUrl") if isinstance(body, dict) else None
        if not isinstance(target, str) or not target.startswith(("https://", "http://")):
            raise validation_error("targetUrl must be an http(s) URL")
        throttling = body.get("throttling") or {"maxConcurrentRequests": 10, "period": "SECONDLY"}
        stamp = iso_ms(self.now())
        created = self.settings["createdAt"] if self.settings else stamp
        self.settings = {"targetUrl": target, "throttling": throttling, "createdAt": created, "updatedAt": stamp}
        return dict(self.settings)

    def get_settings(self) -> dict[str, Any]:
        if self.settings is None:
            raise not_found("no webhook settings for this app")
        return dict(self.settings)

    def add(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise validation_error("the body is a subscription object")
        event_type, prop, type_id = body.get("eventType"), body.get("propertyName"), body.get("objectTypeId")
        noun, _, action = str(event_type or "").partition(".")
        if action not in ACTIONS or (noun not in LEGACY_OBJECTS and noun != "object"):
            raise validation_error(f"unknown eventType {event_type!r}")
        if noun == "object" and type_id not in OBJECT_TYPE_IDS:
            raise validation_error("object.* subscriptions need a supported objectTypeId")
        if action == "propertyChange" and not (isinstance(prop, str) and prop):
            raise validation_error("propertyChange subscriptions need a propertyName")
        key = (event_type, prop if action == "propertyChange" else None, type_id if noun == "object" else None)
        if any(self._key(s) == key for s in self.subscriptions.values()):
            raise HubSpotError(409, "CONFLICT", "a subscription for this event type and property already exists")
        stamp = iso_ms(self.now())
        row: dict[str, Any] = {"id": next(self._ids), "createdAt": stamp, "updatedAt": stamp,
                               "eventType": event_type, "active": bool(body.get("active", False))}
        if key[1] is not None:
            row["propertyName"] = prop
        if key[2] is not None:
            row["objectTypeId"] = type_id
        self.subscriptions[row["id"]] = row
        return dict(row)

    @staticmethod
    def _key(row: dict[str, Any]) -> tuple[Any, Any, Any]:
        return row["eventType"], row.get("propertyName"), row.get("objectTypeId")

    def subscription(self, subscription_id: int) -> dict[str, Any]:
        row = self.subscriptions.get(subscription_id)
        if row is None:
            raise not_found(f"no subscription {subscription_id}")
        return row

    def patch(self, subscription_id: int, body: Any) -> dict[str, Any]:
        row = self.subscription(subscription_id)
        if not isinstance(body, dict) or not isinstance(body.get("active"), bool):
            raise validation_error("PATCH takes {\"active\": true|false}")
        row.update(active=body["active"], updatedAt=iso_ms(self.now()))
        return dict(row)

    def match(self, noun: str, type_id: str, action: str, prop: str | None) -> int | None:
        """The id of the active subscription that lets this event out (1 for an admin's every-event setup)."""
        if self.settings is None:
            return None
        if self.every_event:
            return 1
        for row in self.subscriptions.values():
            if not row["active"]:
                continue
            if noun and row["eventType"] != f"{noun}.{action}":
                continue
            if not noun and (row["eventType"] != f"object.{action}" or row.get("objectTypeId") != type_id):
                continue
            if action == "propertyChange" and row.get("propertyName") != prop:
                continue
            return int(row["id"])
        return None
