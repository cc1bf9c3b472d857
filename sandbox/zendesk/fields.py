"""Type checks of custom organization field values, as Zendesk makes them on write.

A ``decimal`` field takes a number (or a numeric string), an ``integer`` a whole number, a
``checkbox`` a boolean, a ``date`` an ISO date (``YYYY-MM-DD``), a ``dropdown`` one of its
option values; ``null`` clears any field. Text-like types take any string.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
_INTEGER = re.compile(r"^-?\d+$")


def _valid(kind: str, value: Any, options: list[dict[str, Any]] | None) -> bool:
    if kind == "checkbox":
        return isinstance(value, bool)
    if kind in ("decimal", "integer"):
        if isinstance(value, bool):
            return False
        if isinstance(value, int) or (kind == "decimal" and isinstance(value, float)):
            return True
        return isinstance(value, str) and (_DECIMAL if kind == "decimal" else _INTEGER).match(value) is not None
    if kind == "date":
        try:
            date.fromisoformat(str(value)[:10])
        except ValueError:
            return False
        return isinstance(value, str)
    if kind == "dropdown":
        return options is None or value in {o.get("value") for o in options}
    return isinstance(value, str | int | float)


def field_problem(field: dict[str, Any], value: Any) -> str | None:
    """Why ``value`` cannot be stored in the organization field ``field``; None when it can."""
    if value is None:
        return None
    if _valid(str(field["type"]), value, field.get("custom_field_options")):
        return None
    return f"{field['title']}: {value!r} is not a valid {field['type']} value"
