"""Field and object definitions: what describe shows, what SOQL accepts, what writes validate.

Values are stored in their wire form so that a query answer is a dict copy: numbers as
float/int, booleans as bool, dates as ``YYYY-MM-DD`` and datetimes as
``YYYY-MM-DDTHH:MM:SS.000+0000`` (UTC), which compare correctly as text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from .errors import FieldValueError
from .ids import KEY_PREFIXES, format_datetime, is_well_formed, parse_datetime, to_18

TEXT_TYPES = frozenset({"string", "picklist", "textarea", "url", "email", "phone", "id", "reference"})
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    label: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    custom: bool = False
    updateable: bool = True
    createable: bool = True
    nillable: bool = True
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist_values: tuple[str, ...] = ()
    restricted_picklist: bool = False
    inline_help_text: str | None = None
    name_field: bool = False
    external_id: bool = False

    def describe(self) -> dict[str, Any]:
        """One entry of ``fields[]`` in an sObject describe (keys as the real API sends)."""
        is_text = self.type in TEXT_TYPES
        return {
            "length": self.length,
            "name": self.name,
            "type": self.type,
            "defaultValue": None,
            "label": self.label,
            "updateable": self.updateable,
            "calculated": False,
            "controllerName": None,
            "nillable": self.nillable,
            "unique": False,
            "precision": self.precision,
            "scale": self.scale,
            "caseSensitive": False,
            "byteLength": self.length * 3 if is_text else 0,
            "inlineHelpText": self.inline_help_text,
            "nameField": self.name_field,
            "externalId": self.external_id,
            "idLookup": self.type == "id" or self.external_id,
            "filterable": self.type != "textarea" or self.length <= 255,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "createable": self.createable,
            "deprecatedAndHidden": False,
            "autoNumber": False,
            "calculatedFormula": None,
            "defaultValueFormula": None,
            "defaultedOnCreate": self.type == "id" or not self.createable,
            "digits": self.precision if self.type == "int" else 0,
            "groupable": self.type not in NUMBER_TYPES - {"int"} and self.type != "textarea",
            "picklistValues": [
                {"value": v, "active": True, "label": v, "defaultValue": False, "validFor": None}
                for v in self.picklist_values
            ],
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "relationshipOrder": None,
            "restrictedPicklist": self.restricted_picklist,
            "namePointing": False,
            "custom": self.custom,
            "htmlFormatted": False,
            "dependentPicklist": False,
            "writeRequiresMasterRead": False,
            "sortable": self.type != "textarea" or self.length <= 255,
        }

    def coerce(self, value: Any) -> Any:
        """The stored form of ``value`` for this field, or `FieldValueError`."""
        if value is None:
            if not self.nillable:
                raise FieldValueError(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{self.name}]", [self.name]
                )
            return None
        kind = self.type
        if kind in NUMBER_TYPES:
            return self._coerce_number(value)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise self._wrong_type(value)
        if kind == "date":
            try:
                return date.fromisoformat(str(value)[:10]).isoformat()
            except ValueError:
                raise self._wrong_type(value) from None
        if kind == "datetime":
            try:
                return format_datetime(parse_datetime(str(value)))
            except ValueError:
                raise self._wrong_type(value) from None
        if not isinstance(value, str):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self._wrong_type(value)
            value = str(value)
        if kind in ("id", "reference"):
            if value == "":
                return None
            if not is_well_formed(value) or (
                self.reference_to
                and not any(value.startswith(KEY_PREFIXES.get(t, "~")) for t in self.reference_to)
            ):
                raise FieldValueError(
                    "MALFORMED_ID", f"{self.label}: id value of incorrect type: {value}", [self.name]
                )
            return to_18(value)
        if self.length and len(value) > self.length:
            raise FieldValueError(
                "STRING_TOO_LONG",
                f"{self.label}: data value too large: {value[:40]} (max length={self.length})",
                [self.name],
            )
        if kind == "picklist" and self.restricted_picklist and value not in self.picklist_values:
            raise FieldValueError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{self.label}: bad value for restricted picklist field: {value}",
                [self.name],
            )
        if kind == "email" and value and ("@" not in value or " " in value):
            raise FieldValueError(
                "INVALID_EMAIL_ADDRESS", f"{self.label}: invalid email address: {value}", [self.name]
            )
        return value

    def _coerce_number(self, value: Any) -> float | int:
        if isinstance(value, bool):
            raise self._wrong_type(value)
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise self._wrong_type(value) from None
        elif isinstance(value, int | float):
            number = float(value)
        else:
            raise self._wrong_type(value)
        if not math.isfinite(number):
            raise self._wrong_type(value)
        if self.precision and abs(number) >= 10 ** (self.precision - self.scale):
            raise FieldValueError(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{self.label}: value outside of valid range on numeric field: {value}",
                [self.name],
            )
        if self.type == "int":
            if number != int(number):
                raise self._wrong_type(value)
            return int(number)
        return round(number, self.scale) if self.scale else float(round(number))

    def _wrong_type(self, value: Any) -> FieldValueError:
        return FieldValueError(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"{self.label}: value not of required type: {value}",
            [self.name],
        )


@dataclass
class ObjectSpec:
    name: str
    label: str
    label_plural: str
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    """Canonical field name -> spec, in describe order."""

    @property
    def key_prefix(self) -> str:
        return KEY_PREFIXES[self.name]

    def field(self, name: str) -> FieldSpec | None:
        """Look a field up case-insensitively, as SOQL and the REST API do."""
        spec = self.fields.get(name)
        if spec is not None:
            return spec
        lowered = name.lower()
        for candidate in self.fields.values():
            if candidate.name.lower() == lowered:
                return candidate
        return None

    def add_field(self, spec: FieldSpec) -> None:
        self.fields[spec.name] = spec

    def urls(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "compactLayouts": f"{base}/describe/compactLayouts",
            "rowTemplate": f"{base}/{{ID}}",
            "approvalLayouts": f"{base}/describe/approvalLayouts",
            "uiDetailTemplate": "https://sandbox.my.salesforce.com/{ID}",
            "uiEditTemplate": "https://sandbox.my.salesforce.com/{ID}/e",
            "describe": f"{base}/describe",
            "uiNewRecord": f"https://sandbox.my.salesforce.com/{self.key_prefix}/e",
            "layouts": f"{base}/describe/layouts",
            "sobject": base,
        }

    def summary(self, version: str) -> dict[str, Any]:
        """The object-level keys shared by describe and describeGlobal."""
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "custom": False,
            "keyPrefix": self.key_prefix,
            "layoutable": True,
            "activateable": False,
            "updateable": True,
            "urls": self.urls(version),
            "searchable": True,
            "createable": True,
            "customSetting": False,
            "deletable": True,
            "deprecatedAndHidden": False,
            "feedEnabled": True,
            "mergeable": self.name in ("Account", "Contact"),
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "undeletable": True,
            "triggerable": True,
        }

    def describe(self, version: str) -> dict[str, Any]:
        out = self.summary(version)
        out.update(
            {
                "listviewable": None,
                "lookupLayoutable": None,
                "searchLayoutable": None,
                "fields": [spec.describe() for spec in self.fields.values()],
                "childRelationships": [],
                "recordTypeInfos": [
                    {
                        "name": "Master",
                        "available": True,
                        "recordTypeId": "012000000000000AAA",
                        "defaultRecordTypeMapping": True,
                    }
                ],
            }
        )
        return out


def _text(name: str, label: str, length: int = 255, **kw: Any) -> FieldSpec:
    return FieldSpec(name, "string", label, length=length, **kw)


def _ref(name: str, label: str, to: str, rel: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name, "reference", label, length=18, reference_to=(to,), relationship_name=rel, **kw)


def _pick(name: str, label: str, values: tuple[str, ...], **kw: Any) -> FieldSpec:
    return FieldSpec(name, "picklist", label, length=255, picklist_values=values, **kw)


def _system_fields() -> list[FieldSpec]:
    ro: dict[str, Any] = {"updateable": False, "createable": False, "nillable": False}
    return [
        FieldSpec("CreatedDate", "datetime", "Created Date", **ro),
        _ref("CreatedById", "Created By ID", "User", "CreatedBy", **ro),
        FieldSpec("LastModifiedDate", "datetime", "Last Modified Date", **ro),
        _ref("LastModifiedById", "Last Modified By ID", "User", "LastModifiedBy", **ro),
        FieldSpec("SystemModstamp", "datetime", "System Modstamp", **ro),
    ]


def _id(label: str) -> FieldSpec:
    return FieldSpec("Id", "id", f"{label} ID", length=18, nillable=False, updateable=False, createable=False)


def _head(label: str) -> list[FieldSpec]:
    return [
        _id(label),
        FieldSpec("IsDeleted", "boolean", "Deleted", nillable=False, updateable=False, createable=False),
    ]


def _object(name: str, label: str, plural: str, specs: list[FieldSpec]) -> ObjectSpec:
    obj = ObjectSpec(name, label, plural)
    for spec in specs:
        obj.add_field(spec)
    return obj


CUSTOMER_ROLES = ("Executive Sponsor", "Champion", "Admin", "User")
CASE_PRIORITIES = ("Low", "Medium", "High", "Critical")
CASE_STATUSES = ("New", "Working", "Escalated", "Closed")
OPPORTUNITY_STAGES = (
    "Prospecting",
    "Qualification",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
PRODUCT_TIERS = ("Starter", "Growth", "Enterprise")
CLOSED_STAGES = frozenset({"Closed Won", "Closed Lost"})
CLOSED_CASE_STATUSES = frozenset({"Closed"})


def standard_objects() -> dict[str, ObjectSpec]:
    """A fresh set of object specs (custom fields get added per emulator instance)."""
    owner = _ref("OwnerId", "Owner ID", "User", "Owner", nillable=False)
    objects = (_account(owner), _contact(owner), _lead(owner), _opportunity(owner), _case(owner), _task(owner),
               _user())
    return {o.name: o for o in objects}


def security_objects() -> dict[str, ObjectSpec]:
    """``PermissionSet``, ``FieldPermissions`` and ``PermissionSetAssignment``: who may see which field."""
    permission_set = _object(
        "PermissionSet",
        "Permission Set",
        "Permission Sets",
        [
            _id("Permission Set"),
            _text("Name", "Name", 80, nillable=False, name_field=True),
            _text("Label", "Label", 80, nillable=False),
            FieldSpec("Description", "textarea", "Description", length=255),
            FieldSpec("IsOwnedByProfile", "boolean", "Is Owned By Profile", nillable=False, updateable=False),
            *_system_fields(),
        ],
    )
    field_permissions = _object(
        "FieldPermissions",
        "Field Permissions",
        "Field Permissions",
        [
            _id("Field Permissions"),
            _ref("ParentId", "Parent ID", "PermissionSet", "Parent", nillable=False),
            _text("SobjectType", "Sobject Type Name", 40, nillable=False),
            _text("Field", "Field Name", 100, nillable=False, name_field=True),
            FieldSpec("PermissionsRead", "boolean", "Read Access", nillable=False),
            FieldSpec("PermissionsEdit", "boolean", "Edit Access", nillable=False),
            *_system_fields(),
        ],
    )
    assignment = _object(
        "PermissionSetAssignment",
        "Permission Set Assignment",
        "Permission Set Assignments",
        [
            _id("Assignment"),
            _ref("PermissionSetId", "Permission Set ID", "PermissionSet", "PermissionSet", nillable=False),
            _ref("AssigneeId", "Assignee ID", "User", "Assignee", nillable=False),
            *_system_fields(),
        ],
    )
    return {o.name: o for o in (permission_set, field_permissions, assignment)}


def master_record_field() -> FieldSpec:
    """``MasterRecordId``: on a record deleted by a merge, the record it was merged into."""
    return _ref("MasterRecordId", "Master Record ID", "Account", "MasterRecord", updateable=False, createable=False)


def _account(owner: FieldSpec) -> ObjectSpec:
    return _object(
        "Account",
        "Account",
        "Accounts",
        [
            *_head("Account"),
            _text("Name", "Account Name", nillable=False, name_field=True),
            _pick("Type", "Account Type", ("Prospect", "Customer", "Partner", "Other")),
            _ref("ParentId", "Parent Account ID", "Account", "Parent"),
            FieldSpec("Website", "url", "Website", length=255),
            _pick("Industry", "Industry", ()),
            FieldSpec("NumberOfEmployees", "int", "Employees", precision=8),
            FieldSpec("Description", "textarea", "Account Description", length=32000),
            owner,
            *_system_fields(),
            _text("Zendesk_Organization_Id__c", "Zendesk Organization Id", custom=True, external_id=True),
            _text("HubSpot_Company_Id__c", "HubSpot Company Id", custom=True, external_id=True),
        ],
    )


def _contact(owner: FieldSpec) -> ObjectSpec:
    return _object(
        "Contact",
        "Contact",
        "Contacts",
        [
            *_head("Contact"),
            _ref("AccountId", "Account ID", "Account", "Account"),
            _text("FirstName", "First Name", 40),
            _text("LastName", "Last Name", 80, nillable=False),
            _text("Name", "Full Name", 121, updateable=False, createable=False, name_field=True),
            FieldSpec("Email", "email", "Email", length=80),
            FieldSpec("HasOptedOutOfEmail", "boolean", "Email Opt Out", nillable=False),
            FieldSpec("Phone", "phone", "Business Phone", length=40),
            _text("Title", "Title", 128),
            _pick("Customer_Role__c", "Customer Role", CUSTOMER_ROLES, custom=True),
            owner,
            *_system_fields(),
        ],
    )


LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")


def _lead(owner: FieldSpec) -> ObjectSpec:
    """A Lead: a person not (yet) a Contact of an Account; ``Company`` and ``LastName`` are required."""
    return _object(
        "Lead",
        "Lead",
        "Leads",
        [
            *_head("Lead"),
            _text("FirstName", "First Name", 40),
            _text("LastName", "Last Name", 80, nillable=False),
            _text("Name", "Full Name", 121, updateable=False, createable=False, name_field=True),
            _text("Company", "Company", 255, nillable=False),
            FieldSpec("Email", "email", "Email", length=80),
            FieldSpec("HasOptedOutOfEmail", "boolean", "Email Opt Out", nillable=False),
            _pick("Status", "Lead Status", LEAD_STATUSES),
            FieldSpec("IsConverted", "boolean", "Converted", nillable=False, updateable=False, createable=False),
            owner,
            *_system_fields(),
        ],
    )


def _opportunity(owner: FieldSpec) -> ObjectSpec:
    return _object(
        "Opportunity",
        "Opportunity",
        "Opportunities",
        [
            *_head("Opportunity"),
            _ref("AccountId", "Account ID", "Account", "Account"),
            _text("Name", "Name", 120, nillable=False, name_field=True),
            _pick("StageName", "Stage", OPPORTUNITY_STAGES, nillable=False),
            FieldSpec("Amount", "currency", "Amount", precision=18, scale=2),
            FieldSpec("CloseDate", "date", "Close Date", nillable=False),
            _pick("Type", "Opportunity Type", ("New Business", "Renewal", "Upsell")),
            FieldSpec("IsClosed", "boolean", "Closed", nillable=False, updateable=False, createable=False),
            FieldSpec("IsWon", "boolean", "Won", nillable=False, updateable=False, createable=False),
            owner,
            *_system_fields(),
            FieldSpec("Seats__c", "double", "Seats", precision=18, scale=0, custom=True),
            _pick("Product_Tier__c", "Product Tier", PRODUCT_TIERS, custom=True),
            FieldSpec("Renewal_Date__c", "date", "Renewal Date", custom=True),
        ],
    )


def _case(owner: FieldSpec) -> ObjectSpec:
    return _object(
        "Case",
        "Case",
        "Cases",
        [
            *_head("Case"),
            _text("CaseNumber", "Case Number", 30, updateable=False, createable=False, name_field=True),
            _ref("AccountId", "Account ID", "Account", "Account"),
            _ref("ContactId", "Contact ID", "Contact", "Contact"),
            _text("Subject", "Subject"),
            FieldSpec("Description", "textarea", "Description", length=32000),
            _pick("Priority", "Priority", CASE_PRIORITIES),
            _pick("Status", "Status", CASE_STATUSES),
            _pick("Origin", "Case Origin", ("Email", "Phone", "Web")),
            FieldSpec("IsEscalated", "boolean", "Escalated", nillable=False),
            FieldSpec("IsClosed", "boolean", "Closed", nillable=False, updateable=False, createable=False),
            FieldSpec("ClosedDate", "datetime", "Closed Date", updateable=False, createable=False),
            owner,
            *_system_fields(),
        ],
    )


TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
"""A fresh org's Task statuses; Completed is the closed one."""


def _task(owner: FieldSpec) -> ObjectSpec:
    return _object(
        "Task",
        "Task",
        "Tasks",
        [
            *_head("Task"),
            _text("Subject", "Subject"),
            FieldSpec(
                "WhatId",
                "reference",
                "Related To ID",
                length=18,
                reference_to=("Account", "Opportunity", "Case"),
                relationship_name="What",
            ),
            _ref("WhoId", "Name ID", "Contact", "Who"),
            FieldSpec("ActivityDate", "date", "Due Date Only"),
            _pick("Status", "Status", TASK_STATUSES, nillable=False),
            _pick("Priority", "Priority", ("High", "Normal", "Low"), nillable=False),
            FieldSpec("Description", "textarea", "Description", length=32000),
            FieldSpec("IsClosed", "boolean", "Closed", nillable=False, updateable=False, createable=False),
            FieldSpec("CompletedDateTime", "datetime", "Completed Date/Time", updateable=False, createable=False),
            owner,
            *_system_fields(),
        ],
    )


def _user() -> ObjectSpec:
    return _object(
        "User",
        "User",
        "Users",
        [
            _id("User"),
            _text("Username", "Username", 80, nillable=False),
            _text("Name", "Full Name", 121, updateable=False, createable=False, name_field=True),
            FieldSpec("Email", "email", "Email", length=128, nillable=False),
            FieldSpec("IsActive", "boolean", "Active", nillable=False),
            *_system_fields(),
        ],
    )


METADATA_TYPES: dict[str, str] = {
    "Number": "double",
    "Currency": "currency",
    "Percent": "percent",
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Checkbox": "boolean",
    "Date": "date",
    "DateTime": "datetime",
    "Picklist": "picklist",
    "Url": "url",
    "Email": "email",
}


def custom_field_from_metadata(name: str, metadata: dict[str, Any]) -> FieldSpec:
    """Build a custom field from Tooling API ``CustomField`` metadata (raises ValueError)."""
    kind = metadata.get("type")
    if kind not in METADATA_TYPES:
        raise ValueError(f"Invalid field type: {kind}")
    label = metadata.get("label")
    if not isinstance(label, str) or not label:
        raise ValueError("Required field is missing: label")
    field_type = METADATA_TYPES[kind]
    spec = FieldSpec(name, field_type, label, custom=True, inline_help_text=metadata.get("inlineHelpText"))
    if field_type in NUMBER_TYPES:
        precision = int(metadata.get("precision") or 18)
        scale = int(metadata.get("scale") or 0)
        if not 1 <= precision <= 18 or not 0 <= scale <= precision:
            raise ValueError("Invalid precision or scale")
        spec = replace(spec, precision=precision, scale=scale)
    elif field_type == "textarea":
        spec = replace(spec, length=int(metadata.get("length") or (255 if kind == "TextArea" else 32768)))
    elif field_type in ("string", "url", "email"):
        spec = replace(spec, length=int(metadata.get("length") or 255))
    elif field_type == "picklist":
        values = tuple(
            str(v.get("fullName") or v.get("label"))
            for v in ((metadata.get("valueSet") or {}).get("valueSetDefinition") or {}).get("value", [])
        )
        restricted = bool((metadata.get("valueSet") or {}).get("restricted"))
        spec = replace(spec, length=255, picklist_values=values, restricted_picklist=restricted)
    return spec
