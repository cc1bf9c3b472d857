"""HubSpot's CRM schema as the emulator knows it: object types, properties, association types.

Values are what a fresh HubSpot portal shows (standard properties, default ticket pipeline,
association type ids from the v4 Associations API), plus the custom properties the sandbox
world needs (``zendesk_organization_id``, ``customer_role``, ``seats``, ``product_tier``,
``renewal_date``), which a real portal would have had created by an admin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

OBJECT_TYPES: tuple[str, ...] = ("companies", "contacts", "deals", "tickets", "tasks")

OBJECT_TYPE_IDS: dict[str, str] = {
    "contacts": "0-1",
    "companies": "0-2",
    "deals": "0-3",
    "tickets": "0-5",
    "tasks": "0-27",
}
SINGULAR: dict[str, str] = {
    "companies": "company",
    "contacts": "contact",
    "deals": "deal",
    "tickets": "ticket",
    "tasks": "task",
}
_ALIASES: dict[str, str] = {}
for _plural, _one in SINGULAR.items():
    for _alias in (_plural, _one, OBJECT_TYPE_IDS[_plural]):
        _ALIASES[_alias.lower()] = _plural


def canonical_type(name: str) -> str | None:
    """``companies``, ``company``, ``COMPANY`` and ``0-2`` all name the same object type."""
    return _ALIASES.get(name.lower())


MODIFIED_PROPERTY: dict[str, str] = {
    "companies": "hs_lastmodifieddate",
    "contacts": "lastmodifieddate",
    "deals": "hs_lastmodifieddate",
    "tickets": "hs_lastmodifieddate",
    "tasks": "hs_lastmodifieddate",
}

DEFAULT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    "tickets": (
        "content",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hs_pipeline",
        "hs_pipeline_stage",
        "hs_ticket_category",
        "hs_ticket_priority",
        "subject",
    ),
    "tasks": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
}

SEARCHABLE_TEXT: dict[str, tuple[str, ...]] = {
    "companies": ("name", "domain", "website"),
    "contacts": ("firstname", "lastname", "email"),
    "deals": ("dealname",),
    "tickets": ("subject", "content"),
    "tasks": ("hs_task_subject",),
}

PROPERTY_TYPES: dict[str, tuple[str, ...]] = {
    "string": ("text", "textarea", "file", "phonenumber", "html"),
    "number": ("number", "calculation_equation"),
    "date": ("date",),
    "datetime": ("date",),
    "enumeration": ("select", "radio", "checkbox", "booleancheckbox", "calculation_equation"),
    "bool": ("booleancheckbox", "calculation_equation"),
}


@dataclass
class PropertyDefinition:
    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    options: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    display_order: int = -1
    read_only: bool = False
    hubspot_defined: bool = True
    has_unique_value: bool = False
    hidden: bool = False
    form_field: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def allowed_values(self) -> set[str]:
        return {str(o["value"]) for o in self.options}


@dataclass
class PropertyGroupDefinition:
    name: str
    label: str
    display_order: int = -1
    archived: bool = False


def _options(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [
        {"label": label, "value": value, "description": "", "displayOrder": i, "hidden": False}
        for i, (value, label) in enumerate(pairs)
    ]


_STRING = ("string", "text")
_NUMBER = ("number", "number")
_DATETIME = ("datetime", "date")
_DATE = ("date", "date")

# name -> (label, (type, fieldType), read_only, custom, options)
_Spec = tuple[str, tuple[str, str], bool, bool, list[dict[str, Any]]]
_NO: list[dict[str, Any]] = []

_COMMON: dict[str, _Spec] = {
    "hs_object_id": ("Record ID", _NUMBER, True, False, _NO),
    "createdate": ("Create Date", _DATETIME, True, False, _NO),
    "hs_lastmodifieddate": ("Last Modified Date", _DATETIME, True, False, _NO),
}

_SPECS: dict[str, dict[str, _Spec]] = {
    "companies": {
        "name": ("Name", _STRING, False, False, _NO),
        "domain": ("Company Domain Name", _STRING, False, False, _NO),
        "website": ("Website URL", _STRING, False, False, _NO),
        "industry": ("Industry", _STRING, False, False, _NO),
        "numberofemployees": ("Number of Employees", _NUMBER, False, False, _NO),
        "annualrevenue": ("Annual Revenue", _NUMBER, False, False, _NO),
        "city": ("City", _STRING, False, False, _NO),
        "country": ("Country/Region", _STRING, False, False, _NO),
        "description": ("Description", ("string", "textarea"), False, False, _NO),
        "hubspot_owner_id": ("Company owner", ("enumeration", "select"), False, False, _NO),
        "lifecyclestage": (
            "Lifecycle Stage",
            ("enumeration", "radio"),
            False,
            False,
            _options(
                ("subscriber", "Subscriber"),
                ("lead", "Lead"),
                ("marketingqualifiedlead", "Marketing Qualified Lead"),
                ("salesqualifiedlead", "Sales Qualified Lead"),
                ("opportunity", "Opportunity"),
                ("customer", "Customer"),
                ("evangelist", "Evangelist"),
                ("other", "Other"),
            ),
        ),
        "salesforceaccountid": ("Salesforce Account ID", _STRING, False, False, _NO),
        "zendesk_organization_id": ("Zendesk organization ID", _STRING, False, True, _NO),
    },
    "contacts": {
        "email": ("Email", _STRING, False, False, _NO),
        "firstname": ("First Name", _STRING, False, False, _NO),
        "lastname": ("Last Name", _STRING, False, False, _NO),
        "jobtitle": ("Job Title", _STRING, False, False, _NO),
        "phone": ("Phone Number", ("string", "phonenumber"), False, False, _NO),
        "associatedcompanyid": ("Primary Associated Company ID", _NUMBER, False, False, _NO),
        "lastmodifieddate": ("Last Modified Date", _DATETIME, True, False, _NO),
        "customer_role": (
            "Customer role",
            ("enumeration", "select"),
            False,
            True,
            _options(
                ("executive_sponsor", "Executive Sponsor"),
                ("champion", "Champion"),
                ("admin", "Admin"),
                ("user", "User"),
            ),
        ),
    },
    "deals": {
        "dealname": ("Deal Name", _STRING, False, False, _NO),
        "amount": ("Amount", _NUMBER, False, False, _NO),
        "closedate": ("Close Date", _DATETIME, False, False, _NO),
        "pipeline": (
            "Pipeline",
            ("enumeration", "select"),
            False,
            False,
            _options(("default", "Sales Pipeline")),
        ),
        "dealstage": (
            "Deal Stage",
            ("enumeration", "radio"),
            False,
            False,
            _options(
                ("appointmentscheduled", "Appointment Scheduled"),
                ("qualifiedtobuy", "Qualified To Buy"),
                ("presentationscheduled", "Presentation Scheduled"),
                ("decisionmakerboughtin", "Decision Maker Bought-In"),
                ("contractsent", "Contract Sent"),
                ("closedwon", "Closed Won"),
                ("closedlost", "Closed Lost"),
            ),
        ),
        "seats": ("Seats", _NUMBER, False, True, _NO),
        "product_tier": (
            "Product tier",
            ("enumeration", "select"),
            False,
            True,
            _options(("starter", "Starter"), ("growth", "Growth"), ("enterprise", "Enterprise")),
        ),
        "renewal_date": ("Renewal date", _DATE, False, True, _NO),
    },
    "tickets": {
        "subject": ("Ticket name", _STRING, False, False, _NO),
        "content": ("Ticket description", ("string", "textarea"), False, False, _NO),
        "hs_pipeline": (
            "Pipeline",
            ("enumeration", "select"),
            False,
            False,
            _options(("0", "Support Pipeline")),
        ),
        "hs_pipeline_stage": (
            "Ticket status",
            ("enumeration", "select"),
            False,
            False,
            _options(("1", "New"), ("2", "Waiting on contact"), ("3", "Waiting on us"), ("4", "Closed")),
        ),
        "hs_ticket_priority": (
            "Priority",
            ("enumeration", "select"),
            False,
            False,
            _options(("LOW", "Low"), ("MEDIUM", "Medium"), ("HIGH", "High"), ("URGENT", "Urgent")),
        ),
        "hs_ticket_category": (
            "Category",
            ("enumeration", "select"),
            False,
            False,
            _options(
                ("PRODUCT_ISSUE", "Product issue"),
                ("BILLING_ISSUE", "Billing issue"),
                ("FEATURE_REQUEST", "Feature request"),
                ("GENERAL_INQUIRY", "General inquiry"),
            ),
        ),
        "closed_date": ("Close date", _DATETIME, False, False, _NO),
    },
    "tasks": {
        "hs_createdate": ("Create date", _DATETIME, True, False, _NO),
        "hs_timestamp": ("Due date", _DATETIME, False, False, _NO),
        "hs_task_completion_date": ("Completed at", _DATETIME, True, False, _NO),
        "hs_task_subject": ("Task Title", _STRING, False, False, _NO),
        "hs_task_body": ("Notes", ("string", "html"), False, False, _NO),
        "hs_task_status": (
            "Task Status",
            ("enumeration", "select"),
            False,
            False,
            _options(
                ("NOT_STARTED", "Not started"),
                ("IN_PROGRESS", "In progress"),
                ("WAITING", "Waiting"),
                ("COMPLETED", "Completed"),
                ("DEFERRED", "Deferred"),
            ),
        ),
        "hs_task_priority": (
            "Priority",
            ("enumeration", "select"),
            False,
            False,
            _options(
                ("NONE", "None"),
                ("LOW", "Low"),
                ("MEDIUM", "Medium"),
                ("HIGH", "High"),
            ),
        ),
        "hs_task_type": (
            "Task Type",
            ("enumeration", "select"),
            False,
            False,
            _options(
                ("CALL", "Call"),
                ("EMAIL", "Email"),
                ("TODO", "To-do"),
            ),
        ),
        "hubspot_owner_id": ("Assigned to", ("enumeration", "select"), False, False, _NO),
    },
}

DEFAULT_GROUP: dict[str, str] = {
    "companies": "companyinformation",
    "contacts": "contactinformation",
    "deals": "dealinformation",
    "tickets": "ticketinformation",
    "tasks": "taskinformation",
}
GROUP_LABELS: dict[str, str] = {
    "companyinformation": "Company information",
    "contactinformation": "Contact information",
    "dealinformation": "Deal information",
    "ticketinformation": "Ticket information",
    "taskinformation": "Task information",
}


def merged_ids_property(now: datetime) -> PropertyDefinition:
    """``hs_merged_object_ids``: defined on a portal's object type once a record of it is merged."""
    return PropertyDefinition(
        name="hs_merged_object_ids",
        label="Merged Record IDs",
        type="enumeration",
        field_type="checkbox",
        group_name="companyinformation",
        read_only=True,
        created_at=now,
        updated_at=now,
    )


def standard_properties(object_type: str, now: datetime) -> dict[str, PropertyDefinition]:
    """The property definitions a portal starts with for one object type."""
    specs = dict(_COMMON)
    specs.update(_SPECS[object_type])
    out: dict[str, PropertyDefinition] = {}
    for order, (name, (label, (ptype, ftype), read_only, custom, options)) in enumerate(specs.items()):
        out[name] = PropertyDefinition(
            name=name,
            label=label,
            type=ptype,
            field_type=ftype,
            group_name=DEFAULT_GROUP[object_type],
            options=[dict(o) for o in options],
            display_order=order if not custom else -1,
            read_only=read_only,
            hubspot_defined=not custom,
            has_unique_value=name == "hs_object_id",
            form_field=not read_only,
            created_at=now,
            updated_at=now,
        )
    return out


def standard_groups(object_type: str) -> dict[str, PropertyGroupDefinition]:
    name = DEFAULT_GROUP[object_type]
    return {name: PropertyGroupDefinition(name=name, label=GROUP_LABELS[name], display_order=0)}


# --- associations -------------------------------------------------------------------------


@dataclass(frozen=True)
class AssociationKind:
    """One direction of an association: its v4 type id/label and its v3 type name."""

    type_id: int
    label: str | None
    v3_name: str
    category: str = "HUBSPOT_DEFINED"

    def as_v4(self) -> dict[str, Any]:
        return {"category": self.category, "typeId": self.type_id, "label": self.label}


# (from, to) -> (unlabeled kind, primary kind or None)
ASSOCIATION_KINDS: dict[tuple[str, str], tuple[AssociationKind, AssociationKind | None]] = {
    ("contacts", "companies"): (
        AssociationKind(279, None, "contact_to_company_unlabeled"),
        AssociationKind(1, "Primary", "contact_to_company"),
    ),
    ("companies", "contacts"): (
        AssociationKind(280, None, "company_to_contact_unlabeled"),
        AssociationKind(2, "Primary", "company_to_contact"),
    ),
    ("deals", "companies"): (
        AssociationKind(341, None, "deal_to_company_unlabeled"),
        AssociationKind(5, "Primary", "deal_to_company"),
    ),
    ("companies", "deals"): (
        AssociationKind(342, None, "company_to_deal_unlabeled"),
        AssociationKind(6, "Primary", "company_to_deal"),
    ),
    ("tickets", "companies"): (
        AssociationKind(339, None, "ticket_to_company_unlabeled"),
        AssociationKind(26, "Primary", "ticket_to_company"),
    ),
    ("companies", "tickets"): (
        AssociationKind(340, None, "company_to_ticket_unlabeled"),
        AssociationKind(25, "Primary", "company_to_ticket"),
    ),
    ("deals", "contacts"): (AssociationKind(3, None, "deal_to_contact"), None),
    ("contacts", "deals"): (AssociationKind(4, None, "contact_to_deal"), None),
    ("tickets", "contacts"): (AssociationKind(16, None, "ticket_to_contact"), None),
    ("contacts", "tickets"): (AssociationKind(15, None, "contact_to_ticket"), None),
    ("tickets", "deals"): (AssociationKind(28, None, "ticket_to_deal"), None),
    ("deals", "tickets"): (AssociationKind(27, None, "deal_to_ticket"), None),
    ("tasks", "companies"): (AssociationKind(192, None, "task_to_company"), None),
    ("companies", "tasks"): (AssociationKind(191, None, "company_to_task"), None),
    ("tasks", "contacts"): (AssociationKind(204, None, "task_to_contact"), None),
    ("contacts", "tasks"): (AssociationKind(203, None, "contact_to_task"), None),
}
# Company -> company is directional: 13 parent-to-child, 14 child-to-parent.
PARENT_TO_CHILD = AssociationKind(13, "Child Company", "parent_to_child_company")
CHILD_TO_PARENT = AssociationKind(14, "Parent Company", "child_to_parent_company")

KIND_BY_TYPE_ID: dict[int, tuple[str, str, AssociationKind]] = {}
for (_from, _to), (_plain, _primary) in ASSOCIATION_KINDS.items():
    KIND_BY_TYPE_ID[_plain.type_id] = (_from, _to, _plain)
    if _primary is not None:
        KIND_BY_TYPE_ID[_primary.type_id] = (_from, _to, _primary)
KIND_BY_TYPE_ID[13] = ("companies", "companies", PARENT_TO_CHILD)
KIND_BY_TYPE_ID[14] = ("companies", "companies", CHILD_TO_PARENT)
