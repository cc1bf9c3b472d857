"""Zendesk adapter: the only code that speaks the Zendesk API."""
