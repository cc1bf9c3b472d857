"""Local emulator of HubSpot's CRM API (see `sandbox.hubspot.emulator` for how to point the SDK at it)."""

from sandbox.hubspot.emulator import HubSpotEmulator

__all__ = ["HubSpotEmulator"]
