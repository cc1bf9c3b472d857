"""What a vendor's webhook delivery is to Canary, before it knows the workspace: the shared shapes.

Each vendor package has a ``webhooks.py`` with the same four functions, declared on its descriptor as
a `integrations.registry.WebhookSpec`:

* ``accounts(delivery) -> tuple[str, ...]``: the vendor accounts the (unverified) delivery names, each
  checked strictly (HubSpot ``portalId``, the Salesforce ``OrganizationId``, the Zendesk subdomain in the
  endpoint's path); `MalformedDelivery` when it names none.
* ``verify(delivery, credentials, *, now, scope, app_secret) -> Replay | None``: the sender is the vendor
  (signature in constant time, a fresh timestamp), else `integrations.errors.SignatureError`. Returns the
  key under which this exact delivery is remembered so that a replay of it is refused (None when the
  vendor signs nothing and a resend must be acknowledged instead).
* ``parse(delivery, credentials, account) -> list[VendorEvent]``: the events of one vendor account, in
  Canary's object words, each with its de-duplication key and whether Canary's own write caused it;
  `MalformedDelivery` for a body that is not the vendor's shape.
* ``answer(accepted)`` / ``refusal(status, message)``: what the vendor expects back (JSON; SOAP for
  Salesforce outbound messages).

Pure: nothing here reads the store or Flask; `webhooks/` (the blueprint) does that.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass


class MalformedDelivery(ValueError):
    """A delivery whose body is not what the vendor sends; the message says what was wrong (400)."""


@dataclass(frozen=True)
class Delivery:
    method: str
    url: str
    """The full request URL as the vendor called it (HubSpot signs it)."""
    headers: Mapping[str, str]
    body: bytes
    path_account: str | None = None
    """The vendor account named in the endpoint's path (``/webhooks/zendesk/<subdomain>``), if any."""
    query: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Replay:
    """A delivery's replay key and until when (epoch seconds) it must be refused."""

    key: str
    expires_at: float


@dataclass(frozen=True)
class VendorEvent:
    """One change a delivery reports, in Canary's words (see `sync.changes.Change`)."""

    key: str
    """De-duplication key: the vendor's id of the event (HubSpot ``eventId``, Zendesk event ``id``,
    Salesforce notification ``Id``)."""
    object: str
    external_id: str
    kind: str = "upsert"
    occurred_at: dt.datetime | None = None
    merged_into: str | None = None
    own: bool = False
    """Made by Canary's own write-back (the loop guard drops it)."""


def json_answer(accepted: Mapping[str, int]) -> tuple[bytes, str]:
    return json.dumps(dict(accepted)).encode(), "application/json"


def json_refusal(status: int, message: str) -> tuple[bytes, str]:
    return json.dumps({"error": message}).encode(), "application/json"


def header(delivery: Delivery, name: str) -> str:
    """A request header, case-insensitively; empty when missing."""
    value = delivery.headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in delivery.headers.items() if k.lower() == lowered), "")
    return str(value)
