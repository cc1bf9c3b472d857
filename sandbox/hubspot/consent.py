"""Communication preferences (v3): the portal's subscription types and each address's status in them.

``GET /communication-preferences/v3/definitions`` lists the subscription types (a portal starts with
HubSpot's defaults: marketing information, one-to-one, customer service communication);
``POST /communication-preferences/v3/unsubscribe`` (``emailAddress``, ``subscriptionId``, optional
``legalBasis`` and ``legalBasisExplanation``) opts one address out of one type and answers the new
status; ``GET /communication-preferences/v3/status/email/{emailAddress}`` lists an address's statuses.
Errors as HubSpot gives them: a body without the two required attributes, an address that is not one,
an unknown or inactive type and a legal basis out of the list are 400 ``VALIDATION_ERROR``; an address
already opted out of the type is a 400 naming it (HubSpot will not unsubscribe twice).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.hubspot.errors import validation_error

LEGAL_BASES = ("LEGITIMATE_INTEREST_PQL", "LEGITIMATE_INTEREST_CLIENT", "PERFORMANCE_OF_CONTRACT",
               "CONSENT_WITH_NOTICE", "NON_GDPR", "PROCESS_AND_STORE", "LEGITIMATE_INTEREST_OTHER")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def default_definitions(created: str) -> list[dict[str, Any]]:
    """HubSpot's default email subscription types of a new portal."""
    rows = (("Marketing Information", "Marketing offers and updates.", "Marketing"),
            ("One to One", "One to one emails", "Sales"),
            ("Customer Service Communication", "Feedback requests and service updates.", "Customer Service"))
    return [{"id": str(1_000_001 + n), "name": name, "description": text, "purpose": purpose,
             "communicationMethod": "Email", "isActive": True, "isDefault": True, "isInternal": False,
             "createdAt": created, "updatedAt": created, "businessUnitId": 0}
            for n, (name, text, purpose) in enumerate(rows)]


@dataclass
class Preferences:
    definitions: list[dict[str, Any]]
    opted_out: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(lower-case address, subscription id) -> the status row written by an unsubscribe."""

    def definition(self, subscription_id: str) -> dict[str, Any] | None:
        return next((d for d in self.definitions if d["id"] == subscription_id), None)

    def unsubscribe(self, body: dict[str, Any]) -> dict[str, Any]:
        missing = [k for k in ("emailAddress", "subscriptionId") if body.get(k) in (None, "")]
        if missing:
            raise validation_error("Invalid input JSON on line 1, column 2: Cannot build "
                                   "PublicUpdateSubscriptionStatusRequest, some of required attributes are not set "
                                   f"[{', '.join(missing)}]")
        address = str(body["emailAddress"]).strip()
        if not EMAIL.match(address):
            raise validation_error(f"Invalid email address: {address}")
        subscription_id = str(body["subscriptionId"])
        definition = self.definition(subscription_id)
        if definition is None or not definition["isActive"]:
            raise validation_error(f"Subscription id {subscription_id} does not exist or is not active")
        legal_basis = body.get("legalBasis")
        if legal_basis is not None and legal_basis not in LEGAL_BASES:
            raise validation_error(f"Invalid legal basis: {legal_basis}")
        key = (address.lower(), subscription_id)
        if key in self.opted_out:
            raise validation_error(f"{address} is already unsubscribed from subscription {subscription_id}")
        status = {"id": subscription_id, "name": definition["name"], "description": definition["description"],
                  "status": "NOT_SUBSCRIBED", "sourceOfStatus": "SUBSCRIPTION_STATUS", "brandId": None,
                  "preferenceGroupName": None, "legalBasis": legal_basis,
                  "legalBasisExplanation": body.get("legalBasisExplanation")}
        self.opted_out[key] = status
        return status

    def statuses(self, address: str) -> dict[str, Any]:
        return {"recipient": address,
                "subscriptionStatuses": [s for (a, _), s in sorted(self.opted_out.items()) if a == address.lower()]}
