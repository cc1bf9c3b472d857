"""Salesforce: the only code that speaks the Salesforce API (see `integrations.salesforce.descriptor`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from integrations.salesforce.adapter import SalesforceAdapter

__all__ = ["SalesforceAdapter"]


def __getattr__(name: str) -> Any:
    """`SalesforceAdapter` imported on first use: the descriptor, the webhooks and the fields load without the SDK."""
    if name == "SalesforceAdapter":
        from integrations.salesforce.adapter import SalesforceAdapter

        return SalesforceAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
