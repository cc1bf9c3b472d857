"""Migration 0042: the collector's claimed message ids lose the two indexes nothing reads, up and down, with the
claimed ids kept and still claimed once (the unique key stays)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from store.db import make_engine
from store.migrate import downgrade, upgrade

DROPPED = {"ix_collected_messages_tenant_id": ["tenant_id"], "ix_collected_messages_received_at": ["received_at"]}


def _indexes(url: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    try:
        found = {ix["name"]: list(ix["column_names"]) for ix in inspect(engine).get_indexes("collected_messages")}
        found.update({uq["name"]: list(uq["column_names"])
                      for uq in inspect(engine).get_unique_constraints("collected_messages")})
        return found
    finally:
        engine.dispose()


def _claim(url: str, tenant: int, message_id: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO collected_messages (tenant_id, message_id, received_at) VALUES "
                              "(:t, :m, CURRENT_TIMESTAMP)"), {"t": tenant, "m": message_id})
    finally:
        engine.dispose()


def _claimed(url: str) -> list[tuple[int, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [(int(t), str(m)) for t, m in conn.execute(
                text("SELECT tenant_id, message_id FROM collected_messages ORDER BY id"))]
    finally:
        engine.dispose()


def test_0042_drops_the_unread_indexes_keeps_the_claims_and_puts_them_back(database_url: str) -> None:
    upgrade(database_url, "0041")
    assert {name: cols for name, cols in _indexes(database_url).items() if name in DROPPED} == DROPPED
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            tenant = conn.execute(text("INSERT INTO tenants (slug, name, created_at) VALUES ('t', 't', "
                                       "CURRENT_TIMESTAMP) RETURNING id")).scalar_one()
    finally:
        engine.dispose()
    _claim(database_url, tenant, "m-1")
    upgrade(database_url, "0042")
    after = _indexes(database_url)
    assert not set(DROPPED) & set(after)
    assert ["tenant_id", "message_id"] in after.values()  # the claim's key stays
    assert _claimed(database_url) == [(tenant, "m-1")]
    _claim(database_url, tenant, "m-2")
    with pytest.raises(IntegrityError):  # still claimed once
        _claim(database_url, tenant, "m-1")
    downgrade(database_url, "0041")
    assert {name: cols for name, cols in _indexes(database_url).items() if name in DROPPED} == DROPPED
    assert _claimed(database_url) == [(tenant, "m-1"), (tenant, "m-2")]
    upgrade(database_url)
