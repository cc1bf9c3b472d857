"""Zendesk payloads -> canonical records: pure functions over the JSON dicts the API returns.

Organizations -> `AccountRecord`, users -> `ContactRecord`, tickets -> `TicketRecord`,
satisfaction ratings -> `SatisfactionRecord`. They accept the payloads exactly as Zendesk
sends them (see ``../shared/vendor-payloads/zendesk`` beside the repository) and raise `RecordError` only when a
record lacks what every record must have (an id and a modification time), or is deleted.

Deleted records stay in the incremental exports: a ticket with status ``deleted`` (unless the
export is asked ``exclude_deleted=true``, which Canary never asks: it wants to hear of them) and
an organization with ``deleted_at``. `is_deleted` tells them apart and `removal` turns them
into a `Removal`; they are never mapped as live records (a deleted ticket is not an open one).

A satisfaction rating names its ticket (``ticket_id``), requester, assignee and group, not the
organization: `rating_to_satisfaction` gives the ticket's id and no account, and the store places the rating
on its stored ticket's account (`sync.writer.PageWriter`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from integrations.base import (
    AccountRecord,
    ContactRecord,
    Removal,
    SatisfactionRecord,
    TicketRecord,
    VendorUser,
    health_values,
)
from integrations.errors import RecordError
from integrations.values import canonical_role, iso_datetime, lowered_email, text_or_none
from integrations.zendesk.fields import vendor_key

SYSTEM = "zendesk"
HUBSPOT_FIELD_KEY = "hubspot_company_id"
"""Organization field holding the HubSpot company id of the same customer."""
PARENT_FIELD_KEY = "parent_organization_id"
"""Organization field (a lookup field) naming the parent organization; Zendesk has no native parent."""
OWNER_FIELD_KEY = "success_manager"
"""Organization field naming the organization's owner (the default; the adapter's ``owner_field`` changes
it): a lookup relationship field to users (``type: lookup``, ``relationship_target_type: zen:user``,
filtered to agents) holding the agent's user id, or a text field holding an e-mail address."""
ROLE_FIELD_KEY = "customer_role"
"""User field holding the contact's role at the customer."""
ESCALATED_TAG = "escalated"
STAFF_ROLES = frozenset({"agent", "admin"})
"""Zendesk user roles of the help desk's own staff: not customer contacts."""

DELETED_STATUS = "deleted"
"""The status of a deleted ticket in the ticket exports."""

PRIORITIES = ("low", "normal", "high", "urgent")
SCORES = ("good", "bad")


def parse_time(value: Any) -> dt.datetime | None:
    """Zendesk timestamps (``2023-09-09T23:52:02Z``, an offset form, or Unix seconds) as aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    moment = iso_datetime(value)
    if moment is None:
        raise ValueError(f"not a timestamp: {value!r}")
    return moment


def stamp_of(payload: Mapping[str, Any]) -> int:
    """The record's modification time in whole Unix seconds: the order of incremental exports."""
    moment = _required_time(payload, "updated_at")
    return int(moment.timestamp())


def normalise_priority(raw: Any) -> str:
    """Zendesk's own four priorities; a ticket without one is ``normal``."""
    text = raw.strip().lower() if isinstance(raw, str) else ""
    return text if text in PRIORITIES else "normal"


def is_deleted(payload: Mapping[str, Any]) -> bool:
    """A deleted ticket (status ``deleted``) or organization (``deleted_at`` set) in an export."""
    return payload.get("status") == DELETED_STATUS or payload.get("deleted_at") not in (None, "")


def removal(payload: Mapping[str, Any]) -> Removal:
    """The `Removal` of a deleted ticket or organization (Zendesk deletes; it never merges these)."""
    return Removal(_id(payload))


def agent_to_owner(user: Mapping[str, Any]) -> VendorUser:
    """A user an organization's owner field names, as a `VendorUser`: active while an agent or admin that
    is neither suspended nor deleted (an agent who left is suspended, or downgraded to end user)."""
    active = user.get("role") in STAFF_ROLES and user.get("suspended") is not True and user.get("active") is not False
    return VendorUser(external_id=_id(user), email=lowered_email(user.get("email")),
                      name=text_or_none(user.get("name")), active=active)


def owner_field_value(org: Mapping[str, Any], owner_field: str | None = OWNER_FIELD_KEY
                      ) -> tuple[str | None, str | None]:
    """``(user id, e-mail)`` the organization's owner field holds: a lookup field's user id (a number, or
    digits), or an e-mail address typed into a text field; ``(None, None)`` when empty or neither."""
    if not owner_field:
        return None, None
    value = _dict(org.get("organization_fields")).get(owner_field)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value), None
    text = text_or_none(value)
    if text and text.isdigit():
        return text, None
    return None, lowered_email(text)


def organization_to_account(org: Mapping[str, Any], owners: Mapping[str, VendorUser] | None = None,
                            owner_field: str | None = OWNER_FIELD_KEY) -> AccountRecord:
    """An organization as an `AccountRecord`; its owner from ``owner_field`` (`owner_field_value`), named
    through ``owners`` (user id → the agent) when known, else by its user id."""
    external_id = _id(org)
    _refuse_deleted(org, "organization")
    fields = _dict(org.get("organization_fields"))
    cross_refs: dict[str, str] = {}
    salesforce = text_or_none(org.get("external_id"))
    if salesforce:
        cross_refs["salesforce"] = salesforce
    hubspot = text_or_none(fields.get(HUBSPOT_FIELD_KEY))
    if hubspot:
        cross_refs["hubspot"] = hubspot
    domains = [d for d in org.get("domain_names") or [] if isinstance(d, str) and d.strip()]
    record = AccountRecord(
        system=SYSTEM,
        external_id=external_id,
        name=text_or_none(org.get("name")) or f"Organization {external_id}",
        updated_at=_required_time(org, "updated_at"),
        domain=domains[0].strip() if domains else None,
        parent_external_id=text_or_none(fields.get(PARENT_FIELD_KEY)),
        cross_refs=cross_refs,
        health=health_values(fields, vendor_key),
    )
    owner_id, owner_email = owner_field_value(org, owner_field)
    if owner_id:
        return record.with_owner((owners or {}).get(owner_id) or VendorUser(owner_id))
    return replace(record, owner=owner_email) if owner_email else record


def is_customer(user: Mapping[str, Any]) -> bool:
    """End users are customer contacts; agents and admins are the help desk's own staff."""
    return user.get("role") not in STAFF_ROLES


def user_to_contact(user: Mapping[str, Any]) -> ContactRecord:
    fields = _dict(user.get("user_fields"))
    return ContactRecord(
        system=SYSTEM,
        external_id=_id(user),
        email=text_or_none(user.get("email")),
        updated_at=_required_time(user, "updated_at"),
        account_external_id=text_or_none(user.get("organization_id")),
        name=text_or_none(user.get("name")),
        role=canonical_role(fields.get(ROLE_FIELD_KEY)),
        last_active_at=parse_time(user.get("last_login_at")),
    )


def ticket_to_ticket(ticket: Mapping[str, Any]) -> TicketRecord:
    _refuse_deleted(ticket, "ticket")
    updated_at = _required_time(ticket, "updated_at")
    status = text_or_none(ticket.get("status")) or "open"
    rating = _dict(ticket.get("satisfaction_rating"))
    score = rating.get("score")
    tags = ticket.get("tags") or []
    return TicketRecord(
        system=SYSTEM,
        external_id=_id(ticket),
        updated_at=updated_at,
        created_at=parse_time(ticket.get("created_at")) or updated_at,
        account_external_id=text_or_none(ticket.get("organization_id")),
        subject=text_or_none(ticket.get("subject")),
        priority=normalise_priority(ticket.get("priority")),
        status=status,
        escalated=ESCALATED_TAG in tags,
        # Zendesk keeps solved_at in ticket metrics, not on the ticket: a solved ticket's last
        # change is the closest the ticket itself tells.
        solved_at=updated_at if status in ("solved", "closed") else None,
        satisfaction=score if score in SCORES else None,
        requester_external_id=text_or_none(ticket.get("requester_id")),
    )


def rating_to_satisfaction(rating: Mapping[str, Any]) -> SatisfactionRecord | None:
    """A received rating; ``None`` for ``offered`` / ``unoffered`` (no answer yet).

    Its account is its ticket's, which the store knows: the record carries no account (an ``organization_id``
    key on the rating itself, which the documented rating does not have, is not read)."""
    score = rating.get("score")
    if score not in SCORES:
        return None
    return SatisfactionRecord(
        system=SYSTEM,
        external_id=_id(rating),
        updated_at=_required_time(rating, "updated_at", fallback="created_at"),
        score=str(score),
        ticket_external_id=text_or_none(rating.get("ticket_id")),
        comment=text_or_none(rating.get("comment")),
    )


def _id(payload: Mapping[str, Any]) -> str:
    value = payload.get("id")
    if value is None or isinstance(value, bool) or str(value).strip() == "":
        raise RecordError("a Zendesk record without an id")
    return str(value)


def _refuse_deleted(payload: Mapping[str, Any], kind: str) -> None:
    if is_deleted(payload):
        raise RecordError(f"Zendesk {kind} {payload.get('id')} is deleted: it is a removal, not a record",
                          external_id=text_or_none(payload.get("id")))


def _required_time(payload: Mapping[str, Any], key: str, fallback: str | None = None) -> dt.datetime:
    try:
        moment = parse_time(payload.get(key))
        if moment is None and fallback is not None:
            moment = parse_time(payload.get(fallback))
    except ValueError as exc:
        raise RecordError(f"Zendesk record {payload.get('id')}: bad {key}: {exc}",
                          external_id=text_or_none(payload.get("id"))) from exc
    if moment is None:
        raise RecordError(f"Zendesk record {payload.get('id')} has no {key}",
                          external_id=text_or_none(payload.get("id")))
    return moment


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
