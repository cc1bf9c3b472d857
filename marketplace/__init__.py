"""Marketplace packaging: render, build and check the Zendesk, Salesforce and HubSpot apps."""
