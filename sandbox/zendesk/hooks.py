"""Zendesk's Webhooks and Triggers APIs in the emulator: what Canary's install registers, and what decides
which webhook requests the emulator sends (`ZendeskHooks`).

* ``GET/POST /api/v2/webhooks`` (``filter[name_contains]``), ``GET/PATCH/PUT/DELETE /api/v2/webhooks/{id}``,
  ``GET /api/v2/webhooks/{id}/signing_secret``. A webhook either subscribes to event types
  (``zen:event-type:...``: POST and JSON only) or is connected to triggers (``["conditional_ticket_events"]``);
  its connection method cannot change. Ids are ULID-like strings; each webhook gets its own random signing secret.
* ``GET/POST /api/v2/triggers``, ``GET/PUT /api/v2/triggers/{id}``: an active trigger's
  ``notification_webhook`` action (``value: [webhook_id, body]``) posts the body, its placeholders filled
  (``{{ticket.id}}``, ``{{ticket.organization.id}}``, ``{{ticket.updated_at_with_timestamp}}``,
  ``{{current_user.id}}``), on every ticket create or update.

Organization and user events go only to active webhooks subscribed to that event type, signed with that
webhook's secret; ticket activity only through an active trigger to an active trigger-connected webhook.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

TICKET_EVENTS = "conditional_ticket_events"
EVENT_TYPES = ("zen:event-type:organization.created", "zen:event-type:organization.deleted",
               "zen:event-type:organization.name_changed", "zen:event-type:organization.external_id_changed",
               "zen:event-type:organization.tags_changed", "zen:event-type:organization.custom_field_changed",
               "zen:event-type:user.created", "zen:event-type:user.deleted",
               "zen:event-type:user.organization_added", "zen:event-type:user.organization_removed",
               "zen:event-type:user.role_changed")
"""The organization and user event types a webhook can subscribe to here."""
ADMIN_TICKET_BODY = ('{"type": "canary:ticket", "ticket_id": "{{ticket.id}}", "organization_id": '
                     '"{{ticket.organization.id}}", "updated_at": "{{ticket.updated_at_with_timestamp}}", '
                     '"actor_id": "{{current_user.id}}"}')
"""The body an admin following Canary's README gives the ticket trigger (Canary's ``TICKET_BODY``)."""
_ULID = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
WEBHOOK_FIELDS = ("name", "status", "endpoint", "http_method", "request_format", "subscriptions", "description")


class HookError(Exception):
    """A refusal in Zendesk's shape: (status, error, description)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


class ZendeskHooks:
    """The account's webhooks and triggers (thread safety: the emulator's lock is held by its callers)."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, str] = {}
        self.triggers: dict[int, dict[str, Any]] = {}
        self._webhook_numbers = itertools.count(1)
        self._trigger_ids = itertools.count(360_001_000_001)

    # -------------------------------------------------------------- webhooks

    def _stamp(self) -> str:
        return self.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    def create_webhook(self, body: Any, *, secret: str | None = None, by: str = "1") -> dict[str, Any]:
        values = _webhook_values(body, creating=True)
        number = next(self._webhook_numbers)
        webhook_id = "01" + "".join(_ULID[(number * 7 + i * 13) % 32] for i in range(22)) + f"{number:02d}"[-2:]
        stamp = self._stamp()
        row = {"id": webhook_id, "name": values["name"], "status": values.get("status", "active"),
               "endpoint": values["endpoint"], "http_method": values.get("http_method", "POST"),
               "request_format": values.get("request_format", "json"), "subscriptions": values["subscriptions"],
               "description": values.get("description"), "created_at": stamp, "created_by": by,
               "updated_at": stamp, "updated_by": by, "authentication": None, "custom_headers": {},
               "signing_secret": {"algorithm": "SHA256", "secret": None}}
        _check_method(row)
        self.webhooks[webhook_id] = row
        self.secrets[webhook_id] = secret or secrets.token_urlsafe(32)
        return dict(row)

    def webhook(self, webhook_id: str) -> dict[str, Any]:
        row = self.webhooks.get(webhook_id)
        if row is None:
            raise HookError(404, "RecordNotFound", "Not found")
        return row

    def update_webhook(self, webhook_id: str, body: Any, *, by: str = "1") -> None:
        row = self.webhook(webhook_id)
        values = _webhook_values(body, creating=False)
        updated = {**row, **values}
        if (TICKET_EVENTS in row["subscriptions"]) != (TICKET_EVENTS in updated["subscriptions"]):
            raise HookError(400, "InvalidValue", "A webhook's connection method cannot be changed")
        _check_method(updated)
        row.update(values, updated_at=self._stamp(), updated_by=by)

    def delete_webhook(self, webhook_id: str) -> None:
        self.webhook(webhook_id)
        del self.webhooks[webhook_id]
        self.secrets.pop(webhook_id, None)

    def list_webhooks(self, name_contains: str | None) -> list[dict[str, Any]]:
        wanted = (name_contains or "").casefold()
        return [dict(r) for r in self.webhooks.values() if wanted in r["name"].casefold()]

    # -------------------------------------------------------------- triggers

    def create_trigger(self, body: Any) -> dict[str, Any]:
        values = _trigger_values(body, creating=True)
        trigger_id = next(self._trigger_ids)
        stamp = self._stamp()
        row = {"id": trigger_id, "title": values["title"], "active": values.get("active", True),
               "conditions": values.get("conditions", {"all": [], "any": []}), "actions": values["actions"],
               "description": values.get("description"), "position": len(self.triggers) + 1,
               "category_id": None, "raw_title": values["title"], "default": False,
               "created_at": stamp, "updated_at": stamp}
        self._check_actions(row["actions"])
        self.triggers[trigger_id] = row
        return dict(row)

    def trigger(self, trigger_id: int) -> dict[str, Any]:
        row = self.triggers.get(trigger_id)
        if row is None:
            raise HookError(404, "RecordNotFound", "Not found")
        return row

    def update_trigger(self, trigger_id: int, body: Any) -> dict[str, Any]:
        row = self.trigger(trigger_id)
        values = _trigger_values(body, creating=False)
        if "actions" in values:
            self._check_actions(values["actions"])
        row.update(values, updated_at=self._stamp())
        return dict(row)

    def _check_actions(self, actions: list[dict[str, Any]]) -> None:
        for action in actions:
            if action.get("field") != "notification_webhook":
                continue
            value = action.get("value")
            if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
                raise HookError(422, "RecordInvalid", "notification_webhook takes [webhook_id, body]")
            webhook = self.webhooks.get(value[0])
            if webhook is None or TICKET_EVENTS not in webhook["subscriptions"]:
                raise HookError(422, "RecordInvalid",
                                "notification_webhook must name a webhook connected to triggers")

    # -------------------------------------------------------------- what is sent

    def event_targets(self, event_type: str) -> list[tuple[str, str, str]]:
        """(webhook id, endpoint, secret) of each active webhook subscribed to ``event_type``."""
        return [(w["id"], w["endpoint"], self.secrets[w["id"]]) for w in self.webhooks.values()
                if w["status"] == "active" and event_type in w["subscriptions"]]

    def ticket_targets(self, placeholders: dict[str, str]) -> list[tuple[str, str, str, bytes]]:
        """(webhook id, endpoint, secret, filled body) for each active trigger's webhook notification."""
        out = []
        for trigger in sorted(self.triggers.values(), key=lambda t: t["position"]):
            if not trigger["active"]:
                continue
            for action in trigger["actions"]:
                if action.get("field") != "notification_webhook":
                    continue
                webhook = self.webhooks.get(action["value"][0])
                if webhook is None or webhook["status"] != "active":
                    continue
                body = action["value"][1]
                for name, value in placeholders.items():
                    body = body.replace("{{" + name + "}}", value)
                out.append((webhook["id"], webhook["endpoint"], self.secrets[webhook["id"]], body.encode()))
        return out


def _object(body: Any, key: str) -> dict[str, Any]:
    values = body.get(key) if isinstance(body, dict) else None
    if not isinstance(values, dict):
        raise HookError(400, "InvalidValue", f"The request must carry a '{key}' object")
    return values


def _webhook_values(body: Any, *, creating: bool) -> dict[str, Any]:
    given = _object(body, "webhook")
    values = {k: given[k] for k in WEBHOOK_FIELDS if k in given}
    for key in ("name", "endpoint") if creating else ():
        if not isinstance(values.get(key), str) or not values[key]:
            raise HookError(400, "InvalidValue", f"{key} is required")
    if not str(values.get("endpoint", "https://")).startswith(("https://", "http://")):
        raise HookError(400, "InvalidValue", "endpoint must be an http(s) URL")
    if values.get("status", "active") not in ("active", "inactive"):
        raise HookError(400, "InvalidValue", "status is active or inactive")
    subscriptions = values.get("subscriptions", [] if creating else None)
    if subscriptions is not None:
        if not isinstance(subscriptions, list) or not all(isinstance(s, str) for s in subscriptions):
            raise HookError(400, "InvalidValue", "subscriptions is a list of event types")
        unknown = [s for s in subscriptions if s != TICKET_EVENTS and s not in EVENT_TYPES]
        if unknown:
            raise HookError(400, "InvalidValue", f"unknown subscriptions {unknown}")
        values["subscriptions"] = list(subscriptions)
    return values


def _check_method(row: dict[str, Any]) -> None:
    subscriptions = row["subscriptions"]
    if TICKET_EVENTS in subscriptions and len(subscriptions) > 1:
        raise HookError(400, "InvalidValue", "A webhook connected to triggers cannot subscribe to events")
    if subscriptions and TICKET_EVENTS not in subscriptions and (
            row["http_method"] != "POST" or row["request_format"] != "json"):
        raise HookError(400, "InvalidValue", "A webhook subscribed to events must use POST and json")


def _trigger_values(body: Any, *, creating: bool) -> dict[str, Any]:
    given = _object(body, "trigger")
    values: dict[str, Any] = {k: given[k] for k in ("title", "active", "conditions", "actions", "description")
                              if k in given}
    if creating and (not isinstance(values.get("title"), str) or not values["title"]):
        raise HookError(400, "InvalidValue", "title is required")
    if creating and not isinstance(values.get("actions"), list):
        raise HookError(400, "InvalidValue", "actions is required")
    return values


def dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))
