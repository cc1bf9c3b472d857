"""``INSERT … ON CONFLICT`` for whichever backend the session is on (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.bulk import JsonRowsSource


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
    stmt, source = _statement(session, table, tuple(columns), tuple(keys), None if update is None else tuple(update))
    session.execute(stmt, {"rows": source.payload([[row[c] for c in columns] for row in rows])},
                    execution_options=dict(options or {}))
    return len(rows)


_STATEMENTS = "canary.upsert_statements"
"""Where a table keeps its upsert statements (``table.info``), by dialect and the columns, keys and updates."""


def _statement(session: Session, table: Any, columns: tuple[str, ...], keys: tuple[str, ...],
               update: tuple[str, ...] | None) -> tuple[Any, JsonRowsSource]:
    """The ``INSERT … SELECT FROM json rows … ON CONFLICT`` of this shape, built once and kept on the table: the
    rows go in as the statement's ``:rows`` parameter, so a sync's thousands of page writes reuse one statement
    (building it again each time cost more than SQLAlchemy's compiled cache saves)."""
    dialect = session.get_bind().dialect
    cache: dict[Any, tuple[Any, JsonRowsSource]] = table.info.setdefault(_STATEMENTS, {})
    key = (dialect.name, dialect.driver, columns, keys, update)
    found = cache.get(key)
    if found is None:
        source = JsonRowsSource(dialect, [table.c[c] for c in columns])
        stmt = insert_for(session, table)
        stmt = stmt.from_select(columns, select(*(source.subquery.c[c] for c in columns)).where(true()))
        stmt = stmt.on_conflict_do_update(index_elements=[table.c[k] for k in keys],
                                          set_={c: stmt.excluded[c] for c in (update if update is not None
                                                                              else columns) if c not in keys})
        found = cache[key] = (stmt, source)
    return found
