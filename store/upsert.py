"""``INSERT … ON CONFLICT`` for whichever backend the session is on (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.bulk import json_rows


def insert_for(session: Session, table: Any) -> Any:
    """A dialect ``insert()`` that supports ``on_conflict_do_nothing/do_update``."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upserts are not implemented for {name}")


def upsert_rows(session: Session, table: Any, rows: Sequence[Mapping[str, Any]], keys: Sequence[str], *,
                update: Sequence[str] | None = None, options: Mapping[str, Any] | None = None) -> int:
    """Write ``rows`` (dicts with the same keys) with one ``INSERT … SELECT … ON CONFLICT (keys) DO UPDATE``: the
    rows travel as one JSON parameter (`store.bulk.json_rows`); a row whose ``keys`` exist already takes the
    values of ``update`` (by default every column given but the keys); the other columns are only what a new row
    starts with (columns not given take their defaults).

    ``keys`` name a unique constraint of ``table``; ``options`` are the statement's execution options (a
    watched table's `store.panel_views.touches`). No ORM object is made or flushed. Returns the rows written."""
    if not rows:
        return 0
    columns = list(rows[0])
    missing = [k for k in keys if k not in columns]
    if missing:
        raise ValueError(f"upsert into {table.name}: the rows lack the conflict key {', '.join(missing)}")
    source = json_rows(session, [table.c[c] for c in columns], [[row[c] for c in columns] for row in rows])
    stmt = insert_for(session, table)
    stmt = stmt.from_select(columns, select(*(source.c[c] for c in columns)).where(true()))
    stmt = stmt.on_conflict_do_update(index_elements=[table.c[k] for k in keys],
                                      set_={c: stmt.excluded[c] for c in (update if update is not None else columns)
                                            if c not in keys})
    session.execute(stmt, execution_options=dict(options or {}))
    return len(rows)
