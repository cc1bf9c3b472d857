"""Pure mapping from Salesforce query records to Canary's canonical records.

Everything here takes values and returns values: no I/O, no clock. A query record
(``{"attributes": {...}, "Id": ..., ...}``) becomes a canonical record; the push side's
field values are in `integrations.salesforce.fields`, the wire formats in `.wire`.

Rows of ``queryAll`` with ``IsDeleted = true`` are in the recycle bin: `removal_from_payload`.

Payloads are taken as Salesforce sends them: any field may be missing (a narrower SELECT)
or null, and a record without ``Id`` still has its id at the end of ``attributes.url``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from integrations.base import (
    AccountRecord,
    ContactRecord,
    DealRecord,
    Removal,
    TaskRecord,
    TaskWrite,
    TicketRecord,
    VendorUser,
    health_values,
)
from integrations.salesforce.fields import field_name
from integrations.values import (
    canonical_role,
    decimal_or_none,
    int_or_none,
    iso_date,
    iso_datetime,
    lowered_email,
    text_or_none,
)

SYSTEM = "salesforce"
UNKNOWN_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
"""``updated_at`` of a payload that carries no modification stamp at all (never in a pull)."""

USER_FIELDS: tuple[str, ...] = ("Id", "Email", "Name", "IsActive")
"""What is read of an account owner's ``User``: a deactivated user (``IsActive`` false) still owns records."""
ACCOUNT_FIELDS: tuple[str, ...] = (
    "Id", "Name", "Website", "ParentId", "Industry", "NumberOfEmployees", "Type", "OwnerId",
    "Zendesk_Organization_Id__c", "HubSpot_Company_Id__c", "SystemModstamp", "IsDeleted", "MasterRecordId",
)  # fmt: skip
CONTACT_FIELDS: tuple[str, ...] = (
    "Id", "AccountId", "Name", "Email", "Title", "Customer_Role__c", "SystemModstamp", "IsDeleted",
)  # fmt: skip
DEAL_FIELDS: tuple[str, ...] = (
    "Id", "AccountId", "Name", "StageName", "Amount", "CloseDate", "Seats__c", "Product_Tier__c",
    "Renewal_Date__c", "SystemModstamp", "IsDeleted",
)  # fmt: skip
TICKET_FIELDS: tuple[str, ...] = (
    "Id", "AccountId", "ContactId", "Subject", "Priority", "Status", "IsEscalated", "IsClosed",
    "CreatedDate", "ClosedDate", "SystemModstamp", "IsDeleted",
)  # fmt: skip

TASK_KEY_FIELD = "Canary_Task_Key__c"
TASK_FIELDS: tuple[str, ...] = (
    "Id", "WhatId", "OwnerId", "Status", "IsClosed", "ActivityDate", "CompletedDateTime", TASK_KEY_FIELD,
    "SystemModstamp", "IsDeleted",
)  # fmt: skip
TASK_PRIORITIES: Mapping[str, str] = {"low": "Low", "normal": "Normal", "high": "High"}
"""Canary's task priority -> ``Task.Priority``."""
OPEN_TASK_STATUS = "Not Started"
DONE_TASK_STATUS = "Completed"
MAX_SUBJECT = 255
"""``Task.Subject`` holds at most 255 characters."""
MAX_DESCRIPTION = 32_000

PRIORITIES: Mapping[str, str] = {
    "low": "low",
    "medium": "normal",
    "normal": "normal",
    "high": "high",
    "critical": "urgent",
    "urgent": "urgent",
}
WON_STAGE = "closed won"
LOST_STAGE = "closed lost"


# ------------------------------------------------------------------ small parsers


def record_id(payload: Mapping[str, Any]) -> str:
    """The record's Id, or the last segment of ``attributes.url`` when Id was not selected."""
    value = payload.get("Id")
    if isinstance(value, str) and value:
        return value
    attributes = payload.get("attributes")
    url = attributes.get("url") if isinstance(attributes, Mapping) else None
    if isinstance(url, str) and url.rstrip("/"):
        return url.rstrip("/").rsplit("/", 1)[-1]
    raise ValueError("salesforce record without Id or attributes.url")


def _updated_at(payload: Mapping[str, Any]) -> dt.datetime:
    for key in ("SystemModstamp", "LastModifiedDate", "CreatedDate"):
        moment = iso_datetime(payload.get(key))
        if moment is not None:
            return moment
    return UNKNOWN_TIME


def _key(value: Any) -> str:
    return re.sub(r"[\s\-/]+", "_", str(value).strip().lower())


def priority_of(value: Any) -> str:
    """Case ``Priority`` (Low / Medium / High / Critical) → low | normal | high | urgent."""
    if value is None:
        return "normal"
    return PRIORITIES.get(_key(value), "normal")


def deal_status_of(stage: Any) -> str:
    """Opportunity ``StageName``: Closed Won → active, Closed Lost → churned, anything else → pending."""
    text = str(stage or "").strip().lower()
    if text == WON_STAGE:
        return "active"
    if text == LOST_STAGE:
        return "churned"
    return "pending"


def ticket_status_of(status: Any, is_closed: Any) -> str:
    """Case status in the canonical words the scoring knows (new, open, pending, closed)."""
    if is_closed is True or str(status or "").strip().lower() == "closed":
        return "closed"
    key = _key(status or "")
    if key == "new":
        return "new"
    if key.startswith(("waiting", "on_hold", "pending")):
        return "pending"
    return "open"


# ------------------------------------------------------------------ payload → record


def is_deleted(payload: Mapping[str, Any]) -> bool:
    """Whether a ``queryAll`` row is in the recycle bin (``IsDeleted = true``)."""
    return payload.get("IsDeleted") is True


def removal_from_payload(payload: Mapping[str, Any]) -> Removal:
    """A recycle-bin row as a `Removal`; a merged Account's loser names the winner in ``MasterRecordId``."""
    return Removal(record_id(payload), merged_into=text_or_none(payload.get("MasterRecordId")))


def user_from_payload(payload: Mapping[str, Any]) -> VendorUser:
    """A ``User`` row (`USER_FIELDS`) as the `VendorUser` an Account's ``OwnerId`` names."""
    active = payload.get("IsActive")
    return VendorUser(external_id=record_id(payload), email=lowered_email(payload.get("Email")),
                      name=text_or_none(payload.get("Name")), active=active if isinstance(active, bool) else None)


def account_from_payload(payload: Mapping[str, Any], owners: Mapping[str, VendorUser] | None = None
                         ) -> AccountRecord:
    """An Account as an `AccountRecord`; ``owners`` maps User Id → the User when known (else the owner is
    named by its OwnerId)."""
    refs: dict[str, str] = {}
    external_id = record_id(payload)
    zendesk = text_or_none(payload.get("Zendesk_Organization_Id__c"))
    hubspot = text_or_none(payload.get("HubSpot_Company_Id__c"))
    if zendesk:
        refs["zendesk"] = zendesk
    if hubspot:
        refs["hubspot"] = hubspot
    owner_id = text_or_none(payload.get("OwnerId"))
    owner = ((owners or {}).get(owner_id) or VendorUser(owner_id)) if owner_id else None
    return AccountRecord(
        system=SYSTEM,
        external_id=external_id,
        name=text_or_none(payload.get("Name")) or external_id,
        updated_at=_updated_at(payload),
        domain=text_or_none(payload.get("Website")),
        parent_external_id=text_or_none(payload.get("ParentId")),
        cross_refs=refs,
        industry=text_or_none(payload.get("Industry")),
        employees=int_or_none(payload.get("NumberOfEmployees")),
        health=health_values(payload, field_name),
    ).with_owner(owner)


def contact_from_payload(payload: Mapping[str, Any]) -> ContactRecord:
    return ContactRecord(
        system=SYSTEM,
        external_id=record_id(payload),
        email=text_or_none(payload.get("Email")),
        updated_at=_updated_at(payload),
        account_external_id=text_or_none(payload.get("AccountId")),
        name=text_or_none(payload.get("Name")),
        title=text_or_none(payload.get("Title")),
        role=canonical_role(payload.get("Customer_Role__c")),
    )


def deal_from_payload(payload: Mapping[str, Any]) -> DealRecord:
    tier = text_or_none(payload.get("Product_Tier__c"))
    return DealRecord(
        system=SYSTEM,
        external_id=record_id(payload),
        updated_at=_updated_at(payload),
        account_external_id=text_or_none(payload.get("AccountId")),
        name=text_or_none(payload.get("Name")),
        arr=decimal_or_none(payload.get("Amount")),
        seats=int_or_none(payload.get("Seats__c")),
        tier=tier.lower() if tier else None,
        start_date=iso_date(payload.get("CloseDate")),
        renewal_date=iso_date(payload.get("Renewal_Date__c")),
        status=deal_status_of(payload.get("StageName")),
    )


def ticket_from_payload(payload: Mapping[str, Any]) -> TicketRecord:
    updated = _updated_at(payload)
    status = ticket_status_of(payload.get("Status"), payload.get("IsClosed"))
    closed_at = iso_datetime(payload.get("ClosedDate"))
    return TicketRecord(
        system=SYSTEM,
        external_id=record_id(payload),
        updated_at=updated,
        created_at=iso_datetime(payload.get("CreatedDate")) or updated,
        account_external_id=text_or_none(payload.get("AccountId")),
        subject=text_or_none(payload.get("Subject")),
        priority=priority_of(payload.get("Priority")),
        status=status,
        escalated=payload.get("IsEscalated") is True,
        solved_at=closed_at if status == "closed" else None,
        requester_external_id=text_or_none(payload.get("ContactId")),
    )


def task_from_payload(payload: Mapping[str, Any]) -> TaskRecord:
    """A ``Task`` row (`TASK_FIELDS`) as a `TaskRecord`: closed (``IsClosed``, or status Completed) is done."""
    closed = payload.get("IsClosed") is True or str(payload.get("Status") or "").strip() == DONE_TASK_STATUS
    return TaskRecord(
        system=SYSTEM,
        external_id=record_id(payload),
        updated_at=_updated_at(payload),
        key=text_or_none(payload.get(TASK_KEY_FIELD)) or "",
        account_external_id=text_or_none(payload.get("WhatId")),
        status="done" if closed else "open",
        due_date=iso_date(payload.get("ActivityDate")),
        owner_ref=text_or_none(payload.get("OwnerId")),
        completed_at=iso_datetime(payload.get("CompletedDateTime")) if closed else None,
    )


def task_status(write: TaskWrite) -> str:
    return DONE_TASK_STATUS if write.status == "done" else OPEN_TASK_STATUS


def task_create_values(write: TaskWrite) -> dict[str, Any]:
    """A new ``Task`` on the Account (``WhatId``) carrying Canary's key; subject cut to 255 characters."""
    values: dict[str, Any] = {
        "WhatId": write.account_external_id,
        "Subject": write.subject[:MAX_SUBJECT],
        "Description": (write.body or "")[:MAX_DESCRIPTION] or None,
        "ActivityDate": write.due_date.isoformat() if write.due_date else None,
        "Priority": TASK_PRIORITIES.get(write.priority, "Normal"),
        "Status": task_status(write),
        TASK_KEY_FIELD: write.key,
    }
    if write.owner_ref:
        values["OwnerId"] = write.owner_ref
    return values


def task_update_values(write: TaskWrite) -> dict[str, Any]:
    """What a push keeps in step on an existing ``Task``: status, due date and (when known) the owner."""
    values: dict[str, Any] = {"Status": task_status(write),
                              "ActivityDate": write.due_date.isoformat() if write.due_date else None}
    if write.owner_ref:
        values["OwnerId"] = write.owner_ref
    return values
