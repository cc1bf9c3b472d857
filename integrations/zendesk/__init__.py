"""Zendesk adapter: the only code that speaks the Zendesk API (importing it registers ``"zendesk"``)."""

from integrations.zendesk.adapter import ZendeskAdapter, ZendeskRefused

__all__ = ["ZendeskAdapter", "ZendeskRefused"]
