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


def test_0008_widens_the_collector_columns_and_keeps_their_rows(database_url: str) -> None:
    upgrade(database_url, "0007")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            tenant_id = conn.execute(text(
                "INSERT INTO tenants (slug, name, created_at) VALUES ('acme', 'Acme', CURRENT_TIMESTAMP) "
                "RETURNING id")).scalar_one()
            conn.execute(text("INSERT INTO collected_messages (tenant_id, message_id, received_at) "
                              "VALUES (:t, :m, CURRENT_TIMESTAMP)"), {"t": tenant_id, "m": "m" * 200})
        upgrade(database_url, "0008")
        lengths = {(table, c["name"]): c["type"].length for table in ("source_links", "collected_messages",
                                                                      "survey_responses", "product_users",
                                                                      "usage_daily")
                   for c in inspect(engine).get_columns(table)
                   if c["name"] in ("external_id", "message_id", "source_ref", "user_key")}
        assert lengths == {("source_links", "external_id"): 255, ("collected_messages", "message_id"): 255,
                           ("survey_responses", "source_ref"): 255, ("product_users", "user_key"): 260,
                           ("usage_daily", "user_key"): 260}
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO collected_messages (tenant_id, message_id, received_at) "
                              "VALUES (:t, :m, CURRENT_TIMESTAMP)"), {"t": tenant_id, "m": "n" * 255})
            assert conn.execute(text("SELECT COUNT(*) FROM collected_messages")).scalar_one() == 2
    finally:
        engine.dispose()


def test_0008_downgrade_refuses_to_truncate_longer_ids(database_url: str) -> None:
    upgrade(database_url, "0008")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            tenant_id = conn.execute(text(
                "INSERT INTO tenants (slug, name, created_at) VALUES ('acme', 'Acme', CURRENT_TIMESTAMP) "
                "RETURNING id")).scalar_one()
            conn.execute(text("INSERT INTO collected_messages (tenant_id, message_id, received_at) "
                              "VALUES (:t, :m, CURRENT_TIMESTAMP)"), {"t": tenant_id, "m": "m" * 255})
        with pytest.raises(MigrationRefused, match=r"collected_messages\.message_id holds 1 value\(s\) longer "
                                                   "than 200 characters"):
            downgrade(database_url, "0007")
        assert current_revision(database_url) == "0008"
        with engine.begin() as conn:
            assert conn.execute(text("SELECT LENGTH(message_id) FROM collected_messages")).scalar_one() == 255
            conn.execute(text("UPDATE collected_messages SET message_id = 'short'"))
        downgrade(database_url, "0007")
        assert current_revision(database_url) == "0007"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT message_id FROM collected_messages")).scalar_one() == "short"
    finally:
        engine.dispose()
