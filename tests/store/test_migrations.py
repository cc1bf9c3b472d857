"""Migrations on both backends: up, down to base, up again; and they match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from store.db import make_engine
from store.migrate import current_revision, downgrade, head_revision, upgrade
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
