"""Canary's health fields in Zendesk: organization field keys and types."""

from __future__ import annotations

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


def vendor_key(key: str) -> str:
    """The Zendesk organization field key of a canonical health key."""
    return VENDOR_FIELDS.get(key, f"canary_{key}")
