"""Canary's health fields in HubSpot: company property names, their shapes, and the checks of a value."""

from __future__ import annotations

import math
from dataclasses import dataclass

from integrations.base import FieldSpec
from integrations.hubspot.records import HEALTH_PROPERTIES, parse_instant

GROUP_NAME = "canary_health"
GROUP_LABEL = "Canary health"
PROPERTY_NAMES: dict[str, str] = HEALTH_PROPERTIES
BANDS = ("good", "average", "poor")
MAX_TEXT = 65_536


@dataclass(frozen=True)
class PropertyShape:
    """A Canary field in HubSpot: property ``type``/``fieldType`` and, for enumerations, the options."""

    type: str
    field_type: str
    options: tuple[str, ...] = ()

    def problem(self, value: str) -> str | None:
        """Why HubSpot would reject ``value`` for this property (None: it would not). "" clears a value."""
        if value == "":
            return None
        if self.type == "number":
            try:
                number = float(value)
            except ValueError:
                return f"{value!r} is not a number"
            return None if math.isfinite(number) else f"{value!r} is not a finite number"
        if self.type in ("datetime", "date"):
            return None if parse_instant(value) else f"{value!r} is not a date-time"
        if self.type == "enumeration" and self.options and value not in self.options:
            return f"{value!r} is not one of {', '.join(self.options)}"
        if len(value) > MAX_TEXT:
            return f"the value is {len(value)} characters; HubSpot stores at most {MAX_TEXT}"
        return None


SHAPES_BY_KEY: dict[str, PropertyShape] = {"band": PropertyShape("enumeration", "select", BANDS)}
SHAPES_BY_KIND: dict[str, PropertyShape] = {
    "number": PropertyShape("number", "number"),
    "text": PropertyShape("string", "text"),
    "long_text": PropertyShape("string", "textarea"),
    "datetime": PropertyShape("datetime", "date"),
}
DEFAULT_SHAPES: dict[str, PropertyShape] = {
    "canary_health_score": SHAPES_BY_KIND["number"],
    "canary_health_band": SHAPES_BY_KEY["band"],
    "canary_health_trend": SHAPES_BY_KIND["number"],
    "canary_health_reasons": SHAPES_BY_KIND["long_text"],
    "canary_scored_at": SHAPES_BY_KIND["datetime"],
}


def property_name(key: str) -> str:
    return PROPERTY_NAMES.get(key, f"canary_{key}")


def shape_of(spec: FieldSpec) -> PropertyShape:
    return SHAPES_BY_KEY.get(spec.key) or SHAPES_BY_KIND[spec.kind]


