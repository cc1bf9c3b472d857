"""Canary's health fields in Salesforce: custom field names, their metadata and their values."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from integrations.base import FieldSpec
from integrations.values import iso_datetime


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
            moment = value if isinstance(value, dt.datetime) else iso_datetime(str(value))
            if moment is None:
                raise ValueError(f"scored_at: {value!r} is not a datetime")
            out[name] = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        else:
            out[name] = str(value)
    return out


TASK_KEY_FIELD = "Canary_Task_Key__c"
"""Canary's task key on a ``Task``: written with the create, so a create whose answer was lost is found by
a query before anything is sent again, and a pull reads only Canary's tasks."""
TASK_KEY_LENGTH = 64


def task_key_metadata() -> dict[str, Any]:
    """Tooling API ``CustomField`` body of the task key. Task and Event custom fields are Activity fields:
    the field is created on ``Activity`` and shows on ``Task``."""
    return {"FullName": f"Activity.{TASK_KEY_FIELD}", "Metadata": {
        "label": "Canary Task Key", "type": "Text", "length": TASK_KEY_LENGTH,
        "description": "Written by Canary: the key of the Canary task this task is.",
        "inlineHelpText": "Set by Canary when it creates the task; leave it as it is."}}
