"""Migration 0039: the index of the tasks done on an alert (the Team report's "alerts acted on"), up and down, with
the tasks kept."""

from __future__ import annotations

from sqlalchemy import inspect, text

from store.db import make_engine
from store.migrate import current_revision, downgrade, upgrade

INDEX = "ix_tasks_tenant_alert_completed"


def _indexes(url: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    try:
        return {ix["name"]: list(ix["column_names"]) for ix in inspect(engine).get_indexes("tasks")}
    finally:
        engine.dispose()


def _tasks(url: str) -> list[tuple[int, int | None, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text("SELECT account_id, alert_id, status FROM tasks ORDER BY id"))]
    finally:
        engine.dispose()


def test_0039_adds_the_tasks_alert_index_and_drops_it_on_downgrade_keeping_the_tasks(database_url: str) -> None:
    upgrade(database_url, "0037")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            tenant = conn.execute(text("INSERT INTO tenants (slug, name, created_at) VALUES ('t', 't', "
                                       "CURRENT_TIMESTAMP) RETURNING id")).scalar_one()
            account = conn.execute(text("INSERT INTO accounts (tenant_id, name, created_at, updated_at) VALUES "
                                        "(:t, 'A', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"),
                                   {"t": tenant}).scalar_one()
            alert = conn.execute(text("INSERT INTO alerts (tenant_id, account_id, rule, dedupe_key, severity, title, "
                                      "reasons, status, raised_at) VALUES (:t, :a, 'r', 'k', 'warning', 'x', '[]', "
                                      "'open', CURRENT_TIMESTAMP) RETURNING id"),
                                 {"t": tenant, "a": account}).scalar_one()
            for alert_id, status in ((alert, "done"), (None, "open")):
                conn.execute(text("INSERT INTO tasks (tenant_id, account_id, alert_id, title, status, created_at, "
                                  "priority, source) VALUES (:t, :a, :al, 'Call', :s, CURRENT_TIMESTAMP, 'normal', "
                                  "'alert')"), {"t": tenant, "a": account, "al": alert_id, "s": status})
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:  # statistics of the older indexes (as a database analyzed once has them)
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    before = _tasks(database_url)
    assert INDEX not in _indexes(database_url)

    upgrade(database_url, "0039")
    assert _indexes(database_url)[INDEX] == ["tenant_id", "alert_id", "completed_at"]
    if sqlite:  # and of the new one: else SQLite would read a workspace's tasks through it, row by row
        engine = make_engine(database_url)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT stat FROM sqlite_stat1 WHERE idx = :i"), {"i": INDEX}).all()
        finally:
            engine.dispose()
    assert _tasks(database_url) == before == [(account, alert, "done"), (account, None, "open")]

    downgrade(database_url, "0037")
    assert current_revision(database_url) == "0037"
    assert INDEX not in _indexes(database_url)
    assert _tasks(database_url) == before
