"""The embedded sandbox: local emulators of Salesforce, Zendesk and HubSpot over HTTP."""
