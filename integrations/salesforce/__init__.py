"""Salesforce adapter: the only code that speaks the Salesforce API.

Importing the package registers `SalesforceAdapter` under ``"salesforce"`` (`integrations.base.adapter_for`).
"""

from integrations.salesforce.adapter import SalesforceAdapter
from integrations.salesforce.connection import SalesforceRefused

__all__ = ["SalesforceAdapter", "SalesforceRefused"]
