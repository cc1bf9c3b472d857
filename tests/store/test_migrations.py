"""Migrations on both backends: up, down to base, up again; and they match the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from store.db import make_engine
from store.migrate import MigrationRefused, current_revision, downgrade, head_revision, upgrade
from store.models import Base

DOMAIN_TABLES = {
    "tenants", "connections", "accounts", "source_links", "contacts", "subscriptions", "tickets",
    "survey_responses", "usage_daily", "health_snapshots", "alerts", "tasks", "sync_cursors", "push_ledger",
}


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    assert current_revision(database_url) is None
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
    assert _tables(database_url) >= DOMAIN_TABLES

    downgrade(database_url, "base")
    assert current_revision(database_url) is None
    assert _tables(database_url) & DOMAIN_TABLES == set()

    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
    assert _tables(database_url) >= DOMAIN_TABLES


def test_migrations_match_models(migrated_url: str) -> None:
    """Autogenerate finds nothing to do: the models and the migration history agree."""
    engine = make_engine(migrated_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_two_workspaces_claiming_one_vendor_account_stop_the_upgrade_with_their_names(database_url: str) -> None:
    upgrade(database_url, "0004")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            for slug in ("acme", "acme-copy"):
                tenant_id = conn.execute(text(
                    "INSERT INTO tenants (slug, name, created_at) VALUES (:s, :s, CURRENT_TIMESTAMP) RETURNING id"),
                    {"s": slug}).scalar_one()
                conn.execute(text(
                    "INSERT INTO connections (tenant_id, system, account_ref, credentials_encrypted, status, "
                    "created_at, updated_at) VALUES (:t, 'zendesk', 'acme', :c, 'active', CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"), {"t": tenant_id, "c": b"x"})
        with pytest.raises(MigrationRefused, match="zendesk account 'acme' is connected to workspaces acme, "
                                                   "acme-copy"):
            upgrade(database_url)
        assert current_revision(database_url) == "0004"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM connections")).scalar_one() == 2  # nothing lost
            conn.execute(text("UPDATE connections SET account_ref = 'acme-eu' WHERE tenant_id = "
                              "(SELECT id FROM tenants WHERE slug = 'acme-copy')"))
            conn.commit()
        upgrade(database_url)
        assert current_revision(database_url) == head_revision()
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("UPDATE connections SET account_ref = 'acme'"))
    finally:
        engine.dispose()
