"""Every path that writes snapshots or subscriptions keeps the accounts' portfolio keys true: a sync's new,
changed, deleted, unplaced and merged deals, and score runs (also when the latest day moves on and an
account is no longer scored). Checked against the plain reference computation, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from integrations.base import AccountRecord, DealRecord, Removal
from scoring import default_model
from store.db import Store
from store.models import NO_RENEWAL, NO_SCORE, Account, SourceLink
from store.tenants import create_tenant
from sync.health import score_tenant
from sync.runner import sync
from tests.console import portfolio_reference
from tests.sync.memory_adapter import MemoryAdapter

T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(days=1)
DAY = dt.date(2026, 11, 30)


@pytest.fixture
def tenant(store: Store) -> int:
    with store.session() as s:
        t, _ = create_tenant(s, "acme", "Acme CS")
        return t.id


def _deal(external_id: str, account: str, arr: str | None, renewal: dt.date | None, at: dt.datetime = T0,
          system: str = "salesforce") -> DealRecord:
    return DealRecord(system, external_id, at, account, "Plan", None if arr is None else Decimal(arr), 5, "starter",
                      dt.date(2026, 1, 1), renewal)


def _accounts(store: Store, tenant: int) -> dict[str, Account]:
    with store.session(tenant) as s:
        by_link = {link.external_id: link.account_id for link in s.scalars(select(SourceLink))}
        rows = {a.id: a for a in s.scalars(select(Account))}
        s.expunge_all()
    return {ext: rows[account_id] for ext, account_id in by_link.items() if account_id is not None}


def _check(store: Store, tenant: int) -> None:
    with store.session(tenant) as s:
        expected = portfolio_reference.expected_keys(s)
        assert len(expected) >= 3
        assert portfolio_reference.stored_keys(s) == expected


def test_sync_and_score_runs_keep_the_portfolio_keys_true(store: Store, tenant: int) -> None:
    salesforce = MemoryAdapter("salesforce", {
        "accounts": [AccountRecord("salesforce", "001A", "Acme", T0, domain="acme.com"),
                     AccountRecord("salesforce", "001B", "Beta", T0, domain="beta.io"),
                     AccountRecord("salesforce", "001C", "Gamma", T0, domain="gamma.org"),
                     AccountRecord("salesforce", "001D", "Acme Duplicate", T0, domain="acme-dup.com")],
        "deals": [_deal("006A1", "001A", "9000", DAY + dt.timedelta(days=30)),
                  _deal("006B1", "001B", None, None),
                  _deal("006C1", "001C", "5000", DAY - dt.timedelta(days=10)),
                  _deal("006D1", "001D", "700", DAY + dt.timedelta(days=200))],
    }, page_size=2)
    hubspot = MemoryAdapter("hubspot", {
        "accounts": [AccountRecord("hubspot", "h1", "Acme", T0, domain="acme.com")],
        "deals": [_deal("hd1", "h1", "50000", DAY + dt.timedelta(days=3), system="hubspot")],
    }, page_size=2)
    sync(store, tenant, {"salesforce": salesforce, "hubspot": hubspot})
    score_tenant(store, tenant, default_model(), DAY)
    _check(store, tenant)
    a = _accounts(store, tenant)
    assert a["001A"].id == a["h1"].id
    assert (a["001A"].arr, a["001A"].renewal_key) == (9000.0, DAY + dt.timedelta(days=30))  # Salesforce's deal counts
    assert (a["001B"].arr, a["001B"].arr_key, a["001B"].renewal_key) == (None, 0.0, NO_RENEWAL)
    assert a["001C"].renewal_key == DAY - dt.timedelta(days=10)  # none ahead: the last one
    assert all(account.score_key != NO_SCORE for account in a.values())

    # A deal changes, one is added, one deleted; Beta's record is deleted (its deal unplaced) and the
    # duplicate is merged into Acme (its deal follows).
    salesforce.data["deals"] += [_deal("006A1", "001A", "12000", DAY + dt.timedelta(days=30), T1),
                                 _deal("006A2", "001A", "1000", DAY + dt.timedelta(days=5), T1)]
    salesforce.removed = {"accounts": [Removal("001B"), Removal("001D", merged_into="001A")],
                          "deals": [Removal("006C1")]}
    sync(store, tenant, {"salesforce": salesforce, "hubspot": hubspot})
    _check(store, tenant)
    with store.session(tenant) as s:
        rows = {r.id: r for r in s.scalars(select(Account))}
    acme, beta, gamma = rows[a["001A"].id], rows[a["001B"].id], rows[a["001C"].id]
    assert (acme.arr, acme.renewal_key) == (13700.0, DAY + dt.timedelta(days=5))
    assert (beta.arr_key, beta.renewal_key, gamma.arr_key, gamma.renewal_key) == (None, None, None, None)
    assert (beta.lifecycle_stage, rows[a["001D"].id].lifecycle_stage) == ("retired", "merged")

    # The next day's run: the retired and merged accounts are not scored, so they show no health now.
    score_tenant(store, tenant, default_model(), DAY + dt.timedelta(days=1))
    _check(store, tenant)
    with store.session(tenant) as s:
        rows = {r.id: r for r in s.scalars(select(Account))}
    assert (rows[beta.id].score_key, rows[beta.id].health_band) == (NO_SCORE, None)
    assert rows[acme.id].score_key != NO_SCORE
