"""Records deleted or merged in a vendor are deleted or merged in Canary (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from integrations.base import AccountRecord, ContactRecord, DealRecord, Removal, TicketRecord
from store.db import Store
from store.models import Account, Alert, Contact, HealthSnapshot, PushLedger, SourceLink, Subscription, Ticket
from store.tenants import create_tenant
from sync.push import push
from sync.runner import sync
from tests.sync.memory_adapter import MemoryAdapter

T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def tenant(store: Store) -> int:
    with store.session() as s:
        t, _ = create_tenant(s, "acme", "Acme CS")
        return t.id


def _systems() -> tuple[MemoryAdapter, MemoryAdapter]:
    salesforce = MemoryAdapter("salesforce", {
        "accounts": [
            AccountRecord("salesforce", "001A", "Acme", T0, domain="acme.com"),
            AccountRecord("salesforce", "001D", "Acme Dup Record", T0, domain="acme-dup.com"),
            AccountRecord("salesforce", "001S", "Solo Systems", T0, domain="solo.io"),
        ],
        "contacts": [ContactRecord("salesforce", "003S", "sam@solo.io", T0, "001S", "Sam", role="champion"),
                     ContactRecord("salesforce", "003A", "ann@acme.com", T0, "001A", "Ann", role="champion")],
        "deals": [DealRecord("salesforce", "006S", T0, "001S", "Solo", Decimal("9000"), 5, "starter",
                             dt.date(2026, 1, 1), dt.date(2027, 1, 1))],
    }, page_size=10)
    zendesk = MemoryAdapter("zendesk", {
        "accounts": [AccountRecord("zendesk", "77", "Acme Dup Record", T0, domain="acme-dup.com")],
        "contacts": [ContactRecord("zendesk", "901", "ann@acme.com", T0, None, "Ann", role="user")],
        "tickets": [TicketRecord("zendesk", "5001", T0, T0, "77", "Spam", "urgent", "open"),
                    TicketRecord("zendesk", "5002", T0, T0, "77", "Real", "normal", "open")],
    }, page_size=10)
    return salesforce, zendesk


def _links(store: Store, tenant: int) -> dict[tuple[str, str], int | None]:
    with store.session(tenant) as s:
        return {(link.system, link.external_id): link.account_id for link in s.scalars(select(SourceLink))}


def test_deleted_and_merged_records_leave_canary_too(store: Store, tenant: int) -> None:
    salesforce, zendesk = _systems()
    sync(store, tenant, {"salesforce": salesforce, "zendesk": zendesk})
    before = _links(store, tenant)
    acme, dup, solo = before[("salesforce", "001A")], before[("salesforce", "001D")], before[("salesforce", "001S")]
    assert len({acme, dup, solo}) == 3 and before[("zendesk", "77")] == dup
    with store.session(tenant) as s:
        for account_id in (dup, solo):
            s.add(Alert(account_id=account_id, rule="usage_drop", dedupe_key=f"usage_drop:{account_id}",
                        severity="critical", title="Usage dropped", reasons=[]))
        s.add(PushLedger(system="salesforce", external_id="001S", field="score", value="40"))

    # Salesforce merges the duplicate into Acme and deletes Solo; Zendesk deletes a spam ticket.
    salesforce.removed = {"accounts": [Removal("001D", merged_into="001A"), Removal("001S")],
                          "contacts": [Removal("003S")], "deals": [Removal("006S")]}
    zendesk.removed = {"tickets": [Removal("5001")], "contacts": [Removal("901")]}
    summary = sync(store, tenant, {"salesforce": salesforce, "zendesk": zendesk})
    assert summary.systems["salesforce"].objects["accounts"].removed == 2

    after = _links(store, tenant)
    assert set(after) == {("salesforce", "001A"), ("zendesk", "77")}
    assert after[("zendesk", "77")] == acme  # the merged customer's help-desk record follows it
    with store.session(tenant) as s:
        stages = {a.id: a.lifecycle_stage for a in s.scalars(select(Account))}
        assert (stages[dup], stages[solo]) == ("merged", "retired")
        assert stages[acme] != "merged"
        assert {t.external_id: t.account_id for t in s.scalars(select(Ticket))} == {"5002": acme}
        assert s.scalars(select(Subscription)).all() == []
        assert {c.email: c.source_ids for c in s.scalars(select(Contact))} == {"ann@acme.com": {"salesforce": "003A"}}
        assert s.scalars(select(PushLedger).where(PushLedger.external_id == "001S")).all() == []
        assert {a.account_id: a.status for a in s.scalars(select(Alert))} == {dup: "resolved", solo: "resolved"}

    # Write-back reaches the surviving records only.
    with store.session(tenant) as s:
        for account_id in (acme, dup, solo):
            s.add(HealthSnapshot(account_id=account_id, day=dt.date(2026, 11, 2), score=50.0, band="average",
                                 trend=0.0, reasons=[], computed_at=T0))
    push(store, tenant, "salesforce", salesforce)
    assert set(salesforce.pushed) == {"001A"}
