"""``INSERT … ON CONFLICT`` for whichever backend the session is on (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Float, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from store.bulk import JsonRowsSource, column_encoder, column_kind, encode_columns, json_text


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
    dialect = session.get_bind().dialect
    shape = (tuple(columns), tuple(keys), None if update is None else tuple(update))
    driver = _driver_statement(dialect, table, *shape) if dialect.name == "sqlite" and DRIVER_ROWS else None
    if driver is not None:
        session.connection().exec_driver_sql(driver.sql, driver.rows([[row[c] for c in columns] for row in rows]))
        from store.panel_views import written  # (it imports this module)

        written(session, table.name, options or {})  # the statement hook does not see a write through the driver
        return len(rows)
    stmt, source = _statement(session, table, *shape)
    session.execute(stmt, {"rows": source.payload([[row[c] for c in columns] for row in rows])},
                    execution_options=dict(options or {}))
    return len(rows)


DRIVER_ROWS = True
"""On SQLite, `upsert_rows` sends the rows as the driver's own ``executemany`` of one ``INSERT … VALUES (?, …) ON
CONFLICT … DO UPDATE`` (`_DriverStatement`) rather than as one JSON parameter: SQLite 3.40's ``json_extract``
parses each row's JSON text again for every column. Measured on 100,000 rows of 12 columns (raw sqlite3, a unique
key and one more index): 0.57-0.76 CPU s through ``json_each``, 0.24-0.37 s as an ``executemany``, inserting or
updating. PostgreSQL keeps the JSON parameter (one round trip, however many rows)."""


class _DriverStatement:
    """`upsert_rows`'s statement on SQLite as driver SQL: the columns given, then the columns the rows leave out
    that have a default made in Python (a scalar or a function, evaluated once per call, as the ``INSERT … SELECT``
    of the JSON path evaluates them once per statement); each value as its column's type binds it."""

    def __init__(self, dialect: Dialect, table: Any, columns: tuple[str, ...], keys: tuple[str, ...],
                 update: tuple[str, ...] | None, defaults: list[Any]) -> None:
        quote = dialect.identifier_preparer.quote
        names = [*(table.c[c].name for c in columns), *(c.name for c in defaults)]
        changed = [table.c[c].name for c in (update if update is not None else columns) if c not in keys]
        on_conflict = (f"DO UPDATE SET {', '.join(f'{quote(c)} = excluded.{quote(c)}' for c in changed)}" if changed
                       else "DO NOTHING")
        self.sql = (f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "  # noqa: S608 - the model's names
                    f"({', '.join(quote(n) for n in names)}) VALUES ({', '.join('?' for _ in names)}) "
                    f"ON CONFLICT ({', '.join(quote(table.c[k].name) for k in keys)}) {on_conflict}")
        self._bind = [(i, f) for i, f in enumerate(_binder(dialect, table.c[c]) for c in columns) if f is not None]
        self._nulls = {i for i, c in enumerate(columns) if column_kind(table.c[c]) is JSON}
        """JSON columns: None is stored as the document ``null``, as the JSON path stores it."""
        self._defaults = [(c.default, _binder(dialect, c), column_kind(c) is JSON) for c in defaults]

    def rows(self, values: list[list[Any]]) -> list[tuple[Any, ...]]:
        """``values`` (each row's values in the columns' order) as the driver's parameters."""
        encode_columns(values, self._bind, self._nulls)
        fixed = []
        for default, bind, json in self._defaults:
            value = default.arg(None) if default.is_callable else default.arg
            fixed.append(bind(value) if bind is not None and (value is not None or json) else value)
        tail = tuple(fixed)
        return [(*row, *tail) for row in values]


def _binder(dialect: Dialect, column: Any) -> Callable[[Any], Any] | None:
    """What turns a value into what SQLite stores for ``column``'s type (None: the driver binds it as it is)."""
    kind = column_kind(column)
    if kind is JSON:
        return json_text
    if kind is Float:
        return float  # a decimal too (the JSON path sends it as text, which the column's affinity makes a number)
    return column_encoder(dialect, column, kind)


_DRIVER = "canary.upsert_driver_statements"


def _driver_statement(dialect: Dialect, table: Any, columns: tuple[str, ...], keys: tuple[str, ...],
                      update: tuple[str, ...] | None) -> _DriverStatement | None:
    """The driver statement of this shape, built once and kept on the table; None when a column the rows leave
    out has a default the database side makes from an expression (the JSON path renders those)."""
    cache: dict[Any, _DriverStatement | None] = table.info.setdefault(_DRIVER, {})
    key = (dialect.name, columns, keys, update)
    if key not in cache:
        defaults = [c for c in table.columns if c.key not in columns and c.default is not None]
        plain = all(c.default.is_scalar or c.default.is_callable for c in defaults)
        cache[key] = _DriverStatement(dialect, table, columns, keys, update, defaults) if plain else None
    return cache[key]


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
