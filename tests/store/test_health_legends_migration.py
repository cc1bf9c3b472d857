"""Migration 0045: ``health_legends`` (a workspace's scoring models' descriptors, one row per model fingerprint),
up and down; the snapshots already stored are not rewritten."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from store.db import make_engine
from store.migrate import current_revision, downgrade, upgrade

OLD_PARTS = {"account_id": 1, "day": "2026-11-20", "score": 62.5, "band": "average", "profile": "default",
             "parts": {"csat": {"signal": "csat", "dimension": "satisfaction", "label": "CSAT", "value": 80.0,
                                "status": "average", "points": 50.0, "weight": 1.0}},
             "dimensions": {"satisfaction": 50.0}, "missing": [], "reasons": []}


def _snapshots(url: str) -> list[tuple[int, dict[str, object]]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [(int(a), json.loads(p) if isinstance(p, str) else p) for a, p in conn.execute(
                text("SELECT account_id, parts FROM health_snapshots ORDER BY id"))]
    finally:
        engine.dispose()


def test_0045_adds_health_legends_and_back_old_snapshots_untouched(database_url: str) -> None:
    upgrade(database_url, "0044")
    engine = make_engine(database_url)
    try:
        assert "health_legends" not in inspect(engine).get_table_names()
        with engine.begin() as conn:
            tenant = conn.execute(text("INSERT INTO tenants (slug, name, created_at) VALUES ('t', 't', "
                                       "CURRENT_TIMESTAMP) RETURNING id")).scalar_one()
            account = conn.execute(text("INSERT INTO accounts (tenant_id, name, created_at, updated_at) VALUES "
                                        "(:t, 'Acme', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"),
                                   {"t": tenant}).scalar_one()
            conn.execute(text("INSERT INTO health_snapshots (tenant_id, account_id, day, score, band, profile, parts, "
                              "reasons, computed_at) VALUES (:t, :a, '2026-11-20', 62.5, 'average', 'default', :p, "
                              "'[]', CURRENT_TIMESTAMP)"), {"t": tenant, "a": account, "p": json.dumps(OLD_PARTS)})
    finally:
        engine.dispose()
    before = _snapshots(database_url)
    assert before == [(account, OLD_PARTS)]

    upgrade(database_url, "0045")
    assert current_revision(database_url) == "0045"
    engine = make_engine(database_url)
    try:
        seen = inspect(engine)
        assert {c["name"] for c in seen.get_columns("health_legends")} == {
            "id", "tenant_id", "fingerprint", "legend", "created_at"}
        assert [u["column_names"] for u in seen.get_unique_constraints("health_legends")] == [
            ["tenant_id", "fingerprint"]]
        assert [(f["referred_table"], f["options"].get("ondelete")) for f in seen.get_foreign_keys("health_legends")
                ] == [("tenants", "CASCADE")]
        legend = {"csat": {"signal": "csat", "dimension": "satisfaction", "label": "CSAT"}}
        insert = text("INSERT INTO health_legends (tenant_id, fingerprint, legend, created_at) "
                      "VALUES (:t, :f, :l, CURRENT_TIMESTAMP)")
        with engine.begin() as conn:
            conn.execute(insert, {"t": tenant, "f": "abc", "l": json.dumps(legend)})
            stored = conn.execute(text("SELECT fingerprint, legend FROM health_legends")).one()
            assert stored[0] == "abc"
            assert (json.loads(stored[1]) if isinstance(stored[1], str) else stored[1]) == legend
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert, {"t": tenant, "f": "abc", "l": "{}"})  # one legend per workspace and model
    finally:
        engine.dispose()
    assert _snapshots(database_url) == before  # no data migration: old rows stay self-describing

    downgrade(database_url, "0044")
    assert current_revision(database_url) == "0044"
    engine = make_engine(database_url)
    try:
        assert "health_legends" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    assert _snapshots(database_url) == before
    upgrade(database_url)
