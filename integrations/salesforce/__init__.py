"""Salesforce: the only code that speaks the Salesforce API (see `integrations.salesforce.descriptor`)."""

from integrations.salesforce.adapter import SalesforceAdapter

__all__ = ["SalesforceAdapter"]
