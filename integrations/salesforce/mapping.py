"""Pure functions between Salesforce payloads and Canary's canonical records.

Everything here takes values and returns values: no I/O, no clock. The pull side maps a
query record (``{"attributes": {...}, "Id": ..., ...}``) to a canonical record; the push
side turns canonical field values into Salesforce values (JSON for sObject Collections,
CSV text for Bulk API 2.0) and reads Salesforce's per-record answers back.

Payloads are taken as Salesforce sends them: any field may be missing (a narrower SELECT)
or null, and a record without ``Id`` still has its id at the end of ``attributes.url``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from integrations.base import AccountRecord, ContactRecord, DealRecord, FieldSpec, TicketRecord

SYSTEM = "salesforce"
UNKNOWN_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
"""``updated_at`` of a payload that carries no modification stamp at all (never in a pull)."""

ACCOUNT_FIELDS: tuple[str, ...] = (
    "Id", "Name", "Website", "ParentId", "Industry", "NumberOfEmployees", "Type", "OwnerId",
    "Zendesk_Organization_Id__c", "HubSpot_Company_Id__c", "SystemModstamp",
)  # fmt: skip
CONTACT_FIELDS: tuple[str, ...] = (
    "Id", "AccountId", "Name", "Email", "Title", "Customer_Role__c", "SystemModstamp",
)  # fmt: skip
DEAL_FIELDS: tuple[str, ...] = (
    "Id", "AccountId", "Name", "StageName", "Amount", "CloseDate", "Seats__c", "Product_Tier__c",
    "Renewal_Date__c", "SystemModstamp",
)  # fmt: skip
TICKET_FIELDS: tuple[str, ...] = (
    "Id", "AccountId", "ContactId", "Subject", "Priority", "Status", "IsEscalated", "IsClosed",
    "CreatedDate", "ClosedDate", "SystemModstamp",
)  # fmt: skip

ROLES: Mapping[str, str] = {
    "executive_sponsor": "executive_sponsor",
    "executive": "executive_sponsor",
    "sponsor": "executive_sponsor",
    "economic_buyer": "executive_sponsor",
    "champion": "champion",
    "admin": "admin",
    "administrator": "admin",
    "user": "user",
}
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

NULL_IN_CSV = "#N/A"
"""What clears a field in a Bulk API 2.0 CSV upload (an empty cell leaves it unchanged)."""


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


def parse_datetime(value: Any) -> dt.datetime | None:
    """Salesforce's datetime wire form (``2026-01-31T01:00:00.000+0000``, or ``Z``/``+00:00``) → aware UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = text[:-2] + ":" + text[-2:]
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def parse_date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def format_datetime(moment: dt.datetime) -> str:
    """An aware datetime in Salesforce's wire form (what SystemModstamp looks like)."""
    moment = moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def clean_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _updated_at(payload: Mapping[str, Any]) -> dt.datetime:
    for key in ("SystemModstamp", "LastModifiedDate", "CreatedDate"):
        moment = parse_datetime(payload.get(key))
        if moment is not None:
            return moment
    return UNKNOWN_TIME


def _key(value: Any) -> str:
    return re.sub(r"[\s\-/]+", "_", str(value).strip().lower())


def role_of(value: Any) -> str:
    """``Customer_Role__c`` ("Executive Sponsor", "Champion", "Admin", "User") → canonical role."""
    if value is None:
        return "user"
    return ROLES.get(_key(value), "user")


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


def account_from_payload(payload: Mapping[str, Any], owners: Mapping[str, str] | None = None) -> AccountRecord:
    """An Account as an `AccountRecord`; ``owners`` maps User Id → e-mail when known (else the OwnerId)."""
    refs: dict[str, str] = {}
    external_id = record_id(payload)
    zendesk = clean_text(payload.get("Zendesk_Organization_Id__c"))
    hubspot = clean_text(payload.get("HubSpot_Company_Id__c"))
    if zendesk:
        refs["zendesk"] = zendesk
    if hubspot:
        refs["hubspot"] = hubspot
    owner_id = clean_text(payload.get("OwnerId"))
    owner = (owners or {}).get(owner_id, owner_id) if owner_id else None
    return AccountRecord(
        system=SYSTEM,
        external_id=external_id,
        name=clean_text(payload.get("Name")) or external_id,
        updated_at=_updated_at(payload),
        domain=clean_text(payload.get("Website")),
        parent_external_id=clean_text(payload.get("ParentId")),
        cross_refs=refs,
        industry=clean_text(payload.get("Industry")),
        employees=_int(payload.get("NumberOfEmployees")),
        owner=owner,
    )


def contact_from_payload(payload: Mapping[str, Any]) -> ContactRecord:
    return ContactRecord(
        system=SYSTEM,
        external_id=record_id(payload),
        email=clean_text(payload.get("Email")),
        updated_at=_updated_at(payload),
        account_external_id=clean_text(payload.get("AccountId")),
        name=clean_text(payload.get("Name")),
        title=clean_text(payload.get("Title")),
        role=role_of(payload.get("Customer_Role__c")),
    )


def deal_from_payload(payload: Mapping[str, Any]) -> DealRecord:
    tier = clean_text(payload.get("Product_Tier__c"))
    return DealRecord(
        system=SYSTEM,
        external_id=record_id(payload),
        updated_at=_updated_at(payload),
        account_external_id=clean_text(payload.get("AccountId")),
        name=clean_text(payload.get("Name")),
        arr=_decimal(payload.get("Amount")),
        seats=_int(payload.get("Seats__c")),
        tier=tier.lower() if tier else None,
        start_date=parse_date(payload.get("CloseDate")),
        renewal_date=parse_date(payload.get("Renewal_Date__c")),
        status=deal_status_of(payload.get("StageName")),
    )


def ticket_from_payload(payload: Mapping[str, Any]) -> TicketRecord:
    updated = _updated_at(payload)
    status = ticket_status_of(payload.get("Status"), payload.get("IsClosed"))
    closed_at = parse_datetime(payload.get("ClosedDate"))
    return TicketRecord(
        system=SYSTEM,
        external_id=record_id(payload),
        updated_at=updated,
        created_at=parse_datetime(payload.get("CreatedDate")) or updated,
        account_external_id=clean_text(payload.get("AccountId")),
        subject=clean_text(payload.get("Subject")),
        priority=priority_of(payload.get("Priority")),
        status=status,
        escalated=payload.get("IsEscalated") is True,
        solved_at=closed_at if status == "closed" else None,
        requester_external_id=clean_text(payload.get("ContactId")),
    )


# ------------------------------------------------------------------ limits and errors


def api_usage(header: str | None) -> tuple[int, int] | None:
    """``Sforce-Limit-Info: api-usage=18/5000[; per-app-api-usage=...]`` → (used, limit)."""
    if not header:
        return None
    match = re.search(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)", header)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (the HTTP-date form is not sent by Salesforce)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def error_code(content: Any) -> str | None:
    """The first ``errorCode`` of a Salesforce error body (a list of ``{message, errorCode}``)."""
    first = content[0] if isinstance(content, list) and content else content
    if isinstance(first, Mapping):
        code = first.get("errorCode") or first.get("statusCode")
        return str(code) if code else None
    return None


def error_text(content: Any) -> str:
    """A short, human message for a Salesforce error body: ``CODE: message (fields)``."""
    items = content if isinstance(content, list) else [content]
    parts: list[str] = []
    for item in items:
        if isinstance(item, Mapping):
            code = item.get("errorCode") or item.get("statusCode") or "ERROR"
            message = str(item.get("message") or "").strip()
            fields = item.get("fields") or []
            text = f"{code}: {message}" if message else str(code)
            if fields:
                text += f" ({', '.join(str(f) for f in fields)})"
            parts.append(text)
        elif item is not None:
            parts.append(str(item)[:200])
    return "; ".join(parts) or "no details given"


# ------------------------------------------------------------------ push


def field_name(key: str) -> str:
    """Canonical health key → Salesforce custom field API name."""
    names = {
        "score": "Canary_Health_Score__c",
        "band": "Canary_Health_Band__c",
        "trend": "Canary_Health_Trend__c",
        "reasons": "Canary_Health_Reasons__c",
        "scored_at": "Canary_Scored_At__c",
    }
    if key in names:
        return names[key]
    cleaned = re.sub(r"[^A-Za-z0-9]+", "_", key).strip("_").title().replace("__", "_")
    return f"Canary_{cleaned}__c"


BANDS = ("good", "average", "poor")
"""Values of the band picklist, in the order Salesforce shows them."""


def custom_field_metadata(spec: FieldSpec) -> dict[str, Any]:
    """Tooling API ``CustomField`` body for one health field (type, size and inline help)."""
    metadata: dict[str, Any] = {"label": spec.label, "inlineHelpText": spec.help[:510],
                                "description": f"Written by Canary ({spec.key})."}
    if spec.key == "score":
        metadata.update(type="Number", precision=5, scale=1)
    elif spec.key == "trend":
        metadata.update(type="Number", precision=6, scale=2)
    elif spec.key == "band":  # the same restricted picklist as the package (manifests/salesforce)
        metadata.update(type="Picklist", valueSet={"restricted": True, "valueSetDefinition": {
            "sorted": False,
            "value": [{"fullName": band, "default": False, "label": band.title()} for band in BANDS],
        }})
    elif spec.kind == "number":
        metadata.update(type="Number", precision=18, scale=2)
    elif spec.kind == "long_text":
        metadata.update(type="LongTextArea", length=4000, visibleLines=3)
    elif spec.kind == "datetime":
        metadata.update(type="DateTime")
    else:
        metadata.update(type="Text", length=255)
    return {"FullName": f"Account.{field_name(spec.key)}", "Metadata": metadata}


NUMBER_KEYS = frozenset({"score", "trend"})


def salesforce_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical values (strings or None) → field name → JSON value; raises ValueError on a bad number."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = field_name(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            out[name] = None
        elif key in NUMBER_KEYS:
            try:
                out[name] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{key}: {value!r} is not a number") from None
        elif key == "scored_at":
            moment = value if isinstance(value, dt.datetime) else parse_datetime(str(value))
            if moment is None:
                raise ValueError(f"scored_at: {value!r} is not a datetime")
            out[name] = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        else:
            out[name] = str(value)
    return out


def collection_records(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """``(account id, field values)`` pairs as sObject Collections records (null clears a field)."""
    return [{"attributes": {"type": "Account"}, "id": account_id, **fields} for account_id, fields in rows]


def collection_outcomes(ids: Sequence[str], results: Any) -> tuple[list[str], dict[str, str]]:
    """Per-record results of ``PATCH composite/sobjects`` (same order as sent) → (succeeded, failed)."""
    succeeded: list[str] = []
    failed: dict[str, str] = {}
    answers = results if isinstance(results, list) else []
    for index, account_id in enumerate(ids):
        answer = answers[index] if index < len(answers) else None
        if not isinstance(answer, Mapping):
            failed[account_id] = "salesforce reported no result for this record"
        elif answer.get("success") is True:
            succeeded.append(account_id)
        else:
            failed[account_id] = error_text(answer.get("errors") or [])
    return succeeded, failed


def _csv_cell(value: Any) -> str:
    if value is None:
        return NULL_IN_CSV
    if isinstance(value, float):
        return repr(value) if value != int(value) else str(int(value))
    return str(value)


def bulk_csv(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Bulk API 2.0 update CSV: an ``Id`` column plus one per field; ``#N/A`` clears a field."""
    columns: list[str] = []
    for _, fields in rows:
        for name in fields:
            if name not in columns:
                columns.append(name)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["Id", *columns])
    for account_id, fields in rows:
        writer.writerow([account_id, *(_csv_cell(fields[c]) if c in fields else "" for c in columns)])
    return buffer.getvalue()


def bulk_failures(text: str) -> dict[str, str]:
    """``failedResults`` CSV (``sf__Id, sf__Error, <columns>``) → uploaded Id → error message."""
    failed: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        account_id = row.get("Id") or row.get("sf__Id") or ""
        if account_id:
            failed[account_id] = bulk_error_text(row.get("sf__Error"))
    return failed


def bulk_error_text(raw: str | None) -> str:
    """``sf__Error`` (``CODE:message:field,field --``) in the same words as the composite errors."""
    text = (raw or "").strip().removesuffix("--").strip()
    if not text:
        return "rejected by the Bulk API job"
    code, _, rest = text.partition(":")
    message, _, fields = rest.rpartition(":") if rest.count(":") else (rest, "", "")
    item: dict[str, Any] = {"errorCode": code, "message": message.strip()}
    if fields.strip():
        item["fields"] = [f.strip() for f in fields.split(",") if f.strip()]
    return error_text([item])


def bulk_ids(text: str) -> list[str]:
    """Uploaded Ids listed in a ``successfulResults`` or ``unprocessedrecords`` CSV."""
    return [row.get("Id") or row.get("sf__Id") or "" for row in csv.DictReader(io.StringIO(text))
            if row.get("Id") or row.get("sf__Id")]


def describe_field_names(describe: Mapping[str, Any]) -> set[str]:
    """Field API names of an sObject describe."""
    fields: Iterable[Any] = describe.get("fields") or []
    return {str(f["name"]) for f in fields if isinstance(f, Mapping) and f.get("name")}
