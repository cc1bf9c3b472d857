"""End to end: `sync.runner.sync` and `sync.push.push` through `HubSpotAdapter` to the emulator, on SQLite."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from store.db import Store
from store.models import Account, Contact, HealthSnapshot, PushLedger, SourceLink, Subscription, Ticket
from store.tenants import create_tenant
from sync.push import push
from sync.runner import sync
from tests.dbtemplate import Templates
from tests.integrations.test_hubspot_adapter import Portal, loopback, make_portal

__all__ = ["loopback", "make_portal"]  # fixtures shared with the adapter tests


@pytest.fixture
def sqlite_store(tmp_path: Path, db_templates: Templates) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'canary.db'}"
    db_templates.migrate(url)
    store = Store(url)
    yield store
    store.dispose()


def test_sync_then_push_through_the_emulator(sqlite_store: Store, make_portal: Callable[..., Portal]) -> None:
    store = sqlite_store
    portal = make_portal(40)
    with store.session() as s:
        tenant, _ = create_tenant(s, "acme", "Acme CS")
        tenant_id = tenant.id
    adapter = portal.adapter()
    summary = sync(store, tenant_id, {"hubspot": adapter})
    hs = summary.systems["hubspot"]
    assert hs.stopped is None
    assert {o: s.pulled for o, s in hs.objects.items()} == {
        "accounts": 40,
        "contacts": 20,
        "deals": 10,
        "tickets": 10,
    }
    assert hs.calls == adapter.calls == portal.calls()
    assert hs.quota_left == portal.emulator.daily_api_limit - portal.calls()
    with store.session(tenant_id) as s:
        links = {
            link.external_id: link
            for link in s.scalars(select(SourceLink).where(SourceLink.system == "hubspot"))
        }
        assert len(links) == 40
        parent = s.get(Account, links["1001"].account_id)
        assert parent is not None and parent.parent_id == links["1000"].account_id
        contact = s.scalars(select(Contact).where(Contact.email == "ada0@company3.example")).one()
        assert (contact.role, contact.account_id) == ("champion", links["1003"].account_id)
        assert (
            s.scalar(select(func.count()).select_from(Subscription).where(Subscription.status == "churned"))
            == 4
        )
        urgent = s.scalars(select(Ticket).where(Ticket.priority == "urgent")).one()
        assert urgent.account_id == links["1000"].account_id

    again = sync(store, tenant_id, {"hubspot": adapter})
    assert sum(o.pulled for o in again.systems["hubspot"].objects.values()) == 0
    assert again.systems["hubspot"].calls - hs.calls == 5  # one search per object (Canary's tasks the fifth)

    day = dt.date(2026, 11, 20)
    with store.session(tenant_id) as s:
        for account_id in s.scalars(select(Account.id)):
            s.add(
                HealthSnapshot(
                    account_id=account_id,
                    day=day,
                    score=35.0,
                    band="poor",
                    trend=-1.25,
                    reasons=[{"text": "Usage fell 40 %"}, {"text": "Champion quiet"}],
                    computed_at=dt.datetime(2026, 11, 20, 6, tzinfo=dt.UTC),
                )
            )
    before = portal.calls()
    result = push(store, tenant_id, "hubspot", adapter)
    assert result.stopped is None
    assert (result.pushed, len(result.failed)) == (40, 0)
    assert result.fields_created == ["score", "band", "trend", "reasons", "scored_at"]
    # 1 property list + 1 group + 5 properties, then one batch update of 40
    assert result.calls == portal.calls() - before == 8
    stored = {r["id"]: r["properties"] for r in portal.emulator.records("companies")}
    assert stored["1017"]["canary_health_band"] == "poor"
    assert stored["1017"]["canary_health_reasons"] == "Usage fell 40 %; Champion quiet"
    assert stored["1017"]["canary_health_trend"] == "-1.2"
    with store.session(tenant_id) as s:
        assert (
            s.scalar(select(func.count()).select_from(PushLedger).where(PushLedger.last_error.is_(None)))
            == 200
        )
    assert push(store, tenant_id, "hubspot", adapter).calls == 0

    portal.advance(hours=1)
    # The push bumped the companies' stamps: the next sync sees them again in one search, and tells them as
    # Canary's own on that page, before the association read they would need (`sync.own_writes`): none made.
    calls = adapter.calls
    resync = sync(store, tenant_id, {"hubspot": adapter}, objects=("accounts",))
    accounts = resync.systems["hubspot"].objects["accounts"]
    assert (accounts.pulled, accounts.skipped, accounts.changed) == (40, 40, 0)
    assert adapter.calls - calls == 1


def test_deleted_and_merged_companies_leave_canary(sqlite_store: Store, make_portal: Callable[..., Portal]) -> None:
    store = sqlite_store
    portal = make_portal(30)
    with store.session() as s:
        tenant, _ = create_tenant(s, "acme", "Acme CS")
        tenant_id = tenant.id
    adapter = portal.adapter()
    sync(store, tenant_id, {"hubspot": adapter})
    with store.session(tenant_id) as s:
        before = {link.external_id: link.account_id for link in s.scalars(select(SourceLink))}
    assert len({before["1003"], before["1004"], before["1005"]}) == 3
    portal.advance(minutes=5)
    portal.emulator.merge("companies", "1003", "1004")
    portal.emulator.delete("companies", ["1005"])
    portal.emulator.delete("tickets", ["90003"])
    portal.indexed()
    summary = sync(store, tenant_id, {"hubspot": adapter})
    objects = summary.systems["hubspot"].objects
    assert (objects["accounts"].pulled, objects["accounts"].removed) == (1, 2)
    assert (objects["tickets"].pulled, objects["tickets"].removed) == (0, 1)
    with store.session(tenant_id) as s:
        after = {link.external_id: link.account_id for link in s.scalars(select(SourceLink))}
        stages = {a.id: a.lifecycle_stage for a in s.scalars(select(Account))}
        tickets = {t.external_id for t in s.scalars(select(Ticket))}
    assert set(before) - set(after) == {"1004", "1005"}
    assert stages[before["1004"]] == "merged" and stages[before["1005"]] == "retired"
    assert after["1003"] == before["1003"] and stages[before["1003"]] != "merged"
    assert "90003" not in tickets and len(tickets) == 9
    quiet = sync(store, tenant_id, {"hubspot": adapter})
    assert sum(o.pulled + o.removed for o in quiet.systems["hubspot"].objects.values()) == 0
