"""Migration 0044: the tables a pull writes lose their tenant-only indexes (a unique key or another index starts
with the tenant) and ``survey_responses`` gains its (tenant, source, source_ref) index; up and down, rows kept."""

from __future__ import annotations

from sqlalchemy import inspect, text

from store.db import make_engine
from store.migrate import current_revision, downgrade, upgrade

TABLES = ("contacts", "source_links", "subscriptions", "tickets", "survey_responses")
SOURCE_REF = "ix_survey_responses_tenant_source_ref"


def _indexes(url: str) -> dict[str, dict[str, list[str]]]:
    engine = make_engine(url)
    try:
        seen = inspect(engine)
        return {table: {str(ix["name"]): [str(c) for c in ix["column_names"]] for ix in seen.get_indexes(table)}
                for table in TABLES}
    finally:
        engine.dispose()


def _ratings(url: str) -> list[tuple[str, str, int]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [(str(s), str(r), int(v)) for s, r, v in conn.execute(
                text("SELECT source, source_ref, score FROM survey_responses ORDER BY id"))]
    finally:
        engine.dispose()


def test_0044_drops_the_tenant_only_indexes_adds_the_ratings_source_index_and_back(database_url: str) -> None:
    upgrade(database_url, "0042")
    before = _indexes(database_url)
    assert {table: found.get(f"ix_{table}_tenant_id") for table, found in before.items()} == {
        table: ["tenant_id"] for table in TABLES}
    assert SOURCE_REF not in before["survey_responses"]
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            tenant = conn.execute(text("INSERT INTO tenants (slug, name, created_at) VALUES ('t', 't', "
                                       "CURRENT_TIMESTAMP) RETURNING id")).scalar_one()
            for ref, score in (("r-1", 1), ("r-2", 0)):
                conn.execute(text("INSERT INTO survey_responses (tenant_id, kind, score, submitted_at, source, "
                                  "source_ref) VALUES (:t, 'csat', :s, CURRENT_TIMESTAMP, 'zendesk', :r)"),
                             {"t": tenant, "s": score, "r": ref})
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:  # a database analyzed once: the migration analyzes the table of its new index
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    rows = _ratings(database_url)
    assert rows == [("zendesk", "r-1", 1), ("zendesk", "r-2", 0)]

    upgrade(database_url, "0044")
    after = _indexes(database_url)
    assert [table for table in TABLES if f"ix_{table}_tenant_id" in after[table]] == []
    assert after["survey_responses"][SOURCE_REF] == ["tenant_id", "source", "source_ref"]
    # what stays: the accounts' indexes, and the (tenant, updated_at) ones the report fingerprints read
    assert after["contacts"]["ix_contacts_tenant_id_updated_at"] == ["tenant_id", "updated_at"]
    assert after["tickets"]["ix_tickets_account_id"] == ["account_id"]
    assert _ratings(database_url) == rows
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            if sqlite:
                assert conn.execute(text("SELECT stat FROM sqlite_stat1 WHERE idx = :i"), {"i": SOURCE_REF}).all()
                plan = " ".join(str(r[-1]) for r in conn.execute(text(
                    "EXPLAIN QUERY PLAN SELECT id FROM survey_responses WHERE tenant_id = :t AND source = 'zendesk' "
                    "AND source_ref IN (SELECT value FROM json_each('[\"r-2\"]'))"), {"t": tenant}))
                assert SOURCE_REF in plan
            assert conn.execute(text("SELECT score FROM survey_responses WHERE tenant_id = :t AND source = 'zendesk' "
                                     "AND source_ref = 'r-2'"), {"t": tenant}).scalar_one() == 0
    finally:
        engine.dispose()

    downgrade(database_url, "0042")
    assert current_revision(database_url) == "0042"
    assert _indexes(database_url) == before
    assert _ratings(database_url) == rows
    upgrade(database_url)
