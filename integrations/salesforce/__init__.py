"""Salesforce adapter: the only code that speaks the Salesforce API."""
