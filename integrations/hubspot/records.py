"""Pure functions from HubSpot CRM v3/v4 payloads (plain JSON dicts) to canonical records.

Nothing here does I/O or reads a clock: the adapter fetches, these functions translate.
They accept the payloads exactly as HubSpot sends them (see the recorded files under
``shared/vendor-payloads/hubspot/``): every property is a string or null, timestamps are
ISO 8601 (``2026-11-20T10:15:00.000Z``) or epoch milliseconds, ids are numeric strings
(``toObjectId`` in v4 associations is a JSON number).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from integrations.base import (
    AccountRecord,
    ContactRecord,
    DealRecord,
    Record,
    TaskRecord,
    TaskWrite,
    TicketRecord,
    VendorUser,
    health_values,
)
from integrations.values import (
    EPOCH,
    canonical_role,
    decimal_or_none,
    from_epoch_millis,
    int_or_none,
    iso_datetime,
    lowered_email,
    text_or_none,
    to_epoch_millis,
)

SYSTEM = "hubspot"

HEALTH_PROPERTIES: dict[str, str] = {
    "score": "canary_health_score",
    "band": "canary_health_band",
    "trend": "canary_health_trend",
    "reasons": "canary_health_reasons",
    "scored_at": "canary_scored_at",
}
"""Canonical health key -> the company property Canary writes it to (`integrations.hubspot.fields`)."""

MODIFIED_PROPERTY: dict[str, str] = {
    "companies": "hs_lastmodifieddate",
    "contacts": "lastmodifieddate",
    "deals": "hs_lastmodifieddate",
    "tickets": "hs_lastmodifieddate",
    "tasks": "hs_lastmodifieddate",
}
"""The property incremental search filters and sorts on (contacts keep the older name)."""

TASK_KEY_PROPERTY = "canary_task_key"
"""Canary's task key on a task: written with the create, so a create whose answer was lost is found
(through the company's task associations and a batch read, both consistent, unlike search), and a pull
searches only Canary's tasks."""

PROPERTIES: dict[str, tuple[str, ...]] = {
    "companies": (
        "name",
        "domain",
        "industry",
        "numberofemployees",
        "lifecyclestage",
        "salesforceaccountid",
        "zendesk_organization_id",
        "hubspot_owner_id",
        "hs_parent_company_id",
        "hs_merged_object_ids",
        "hs_lastmodifieddate",
        *HEALTH_PROPERTIES.values(),  # Canary's own: its write-back coming back is told from a change
    ),
    "contacts": (
        "email",
        "firstname",
        "lastname",
        "jobtitle",
        "customer_role",
        "associatedcompanyid",
        "lastmodifieddate",
    ),
    "deals": (
        "dealname",
        "amount",
        "dealstage",
        "closedate",
        "seats",
        "product_tier",
        "renewal_date",
        "hs_lastmodifieddate",
    ),
    "tickets": (
        "subject",
        "hs_ticket_priority",
        "hs_pipeline_stage",
        "createdate",
        "closed_date",
        "hs_lastmodifieddate",
    ),
    "tasks": (
        "hs_task_status",
        "hs_timestamp",
        "hubspot_owner_id",
        "hs_task_completion_date",
        TASK_KEY_PROPERTY,
        "hs_lastmodifieddate",
    ),
}

LINK_PROPERTY: dict[str, str] = {"companies": "hs_parent_company_id", "contacts": "associatedcompanyid"}
"""A property naming the linked company; when the portal returns it, no association call is needed."""

PRIORITIES: dict[str, str] = {"LOW": "low", "MEDIUM": "normal", "HIGH": "high", "URGENT": "urgent"}
TICKET_STAGES: dict[str, str] = {"1": "new", "2": "pending", "3": "open", "4": "closed"}
"""The default support pipeline's stage ids: New, Waiting on contact, Waiting on us, Closed."""
DEAL_STATUS: dict[str, str] = {"closedwon": "active", "closedlost": "churned"}

PRIMARY_COMPANY_TYPE_IDS = frozenset({1, 5, 26})
"""v4 "Primary" company association type ids of contact, deal and ticket."""
CHILD_TO_PARENT_TYPE_ID = 14


# --- scalars --------------------------------------------------------------------------------


def parse_instant(value: Any) -> dt.datetime | None:
    """A HubSpot timestamp (ISO 8601, ``YYYY-MM-DD`` or epoch milliseconds) as an aware UTC datetime."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return from_epoch_millis(int(value))
    if type(value) is str and value[-1:] == "Z":  # what HubSpot sends: ISO 8601 in UTC
        moment = iso_datetime(value)
        if moment is not None:
            return moment
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return from_epoch_millis(int(text))
    return iso_datetime(text)


def _date(value: Any) -> dt.date | None:
    parsed = parse_instant(value)
    return parsed.date() if parsed else None


def _props(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    props = obj.get("properties")
    return props if type(props) is dict or isinstance(props, Mapping) else {}  # a decoded page holds dicts


def modified_at(obj: Mapping[str, Any], object_type: str) -> dt.datetime:
    """When a record last changed: its modification property, else ``updatedAt``, else ``createdAt``."""
    props = _props(obj)
    for candidate in (
        props.get(MODIFIED_PROPERTY.get(object_type, "hs_lastmodifieddate")),
        props.get("hs_lastmodifieddate"),
        obj.get("updatedAt"),
        obj.get("createdAt"),
    ):
        parsed = parse_instant(candidate)
        if parsed is not None:
            return parsed
    return EPOCH


def modified_millis(obj: Mapping[str, Any], object_type: str) -> int:
    return to_epoch_millis(modified_at(obj, object_type))


def created_millis(obj: Mapping[str, Any]) -> int | None:
    """When a record was created (``createdate``, else ``createdAt``), epoch ms; None if it says neither."""
    for candidate in (_props(obj).get("createdate"), obj.get("createdAt")):
        parsed = parse_instant(candidate)
        if parsed is not None:
            return to_epoch_millis(parsed)
    return None


def archived_millis(obj: Mapping[str, Any]) -> int:
    """When an archived record was archived (``archivedAt``, else ``updatedAt``), epoch ms."""
    for candidate in (obj.get("archivedAt"), obj.get("updatedAt")):
        parsed = parse_instant(candidate)
        if parsed is not None:
            return to_epoch_millis(parsed)
    return 0


def merged_ids(obj: Mapping[str, Any]) -> list[str]:
    """The ids merged into this record (``hs_merged_object_ids``, ``;``-separated), in the order given."""
    raw = text_or_none(_props(obj).get("hs_merged_object_ids"))
    return [part.strip() for part in (raw or "").split(";") if part.strip()]


# --- associations ---------------------------------------------------------------------------


def _target_id(row: Mapping[str, Any]) -> str | None:
    raw = row.get("toObjectId", row.get("id"))
    return None if raw is None else str(raw)


def _type_ids(row: Mapping[str, Any]) -> set[int]:
    out: set[int] = set()
    for kind in row.get("associationTypes") or ():
        try:
            out.add(int(kind.get("typeId")))
        except (TypeError, ValueError):
            continue
    return out


def _labels(row: Mapping[str, Any]) -> set[str]:
    return {str(k.get("label")) for k in row.get("associationTypes") or () if k.get("label")}


def primary_company(rows: Iterable[Mapping[str, Any]]) -> str | None:
    """The company a contact/deal/ticket belongs to: the "Primary" association, else the first one.

    Accepts v4 rows (``toObjectId`` + ``associationTypes``) and v3 rows (``id`` + ``type``,
    where ``contact_to_company`` is primary and ``contact_to_company_unlabeled`` is not).
    """
    first: str | None = None
    for row in rows:
        target = _target_id(row)
        if target is None:
            continue
        first = first or target
        v3_type = str(row.get("type") or "")
        if (
            _type_ids(row) & PRIMARY_COMPANY_TYPE_IDS
            or "Primary" in _labels(row)
            or (v3_type.endswith("_to_company") and not v3_type.endswith("unlabeled"))
        ):
            return target
    return first


def parent_company(rows: Iterable[Mapping[str, Any]]) -> str | None:
    """The parent of a company: the company↔company association type 14 (v3 ``child_to_parent_company``)."""
    for row in rows:
        target = _target_id(row)
        if target is None:
            continue
        if CHILD_TO_PARENT_TYPE_ID in _type_ids(row) or row.get("type") == "child_to_parent_company":
            return target
    return None


def inline_associations(obj: Mapping[str, Any], to_type: str) -> list[Mapping[str, Any]] | None:
    """The v3 ``associations`` a list page carries; None when the record has none inline."""
    found = obj.get("associations")
    if not isinstance(found, Mapping):
        return None
    block = found.get(to_type)
    if not isinstance(block, Mapping):
        return []
    return [r for r in block.get("results") or () if isinstance(r, Mapping)]


def batch_associations(body: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    """``from id -> to rows`` of a v4 (or v3) association batch read; ids without any are simply absent."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for result in body.get("results") or ():
        source = result.get("from") or {}
        if "id" in source:
            out[str(source["id"])] = [r for r in result.get("to") or () if isinstance(r, Mapping)]
    return out


def linked_company(
    obj: Mapping[str, Any], object_type: str, looked_up: Sequence[Mapping[str, Any]] | None = None
) -> str | None:
    """The company a record links to (for companies: the parent), from what the record carries or a lookup.

    Order: a property naming it (``associatedcompanyid``, ``hs_parent_company_id``) when the
    portal returned that property, then inline v3 associations, then ``looked_up`` v4 rows.
    """
    pick = parent_company if object_type == "companies" else primary_company
    link_property = LINK_PROPERTY.get(object_type)
    if link_property:
        value = text_or_none(_props(obj).get(link_property))
        if value is not None:
            return value
    inline = inline_associations(obj, "companies")
    if inline is not None:
        return pick(inline)
    return pick(looked_up) if looked_up is not None else None


def needs_lookup(obj: Mapping[str, Any], object_type: str) -> bool:
    """Whether the record's company link must be fetched with a v4 association batch read."""
    link_property = LINK_PROPERTY.get(object_type)
    if link_property and text_or_none(_props(obj).get(link_property)) is not None:
        return False
    return inline_associations(obj, "companies") is None


# --- records --------------------------------------------------------------------------------


OWNER_PROPERTY = "hubspot_owner_id"
"""The company property naming its owner: an owner id of ``/crm/v3/owners``."""


def owner_from_payload(owner: Mapping[str, Any]) -> VendorUser:
    """An owner of ``/crm/v3/owners`` (``id``, ``email``, ``firstName``, ``lastName``, ``archived``) as the
    `VendorUser` a company's ``hubspot_owner_id`` names; an archived owner is a deactivated user's."""
    name = " ".join(p for p in (text_or_none(owner.get("firstName")), text_or_none(owner.get("lastName"))) if p)
    archived = owner.get("archived")
    return VendorUser(external_id=str(owner["id"]), email=lowered_email(owner.get("email")), name=name or None,
                      active=not archived if isinstance(archived, bool) else None)


def company_to_account(obj: Mapping[str, Any], parent_id: str | None = None,
                       owners: Mapping[str, VendorUser] | None = None) -> AccountRecord:
    """A company as an `AccountRecord`; ``owners`` maps owner id → the owner when known (else the owner is
    named by its id)."""
    props = _props(obj)
    owner_id = text_or_none(props.get(OWNER_PROPERTY))
    owner = ((owners or {}).get(owner_id) or VendorUser(owner_id)) if owner_id else None
    refs = {
        system: ref
        for system, key in (("salesforce", "salesforceaccountid"), ("zendesk", "zendesk_organization_id"))
        if (ref := text_or_none(props.get(key))) is not None
    }
    return AccountRecord(
        system=SYSTEM,
        external_id=str(obj["id"]),
        name=text_or_none(props.get("name")) or "",
        updated_at=modified_at(obj, "companies"),
        domain=text_or_none(props.get("domain")),
        parent_external_id=parent_id,
        cross_refs=refs,
        industry=text_or_none(props.get("industry")),
        employees=int_or_none(props.get("numberofemployees")),
        health=health_values(props, lambda key: HEALTH_PROPERTIES.get(key, f"canary_{key}")),
    ).with_owner(owner)


def contact_to_record(obj: Mapping[str, Any], company_id: str | None = None) -> ContactRecord:
    props = _props(obj)
    name = " ".join(p for p in (text_or_none(props.get("firstname")), text_or_none(props.get("lastname"))) if p)
    return ContactRecord(
        system=SYSTEM,
        external_id=str(obj["id"]),
        email=text_or_none(props.get("email")),
        updated_at=modified_at(obj, "contacts"),
        account_external_id=company_id,
        name=name or None,
        title=text_or_none(props.get("jobtitle")),
        role=canonical_role(props.get("customer_role")),
    )


def deal_status(stage: Any) -> str:
    return DEAL_STATUS.get(str(stage or "").strip().lower(), "pending")


def deal_to_record(obj: Mapping[str, Any], company_id: str | None = None) -> DealRecord:
    props = _props(obj)
    return DealRecord(
        system=SYSTEM,
        external_id=str(obj["id"]),
        updated_at=modified_at(obj, "deals"),
        account_external_id=company_id,
        name=text_or_none(props.get("dealname")),
        arr=decimal_or_none(props.get("amount")),
        seats=int_or_none(props.get("seats")),
        tier=text_or_none(props.get("product_tier")),
        start_date=_date(props.get("closedate")),
        renewal_date=_date(props.get("renewal_date")),
        status=deal_status(props.get("dealstage")),
    )


def priority_of(value: Any) -> str:
    return PRIORITIES.get(str(value or "").strip().upper(), "normal")


def ticket_to_record(obj: Mapping[str, Any], company_id: str | None = None) -> TicketRecord:
    props = _props(obj)
    status = TICKET_STAGES.get(str(props.get("hs_pipeline_stage") or "").strip(), "open")
    created = parse_instant(props.get("createdate")) or parse_instant(obj.get("createdAt"))
    updated = modified_at(obj, "tickets")
    return TicketRecord(
        system=SYSTEM,
        external_id=str(obj["id"]),
        updated_at=updated,
        created_at=created or updated,
        account_external_id=company_id,
        subject=text_or_none(props.get("subject")),
        priority=priority_of(props.get("hs_ticket_priority")),
        status=status,
        solved_at=parse_instant(props.get("closed_date")) if status == "closed" else None,
    )


TASK_PRIORITIES: dict[str, str] = {"low": "LOW", "normal": "MEDIUM", "high": "HIGH"}
DONE_TASK_STATUS = "COMPLETED"
OPEN_TASK_STATUS = "NOT_STARTED"
TASK_TO_COMPANY_TYPE_ID = 192
"""v4 HUBSPOT_DEFINED association type of task to company."""


def task_to_record(obj: Mapping[str, Any], company_id: str | None = None) -> TaskRecord:
    """A task (`PROPERTIES` ``tasks``) as a `TaskRecord`; the due date is ``hs_timestamp``'s UTC day."""
    props = _props(obj)
    done = str(props.get("hs_task_status") or "").strip().upper() == DONE_TASK_STATUS
    due = parse_instant(props.get("hs_timestamp"))
    return TaskRecord(
        system=SYSTEM,
        external_id=str(obj["id"]),
        updated_at=modified_at(obj, "tasks"),
        key=text_or_none(props.get(TASK_KEY_PROPERTY)) or "",
        account_external_id=company_id,
        status="done" if done else "open",
        due_date=due.date() if due else None,
        owner_ref=text_or_none(props.get(OWNER_PROPERTY)),
        completed_at=parse_instant(props.get("hs_task_completion_date")) if done else None,
    )


def due_timestamp(day: dt.date) -> str:
    """``hs_timestamp`` of a due date: midnight UTC of that day, in epoch milliseconds."""
    return str(to_epoch_millis(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)))


def task_update_properties(write: TaskWrite) -> dict[str, str]:
    """What a push keeps in step: status, due date and (when known) the owner."""
    values = {"hs_task_status": DONE_TASK_STATUS if write.status == "done" else OPEN_TASK_STATUS}
    if write.due_date:
        values["hs_timestamp"] = due_timestamp(write.due_date)
    if write.owner_ref:
        values[OWNER_PROPERTY] = write.owner_ref
    return values


def task_create_properties(write: TaskWrite, now_millis: int) -> dict[str, str]:
    """A new task's properties; ``hs_timestamp`` is required, so a task without a due date is due now."""
    values = {
        "hs_task_subject": write.subject,
        "hs_task_body": write.body or "",
        "hs_task_priority": TASK_PRIORITIES.get(write.priority, "MEDIUM"),
        "hs_task_type": "TODO",
        "hs_timestamp": str(now_millis),
        TASK_KEY_PROPERTY: write.key,
        **task_update_properties(write),
    }
    return values


Mapper = Callable[[Mapping[str, Any], str | None], Record]
MAPPERS: dict[str, Mapper] = {
    "companies": company_to_account,
    "contacts": contact_to_record,
    "deals": deal_to_record,
    "tickets": ticket_to_record,
    "tasks": task_to_record,
}


