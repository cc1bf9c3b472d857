"""Migration 0046: ``survey_responses`` gains ``ix_survey_responses_unplaced_ticket`` (tenant, source, ticket_ref)
over the ratings without an account only, the index the writer's existence check and look-up of a new ticket's
waiting ratings read (`sync.writer.PageWriter._rated_before`); up and down, rows kept."""

from __future__ import annotations

from sqlalchemy import inspect, text

from store.db import make_engine
from store.migrate import current_revision, downgrade, upgrade

NAME = "ix_survey_responses_unplaced_ticket"
WAITING = ("SELECT id FROM survey_responses WHERE tenant_id = :t AND source = 'zendesk' AND account_id IS NULL "
           "LIMIT 1")
"""The writer's existence check."""


def _index(url: str) -> tuple[list[str] | None, str | None]:
    """The index's columns and its definition as the database keeps it (None, None: no such index)."""
    engine = make_engine(url)
    try:
        found = {str(ix["name"]): [str(c) for c in ix["column_names"]]
                 for ix in inspect(engine).get_indexes("survey_responses")}
        with engine.connect() as conn:
            definition = conn.execute(text(
                "SELECT sql FROM sqlite_master WHERE name = :n" if engine.dialect.name == "sqlite" else
                "SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": NAME}).scalar()
        return found.get(NAME), definition
    finally:
        engine.dispose()


def _ratings(url: str) -> list[tuple[str, int | None, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [(str(r), a, str(t)) for r, a, t in conn.execute(
                text("SELECT source_ref, account_id, ticket_ref FROM survey_responses ORDER BY id"))]
    finally:
        engine.dispose()


def test_0046_indexes_the_unplaced_ratings_by_ticket_and_back(database_url: str) -> None:
    upgrade(database_url, "0045")
    assert _index(database_url) == (None, None)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            tenant = conn.execute(text("INSERT INTO tenants (slug, name, created_at) VALUES ('t', 't', "
                                       "CURRENT_TIMESTAMP) RETURNING id")).scalar_one()
            account = conn.execute(text("INSERT INTO accounts (tenant_id, name, created_at, updated_at) VALUES "
                                        "(:t, 'Acme', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"),
                                   {"t": tenant}).scalar_one()
            for ref, placed in (("r-1", account), ("r-2", None)):
                conn.execute(text("INSERT INTO survey_responses (tenant_id, account_id, kind, score, submitted_at, "
                                  "source, source_ref, ticket_ref) VALUES (:t, :a, 'csat', 1, CURRENT_TIMESTAMP, "
                                  "'zendesk', :r, :k)"), {"t": tenant, "a": placed, "r": ref, "k": f"t{ref}"})
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:  # a database analyzed once: the migration analyzes the table of its new index
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    rows = _ratings(database_url)
    assert rows == [("r-1", account, "tr-1"), ("r-2", None, "tr-2")]

    upgrade(database_url, "0046")
    assert current_revision(database_url) == "0046"
    columns, definition = _index(database_url)
    assert columns == ["tenant_id", "source", "ticket_ref"]
    assert definition is not None
    assert " ".join(definition.replace("(", " ").replace(")", " ").split()).endswith("WHERE account_id IS NULL")
    assert _ratings(database_url) == rows
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            if sqlite:
                assert conn.execute(text("SELECT stat FROM sqlite_stat1 WHERE idx = :i"), {"i": NAME}).all()
                plan = " ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {WAITING}"), {"t": tenant}))
                assert NAME in plan
            waiting = text(WAITING.replace("SELECT id", "SELECT source_ref"))
            assert conn.execute(waiting, {"t": tenant}).scalar() == "r-2"
    finally:
        engine.dispose()

    downgrade(database_url, "0045")
    assert current_revision(database_url) == "0045"
    assert _index(database_url) == (None, None)
    assert _ratings(database_url) == rows
    upgrade(database_url)
