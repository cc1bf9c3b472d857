"""Bring in the records a change notification names, by id: no incremental pull, no cursor moved.

A webhook says *which* records changed; `fetch_records` reads exactly those through the adapter's
`fetch` (the vendor's read by ids: consistent where HubSpot's search lags, and no call spent on
records that did not change), accounts first, and stores each page with the pull's `PageWriter`. A
fetched page carries no cursor, so every sync cursor stays where the last pull left it (the next pull
may read the same change again; an upsert makes that harmless).

After accounts, the run's identity linking and owners follow (`apply_identity`, `apply_owners`), as in
`sync.runner.sync`, so a new organization lands on the right account before its tickets are stored.

The summary names the Canary accounts the fetched records belong to, before and after: a record that
moved, was deleted or merged away counts for the account it left as well as the one it joined.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.base import Adapter, ObjectName, Page, distinct_ids
from integrations.errors import AuthError, FatalError
from store.db import Store
from store.models import Contact, SourceLink, Subscription, SurveyResponse, Task, TaskLink, Ticket
from sync.owners import OwnerCounts, apply_owners
from sync.reports import prepare_reports
from sync.runner import PULL_ORDER
from sync.writer import IdentityCounts, PageWriter, WriteCounts, apply_identity

log = logging.getLogger("canary.sync")

CHUNK = 500
"""Ids per ``IN (...)`` when reading which accounts records belong to."""


@dataclass
class FetchSummary:
    account_ids: set[int] = field(default_factory=set)
    """Canary accounts the fetched records belong to, before the fetch and after it."""
    calls: int = 0
    """Requests the adapter made to the vendor for this fetch."""
    objects: dict[str, WriteCounts] = field(default_factory=dict)
    """What was stored per object (records read, changed, skipped, removed)."""
    identity: IdentityCounts | None = None
    """The identity pass after accounts (None when no account was fetched)."""
    owners: OwnerCounts | None = None
    stopped: str | None = None
    """Why the fetch stopped early (refused credentials, quota, a fatal vendor error): what was stored
    before stays, the rest waits for the next change or pull."""

    def as_dict(self) -> dict[str, Any]:
        return {"account_ids": sorted(self.account_ids), "calls": self.calls,
                "objects": {o: vars(c) for o, c in self.objects.items()},
                "identity": vars(self.identity) if self.identity else None,
                "owners": vars(self.owners) if self.owners else None, "stopped": self.stopped}


def fetch_records(store: Store, tenant_id: int, system: str, adapter: Adapter,
                  wanted: Mapping[ObjectName, Sequence[str]]) -> FetchSummary:
    """Fetch the records ``wanted`` names (object -> vendor ids) from ``system`` and store them (see the module
    docstring). An object the adapter does not have is refused (`ValueError`) before any call; vendor errors
    stop it as they stop a sync run (`AuthError`, `FatalError`: ``stopped`` says why, what was stored stays)."""
    objects = tuple(getattr(adapter, "objects", PULL_ORDER))
    unknown = sorted(set(wanted) - set(objects))
    if unknown:
        raise ValueError(f"{system} has no {', '.join(unknown)}; it has {', '.join(objects)}")
    summary = FetchSummary()
    calls_before = int(getattr(adapter, "calls", 0))
    try:
        for obj in PULL_ORDER:
            ids = distinct_ids(wanted.get(obj, ()))
            if not ids:
                continue
            page = adapter.fetch(obj, ids)  # the vendor call happens outside any transaction
            if page.cursor is not None:
                raise ValueError(f"{system} fetch of {obj} returned a cursor: a fetch must not move a pull's")
            keys = _keys(ids, page)
            with store.session(tenant_id) as session:
                summary.account_ids |= accounts_of(session, system, obj, keys)
                summary.objects[obj] = PageWriter(session, system).write(page)
                if obj == "accounts":
                    session.flush()
                    summary.identity = apply_identity(session)
                    summary.owners = apply_owners(session)
                session.flush()
                summary.account_ids |= accounts_of(session, system, obj, keys)
    except (FatalError, AuthError) as exc:
        summary.stopped = str(exc)
        log.warning("%s fetch stopped: %s", system, exc)
    finally:
        summary.calls = int(getattr(adapter, "calls", 0)) - calls_before
    if "deals" in summary.objects:
        with store.session(tenant_id) as session:  # as after a sync: the report pages read it built
            prepare_reports(session)
    return summary


def _keys(ids: Sequence[str], page: Page) -> list[str]:
    """Every vendor id the fetch concerns: those asked, those read (a merge's survivor) and those merged into."""
    found = [r.external_id for r in page.records]
    merged = [r.merged_into for r in page.removed if r.merged_into]
    return distinct_ids([*ids, *found, *(r.external_id for r in page.removed), *merged])


def accounts_of(session: Session, system: str, obj: ObjectName, ids: Sequence[str]) -> set[int]:
    """The Canary accounts that ``system``'s records ``ids`` of ``obj`` are on now."""
    found: set[int] = set()
    if obj == "contacts":
        wanted = set(ids)
        found.update(c.account_id for c in session.scalars(select(Contact).where(Contact.source_ids.is_not(None)))
                     if c.account_id is not None and (c.source_ids or {}).get(system) in wanted)
        return found
    for chunk in _chunks(ids):
        if obj == "accounts":
            query: Any = select(SourceLink.account_id).where(SourceLink.system == system,
                                                              SourceLink.external_id.in_(chunk))
        elif obj == "deals":
            query = select(Subscription.account_id).where(Subscription.system == system,
                                                          Subscription.external_id.in_(chunk))
        elif obj == "tickets":
            query = select(Ticket.account_id).where(Ticket.system == system, Ticket.external_id.in_(chunk))
        elif obj == "satisfaction":
            query = select(SurveyResponse.account_id).where(SurveyResponse.source == system,
                                                            SurveyResponse.source_ref.in_(chunk))
        else:
            query = select(Task.account_id).join(TaskLink, TaskLink.task_id == Task.id).where(
                TaskLink.system == system, TaskLink.external_id.in_(chunk))
        found.update(a for a in session.scalars(query) if a is not None)
    return found


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])
