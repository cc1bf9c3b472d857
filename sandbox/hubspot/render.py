"""HubSpot's wire forms: JSON answers, error answers, request-body and query parsing, property JSON."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox.hubspot.errors import BATCH_LIMIT_MESSAGE, HubSpotError, correlation_id, validation_error
from sandbox.hubspot.schema import DEFAULT_PROPERTIES, PropertyDefinition, PropertyGroupDefinition
from sandbox.hubspot.store import iso_ms

BATCH_MAX_INPUTS = 100


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status=status,
        mimetype="application/json;charset=utf-8",
        headers=headers,
    )


def error_response(err: HubSpotError, headers: dict[str, str] | None = None) -> Response:
    corr = correlation_id()
    out = {"X-HubSpot-Correlation-Id": corr, **(headers or {})}
    return json_response(err.body(corr), err.status, out)


def json_body(request: Request) -> dict[str, Any]:
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw or b"{}")
    except json.JSONDecodeError as exc:
        raise validation_error(f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise validation_error("Invalid input JSON: expected an object.")
    return data


def flag(request: Request, name: str) -> bool:
    return request.args.get(name, "false").lower() == "true"


def names(raw: str | list[str] | None, object_type: str) -> list[str]:
    """Property (or association) names from a query or body value; the type's defaults when none."""
    if raw is None:
        return list(DEFAULT_PROPERTIES[object_type])
    if isinstance(raw, str):
        raw = [raw]
    out: list[str] = []
    for item in raw:
        out.extend(n.strip() for n in str(item).split(",") if n.strip())
    return out or list(DEFAULT_PROPERTIES[object_type])


def limit(raw: Any, default: int, maximum: int) -> int:
    try:
        value = int(raw) if raw not in (None, "") else default
    except (TypeError, ValueError):
        raise validation_error(f"limit must be an integer, got {raw!r}") from None
    if not 0 < value <= maximum:
        raise validation_error(f"limit must be between 1 and {maximum}, got {value}.")
    return value


def inputs(body: dict[str, Any], maximum: int = BATCH_MAX_INPUTS) -> list[dict[str, Any]]:
    """The ``inputs`` of a batch body, at most ``maximum`` of them."""
    items = body.get("inputs")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise validation_error("Invalid input: `inputs` must be a list of objects.")
    if len(items) > maximum:
        if maximum == BATCH_MAX_INPUTS:
            raise validation_error(BATCH_LIMIT_MESSAGE)
        raise validation_error(
            f"The maximum number of inputs supported in a batch is {maximum}. "
            "Please reduce the number of items and try again"
        )
    return items


def property_json(prop: PropertyDefinition) -> dict[str, Any]:
    out: dict[str, Any] = {
        "updatedAt": iso_ms(prop.updated_at) if prop.updated_at else None,
        "createdAt": iso_ms(prop.created_at) if prop.created_at else None,
        "name": prop.name,
        "label": prop.label,
        "type": prop.type,
        "fieldType": prop.field_type,
        "description": prop.description,
        "groupName": prop.group_name,
        "options": [dict(o) for o in prop.options],
        "displayOrder": prop.display_order,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": prop.has_unique_value,
        "hidden": prop.hidden,
        "modificationMetadata": {
            "archivable": not prop.hubspot_defined,
            "readOnlyDefinition": prop.hubspot_defined,
            "readOnlyValue": prop.read_only,
            "readOnlyOptions": prop.hubspot_defined and not prop.options,
        },
        "formField": prop.form_field,
        "dataSensitivity": "non_sensitive",
        "archived": False,
    }
    if prop.hubspot_defined:
        out["hubspotDefined"] = True
    return out


def group_json(group: PropertyGroupDefinition) -> dict[str, Any]:
    return {
        "name": group.name,
        "label": group.label,
        "displayOrder": group.display_order,
        "archived": group.archived,
    }
