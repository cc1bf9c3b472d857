"""Migration 0041: the collector's inbox table, up and down, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect, text

from store.db import make_engine
from store.migrate import current_revision, downgrade, upgrade


def _tables(url: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    try:
        found = inspect(engine)
        return {name: [c["name"] for c in found.get_columns(name)] for name in found.get_table_names()}
    finally:
        engine.dispose()


def test_0041_adds_the_collector_inbox_and_drops_it_on_downgrade(database_url: str) -> None:
    upgrade(database_url, "0039")
    assert "collector_inbox" not in _tables(database_url)

    upgrade(database_url, "0041")
    assert current_revision(database_url) == "0041"
    assert sorted(_tables(database_url)["collector_inbox"]) == ["id", "messages", "payload", "received_at",
                                                                 "tenant_id"]
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            tenant = conn.execute(text("INSERT INTO tenants (slug, name, created_at) VALUES ('t', 't', "
                                       "CURRENT_TIMESTAMP) RETURNING id")).scalar_one()
            conn.execute(text("INSERT INTO collector_inbox (tenant_id, messages, payload, received_at) VALUES "
                              "(:t, 2, :p, CURRENT_TIMESTAMP)"), {"t": tenant, "p": b"\x93\x01\x80\x90"})
        with engine.connect() as conn:
            assert conn.execute(text("SELECT messages, payload FROM collector_inbox")).all() == [
                (2, b"\x93\x01\x80\x90")]
    finally:
        engine.dispose()

    downgrade(database_url, "0039")
    assert current_revision(database_url) == "0039"
    assert "collector_inbox" not in _tables(database_url)
    upgrade(database_url)
    assert "collector_inbox" in _tables(database_url)
