"""HubSpot: the only code that speaks the HubSpot API (see `integrations.hubspot.descriptor`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from integrations.hubspot.adapter import HubSpotAdapter

__all__ = ["HubSpotAdapter"]


def __getattr__(name: str) -> Any:
    """`HubSpotAdapter` imported on first use: the descriptor, the webhooks and the fields load without the SDK."""
    if name == "HubSpotAdapter":
        from integrations.hubspot.adapter import HubSpotAdapter

        return HubSpotAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
