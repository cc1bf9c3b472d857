"""A sync run: pull every object of every connected system incrementally, then link accounts.

Order: accounts of each system first, then identity resolution (so contacts, deals and
tickets find their account), then account owners and CSMs (`sync.owners`), then the other
objects, Canary's tasks in the CRMs last (`sync.tasks`). Each page is stored and its cursor
saved in one transaction. A system that hits its quota or a fatal error stops with the message;
the others go on, and the next run resumes from the saved cursors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from integrations.base import Adapter, ObjectName
from integrations.errors import AuthError, FatalError
from store.db import Store
from store.models import Account, Contact, SourceLink, Subscription, SurveyResponse, Task, TaskLink, Ticket
from sync.base_reports import prepare_base_reports
from sync.owners import OwnerCounts, apply_owners
from sync.reports import prepare_reports
from sync.writer import IdentityCounts, PageWriter, apply_identity, clear_cursors, load_cursor

log = logging.getLogger("canary.sync")

PULL_ORDER: tuple[ObjectName, ...] = ("accounts", "contacts", "deals", "tickets", "satisfaction", "tasks")
"""``tasks``: Canary's tasks in the CRMs that keep them (completion, due date and owner set there)."""

PULLED_TABLES: tuple[str, ...] = tuple(model.__tablename__ for model in (
    Account, SourceLink, Contact, Subscription, Ticket, SurveyResponse, Task, TaskLink))
"""The tables a pull writes; analyzed after a pull that started without a cursor (see `sync`)."""


@dataclass
class ObjectSummary:
    pulled: int = 0
    changed: int = 0
    skipped: int = 0
    removed: int = 0
    """Records deleted or merged away in the vendor, removed from the store."""
    pages: int = 0


@dataclass
class SystemSummary:
    objects: dict[str, ObjectSummary] = field(default_factory=dict)
    calls: int = 0
    quota_left: int | None = None
    stopped: str | None = None


@dataclass
class SyncSummary:
    systems: dict[str, SystemSummary] = field(default_factory=dict)
    identity: IdentityCounts = field(default_factory=IdentityCounts)
    owners: OwnerCounts = field(default_factory=OwnerCounts)

    def as_dict(self) -> dict[str, Any]:
        return {
            system: {
                "objects": {o: vars(s) for o, s in summary.objects.items()},
                "calls": summary.calls,
                "quota_left": summary.quota_left,
                "stopped": summary.stopped,
            }
            for system, summary in self.systems.items()
        } | {"identity": vars(self.identity), "owners": vars(self.owners)}


ProgressCallback = Callable[[str, str, int], None]
"""(system, object, records in the page just stored)."""


def _pull_object(store: Store, tenant_id: int, system: str, adapter: Adapter, obj: ObjectName,
                 summary: SystemSummary, progress: ProgressCallback | None) -> bool:
    """Pull one object; True when it started without a cursor (a first or full pull) and stored something:
    a bulk load."""
    with store.session(tenant_id) as session:
        cursor = load_cursor(session, system, obj)
    pages = adapter.pull(obj, cursor)
    stored = 0
    while True:
        # The vendor call happens outside any transaction; the store write and cursor are one commit.
        page = next(pages, None)
        if page is None:
            break
        with store.session(tenant_id) as session:
            counts = PageWriter(session, system).write(page)
        target = summary.objects.setdefault(obj, ObjectSummary())
        target.pulled += counts.pulled
        target.changed += counts.changed
        target.skipped += counts.skipped
        target.removed += counts.removed
        target.pages += 1
        stored += counts.changed
        if progress:
            progress(system, obj, counts.pulled)
    return cursor is None and stored > 0


def sync(store: Store, tenant_id: int, adapters: Mapping[str, Adapter], *, full: bool = False,
         objects: Sequence[ObjectName] = PULL_ORDER, progress: ProgressCallback | None = None,
         reconnect: Callable[[str], Adapter] | None = None) -> SyncSummary:
    """Pull ``objects`` from every adapter, accounts first, then link identities, then the rest.

    ``reconnect(system)``, when given, is asked once per system for a new adapter after the vendor
    refused the credentials (an expired OAuth token, see `sync.connections.TenantAdapters`); the
    object is then pulled again from its stored cursor. A second refusal stops that system.
    """
    summary = SyncSummary()
    adapters = dict(adapters)
    spent: dict[str, int] = {}
    reconnected: set[str] = set()
    bulk: list[bool] = []
    for system in adapters:
        summary.systems[system] = SystemSummary()
        if full:
            with store.session(tenant_id) as session:
                clear_cursors(session, system)

    def run(system: str, obj: ObjectName) -> None:
        adapter = adapters[system]
        sys_summary = summary.systems[system]
        if sys_summary.stopped or obj not in getattr(adapter, "objects", PULL_ORDER) or obj not in objects:
            return
        try:
            try:
                bulk.append(_pull_object(store, tenant_id, system, adapter, obj, sys_summary, progress))
            except AuthError:
                if reconnect is None or system in reconnected:
                    raise
                reconnected.add(system)
                spent[system] = spent.get(system, 0) + int(getattr(adapter, "calls", 0))
                adapters[system] = adapter = reconnect(system)
                bulk.append(_pull_object(store, tenant_id, system, adapter, obj, sys_summary, progress))
        except (FatalError, AuthError) as exc:
            sys_summary.stopped = str(exc)
            log.warning("%s sync stopped: %s", system, exc)

    for system in adapters:
        run(system, "accounts")
    with store.session(tenant_id) as session:
        summary.identity = apply_identity(session)
    with store.session(tenant_id) as session:
        summary.owners = apply_owners(session)
    for obj in PULL_ORDER[1:]:
        for system in adapters:
            run(system, obj)
    if any(bulk):
        # A first or full pull loads a workspace at once; the scoring and push queries that follow must not be
        # planned on the statistics of the tables as they were before it (see `Store.analyze`).
        store.analyze(*PULLED_TABLES)
    with store.session(tenant_id) as session:  # the report pages read it built, whichever process serves them
        prepare_reports(session)
    with store.session(tenant_id) as session:
        prepare_base_reports(session)
    for system, adapter in adapters.items():
        summary.systems[system].calls = spent.get(system, 0) + int(getattr(adapter, "calls", 0))
        quota_left = getattr(adapter, "quota_left", None)
        summary.systems[system].quota_left = quota_left() if callable(quota_left) else None
    return summary
