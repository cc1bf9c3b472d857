"""Real-time work for one workspace: the changes a webhook or the collector reported.

`process_changes` brings the changed records in, rescores only the accounts they touch, evaluates
their alerts, lists and plays, and pushes what changed — the batch path's functions, not a copy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sync.changes import Change

log = logging.getLogger("canary.realtime")


def process_changes_for_app(app: Any, tenant_id: int, changes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Entry point for a queue: the app's store and connections, the changes as plain dicts."""
    from extensions import canary_store

    parsed = [Change.from_dict(c) for c in changes]
    return process_changes(canary_store(app), tenant_id, parsed, app=app)


def process_changes(store: Any, tenant_id: int, changes: Sequence[Change], *, app: Any = None) -> dict[str, Any]:
    raise NotImplementedError("being built: issue 15")
