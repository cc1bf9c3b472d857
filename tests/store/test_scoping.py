"""Tenant scoping: a tenant session can neither read nor write another tenant's rows."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import aliased

from store.db import Store
from store.models import Account, HealthSnapshot, SourceLink, Tenant
from store.scoping import TenantViolation, scoped_core


@pytest.fixture
def two_tenants(store: Store) -> tuple[int, int, int, int]:
    with store.session() as s:
        a, b = Tenant(slug="acme", name="Acme CS"), Tenant(slug="globex", name="Globex CS")
        s.add_all([a, b])
        s.flush()
        acc_a = Account(tenant_id=a.id, name="Customer of A", domain="a.example")
        acc_b = Account(tenant_id=b.id, name="Customer of B", domain="b.example")
        s.add_all([acc_a, acc_b])
        s.flush()
        s.add_all([
            SourceLink(tenant_id=a.id, account_id=acc_a.id, system="zendesk", external_id="1",
                       method="new", reason="first seen"),
            SourceLink(tenant_id=b.id, account_id=acc_b.id, system="zendesk", external_id="1",
                       method="new", reason="first seen"),
            HealthSnapshot(tenant_id=b.id, account_id=acc_b.id, day=dt.date(2026, 11, 1), score=12.0,
                           band="poor"),
        ])
        return a.id, b.id, acc_a.id, acc_b.id


def test_select_returns_only_own_rows(store: Store, two_tenants: tuple[int, int, int, int]) -> None:
    tenant_a, _tenant_b, acc_a, acc_b = two_tenants
    with store.session(tenant_a) as s:
        assert [a.id for a in s.scalars(select(Account))] == [acc_a]
        assert s.scalar(select(func.count()).select_from(Account)) == 1
        assert s.get(Account, acc_b) is None
        assert s.scalars(select(HealthSnapshot)).all() == []
        # joins and aliases are scoped too
        other = aliased(Account)
        rows = s.execute(select(SourceLink.external_id, other.name).join(other, SourceLink.account)).all()
        assert rows == [("1", "Customer of A")]
        # a filter naming the other tenant's id explicitly still gets nothing
        assert s.scalars(select(Account).where(Account.id == acc_b)).all() == []


def test_relationship_loads_are_scoped(store: Store, two_tenants: tuple[int, int, int, int]) -> None:
    tenant_a, _, acc_a, _ = two_tenants
    with store.session(tenant_a) as s:
        account = s.get(Account, acc_a)
        assert account is not None
        assert [link.tenant_id for link in account.links] == [tenant_a]


def test_new_rows_get_the_session_tenant(store: Store, two_tenants: tuple[int, int, int, int]) -> None:
    tenant_a, tenant_b, _, _ = two_tenants
    with store.session(tenant_a) as s:
        s.add(Account(name="New"))
    with store.session(tenant_b) as s:
        assert s.scalars(select(Account.name).order_by(Account.id)).all() == ["Customer of B"]
    with store.session(tenant_a) as s:
        assert sorted(s.scalars(select(Account.name))) == ["Customer of A", "New"]


def test_writes_to_another_tenant_are_refused(store: Store, two_tenants: tuple[int, int, int, int]) -> None:
    tenant_a, tenant_b, _, acc_b = two_tenants
    with pytest.raises(TenantViolation), store.session(tenant_a) as s:
        s.add(Account(tenant_id=tenant_b, name="Smuggled"))
    with store.session(tenant_b) as s:
        victim = s.get(Account, acc_b)
    assert victim is not None
    with pytest.raises(TenantViolation), store.session(tenant_a) as s:
        merged = s.merge(victim, load=False)
        merged.name = "Renamed by A"
    with store.session(tenant_b) as s:
        assert s.scalars(select(Account.name)).all() == ["Customer of B"]


def test_bulk_update_touches_only_own_rows(store: Store, two_tenants: tuple[int, int, int, int]) -> None:
    tenant_a, tenant_b, _, _ = two_tenants
    with store.session(tenant_a) as s:
        s.execute(update(Account).values(segment="enterprise"),
                  execution_options={"synchronize_session": False})
    with store.session(tenant_b) as s:
        assert s.scalars(select(Account.segment)).all() == [None]
    with store.session(tenant_a) as s:
        assert s.scalars(select(Account.segment)).all() == ["enterprise"]


def test_a_core_read_scoped_by_scoped_core_returns_only_own_rows(store: Store,
                                                                  two_tenants: tuple[int, int, int, int]) -> None:
    tenant_a, tenant_b, acc_a, acc_b = two_tenants
    statement = select(Account.id).order_by(Account.id)
    with store.session(tenant_a) as s:
        # the connection's Core execution is not filtered by the session's criteria: both workspaces' rows
        assert [r[0] for r in s.connection().execute(statement)] == sorted([acc_a, acc_b])
        assert [r[0] for r in s.connection().execute(scoped_core(s, statement, Account))] == [acc_a]
    with store.session(tenant_b) as s:
        assert [r[0] for r in s.connection().execute(scoped_core(s, statement, Account))] == [acc_b]
    with store.session() as s, pytest.raises(ValueError, match="list facts are read in a workspace's session"):
        scoped_core(s, statement, Account, what="list facts")
