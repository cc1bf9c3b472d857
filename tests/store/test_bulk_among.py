"""`store.bulk.among`: a select kept to a `json_rows` list of keys, in the form each database plans well."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from store.bulk import among, json_rows
from store.models import EventType
from store.tenants import create_tenant
from tests.shared import WORLD_NOW


def test_among_keeps_the_listed_keys_only(store: Any) -> None:
    with store.session() as s:
        tenant, _ = create_tenant(s, "acme", "Acme")
        other, _ = create_tenant(s, "other", "Other")
    table = EventType.__table__
    names = [f"event {i:03d}" for i in range(300)]
    with store.session(other.id) as s:
        s.add_all([EventType(name=n, kind="feature", first_seen=WORLD_NOW) for n in names[:10]])
    with store.session(tenant.id) as s:
        s.add_all([EventType(name=n, kind="feature", first_seen=WORLD_NOW) for n in names])
    wanted = sorted({*names[::7], "never stored", names[1], "event 001 "})
    with store.session(tenant.id) as s:
        source = json_rows(s, [table.c.name], [(n,) for n in wanted])
        stmt = among(s, select(table.c.name).where(table.c.tenant_id == tenant.id), table.c.name, source.c.name)
        got = s.execute(stmt.order_by(table.c.name)).scalars().all()
        sql = str(stmt.compile(s.get_bind()))
    assert got == sorted({*names[::7], names[1]})
    if store.engine.dialect.name == "sqlite":
        assert "IN (SELECT" in sql and "JOIN" not in sql  # SQLite indexes the keys once for IN
    else:
        assert "JOIN" in sql and " IN " not in sql  # PostgreSQL hashes the join
