"""Read-only BI access: the ``bi`` views show a workspace's role its own rows only, and nothing else is readable."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from store.bi import VIEWS, BIError, disable, enable, role_name
from store.db import Store
from store.models import Account, AuditEvent, Subscription, Tenant
from store.tenants import create_tenant


def _workspace(store: Store, name: str) -> tuple[int, str]:
    slug = f"{name}-{uuid.uuid4().hex[:6]}"
    with store.session() as session:
        tenant, _ = create_tenant(session, slug, name.title())
        tenant_id = tenant.id
    with store.session(tenant_id) as session:
        account = Account(name=f"{name.title()} customer", lifecycle_stage="customer")
        session.add(account)
        session.flush()
        session.add(Subscription(account_id=account.id, system="salesforce", external_id=f"006{name}", arr=1200))
    return tenant_id, slug


def _as_role(store: Store, role: str, password: str) -> Any:
    url = make_url(store.url)
    # The throwaway cluster trusts loopback logins, so the password is not checked here; the role is.
    return psycopg.connect(host=url.host, port=url.port, dbname=url.database, user=role, password=password,
                           autocommit=True)


def test_a_workspace_role_sees_its_own_rows_in_every_view_and_no_table(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        with pytest.raises(BIError, match="PostgreSQL only"):
            enable(store, 1, "test")
        return
    mine, slug = _workspace(store, "north")
    _workspace(store, "south")
    access = enable(store, mine, "admin@example.com")
    assert access.role == role_name(slug) and len(access.password) >= 24
    with _as_role(store, access.role, access.password) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM bi.accounts")]
        arr = [r[0] for r in conn.execute("SELECT arr FROM bi.subscriptions")]
        for view in VIEWS:  # every view answers (empty or not) without a privilege error
            conn.execute(f"SELECT count(*) FROM bi.{view}").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT name FROM accounts")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT slug FROM tenants")
    assert names == ["North customer"]
    assert [float(a) for a in arr] == [1200.0]
    with store.session() as session:
        assert session.scalar(select(Tenant.bi_role).where(Tenant.id == mine)) == access.role
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.tenant_id == mine)))
    assert "bi.enabled" in actions
    again = enable(store, mine, "admin@example.com")  # a new password, the same role
    assert again.role == access.role and again.password != access.password

    assert disable(store, mine, "admin@example.com") == access.role
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        _as_role(store, access.role, again.password)
    assert disable(store, mine, "admin@example.com") is None


def test_the_owner_of_the_views_sees_no_workspace_through_them(store: Store) -> None:
    """Canary's own database user is no workspace's BI role: the views are empty for it."""
    if store.engine.dialect.name != "postgresql":
        return
    _workspace(store, "east")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM bi.accounts").scalar_one() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM accounts").scalar_one() == 1
