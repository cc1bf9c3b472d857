"""Sync orchestration and write-back against the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import gc
import math
import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from integrations.base import AccountRecord, ContactRecord, DealRecord, ObjectName, Page, TicketRecord
from store.db import Store
from store.models import Account, Contact, HealthSnapshot, PushLedger, SourceLink, Subscription, SyncCursor, Ticket
from store.tenants import create_tenant
from sync.collection import YOUNG
from sync.push import push
from sync.runner import sync
from tests.sync.memory_adapter import MemoryAdapter

T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def tenant(store: Store) -> int:
    with store.session() as s:
        t, _ = create_tenant(s, "acme", "Acme CS")
        return t.id


def _salesforce() -> MemoryAdapter:
    return MemoryAdapter("salesforce", {
        "accounts": [
            AccountRecord("salesforce", "001P", "Umbrella Holdings", T0, domain="umbrella.com"),
            AccountRecord("salesforce", "001C", "Umbrella Europe", T0, domain="umbrella.com",
                          parent_external_id="001P"),
            AccountRecord("salesforce", "001X", "Initech", T0, domain="initech.io"),
        ],
        "contacts": [ContactRecord("salesforce", "003A", "Dana@Initech.io", T0, "001X", "Dana", role="champion")],
        "deals": [DealRecord("salesforce", "006A", T0, "001X", "Initech renewal", Decimal("120000.00"), 40, "growth",
                             dt.date(2026, 1, 1), dt.date(2027, 1, 1))],
    })


def _zendesk() -> MemoryAdapter:
    return MemoryAdapter("zendesk", {
        "accounts": [
            AccountRecord("zendesk", "11", "Initech LLC", T0, cross_refs={"salesforce": "001X"}),
            AccountRecord("zendesk", "12", "Umbrella Europe GmbH", T0, domain="umbrella.com"),
        ],
        "contacts": [ContactRecord("zendesk", "901", "dana@initech.io", T0, "11", "Dana L.", role="user")],
        "tickets": [TicketRecord("zendesk", "5001", T0, T0, "11", "Export broken", "urgent", "open", True)],
    })


def test_full_sync_links_accounts_and_places_records(store: Store, tenant: int) -> None:
    summary = sync(store, tenant, {"salesforce": _salesforce(), "zendesk": _zendesk()})
    assert summary.systems["salesforce"].objects["accounts"].pulled == 3
    assert summary.identity.accounts_created == 3
    with store.session(tenant) as s:
        links = {(link.system, link.external_id): link for link in s.scalars(select(SourceLink))}
        assert links[("zendesk", "11")].account_id == links[("salesforce", "001X")].account_id
        assert links[("zendesk", "11")].method == "external_id"
        assert links[("zendesk", "12")].account_id == links[("salesforce", "001C")].account_id
        child = s.get(Account, links[("salesforce", "001C")].account_id)
        assert child is not None and child.parent_id == links[("salesforce", "001P")].account_id
        contact = s.scalars(select(Contact)).one()
        assert contact.email == "dana@initech.io"
        assert contact.role == "champion"  # the stronger role wins across systems
        assert contact.source_ids == {"salesforce": "003A", "zendesk": "901"}
        assert contact.account_id == links[("salesforce", "001X")].account_id
        sub = s.scalars(select(Subscription)).one()
        assert (sub.arr, sub.seats_purchased, sub.account_id) == (Decimal("120000.00"), 40, contact.account_id)
        ticket = s.scalars(select(Ticket)).one()
        assert (ticket.priority, ticket.escalated, ticket.account_id) == ("urgent", True, contact.account_id)


def test_second_sync_pulls_nothing_and_spends_one_call_per_object(store: Store, tenant: int) -> None:
    sf = _salesforce()
    sync(store, tenant, {"salesforce": sf})
    sf.calls = 0
    summary = sync(store, tenant, {"salesforce": sf})
    assert sum(o.pulled for o in summary.systems["salesforce"].objects.values()) == 0
    assert sf.calls == len(sf.objects)


def test_crash_mid_run_resumes_where_it_stopped(store: Store, tenant: int) -> None:
    many = MemoryAdapter("hubspot", {"accounts": [
        AccountRecord("hubspot", str(i), f"Company {i}", T0 + dt.timedelta(seconds=i), domain=f"c{i}.com")
        for i in range(9)]}, page_size=2, crash_after_pages=2)
    with pytest.raises(KeyboardInterrupt):
        sync(store, tenant, {"hubspot": many})
    with store.session(tenant) as s:
        assert s.scalar(select(func.count()).select_from(SourceLink)) == 4  # two pages stored
        assert s.scalars(select(SyncCursor.value)).all() == ["4"]
    many.crash_after_pages = None
    sync(store, tenant, {"hubspot": many})
    with store.session(tenant) as s:
        assert s.scalar(select(func.count()).select_from(SourceLink)) == 9
        assert s.scalar(select(func.count()).select_from(Account)) == 9


def _score_all(store: Store, tenant: int, score: float, day: dt.date) -> None:
    with store.session(tenant) as s:
        for account_id in s.scalars(select(Account.id)):
            s.add(HealthSnapshot(account_id=account_id, day=day, score=score, band="average", trend=-0.5,
                                 reasons=[{"text": "Usage fell 40 %"}], computed_at=T0))


@pytest.mark.parametrize("n", [1, 100, 101, 250])
def test_push_spends_the_physical_minimum_and_nothing_when_unchanged(store: Store, tenant: int, n: int) -> None:
    hs = MemoryAdapter("hubspot", {"accounts": [
        AccountRecord("hubspot", str(i), f"Company {i}", T0, domain=f"c{i}.com") for i in range(n)]}, page_size=500)
    sync(store, tenant, {"hubspot": hs})
    _score_all(store, tenant, 55.0, dt.date(2026, 11, 1))
    hs.calls = 0
    first = push(store, tenant, "hubspot", hs)
    assert first.pushed == n
    assert first.calls == math.ceil(n / 100) + 1  # + creating the fields once
    assert hs.pushed["0"] == {"score": "55", "band": "average", "trend": "-0.5", "reasons": "Usage fell 40 %",
                              "scored_at": "2026-11-01T12:00:00Z"}
    again = push(store, tenant, "hubspot", hs)
    assert (again.calls, again.pushed) == (0, 0)


def test_push_sends_only_changed_records_and_retries_failures(store: Store, tenant: int) -> None:
    hs = MemoryAdapter("hubspot", {"accounts": [
        AccountRecord("hubspot", str(i), f"Company {i}", T0, domain=f"c{i}.com") for i in range(5)]},
        page_size=500, fail_ids={"3"})
    sync(store, tenant, {"hubspot": hs})
    _score_all(store, tenant, 55.0, dt.date(2026, 11, 1))
    first = push(store, tenant, "hubspot", hs)
    assert first.pushed == 4 and set(first.failed) == {"3"}
    with store.session(tenant) as s:
        failed = s.scalars(select(PushLedger).where(PushLedger.external_id == "3", PushLedger.field == "score")).one()
        assert failed.last_error == "INVALID_FIELD: rejected by the vendor" and failed.value is None
        # one account's score changes
        link = s.scalars(select(SourceLink).where(SourceLink.external_id == "1")).one()
        snap = s.scalars(select(HealthSnapshot).where(HealthSnapshot.account_id == link.account_id)).one()
        snap.score = 80.0
        snap.band = "good"
    hs.fail_ids.clear()
    hs.pushed.clear()
    second = push(store, tenant, "hubspot", hs)
    assert sorted(hs.pushed) == ["1", "3"]  # the changed one and the one that failed before
    assert second.calls == 1
    assert hs.pushed["1"]["band"] == "good"


def test_a_refused_token_is_reconnected_once_and_the_object_resumes_from_its_cursor(
        store: Store, tenant: int) -> None:
    expired = _salesforce()
    expired.refuse_after_calls = 1  # one page of two accounts, then 401
    fresh = _salesforce()
    asked: list[str] = []

    def reconnect(system: str) -> MemoryAdapter:
        asked.append(system)
        return fresh

    summary = sync(store, tenant, {"salesforce": expired}, reconnect=reconnect)
    sf = summary.systems["salesforce"]
    assert asked == ["salesforce"] and sf.stopped is None
    assert sf.objects["accounts"].pulled == 3  # two before the refusal, the third after: none twice
    assert sf.calls == expired.calls + fresh.calls == 1 + fresh.calls
    with store.session(tenant) as s:
        assert s.scalar(select(func.count()).select_from(SourceLink)) == 3
        assert (s.scalar(select(func.count()).select_from(Contact)), s.scalar(select(func.count()).select_from(
            Subscription))) == (1, 1)  # the later objects came through the new adapter


def test_a_second_refusal_stops_the_system_with_the_vendor_message(store: Store, tenant: int) -> None:
    expired, still = _salesforce(), _salesforce()
    expired.refuse_after_calls = still.refuse_after_calls = 0
    asked: list[str] = []

    def reconnect(system: str) -> MemoryAdapter:
        asked.append(system)
        return still

    hs = MemoryAdapter("hubspot", {"accounts": [AccountRecord("hubspot", "1", "Initech", T0, domain="initech.io")]})
    summary = sync(store, tenant, {"salesforce": expired, "hubspot": hs}, reconnect=reconnect)
    assert asked == ["salesforce"]  # once per run, not once per object
    assert summary.systems["salesforce"].stopped == "salesforce: 401 the access token expired"
    assert summary.systems["hubspot"].stopped is None
    assert summary.systems["hubspot"].objects["accounts"].pulled == 1


def test_push_reconnects_once_after_a_refusal_and_records_the_ledger(store: Store, tenant: int) -> None:
    hs = MemoryAdapter("hubspot", {"accounts": [
        AccountRecord("hubspot", str(i), f"Company {i}", T0, domain=f"c{i}.com") for i in range(3)]}, page_size=500)
    sync(store, tenant, {"hubspot": hs})
    _score_all(store, tenant, 55.0, dt.date(2026, 11, 1))
    hs.calls, hs.refuse_after_calls = 0, 1  # the fields are created, then the batch update is refused
    fresh = MemoryAdapter("hubspot", fields=list(hs.fields))
    result = push(store, tenant, "hubspot", hs, reconnect=lambda _system: fresh)
    assert (result.pushed, result.stopped, result.calls) == (3, None, 1 + 1)
    assert set(fresh.pushed) == {"0", "1", "2"} and hs.pushed == {}
    with store.session(tenant) as s:
        assert s.scalar(select(func.count()).select_from(PushLedger).where(PushLedger.value.is_not(None))) == 3 * 5
    refused = push(store, tenant, "hubspot", MemoryAdapter("hubspot", refuse_after_calls=0))
    assert refused.stopped is None and refused.calls == 0  # nothing changed: no call at all


def test_a_sync_pulls_with_fewer_collections_and_puts_the_collector_back(store: Store, tenant: int) -> None:
    """The pull runs inside `fewer_collections` (young collections rarer, what existed before frozen), and the
    thresholds are as they were once it ends, the records stored as ever."""
    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []

    class Watching(MemoryAdapter):
        def pull(self, object: ObjectName, cursor: str | None) -> Iterator[Page]:
            seen.append(gc.get_threshold())
            yield from super().pull(object, cursor)

    sf = _salesforce()
    summary = sync(store, tenant, {"salesforce": Watching("salesforce", sf.data)})
    assert summary.systems["salesforce"].objects["accounts"].pulled == 3
    assert len(seen) == 4 and all(t[0] == max(YOUNG, before[0]) for t in seen)
    assert gc.get_threshold() == before



@pytest.mark.parametrize("prefetch", [True, False])
def test_every_systems_pages_are_fetched_from_the_start_and_written_in_order(
        store: Store, tenant: int, prefetch: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    import sync.runner as runner

    monkeypatch.setattr(runner, "PREFETCH_SYSTEMS", prefetch)
    sf = MemoryAdapter("salesforce", {"accounts": [
        AccountRecord("salesforce", f"00{i}", f"Company {i}", T0 + dt.timedelta(seconds=i), domain=f"c{i}.com")
        for i in range(6)]}, page_size=2)
    hs = MemoryAdapter("hubspot", {"accounts": [
        AccountRecord("hubspot", f"{i}", f"Company {i}", T0 + dt.timedelta(seconds=i), domain=f"c{i}.com")
        for i in range(3, 9)]}, page_size=2)
    hs_fetching = threading.Event()
    hs_pull = hs.pull

    def pull(object: ObjectName, cursor: str | None) -> Iterator[Page]:
        for page in hs_pull(object, cursor):
            hs_fetching.set()
            yield page

    hs.pull = pull  # type: ignore[method-assign]
    written: list[str] = []

    def progress(system: str, obj: str, n: int) -> None:
        if obj == "accounts" and not written:
            # With prefetch, HubSpot's reader fetches while Salesforce's first pages are written; without, not yet.
            assert hs_fetching.wait(10 if prefetch else 0.5) is prefetch
        written.append(f"{system} {obj}")

    summary = sync(store, tenant, {"salesforce": sf, "hubspot": hs}, progress=progress)
    accounts = [w.split()[0] for w in written if w.endswith("accounts")]  # one write per group of fetched pages
    assert set(accounts) == {"salesforce", "hubspot"}
    assert accounts == sorted(accounts, key=lambda system: system == "hubspot")  # one system after the other
    assert (summary.systems["salesforce"].objects["accounts"].pulled,
            summary.systems["hubspot"].objects["accounts"].pulled) == (6, 6)
    with store.session(tenant) as s:
        assert s.scalar(select(func.count()).select_from(SourceLink)) == 12
        assert s.scalar(select(func.count()).select_from(Account)) == 9  # c3-c5 are one customer in both systems
        assert sorted(s.scalars(select(SyncCursor.value).where(SyncCursor.object == "accounts"))) == ["6", "6"]
