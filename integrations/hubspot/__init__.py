"""HubSpot: the only code that speaks the HubSpot API (see `integrations.hubspot.descriptor`)."""

from integrations.hubspot.adapter import HubSpotAdapter

__all__ = ["HubSpotAdapter"]
