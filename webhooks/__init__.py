"""Vendor webhooks into Canary: ``POST /webhooks/<vendor>`` (and ``/webhooks/<vendor>/<account>``).

Each delivery is verified, de-duplicated and parsed into `sync.changes.Change`s, which go to
`jobs.submit_changes`; nothing else happens in the request, so it answers well inside the vendors'
timeouts. The vendor specifics live in ``integrations/<vendor>/webhooks.py`` (`integrations.webhooks`),
declared on each descriptor as ``webhooks``; see docs/architecture.md, "Webhooks".
"""

from webhooks.views import webhooks

__all__ = ["webhooks"]
