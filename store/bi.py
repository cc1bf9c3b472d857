"""Read-only access for a workspace's analysts: the ``bi`` views (PostgreSQL) and one login role per workspace.

Migration 0018 creates the views in schema ``bi`` (`VIEWS`); each shows only the rows of the workspace whose
``tenants.bi_role`` is the logged-in role (``current_user``), and is a ``security_barrier`` view, so a BI
query's own predicates run after that filter. `enable` creates (or re-keys) the role: it may log in, use
schema ``bi`` and select from its views — it has no privilege on any table, so it sees nothing else.
The password is returned once and never stored or logged.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from store.audit import record_audit
from store.db import Store
from store.models import Tenant

VIEWS: dict[str, str] = {
    "accounts": "live accounts with their latest health (band, score, trend), ARR, next renewal and CSM",
    "daily_health": "one row per account and scored day: score, band, trend, scoring profile",
    "usage_daily": "product usage per account, user, event and day (count, minutes)",
    "subscriptions": "deals with ARR, MRR, dates, the derived end of their term, status, seats and tier",
    "subscription_movements": "dated ARR movements per account: new, expansion, contraction, churn, "
                              "reactivation, renewal (before, after, delta)",
    "tasks": "tasks with status, priority, source, due and completion dates, assignee and CRM",
}
"""The views analysts may query (schema ``bi``), and what each holds; docs/analytics.md lists their columns."""


class BIError(RuntimeError):
    """BI access cannot be changed here; the message says why and what to do."""


@dataclass(frozen=True)
class BIAccess:
    role: str
    password: str


def role_name(slug: str) -> str:
    """The workspace's BI role: ``canary_bi_`` and the slug in letters, digits and underscores (63 at most)."""
    return ("canary_bi_" + re.sub(r"[^a-z0-9_]", "_", slug.lower()))[:63]


def _require_postgresql(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        raise BIError("the bi views exist on PostgreSQL only; this workspace's database is "
                      f"{store.engine.dialect.name}")


def enable(store: Store, tenant_id: int, actor: str, actor_user_id: int | None = None) -> BIAccess:
    """Create the workspace's BI role (or give it a new password) and grant it the ``bi`` views only."""
    _require_postgresql(store)
    with store.session() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise BIError(f"no workspace {tenant_id}")
        role, slug = role_name(tenant.slug), tenant.slug
    password = secrets.token_urlsafe(24)
    statements = [
        # format() quotes the name (%I) and the password (%L) on the server: nothing is spliced in here.
        ("SELECT format(CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = CAST(:r AS text)) "
         "THEN 'ALTER ROLE %I WITH LOGIN NOINHERIT PASSWORD %L' "
         "ELSE 'CREATE ROLE %I WITH LOGIN NOINHERIT PASSWORD %L' END, CAST(:r AS text), CAST(:p AS text))"),
        "SELECT format('GRANT USAGE ON SCHEMA bi TO %I', CAST(:r AS text))",
        "SELECT format('GRANT SELECT ON ALL TABLES IN SCHEMA bi TO %I', CAST(:r AS text))",
    ]
    try:
        with store.engine.begin() as conn:
            for statement in statements:
                conn.execute(text(conn.execute(text(statement), {"r": role, "p": password}).scalar_one()))
    except ProgrammingError as exc:
        if exc.orig.__class__.__name__ != "InsufficientPrivilege":
            raise
        raise BIError(f"PostgreSQL refused to set up role {role} ({exc.orig.__class__.__name__}): Canary's "
                      "database user needs CREATEROLE, or a DBA creates the role and grants it USAGE on schema bi "
                      "and SELECT on its views; docs/analytics.md has the statements") from None
    with store.session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.bi_role = role
        record_audit(session, actor, "bi.enabled", slug, actor_user_id, tenant_id=tenant_id, role=role)
    return BIAccess(role, password)


def disable(store: Store, tenant_id: int, actor: str, actor_user_id: int | None = None) -> str | None:
    """Drop the workspace's BI role; returns its name, or None when BI access was not enabled."""
    _require_postgresql(store)
    with store.session() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise BIError(f"no workspace {tenant_id}")
        role, slug = tenant.bi_role, tenant.slug
        tenant.bi_role = None
        if role is None:
            return None
        record_audit(session, actor, "bi.disabled", slug, actor_user_id, tenant_id=tenant_id, role=role)
    with store.engine.begin() as conn:
        for statement in ("SELECT format('REVOKE ALL ON ALL TABLES IN SCHEMA bi FROM %I', CAST(:r AS text))",
                          "SELECT format('REVOKE USAGE ON SCHEMA bi FROM %I', CAST(:r AS text))",
                          "SELECT format('DROP ROLE IF EXISTS %I', CAST(:r AS text))"):
            conn.execute(text(conn.execute(text(statement), {"r": role}).scalar_one()))
    return role
