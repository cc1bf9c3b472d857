"""The audit log's one writer: who changed what (users, roles, tokens, connections, models, syncs).

Every layer that changes something an admin cares about records it here, in the same transaction as
the change, so a change and its audit row land together or not at all. ``detail`` holds names and
counts only — never a secret, token or credential value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from store.models import AuditEvent

COMMAND_LINE = "command line"
"""The actor of a change made with the `canary` command."""


def record_audit(session: Session, actor: str, action: str, target: str, actor_user_id: int | None = None,
                 *, tenant_id: int | None = None, **detail: Any) -> AuditEvent:
    """Add one audit row. ``tenant_id`` is needed only in a session opened across tenants (an install)."""
    event = AuditEvent(actor=actor[:320], actor_user_id=actor_user_id, action=action, target=target[:320],
                       detail=detail)
    if tenant_id is not None:
        event.tenant_id = tenant_id
    session.add(event)
    return event


def changed_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The names (never the values) of the settings added, changed or removed between two versions."""
    return sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))
