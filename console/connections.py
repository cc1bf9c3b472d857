"""The Connections page's facts, and recording sync and push runs so it can show them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integrations.registry import VENDOR_NAMES
from store.db import Store
from store.models import Connection, PushLedger, SourceLink, SyncCursor, SyncRun
from sync.subscriptions import latest as latest_webhooks

SYSTEMS = VENDOR_NAMES


def record_sync(store: Store, tenant_id: int, summary: Any, trigger: str, started: dt.datetime) -> None:
    """One `SyncRun` per system of a `sync.runner.SyncSummary`."""
    finished = dt.datetime.now(dt.UTC)
    with store.session(tenant_id) as s:
        for system, part in summary.systems.items():
            s.add(SyncRun(system=system, kind="pull", trigger=trigger, started_at=started, finished_at=finished,
                          records=sum(o.pulled for o in part.objects.values()),
                          changed=sum(o.changed for o in part.objects.values()), calls=part.calls,
                          quota_left=part.quota_left, failure=part.stopped))


def record_push(store: Store, tenant_id: int, system: str, result: Any, trigger: str, started: dt.datetime) -> None:
    with store.session(tenant_id) as s:
        s.add(SyncRun(system=system, kind="push", trigger=trigger, started_at=started,
                      finished_at=dt.datetime.now(dt.UTC), records=result.pushed, changed=len(result.failed),
                      calls=result.calls, failure=result.stopped))


def connection_facts(s: Session) -> list[dict[str, Any]]:
    connected = {c.system: c for c in s.scalars(select(Connection))}
    out = []
    for system in SYSTEMS:
        connection = connected.get(system)
        last_pull = s.scalar(select(SyncRun).where(SyncRun.system == system, SyncRun.kind == "pull")
                             .order_by(SyncRun.started_at.desc()))
        last_push = s.scalar(select(SyncRun).where(SyncRun.system == system, SyncRun.kind == "push")
                             .order_by(SyncRun.started_at.desc()))
        cursor_at = s.scalar(select(func.max(SyncCursor.updated_at)).where(SyncCursor.system == system))
        failures = list(s.execute(select(PushLedger.external_id, PushLedger.field, PushLedger.last_error)
                                  .where(PushLedger.system == system, PushLedger.last_error.is_not(None))
                                  .limit(10)))
        out.append({
            "system": system, "connection": connection,
            "linked_records": s.scalar(select(func.count()).select_from(SourceLink).where(
                SourceLink.system == system)) or 0,
            "written_fields": s.scalar(select(func.count()).select_from(PushLedger).where(
                PushLedger.system == system, PushLedger.written_at.is_not(None))) or 0,
            "last_pull": last_pull, "last_push": last_push, "cursor_at": cursor_at, "push_failures": failures,
            "webhooks": latest_webhooks(s, system) if connection is not None else None,
        })
    return out
