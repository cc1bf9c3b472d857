"""A pull refreshes its accounts' derived revenue rows and portfolio keys once, when the object's pull ends (not
with every page), and a pull killed before that refresh is caught up by the next sync (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from integrations.base import AccountRecord, DealRecord, Page
from store.db import Store
from store.models import Account, Subscription, SubscriptionMovement, SyncCursor
from store.tenants import create_tenant
from sync.runner import sync
from sync.writer import DERIVED_MARK, PageWriter, apply_identity, refresh_derived, save_cursor
from tests.shared import WORLD_NOW
from tests.sync.memory_adapter import MemoryAdapter
from tests.sync.test_page_writes import statements

D = dt.date


@pytest.fixture
def tenant(store: Store) -> int:
    with store.session() as s:
        t, _ = create_tenant(s, "defer", "Deferred")
        return t.id


ACCOUNTS = [AccountRecord("salesforce", f"001{i}", f"Customer {i}", WORLD_NOW, domain=f"c{i}.example.org")
            for i in range(3)]


def _deals() -> list[DealRecord]:
    """Two terms per account: the first renewed up into the second."""
    return [DealRecord("salesforce", f"006{i}{n}", WORLD_NOW, f"001{i}", f"Deal {i}{n}", Decimal(arr), 10, "growth",
                       start, renewal)
            for i in range(3)
            for n, (arr, start, renewal) in enumerate(((1_000 * (i + 1), D(2025, 1, 1), D(2026, 1, 1)),
                                                       (1_500 * (i + 1), D(2026, 1, 1), D(2027, 1, 1))))]


def _derived(store: Store, tenant: int) -> tuple[dict[str, Any], list[tuple[Any, ...]], list[Any], list[Any]]:
    with store.session(tenant) as s:
        ends = {sub.external_id: sub.term_end for sub in s.scalars(select(Subscription))}
        moves = s.execute(select(SubscriptionMovement.account_id, SubscriptionMovement.day, SubscriptionMovement.kind,
                                 SubscriptionMovement.arr_after).order_by(
            SubscriptionMovement.account_id, SubscriptionMovement.day, SubscriptionMovement.kind)).all()
        arr = sorted(a for a in s.scalars(select(Account.arr)) if a is not None)
        marks = s.scalars(select(SyncCursor.value).where(SyncCursor.system == DERIVED_MARK[0])).all()
    return ends, [tuple(m) for m in moves], arr, list(marks)


def _expected_ends() -> dict[str, Any]:
    return {f"006{i}{n}": D(2026, 1, 1) if n == 0 else None for i in range(3) for n in range(2)}


def test_a_pull_of_many_pages_refreshes_its_accounts_once(store: Store, tenant: int) -> None:
    crm = MemoryAdapter("salesforce", {"accounts": ACCOUNTS, "deals": _deals()}, page_size=1)
    with statements(store) as seen:
        summary = sync(store, tenant, {"salesforce": crm})
    assert summary.systems["salesforce"].objects["deals"].pages == 6
    # One refresh for the six pages of deals: one delete of the accounts' movements, one insert of them.
    assert len([q for q in seen if q.startswith("DELETE FROM SUBSCRIPTION_MOVEMENTS")]) == 1
    assert len([q for q in seen if q.startswith("INSERT INTO SUBSCRIPTION_MOVEMENTS")]) == 1
    ends, moves, arr, marks = _derived(store, tenant)
    assert ends == _expected_ends()
    assert [(day, kind) for _a, day, kind, _arr in moves] == [
        (D(2025, 1, 1), "new"), (D(2026, 1, 1), "expansion"), (D(2026, 1, 1), "renewal")] * 3
    assert arr == [1_500.0, 3_000.0, 4_500.0]  # the keys: the terms in force on the reference day
    assert marks == []


def test_a_pull_killed_before_its_refresh_is_caught_up_by_the_next_sync(store: Store, tenant: int) -> None:
    crm = MemoryAdapter("salesforce", {"accounts": ACCOUNTS, "deals": _deals()}, page_size=10)
    sync(store, tenant, {"salesforce": crm}, objects=("accounts",))
    # What a pull killed between its page commits and its refresh leaves: pages stored, their cursor saved,
    # the mark set, no term end, movement or key.
    with store.session(tenant) as s:
        PageWriter(s, "salesforce", set()).write(Page("deals", _deals(), "6"))
    ends, moves, arr, marks = _derived(store, tenant)
    assert (set(ends.values()), moves, arr, marks) == ({None}, [], [], ["pending"])
    summary = sync(store, tenant, {"salesforce": crm})
    assert "deals" not in summary.systems["salesforce"].objects  # nothing new: the cursor was saved
    ends, moves, arr, marks = _derived(store, tenant)
    assert ends == _expected_ends()
    assert len(moves) == 9
    assert arr == [1_500.0, 3_000.0, 4_500.0]
    assert marks == []


def test_a_pull_that_fails_midway_refreshes_the_pages_it_stored(store: Store, tenant: int) -> None:
    crm = MemoryAdapter("salesforce", {"accounts": ACCOUNTS, "deals": _deals()}, page_size=2)
    sync(store, tenant, {"salesforce": crm}, objects=("accounts",))
    crm.crash_after_pages = 2  # the deals' third page never comes: a crash in the vendor read
    with pytest.raises(KeyboardInterrupt):
        sync(store, tenant, {"salesforce": crm}, objects=("deals",))
    ends, moves, _arr, marks = _derived(store, tenant)
    # Deals sort by (updated_at, id): 00, 01, 10, 11 stored (accounts 0 and 1), 20 and 21 not.
    assert ends == {"00600": D(2026, 1, 1), "00601": None, "00610": D(2026, 1, 1), "00611": None}
    assert {a for a, *_rest in moves} == _accounts_of(store, tenant, ("0010", "0011"))
    assert marks == []


def _accounts_of(store: Store, tenant: int, refs: tuple[str, ...]) -> set[int]:
    from store.models import SourceLink

    with store.session(tenant) as s:
        return {a for a in s.scalars(select(SourceLink.account_id).where(SourceLink.external_id.in_(refs)))
                if a is not None}


def test_a_writer_without_a_collecting_set_refreshes_with_its_page(store: Store, tenant: int) -> None:
    with store.session(tenant) as s:
        PageWriter(s, "salesforce").write(Page("accounts", ACCOUNTS, "3"))
        apply_identity(s)
    with store.session(tenant) as s:  # as a fetch by id writes (sync.fetch): derived rows in the same transaction
        PageWriter(s, "salesforce").write(Page("deals", _deals(), None))
        save_cursor(s, "salesforce", "deals", "6")
    ends, moves, arr, marks = _derived(store, tenant)
    assert ends == _expected_ends() and len(moves) == 9 and arr == [1_500.0, 3_000.0, 4_500.0] and marks == []


def test_deals_of_two_crms_are_refreshed_once_after_both_pulls(store: Store, tenant: int) -> None:
    """The accounts' derived rows are recomputed once after every system's pull of the object, not once per system
    (each refresh recomputed the accounts of both, the CRMs' customers being the same)."""
    hub_accounts = [AccountRecord("hubspot", f"9{i}", f"Customer {i}", WORLD_NOW, domain=f"c{i}.example.org")
                    for i in range(3)]
    hub_deals = [DealRecord("hubspot", f"77{i}", WORLD_NOW, f"9{i}", f"Upsell {i}", Decimal(500), 5, "growth",
                            D(2026, 6, 1), D(2027, 6, 1)) for i in range(3)]
    crm = MemoryAdapter("salesforce", {"accounts": ACCOUNTS, "deals": _deals()}, page_size=2)
    hub = MemoryAdapter("hubspot", {"accounts": hub_accounts, "deals": hub_deals}, page_size=2)
    with statements(store) as seen:
        summary = sync(store, tenant, {"salesforce": crm, "hubspot": hub})
    assert summary.systems["hubspot"].objects["deals"].pulled == 3
    assert len([q for q in seen if q.startswith("DELETE FROM SUBSCRIPTION_MOVEMENTS")]) == 1
    assert len([q for q in seen if q.startswith("INSERT INTO SUBSCRIPTION_MOVEMENTS")]) == 1
    ends, moves, arr, marks = _derived(store, tenant)
    assert ends == {**_expected_ends(), **{f"77{i}": None for i in range(3)}}
    assert len(moves) == 9 and marks == []
    with store.session(tenant) as s:
        placed = {sub.external_id: sub.account_id for sub in s.scalars(select(Subscription))}
        assert all(placed.values())  # every deal of both CRMs is on an account: the refresh saw them all
        refresh_derived(s, set(placed.values()))  # every account again, as a refresh per system would have
    assert _derived(store, tenant) == (ends, moves, arr, marks)
    assert marks == []


@pytest.mark.parametrize("whole", [True, False])
def test_a_refresh_of_most_accounts_reads_every_subscription_once_and_keeps_only_theirs(
        store: Store, tenant: int, whole: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sync.revenue._load_terms`: with more accounts than a chunk and most of the workspace, one read of every
    subscription (with their stored term ends) and those of other accounts left alone; else chunk by chunk. The
    same rows either way."""
    import sync.revenue as revenue

    sync(store, tenant, {"salesforce": MemoryAdapter("salesforce", {"accounts": ACCOUNTS, "deals": _deals()})})
    asked = _accounts_of(store, tenant, ("0010", "0011"))
    other = _accounts_of(store, tenant, ("0012",))
    with store.session(tenant) as s:  # undo what the pull derived, then refresh two of the three accounts
        s.execute(Subscription.__table__.update().values(term_end=None))
        s.execute(SubscriptionMovement.__table__.delete())
    monkeypatch.setattr(revenue, "CHUNK", 1)
    monkeypatch.setattr(revenue, "WHOLE_READ_SHARE", 4 if whole else 0)
    with statements(store) as seen, store.session(tenant) as s:
        refresh_derived(s, asked)
    reads = [q for q in seen if q.startswith("SELECT SUBSCRIPTIONS.ID") and "SUBSCRIPTIONS.TERM_END" in q]
    assert len(reads) == (1 if whole else 2)
    ends, moves, _arr, _marks = _derived(store, tenant)
    assert ends == {ref: end if not ref.startswith("0062") else None for ref, end in _expected_ends().items()}
    assert {a for a, *_ in moves} == asked and not other & {a for a, *_ in moves}
    assert [(day, kind) for _a, day, kind, _arr in moves] == [
        (D(2025, 1, 1), "new"), (D(2026, 1, 1), "expansion"), (D(2026, 1, 1), "renewal")] * 2
