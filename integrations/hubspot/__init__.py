"""HubSpot adapter: the only code that speaks the HubSpot API."""
