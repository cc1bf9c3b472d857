"""Canary's health fields in Zendesk: organization field keys and types, and values in each field's type.

Zendesk type-checks custom field values on write (a ``decimal`` field refuses ``"abc"``; the
``update_many`` job then fails that organization alone). Canary's values are text
(``"72"``, ``"1.5"``, ``"2026-11-01T12:00:00Z"``), so `typed_value` sends each in the JSON
type of the field it goes to, as the account defines that field (an admin may have made
``canary_health_score`` an integer field before Canary created it). A value that has no
form in that type is sent as it is: Zendesk refuses it for that organization, and the push
reports the refusal as that organization's failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP
from typing import Any

from integrations.values import decimal_or_none, iso_datetime

VENDOR_FIELDS: dict[str, str] = {
    "score": "canary_health_score",
    "band": "canary_health_band",
    "trend": "canary_health_trend",
    "reasons": "canary_health_reasons",
    "scored_at": "canary_scored_at",
}
"""Canonical health key -> Zendesk organization field key."""
FIELD_TYPES: dict[str, str] = {"number": "decimal", "text": "text", "long_text": "textarea", "datetime": "text"}
"""FieldSpec.kind -> Zendesk field type (``date`` holds a day only, so a timestamp is text)."""
TEXT_TYPES = frozenset({"text", "textarea", "regexp"})


def vendor_key(key: str) -> str:
    """The Zendesk organization field key of a canonical health key."""
    return VENDOR_FIELDS.get(key, f"canary_{key}")


def field_options(field: Mapping[str, Any]) -> tuple[str, ...]:
    """The option values (tags) of a ``dropdown`` field, as the field list answers them."""
    options = field.get("custom_field_options")
    if not isinstance(options, Sequence) or isinstance(options, str):
        return ()
    return tuple(str(o["value"]) for o in options if isinstance(o, Mapping) and o.get("value") is not None)


def typed_value(field_type: str | None, value: Any, options: Sequence[str] = ()) -> Any:
    """``value`` in the JSON type a Zendesk field of ``field_type`` stores; unchanged when it has no such form.

    decimal: a number; integer: a whole number (rounded half up); text, textarea, regexp: a
    string; date: ``YYYY-MM-DD`` (the day of a timestamp); checkbox: a boolean (``"true"`` /
    ``"false"``); dropdown: the option value (tag) the value names, ignoring case. ``None``
    clears any field; a field Zendesk does not have (``field_type`` None) takes the value as it is.
    """
    if value is None or field_type is None:
        return value
    if field_type in ("decimal", "integer"):
        number = decimal_or_none(value)
        if number is None:
            return value
        if field_type == "integer" or number == number.to_integral_value():
            return int(number.to_integral_value(rounding=ROUND_HALF_UP))
        return float(number)
    if field_type in TEXT_TYPES:
        return value if isinstance(value, str) else str(value)
    if field_type == "date":
        moment = iso_datetime(value)
        return moment.date().isoformat() if moment is not None else value
    if field_type == "checkbox":
        words = {"true": True, "false": False}
        return value if isinstance(value, bool) else words.get(str(value).strip().lower(), value)
    if field_type == "dropdown":
        by_word = {o.casefold(): o for o in options}
        return by_word.get(str(value).strip().casefold(), value)
    return value
