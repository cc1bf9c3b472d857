"""Zendesk: the only code that speaks the Zendesk API (see `integrations.zendesk.descriptor`)."""

from integrations.zendesk.adapter import ZendeskAdapter

__all__ = ["ZendeskAdapter"]
