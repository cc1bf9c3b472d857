"""Write health back to the vendors: only what changed since the last write, in the fewest calls.

The PushLedger remembers, per vendor record and field, the last value written. A push
compares each linked record's desired values with the ledger and sends only records with
a difference (or with a failure to retry). The adapter batches them (Salesforce sObject
Collections of 200 or one Bulk API 2.0 job above a threshold, HubSpot batch update of
100, Zendesk ``update_many`` of 100) and reports per-record outcomes: successes update the
ledger, failures keep their error and are retried next run — one bad record never blocks
the others. Nothing changed: no call at all.

Then, for a CRM that keeps tasks (`VendorDescriptor.tasks`), Canary's tasks: created for linked
accounts, brought up to date, never twice (`sync.tasks.push_tasks`), in the same push.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integrations.base import Adapter, FieldSpec, FieldUpdate, PushResult
from integrations.errors import AuthError, FatalError
from integrations.registry import vendor
from store.db import Store
from store.models import HealthSnapshot, PushLedger, SourceLink
from sync.tasks import TaskPushSummary, push_tasks
from sync.writer import load_cursor, save_cursor

log = logging.getLogger("canary.push")

HEALTH_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("score", "Canary Health Score", "number",
              "Customer health from 0 (at risk) to 100 (healthy), computed by Canary."),
    FieldSpec("band", "Canary Health Band", "text", "good (70-100), average (40-69) or poor (below 40)."),
    FieldSpec("trend", "Canary Health Trend", "number",
              "Change of the health score in points per day over the last 30 days."),
    FieldSpec("reasons", "Canary Health Reasons", "long_text", "The main reasons for the score, in plain words."),
    FieldSpec("scored_at", "Canary Scored At", "datetime", "When Canary last computed this health score."),
)
COMPARED = ("score", "band", "trend", "reasons")
"""scored_at goes along with a change, but alone never causes a write."""
MAX_REASONS_CHARS = 1000


def _spec_version() -> str:
    text = "|".join(f"{s.key}:{s.kind}:{s.label}" for s in HEALTH_FIELDS)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def format_values(snapshot: HealthSnapshot) -> dict[str, str | None]:
    reasons = snapshot.reasons or []
    texts = [r["text"] if isinstance(r, dict) and "text" in r else str(r) for r in reasons[:3]]
    joined = "; ".join(texts)
    if len(joined) > MAX_REASONS_CHARS:
        joined = joined[: MAX_REASONS_CHARS - 1] + "…"
    return {
        "score": None if snapshot.score is None else str(round(snapshot.score)),
        "band": snapshot.band,
        "trend": None if snapshot.trend is None else f"{snapshot.trend:.1f}",
        "reasons": joined or None,
        "scored_at": snapshot.computed_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def latest_values(session: Session) -> dict[int, dict[str, str | None]]:
    """Desired field values per account: from each account's newest health snapshot."""
    newest = (select(HealthSnapshot.account_id, func.max(HealthSnapshot.day).label("day"))
              .group_by(HealthSnapshot.account_id).subquery())
    rows = session.scalars(select(HealthSnapshot).join(
        newest, (HealthSnapshot.account_id == newest.c.account_id) & (HealthSnapshot.day == newest.c.day)))
    return {s.account_id: format_values(s) for s in rows}


@dataclass
class PushSummary:
    considered: int = 0
    changed: int = 0
    pushed: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    fields_created: list[str] = field(default_factory=list)
    stopped: str | None = None
    tasks: TaskPushSummary | None = None
    """Canary's tasks in this CRM (None: the vendor keeps no tasks); its calls are counted there."""

    def as_dict(self) -> dict[str, Any]:
        return {"considered": self.considered, "changed": self.changed, "pushed": self.pushed,
                "failed": len(self.failed), "calls": self.calls, "fields_created": self.fields_created,
                "stopped": self.stopped, "tasks": self.tasks.as_dict() if self.tasks else None}


def plan_updates(session: Session, system: str) -> list[FieldUpdate]:
    """Records of ``system`` whose desired values differ from the ledger (or failed last time)."""
    desired = latest_values(session)
    links = session.execute(select(SourceLink.external_id, SourceLink.account_id).where(
        SourceLink.system == system, SourceLink.account_id.is_not(None))).all()
    ledger: dict[tuple[str, str], PushLedger] = {
        (row.external_id, row.field): row
        for row in session.scalars(select(PushLedger).where(PushLedger.system == system))
    }
    updates: list[FieldUpdate] = []
    for external_id, account_id in sorted(links, key=lambda pair: pair[0]):
        values = desired.get(account_id) if account_id is not None else None
        if values is None:
            continue
        dirty = False
        for key in COMPARED:
            row = ledger.get((external_id, key))
            if row is None or row.last_error is not None or row.value != values[key]:
                dirty = True
                break
        if dirty:
            updates.append(FieldUpdate(external_id, values))
    return updates


def record_outcome(session: Session, system: str, updates: list[FieldUpdate], succeeded: set[str],
                   failed: Mapping[str, str], now: dt.datetime) -> None:
    existing: dict[tuple[str, str], PushLedger] = {
        (row.external_id, row.field): row
        for row in session.scalars(select(PushLedger).where(PushLedger.system == system))
    }
    for update in updates:
        ok = update.external_id in succeeded
        error = failed.get(update.external_id, None if ok else "no result reported for this record")
        for key, value in update.values.items():
            row = existing.get((update.external_id, key))
            if row is None:
                row = PushLedger(system=system, external_id=update.external_id, field=key)
                session.add(row)
            if ok:
                row.value, row.written_at, row.last_error = value, now, None
            else:
                row.last_error = error


def push(store: Store, tenant_id: int, system: str, adapter: Adapter, *, now: dt.datetime | None = None,
         reconnect: Callable[[str], Adapter] | None = None) -> PushSummary:
    """Write the values that differ from the ledger, then (a CRM) the tasks; ``reconnect`` as in
    `sync.runner.sync` (once)."""
    now = now or dt.datetime.now(dt.UTC)
    holder = [adapter]
    summary = _push_fields(store, tenant_id, system, adapter, now, reconnect, holder)
    if vendor(system).tasks:
        summary.tasks = push_tasks(store, tenant_id, system, holder[0], now=now)
    return summary


def _push_fields(store: Store, tenant_id: int, system: str, adapter: Adapter, now: dt.datetime,
                 reconnect: Callable[[str], Adapter] | None, holder: list[Adapter]) -> PushSummary:
    """The health fields; ``holder[0]`` ends as the adapter in use (a new one after a reconnect)."""
    summary = PushSummary()
    with store.session(tenant_id) as session:
        updates = plan_updates(session, system)
        summary.considered = len(updates)
        summary.changed = len(updates)
        fields_ready = load_cursor(session, system, "fields") == _spec_version()
    if not updates:
        return summary
    calls_before, spent = _calls(adapter), 0

    def write(target: Adapter) -> PushResult:
        nonlocal fields_ready
        if not fields_ready:
            summary.fields_created = target.ensure_fields(HEALTH_FIELDS)
            with store.session(tenant_id) as session:
                save_cursor(session, system, "fields", _spec_version())
            fields_ready = True
        return target.push_fields(updates)

    try:
        try:
            result = write(adapter)
        except AuthError:
            if reconnect is None:
                raise
            spent = _calls(adapter) - calls_before
            adapter = holder[0] = reconnect(system)
            calls_before = _calls(adapter)
            result = write(adapter)
    except (FatalError, AuthError) as exc:
        summary.stopped = str(exc)
        log.warning("%s push stopped: %s", system, exc)
        summary.calls = spent + _calls(adapter) - calls_before
        return summary
    with store.session(tenant_id) as session:
        record_outcome(session, system, updates, set(result.succeeded), result.failed, now)
    summary.pushed = len(result.succeeded)
    summary.failed = dict(result.failed)
    summary.calls = spent + _calls(adapter) - calls_before
    return summary


def _calls(adapter: Adapter) -> int:
    return int(getattr(adapter, "calls", 0))
