"""Real-time work for one workspace: the changes a webhook or the collector reported.

`process_changes` fetches the changed records by id (`sync.fetch.fetch_records`, no cursor moved),
rescores only the accounts they touch (`sync.health.score_tenant(only=...)`, which patches the base reports'
sources for them: `sync.base_reports.patch_base_reports`), evaluates those
accounts' alerts, lists and plays, and pushes what changed to every connected system — the batch
path's functions on fewer rows, not a second copy. When the rescore could not patch the report sources
(the first change of a new day, usage of accounts it did not rescore: they were dropped), the job
prepares them again last, as a sync does, so the report pages do not read the snapshots until the next one.
Ordering and duplicates are harmless: a record is always fetched in its current state, and a push sends only
what differs from the ledger, so Canary's own write-back coming back as a webhook ends in "nothing changed".
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from integrations.base import OBJECTS
from store.models import Contact, SourceLink, Subscription, SurveyResponse, Task, TaskLink, Ticket
from sync.changes import Change

log = logging.getLogger("canary.realtime")


@dataclass
class RealtimeSummary:
    changes: int = 0
    accounts: list[int] = field(default_factory=list)
    fetch_calls: dict[str, int] = field(default_factory=dict)
    bands: dict[str, int] = field(default_factory=dict)
    alerts_raised: int = 0
    alerts_resolved: int = 0
    lists_entered: int = 0
    lists_left: int = 0
    plays_started: int = 0
    pushed: dict[str, int] = field(default_factory=dict)
    push_calls: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    reports_prepared: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"changes": self.changes, "accounts": self.accounts, "fetch_calls": self.fetch_calls,
                "bands": self.bands, "alerts_raised": self.alerts_raised, "alerts_resolved": self.alerts_resolved,
                "lists_entered": self.lists_entered, "lists_left": self.lists_left,
                "plays_started": self.plays_started, "pushed": self.pushed, "push_calls": self.push_calls,
                "problems": self.problems, "reports_prepared": self.reports_prepared}


def accounts_of(session: Any, changes: Iterable[Change]) -> set[int]:
    """The Canary accounts the changed records belong to now (as stored)."""
    by_kind: dict[tuple[str, str], set[str]] = defaultdict(set)
    for c in changes:
        by_kind[(c.system, c.object)].add(c.external_id)
    found: set[int | None] = set()
    for (system, obj), ids in by_kind.items():
        wanted = sorted(ids)
        if obj == "accounts" or obj == "usage":
            found |= set(session.scalars(select(SourceLink.account_id).where(
                SourceLink.system == ("product" if obj == "usage" else system), SourceLink.external_id.in_(wanted))))
        elif obj == "deals":
            found |= set(session.scalars(select(Subscription.account_id).where(
                Subscription.system == system, Subscription.external_id.in_(wanted))))
        elif obj == "tickets":
            found |= set(session.scalars(select(Ticket.account_id).where(
                Ticket.system == system, Ticket.external_id.in_(wanted))))
        elif obj == "satisfaction":
            found |= set(session.scalars(select(SurveyResponse.account_id).where(
                SurveyResponse.source == system, SurveyResponse.source_ref.in_(wanted))))
        elif obj == "tasks":
            found |= set(session.scalars(select(Task.account_id).join(TaskLink, TaskLink.task_id == Task.id).where(
                TaskLink.system == system, TaskLink.external_id.in_(wanted))))
        elif obj == "contacts":
            found |= set(session.scalars(select(Contact.account_id).where(
                Contact.source_ids[system].as_string().in_(wanted))))
    return {a for a in found if a is not None}


def _prepare_dropped_reports(store: Any, tenant_id: int, model: Any) -> bool:
    """The report sources prepared again when the rescore dropped them (`sync.base_reports.sources_missing`):
    minutes of the worker's at 100,000 accounts, once, instead of every report page reading the snapshots (tens
    of seconds each at that size) until the next sync; with them the revenue reports' (`sync.reports.
    prepare_reports`: a new latest day changes the renewal forecast's p(band)). Returns whether it did."""
    from sync.base_reports import prepare_base_reports, sources_missing
    from sync.reports import prepare_reports

    with store.session(tenant_id) as session:
        if not sources_missing(session):
            return False
        views = prepare_base_reports(session, model)
        prepare_reports(session)  # and the renewal forecast's p(band) for the new latest day, as a sync does
    log.info("workspace %s: report sources prepared again after a real-time change (%s views)", tenant_id, views)
    return True


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def process_changes_for_app(app: Any, tenant_id: int, changes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Entry point for a job: the app's store, connections, model and mail; the changes as plain dicts."""
    from console.mail import play_effects
    from extensions import canary_store, credential_cipher, health_model
    from sync.connections import TenantAdapters

    connected = TenantAdapters(canary_store(app), credential_cipher(app), tenant_id, config=app.config)
    parsed = [Change.from_dict(dict(c)) for c in changes]
    return process_changes(canary_store(app), tenant_id, parsed, adapters=connected.build(None),
                           model=health_model(app), effects=play_effects(app.config)).as_dict()


def process_changes(store: Any, tenant_id: int, changes: Sequence[Change], *, adapters: Mapping[str, Any],
                    model: Any, as_of: dt.date | None = None, effects: Any = None,
                    push_systems: Iterable[str] | None = None) -> RealtimeSummary:
    """Bring one workspace up to date with ``changes`` (see the module docstring)."""
    from sync.health import score_tenant
    from sync.plays import after_scoring
    from sync.push import push

    day = as_of or _today()
    unique = list(dict.fromkeys((c.system, c.object, c.external_id, c.kind, c.merged_into) for c in changes))
    summary = RealtimeSummary(changes=len(unique))
    todo = [Change(system=s, object=o, external_id=i, kind=k, merged_into=m) for s, o, i, k, m in unique]
    with store.session(tenant_id) as session:
        touched = accounts_of(session, todo)
    wanted: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for c in todo:
        if c.system != "product":
            wanted[c.system][c.object].append(c.external_id)
            if c.merged_into:
                wanted[c.system][c.object].append(c.merged_into)
    for system, objects in wanted.items():
        adapter = adapters.get(system)
        if adapter is None:
            summary.problems.append(f"{system}: not connected; {sum(map(len, objects.values()))} change(s) dropped")
            continue
        from sync.fetch import fetch_records

        fetched = fetch_records(store, tenant_id, system, adapter,
                                {o: ids for o, ids in objects.items() if o in OBJECTS})
        touched |= set(fetched.account_ids)
        summary.fetch_calls[system] = fetched.calls
        if fetched.stopped:
            summary.problems.append(f"{system}: {fetched.stopped}")
    with store.session(tenant_id) as session:
        touched |= accounts_of(session, todo)
    summary.accounts = sorted(touched)
    if not touched:
        return summary
    scored = score_tenant(store, tenant_id, model, day, only=touched)
    summary.bands = dict(scored.as_dict()["bands"])
    summary.alerts_raised, summary.alerts_resolved = scored.alerts_raised, scored.alerts_resolved
    lists, plays = after_scoring(store, tenant_id, day, effects=effects, account_ids=touched)
    summary.lists_entered, summary.lists_left = lists.entered, lists.left
    summary.plays_started = sum(plays.started.values())
    for system in (push_systems if push_systems is not None else adapters):
        result = push(store, tenant_id, system, adapters[system])
        summary.pushed[system] = result.pushed
        summary.push_calls[system] = result.calls + (result.tasks.calls if result.tasks else 0)
        if result.stopped:
            summary.problems.append(f"{system} push: {result.stopped}")
    try:
        summary.reports_prepared = _prepare_dropped_reports(store, tenant_id, model)
    except SQLAlchemyError as exc:  # the changes are in and pushed: the pages read the rows until the next sync
        log.warning("workspace %s: report sources not prepared again: %s", tenant_id, exc.__class__.__name__)
        summary.problems.append(f"report sources not prepared again ({exc.__class__.__name__}); the report pages "
                                "read the snapshots until the next sync")
    log.info("workspace %s: %s change(s) → %s account(s) rescored, pushed %s", tenant_id, summary.changes,
             len(summary.accounts), summary.pushed)
    return summary
