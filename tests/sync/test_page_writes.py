"""`PageWriter` writes set-wise: one statement per table per page, the same counts, panels marked (SQLite and
PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from integrations.base import AccountRecord, ContactRecord, DealRecord, Page
from store import upsert as upsert_module
from store.db import Store
from store.migrate import upgrade
from store.models import (
    Account,
    Contact,
    PanelView,
    PushLedger,
    SourceLink,
    Subscription,
    SubscriptionVersion,
    SyncCursor,
)
from store.tenants import create_tenant
from store.upsert import upsert_rows
from sync.writer import PageWriter, apply_identity, load_own_writes, save_cursor
from tests.shared import WORLD_NOW, statements

T0 = WORLD_NOW - dt.timedelta(days=30)


@pytest.fixture
def tenant(store: Store) -> int:
    with store.session() as s:
        t, _ = create_tenant(s, "acme", "Acme CS")
        return t.id


def _accounts(n: int, stamp: dt.datetime = T0) -> list[AccountRecord]:
    return [AccountRecord("salesforce", f"001{i:03}", f"Customer {i}", stamp, domain=f"c{i}.example.org")
            for i in range(n)]


def _write(store: Store, tenant: int, page: Page, system: str = "salesforce") -> Any:
    with store.session(tenant) as s:
        return PageWriter(s, system).write(page)


def test_a_page_of_accounts_is_one_insert_and_counts_as_before(store: Store, tenant: int) -> None:
    with statements(store) as seen:
        counts = _write(store, tenant, Page("accounts", _accounts(120), "c1"))
    assert (counts.pulled, counts.changed, counts.skipped) == (120, 120, 0)
    assert len([s for s in seen if s.startswith("INSERT INTO SOURCE_LINKS")]) == 1
    assert not [s for s in seen if s.startswith("UPDATE SOURCE_LINKS")]
    again = _write(store, tenant, Page("accounts", _accounts(120), "c2"))
    assert (again.changed, again.skipped) == (0, 0)
    renamed = [*_accounts(120)[:119], AccountRecord("salesforce", "001119", "Renamed", T0, domain="c119.example.org")]
    assert _write(store, tenant, Page("accounts", renamed, "c3")).changed == 1
    with store.session(tenant) as s:
        links = {link.external_id: link for link in s.scalars(select(SourceLink))}
        cursor = s.scalar(select(SyncCursor.value).where(SyncCursor.object == "accounts"))
    assert len(links) == 120
    assert links["001119"].name == "Renamed" and links["001000"].name == "Customer 0"
    assert links["001000"].method == "pending" and links["001000"].account_id is None
    assert cursor == "c3"


def test_a_known_link_keeps_its_account_and_method_when_its_record_changes(store: Store, tenant: int) -> None:
    _write(store, tenant, Page("accounts", _accounts(3), "c1"))
    with store.session(tenant) as s:
        created = apply_identity(s).accounts_created
    assert created == 3
    _write(store, tenant, Page("accounts", [AccountRecord("salesforce", "001001", "New name", T0)], "c2"))
    with store.session(tenant) as s:
        link = s.scalars(select(SourceLink).where(SourceLink.external_id == "001001")).one()
        assert (link.name, link.domain, link.method) == ("New name", None, "new")
        assert link.account_id is not None


def test_contacts_are_one_upsert_per_page_and_a_new_contact_counts_each_time_named(store: Store,
                                                                                    tenant: int) -> None:
    _write(store, tenant, Page("accounts", _accounts(2), "a"))
    with store.session(tenant) as s:
        apply_identity(s)
    page = [ContactRecord("salesforce", f"003{i}", f"p{i}@c0.example.org", T0, "001000", f"P {i}")
            for i in range(50)]
    page += [ContactRecord("salesforce", "003X", "P0@C0.example.org ", T0, "001001", None, "CTO", "champion"),
             ContactRecord("salesforce", "003Y", "no-address", T0)]
    with statements(store) as seen:
        counts = _write(store, tenant, Page("contacts", page, "c1"))
    assert (counts.pulled, counts.changed, counts.skipped) == (52, 51, 1)
    assert len([s for s in seen if s.startswith("INSERT INTO CONTACTS")]) == 1
    with store.session(tenant) as s:
        accounts = dict(s.execute(select(SourceLink.external_id, SourceLink.account_id)).all())
        contacts = {c.email: c for c in s.scalars(select(Contact))}
    assert len(contacts) == 50
    p0 = contacts["p0@c0.example.org"]
    assert (p0.name, p0.title, p0.role) == ("P 0", "CTO", "champion")
    assert p0.account_id == accounts["001001"]  # the later record of the page names another account
    assert p0.source_ids == {"salesforce": "003X"}
    # The person two records of the page name changes twice on every write of it (as the ORM writer counted).
    assert _write(store, tenant, Page("contacts", page, "c2")).changed == 2
    assert _write(store, tenant, Page("contacts", page[1:50], "c3")).changed == 0


def test_deals_mark_their_accounts_panels_and_keep_in_place_changes(store: Store, tenant: int) -> None:
    _write(store, tenant, Page("accounts", _accounts(3), "a"))
    with store.session(tenant) as s:
        apply_identity(s)
    with store.session(tenant) as s:
        account_of = dict(s.execute(select(SourceLink.external_id, SourceLink.account_id)).all())
        panels_before = dict(s.execute(select(PanelView.account_id, PanelView.version)).all())
    assert len(panels_before) == 3
    deal = DealRecord("salesforce", "006A", T0, "001000", "Renewal", Decimal("1200.00"), 10, "growth",
                      dt.date(2026, 1, 1), dt.date(2027, 1, 1))
    assert _write(store, tenant, Page("deals", [deal], "d1")).changed == 1
    with store.session(tenant) as s:
        panels = dict(s.execute(select(PanelView.account_id, PanelView.version)).all())
    marked = {a for a, v in panels.items() if v > panels_before.get(a, 0)}
    assert marked == {account_of["001000"]}
    grown = DealRecord("salesforce", "006A", T0 + dt.timedelta(days=2), "001000", "Renewal", Decimal("1800.00"), 10,
                       "growth", dt.date(2026, 1, 1), dt.date(2027, 1, 1))
    with statements(store) as seen:
        assert _write(store, tenant, Page("deals", [grown], "d2")).changed == 1
    assert len([s for s in seen if s.startswith("INSERT INTO SUBSCRIPTIONS")]) == 1
    with store.session(tenant) as s:
        sub = s.scalars(select(Subscription)).one()
        version = s.scalars(select(SubscriptionVersion)).one()
        after = dict(s.execute(select(PanelView.account_id, PanelView.version)).all())
    assert (sub.arr, sub.mrr) == (Decimal("1800.00"), Decimal("150.00"))
    assert (version.subscription_id, version.arr_before, version.arr_after, version.seen_on) == (
        sub.id, Decimal("1200.00"), Decimal("1800.00"), (T0 + dt.timedelta(days=2)).date())
    assert after[account_of["001000"]] == panels[account_of["001000"]] + 1
    assert _write(store, tenant, Page("deals", [grown], "d3")).changed == 0


def test_save_cursor_is_one_upsert_without_a_read(store: Store, tenant: int) -> None:
    with statements(store) as seen, store.session(tenant) as s:
        save_cursor(s, "hubspot", "deals", "first")
        save_cursor(s, "hubspot", "deals", "second")
        save_cursor(s, "hubspot", "deals", None)  # a page without a cursor saves none
    assert not [sql for sql in seen if sql.startswith("SELECT") and "SYNC_CURSORS" in sql]
    assert len([sql for sql in seen if sql.startswith("INSERT INTO SYNC_CURSORS")]) == 2
    with store.session(tenant) as s:
        assert s.execute(select(SyncCursor.system, SyncCursor.object, SyncCursor.value)).all() == [
            ("hubspot", "deals", "second")]


def test_save_cursor_refuses_a_session_without_a_tenant(store: Store) -> None:
    with store.session() as s, pytest.raises(ValueError, match="tenant-scoped"):
        save_cursor(s, "hubspot", "deals", "x")


def test_upsert_rows_updates_only_the_columns_named(store: Store, tenant: int) -> None:
    table = SourceLink.__table__
    row = {"tenant_id": tenant, "system": "zendesk", "external_id": "11", "name": "First", "method": "pending",
           "reason": "r", "manual": False, "account_id": None}
    with store.session(tenant) as s:
        assert upsert_rows(s, table, [row], ("tenant_id", "system", "external_id"), update=("name",)) == 1
        assert upsert_rows(s, table, [{**row, "name": "Second", "method": "other"}],
                           ("tenant_id", "system", "external_id"), update=("name",)) == 1
        assert upsert_rows(s, table, [], ("tenant_id",)) == 0
    with store.session(tenant) as s:
        assert s.execute(select(SourceLink.name, SourceLink.method)).all() == [("Second", "pending")]
    with store.session(tenant) as s, pytest.raises(ValueError, match="lack the conflict key external_id"):
        upsert_rows(s, table, [{"tenant_id": tenant, "system": "zendesk"}], ("tenant_id", "system", "external_id"))


def test_upsert_rows_builds_its_statement_once_per_shape_and_writes_each_call_s_rows(store: Store, tenant: int
                                                                                    ) -> None:
    """The statement is kept (on the table) and reused with each call's rows: the rows of every call land, the
    shapes (columns, updated columns) stay apart, and the other database's statement too. On SQLite the rows go as
    the driver's executemany (`store.upsert.DRIVER_ROWS`), elsewhere as one JSON parameter."""
    table: Any = SourceLink.__table__
    keys = ("tenant_id", "system", "external_id")
    built: list[Any] = []
    driver = store.engine.dialect.name == "sqlite"
    builder = "_driver_statement" if driver else "_statement"
    original = getattr(upsert_module, builder)

    def counting(*args: Any) -> Any:
        found = original(*args)
        made = found if driver else found[0]
        if all(made is not b for b in built):
            built.append(made)
        return found

    def row(ext: str, name: str) -> dict[str, Any]:
        return {"tenant_id": tenant, "system": "hubspot", "external_id": ext, "name": name, "method": "pending",
                "reason": "r", "manual": False, "account_id": None}

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(upsert_module, builder, counting)
        with store.session(tenant) as s:
            for n in range(3):
                upsert_rows(s, table, [row(f"{n}-{i}", f"Page {n}") for i in range(n + 1)], keys)
            upsert_rows(s, table, [row("0-0", "Renamed"), row("9-9", "New")], keys, update=("name",))
            upsert_rows(s, table, [row("1-0", "Again")], keys)
    assert len(built) == 2 and all(b is not None for b in built)  # one statement per shape, whatever the calls
    with store.session(tenant) as s:
        names = {ext: name for ext, name in s.execute(select(SourceLink.external_id, SourceLink.name))}
    assert names == {"0-0": "Renamed", "1-0": "Again", "1-1": "Page 1", "2-0": "Page 2", "2-1": "Page 2",
                     "2-2": "Page 2", "9-9": "New"}
    dialect = store.engine.dialect
    cached = table.info["canary.upsert_driver_statements" if driver else "canary.upsert_statements"]
    prefix = (dialect.name,) if driver else (dialect.name, dialect.driver)
    shapes = [key[len(prefix):] for key in cached if key[:len(prefix)] == prefix]
    shapes = [shape for shape in shapes if shape[:2] == (tuple(row("x", "y")), keys)]
    assert sorted(shapes, key=str) == sorted([(tuple(row("x", "y")), keys, None),
                                              (tuple(row("x", "y")), keys, ("name",))], key=str)


def test_upsert_rows_stores_the_same_values_either_way_on_sqlite(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver's executemany (`DRIVER_ROWS`) stores what the JSON parameter stores, value for value: dates,
    UTC date-times, decimals, JSON documents (None as JSON null), booleans, the Python-side defaults of the
    columns left out, and the update of a second call."""
    stored = {}
    for way in (True, False):
        monkeypatch.setattr(upsert_module, "DRIVER_ROWS", way)
        url = f"sqlite:///{tmp_path}/{way}.db"
        upgrade(url)
        db = Store(url)
        with db.session() as s:
            made, _ = create_tenant(s, "acme", "Acme CS")
            tenant_id = made.id
        with db.session(tenant_id) as s:
            rows = [{"tenant_id": tenant_id, "system": "hubspot", "external_id": str(i), "name": f"Deal {i}",
                     "arr": Decimal("1200.50") * i, "start_date": dt.date(2025, 1, i + 1),
                     "renewal_date": None if i == 2 else dt.date(2026, 1, i + 1),
                     "seats_purchased": 10 * i, "status": "active"} for i in range(3)]
            upsert_rows(s, Subscription.__table__, rows, ("tenant_id", "system", "external_id"))
            upsert_rows(s, SourceLink.__table__, [
                {"tenant_id": tenant_id, "system": "zendesk", "external_id": str(i), "name": f"Org {i}",
                 "source_updated_at": T0 + dt.timedelta(hours=i),
                 "cross_refs": {"salesforce": f"00{i}", "note": "é/ü"} if i else None, "manual": bool(i),
                 "method": "pending", "reason": "r", "account_id": None} for i in range(2)],
                ("tenant_id", "system", "external_id"))
            upsert_rows(s, Subscription.__table__, [dict(rows[1], name="Renamed", arr=Decimal("99.99"))],
                        ("tenant_id", "system", "external_id"), update=("name",))
        with db.engine.connect() as conn:  # the stored text itself, not values read back through the types
            stored[way] = [conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY id").all()
                           for t in ("subscriptions", "source_links")]
        db.dispose()
    timestamps = {"updated_at", "created_at"}

    def without_clock(rows: list[Any]) -> list[tuple[Any, ...]]:
        return [tuple(v for k, v in r._mapping.items() if k not in timestamps) for r in rows]

    assert [without_clock(t) for t in stored[True]] == [without_clock(t) for t in stored[False]]
    assert len(stored[True][0]) == 3 and len(stored[True][1]) == 2
    links = stored[True][1]
    assert [r._mapping["cross_refs"] for r in links] == ["null", '{"salesforce":"001","note":"é/ü"}']
    assert all(isinstance(r._mapping["created_at"], str) and len(r._mapping["created_at"]) == 26 for r in links)


def test_apply_identity_marks_the_panels_of_the_accounts_it_creates(store: Store, tenant: int) -> None:
    _write(store, tenant, Page("accounts", _accounts(4), "a"))
    _write(store, tenant, Page("accounts", [AccountRecord("zendesk", "77", "Customer 2", T0,
                                                          cross_refs={"salesforce": "001002"})], "z"), "zendesk")
    with statements(store) as seen, store.session(tenant) as s:
        counts = apply_identity(s)
    assert (counts.accounts_created, counts.records_linked) == (4, 5)
    assert counts.by_method == {"new": 3, "external_id": 2}
    assert len([sql for sql in seen if sql.startswith("INSERT INTO ACCOUNTS")]) == 1
    with store.session(tenant) as s:
        accounts = set(s.scalars(select(Account.id)))
        marked = set(s.scalars(select(PanelView.account_id).where(PanelView.payload.is_(None))))
        placed = dict(s.execute(select(SourceLink.external_id, SourceLink.account_id)).all())
    assert marked == accounts and len(accounts) == 4
    assert placed["77"] == placed["001002"]
    with store.session(tenant) as s:
        assert apply_identity(s).records_linked == 0


def test_own_writes_are_loaded_for_the_pull_and_a_page_naming_them_counts_them_skipped(
        store: Store, tenant: int) -> None:
    """`load_own_writes` reads the stored copy and the ledger of each record Canary wrote (not the others, not
    another system's), and a page's ``own_writes`` are counted pulled and skipped without touching their rows."""
    _write(store, tenant, Page("accounts", _accounts(3), "c1"))
    with store.session(tenant) as s:
        for ext in ("001000", "001001"):
            s.add(PushLedger(system="salesforce", external_id=ext, field="score", value="42", written_at=WORLD_NOW))
        s.add(PushLedger(system="salesforce", external_id="001002", field="score", value="42"))  # never written
        s.add(PushLedger(system="hubspot", external_id="001000", field="score", value="7", written_at=WORLD_NOW))
    with store.session(tenant) as s:
        own = load_own_writes(s, "salesforce")
    assert len(own) == 2
    later = T0 + dt.timedelta(minutes=5)
    back = [replace(r, updated_at=later, health={"score": 42.0}) for r in _accounts(3)]
    assert [own.recognised(r) for r in back] == [True, True, False]
    counts = _write(store, tenant, Page("accounts", [], "c2", own_writes=["001000", "001001"]))
    assert (counts.pulled, counts.changed, counts.skipped) == (2, 0, 2)
    with store.session(tenant) as s:
        stamps = dict(s.execute(select(SourceLink.external_id, SourceLink.source_updated_at)).all())
        assert s.scalar(select(SyncCursor.value).where(SyncCursor.object == "accounts")) == "c2"
    assert {ext: stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else stamp
            for ext, stamp in stamps.items()} == {f"001{i:03}": T0 for i in range(3)}
