"""The whole sync and push, end to end: `sync.runner.sync` and `sync.push.push` with `ZendeskAdapter`."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from store.db import Store
from store.models import Account, Contact, HealthSnapshot, SourceLink, SyncCursor, Ticket
from store.tenants import create_tenant
from sync.push import push
from sync.runner import sync
from tests.dbtemplate import Templates
from tests.integrations.test_zendesk_adapter import Box, boot, loopback, world  # noqa: F401 - fixtures

T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def sqlite_store(tmp_path: Path, db_templates: Templates) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'canary.db'}"
    db_templates.migrate(url)
    store = Store(url)
    yield store
    store.dispose()


@pytest.fixture
def tenant(sqlite_store: Store) -> int:
    with sqlite_store.session() as s:
        created, _ = create_tenant(s, "acme", "Acme CS")
        return created.id


def test_sync_then_push_end_to_end(sqlite_store: Store, tenant: int, boot: Callable[..., Box]) -> None:  # noqa: F811
    box = boot()
    adapter = box.adapter(export_page_size=20, list_page_size=25)
    summary = sync(sqlite_store, tenant, {"zendesk": adapter})
    zd = summary.systems["zendesk"]
    assert zd.stopped is None
    assert zd.objects["accounts"].pulled == len(box.ids("organizations"))
    assert zd.objects["contacts"].pulled == len(box.ids("users"))
    assert zd.objects["tickets"].pulled == len(box.ids("tickets"))
    assert zd.objects["satisfaction"].pulled == len(box.ids("satisfaction_ratings"))
    assert zd.calls == adapter.calls == box.calls()
    assert zd.quota_left is not None
    with sqlite_store.session(tenant) as s:
        assert s.scalar(select(func.count()).select_from(Account)) == len(box.ids("organizations"))
        assert s.scalar(select(func.count()).select_from(Contact)) == len(box.ids("users"))
        assert s.scalar(select(func.count()).select_from(Ticket)) == len(box.ids("tickets"))
        assert {c.object for c in s.scalars(select(SyncCursor))} == {"accounts", "contacts", "tickets",
                                                                      "satisfaction"}
        linked = s.scalar(select(func.count()).select_from(SourceLink).where(
            SourceLink.system == "zendesk", SourceLink.account_id.is_not(None)))
        for account_id in s.scalars(select(Account.id)):
            s.add(HealthSnapshot(account_id=account_id, day=T0.date(), score=72.4, band="good", trend=1.25,
                                 reasons=[{"text": "Usage up 20 %"}], computed_at=T0))
    assert linked == len(box.ids("organizations"))

    # Nothing new: one call per object.
    box.clock.advance(120)
    before = adapter.calls
    again = sync(sqlite_store, tenant, {"zendesk": adapter})
    assert sum(o.pulled for o in again.systems["zendesk"].objects.values()) == 0
    assert adapter.calls - before == 4 == box.calls() - before

    # Push: the fields once (1 list + 5 creates), then one update_many and one poll per 100.
    pushed = push(sqlite_store, tenant, "zendesk", adapter, now=T0)
    batches = math.ceil(linked / 100)
    assert pushed.stopped is None
    assert pushed.fields_created == ["score", "band", "trend", "reasons", "scored_at"]
    assert pushed.pushed == linked and pushed.failed == {}
    assert pushed.calls == 1 + 5 + 2 * batches
    organizations = box.emulator.records("organizations")
    assert organizations
    for org in organizations:
        fields = org["organization_fields"]
        assert fields["canary_health_score"] == 72
        assert fields["canary_health_band"] == "good"
        assert fields["canary_health_trend"] == 1.2
        assert fields["canary_health_reasons"] == "Usage up 20 %"
        assert fields["canary_scored_at"] == "2026-11-01T12:00:00Z"
    assert push(sqlite_store, tenant, "zendesk", adapter, now=T0).calls == 0  # unchanged: nothing sent
