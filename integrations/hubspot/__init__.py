"""HubSpot adapter: the only code that speaks the HubSpot API.

Importing the package registers ``HubSpotAdapter`` under ``"hubspot"`` (`integrations.base.adapter_for`).
"""

from integrations.hubspot.adapter import HubSpotAdapter

__all__ = ["HubSpotAdapter"]
