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


def test_0011_fills_the_portfolio_keys_of_existing_accounts(database_url: str) -> None:
    import datetime as dt

    from sqlalchemy import Date, bindparam

    from store.db import Store
    from tests.console import portfolio_reference

    day = dt.date(2026, 11, 30)
    upgrade(database_url, "0010")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            tenants = [conn.execute(text(
                "INSERT INTO tenants (slug, name, created_at) VALUES (:s, :s, CURRENT_TIMESTAMP) RETURNING id"),
                {"s": slug}).scalar_one() for slug in ("scored", "unscored")]
            accounts = {}
            for tenant_id in tenants:
                for n in range(1, 5):
                    accounts[(tenant_id, n)] = conn.execute(text(
                        "INSERT INTO accounts (tenant_id, name, created_at, updated_at) "
                        "VALUES (:t, :n, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"),
                        {"t": tenant_id, "n": f"Account {n}"}).scalar_one()
            snapshot = text("INSERT INTO health_snapshots (tenant_id, account_id, day, score, band, parts, reasons, "
                            "trend, computed_at) VALUES (:t, :a, :d, :s, :b, '{}', '[]', :tr, CURRENT_TIMESTAMP)"
                            ).bindparams(bindparam("d", type_=Date))
            scored = tenants[0]
            for n in range(1, 5):
                conn.execute(snapshot, {"t": scored, "a": accounts[(scored, n)], "d": day - dt.timedelta(days=1),
                                        "s": 50.0, "b": "average", "tr": 0.2})
            conn.execute(snapshot, {"t": scored, "a": accounts[(scored, 1)], "d": day, "s": 31.5, "b": "poor",
                                    "tr": -0.4})
            conn.execute(snapshot, {"t": scored, "a": accounts[(scored, 2)], "d": day, "s": None, "b": None,
                                    "tr": None})
            subscription = text(
                "INSERT INTO subscriptions (tenant_id, account_id, system, external_id, arr, renewal_date, status, "
                "updated_at) VALUES (:t, :a, :sys, :x, :arr, :r, :st, CURRENT_TIMESTAMP)"
            ).bindparams(bindparam("r", type_=Date))
            for tenant_id in tenants:
                for n, system, arr, renewal, status in (
                        (1, "salesforce", 9000, day + dt.timedelta(days=30), "active"),
                        (1, "hubspot", 50000, day + dt.timedelta(days=3), "active"),
                        (2, "salesforce", None, None, "active"),
                        (3, "salesforce", 100, day + dt.timedelta(days=3650), "active"),
                        (4, "salesforce", 100, day + dt.timedelta(days=10), "closed")):
                    conn.execute(subscription, {"t": tenant_id, "a": accounts[(tenant_id, n)], "sys": system,
                                                "x": f"{system}-{n}", "arr": arr, "r": renewal, "st": status})
    finally:
        engine.dispose()
    upgrade(database_url)
    store = Store(database_url)
    try:
        for tenant_id in tenants:
            with store.session(tenant_id) as s:
                expected = portfolio_reference.expected_keys(s)
                assert len(expected) == 4
                assert portfolio_reference.stored_keys(s) == expected
        with store.session(scored) as s:
            keys = portfolio_reference.stored_keys(s)
        assert keys[accounts[(scored, 1)]] == ("poor", 31.5, -0.4, 9000.0, 9000.0, day + dt.timedelta(days=30))
        assert keys[accounts[(scored, 2)]] == (None, -1.0, -1000.0, None, 0.0, dt.date(9999, 12, 31))
        assert keys[accounts[(scored, 4)]] == (None, -1.0, -1000.0, None, None, None)
    finally:
        store.dispose()


def test_0016_rebuilds_tenants_and_tasks_without_losing_the_rows_that_refer_to_them(database_url: str) -> None:
    """0016 rebuilds `tenants` and `tasks` on SQLite (copy, drop, rename): the rows referring to them by a
    cascading foreign key (connections, task links) survive, and existing workspaces reassign automatic tasks."""
    upgrade(database_url, "0015")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            tenant_id = conn.execute(text(
                "INSERT INTO tenants (slug, name, created_at) VALUES ('acme', 'Acme', CURRENT_TIMESTAMP) "
                "RETURNING id")).scalar_one()
            conn.execute(text(
                "INSERT INTO connections (tenant_id, system, account_ref, credentials_encrypted, status, created_at, "
                "updated_at) VALUES (:t, 'salesforce', 'org', :c, 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                {"t": tenant_id, "c": b"x"})
            account_id = conn.execute(text(
                "INSERT INTO accounts (tenant_id, name, created_at, updated_at) VALUES (:t, 'A', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP) RETURNING id"), {"t": tenant_id}).scalar_one()
            task_id = conn.execute(text(
                "INSERT INTO tasks (tenant_id, account_id, title, status, created_at) "
                "VALUES (:t, :a, 'Call', 'open', CURRENT_TIMESTAMP) RETURNING id"),
                {"t": tenant_id, "a": account_id}).scalar_one()
            conn.execute(text(
                "INSERT INTO task_links (tenant_id, task_id, system, key, state, sent) "
                "VALUES (:t, :k, 'salesforce', 'canary-1', 'created', '{}')"), {"t": tenant_id, "k": task_id})
        upgrade(database_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM connections")).scalar_one() == 1
            assert conn.execute(text("SELECT COUNT(*) FROM task_links")).scalar_one() == 1
            assert conn.execute(text("SELECT task_reassign FROM tenants")).scalar_one() == "automatic"
            assert conn.execute(text("SELECT play_run_id FROM tasks")).scalar_one() is None
        with pytest.raises(IntegrityError), engine.begin() as conn:  # foreign keys are enforced again
            conn.execute(text("INSERT INTO task_links (tenant_id, task_id, system, key, state, sent) "
                              "VALUES (:t, 999, 'hubspot', 'canary-2', 'created', '{}')"), {"t": tenant_id})
    finally:
        engine.dispose()
