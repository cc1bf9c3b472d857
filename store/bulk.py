"""Set-based statements over many rows sent as one JSON parameter, on SQLite and PostgreSQL.

`json_rows(session, columns, rows)` is a subquery yielding one row per tuple of ``rows``: the rows
travel as a single JSON array (``json_each`` on SQLite, ``jsonb_array_elements`` on PostgreSQL, in
the order given), so one ``INSERT … SELECT … ON CONFLICT`` or ``UPDATE … FROM`` writes a whole
batch in one statement and one round trip, whatever its size, and the statement's SQL is the same
for every batch (compiled once, cached by SQLAlchemy). Values are typed by the column they are
meant for and go in as that column's type binds them (a UTC date-time: the text SQLAlchemy writes
on SQLite, an ISO 8601 ``timestamptz`` on PostgreSQL; a decimal as its digits, cast to ``numeric``; a JSON
column's document as JSON).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Container, Sequence
from typing import Any, TypeVar

import msgspec
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    Select,
    String,
    Subquery,
    Table,
    bindparam,
    column,
    insert,
    select,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import KeyedColumnElement

from store.types import UTCDateTime, sqlite_utc_text

_encode = msgspec.json.Encoder().encode
_S = TypeVar("_S", bound=Select[Any])
_PG_CASTS: dict[type[Any], str] = {Boolean: "boolean", Date: "date", DateTime: "timestamptz", Float: "double precision",
                                   Integer: "integer", String: "text", Numeric: "numeric", JSON: "json"}


def json_text(value: Any) -> str:
    """A JSON document as compact text, ``null`` for None: what the driver's rows (`store.upsert`) bind for a JSON
    column on SQLite, the same text the JSON payload's ``json_extract`` stores for that document."""
    return _encode(value).decode()


def column_kind(col: KeyedColumnElement[Any]) -> type[Any]:
    impl = getattr(col.type, "impl", col.type)  # a TypeDecorator's underlying type
    for kind in (Boolean, DateTime, Date, Float, Integer, String, Numeric, JSON):  # Float before Numeric
        if isinstance(impl, kind):
            return kind
    raise TypeError(f"json_rows: no JSON form for column {col} of type {col.type!r}")


def column_encoder(dialect: Dialect, col: KeyedColumnElement[Any], kind: type[Any]) -> Callable[[Any], Any] | None:
    """What turns a value into the JSON the statement reads (None: msgspec's own JSON is that)."""
    if kind is DateTime:
        if dialect.name == "sqlite" and isinstance(col.type, UTCDateTime):
            return sqlite_utc_text  # what the type's processors give, at a tenth of their cost
        return col.type.dialect_impl(dialect).bind_processor(dialect)
    if kind is Numeric and dialect.name == "sqlite":
        return col.type.dialect_impl(dialect).bind_processor(dialect)  # a float, as SQLite stores decimals
    if kind is Date:
        return dt.date.isoformat  # SQLite's stored text; PostgreSQL casts it to date
    return None  # numbers (a decimal as its text), text, booleans and JSON documents are JSON as they are


class JsonRowsSource:
    """The reusable half of `json_rows`: the subquery with its ``:rows`` parameter left open, and how each row's
    values become that parameter's JSON (`payload`). Made once per (dialect, columns) by a caller that runs the
    same statement page after page (`store.upsert.upsert_rows`), so the statement is not built again each time."""

    __slots__ = ("_columns", "_sql", "encoders", "subquery")

    def __init__(self, dialect: Dialect, columns: Sequence[KeyedColumnElement[Any]], name: str = "src") -> None:
        kinds = [column_kind(c) for c in columns]
        if dialect.name == "sqlite":
            # A JSON column's value stays JSON text (json_quote leaves what json_extract marked as JSON as it is).
            picks = ", ".join(f"json_quote(json_extract(value, '$[{i}]')) AS {c.key}" if k is JSON
                              else f"json_extract(value, '$[{i}]') AS {c.key}"
                              for i, (c, k) in enumerate(zip(columns, kinds, strict=True)))
            sql = f"SELECT {picks} FROM json_each(:rows) WHERE 1"  # noqa: S608 - column names from the model
        elif dialect.name == "postgresql":
            picks = ", ".join(f"CAST(r.v {'->' if k is JSON else '->>'} {i} AS {_PG_CASTS[k]}) AS {c.key}"
                              for i, (c, k) in enumerate(zip(columns, kinds, strict=True)))
            sql = (f"SELECT {picks} FROM jsonb_array_elements(CAST(:rows AS jsonb)) "  # noqa: S608 - as above
                   "WITH ORDINALITY AS r(v, n) ORDER BY r.n")
        else:
            raise NotImplementedError(f"json_rows is not implemented for {dialect.name}")
        # Date-times as their column's type binds them (UTC: SQLite's text, PostgreSQL's aware datetime).
        self.encoders = [(i, f) for i, f in enumerate(column_encoder(dialect, c, k)
                                                      for c, k in zip(columns, kinds, strict=True)) if f is not None]
        self._sql, self._columns = sql, [column(c.key, c.type) for c in columns]
        self.subquery: Subquery = text(sql).columns(*self._columns).subquery(name)
        """The subquery with ``:rows`` open: executed with ``{"rows": self.payload(rows)}``."""

    def bound(self, rows: Sequence[Sequence[Any]], name: str = "src") -> Subquery:
        """The subquery with ``:rows`` bound to ``rows``."""
        return text(self._sql).bindparams(bindparam("rows", self.payload(rows))).columns(*self._columns).subquery(name)

    def payload(self, rows: Sequence[Sequence[Any]]) -> str:
        """The ``:rows`` parameter: ``rows`` as one JSON array, each value as its column's type binds it."""
        if self.encoders:
            encoded = [list(row) for row in rows]
            encode_columns(encoded, self.encoders)
            rows = encoded
        return _encode(rows).decode()


def encode_columns(rows: Sequence[list[Any]], encoders: Sequence[tuple[int, Callable[[Any], Any]]],
                   nulls: Container[int] = ()) -> None:
    """Each row's value at index ``i`` replaced, in place, by ``f(value)`` for each ``(i, f)`` of ``encoders``;
    None stays None (but for the indexes in ``nulls``); one value given to every row (a write's ``updated_at``) is
    encoded once."""
    for i, f in encoders:
        keep_none = i not in nulls
        last: Any = _UNSET
        done: Any = None
        for row in rows:
            value = row[i]
            if value is None and keep_none:
                continue
            if value is not last:
                last, done = value, f(value)
            row[i] = done


_UNSET = object()


def json_rows(session: Session, columns: Sequence[KeyedColumnElement[Any]], rows: Sequence[Sequence[Any]],
              name: str = "src") -> Subquery:
    """``(SELECT … FROM <rows as JSON>) AS name`` with one column per column of ``columns`` (same keys)."""
    return JsonRowsSource(session.get_bind().dialect, columns, name).bound(rows, name)


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Insert:
    """``INSERT INTO table (columns) SELECT … FROM`` `json_rows` of ``rows`` (values in ``columns`` order): one
    statement and one parameter whatever the number of rows, in the order given (add ``.returning`` as needed).
    The ``WHERE true`` keeps SQLite from reading an ON CONFLICT added after it as the SELECT's join clause."""
    source = json_rows(session, [table.c[c] for c in columns], rows)
    return insert(table).from_select(list(columns), select(*(source.c[c] for c in columns)).where(true()))


def among(session: Session, stmt: _S, column: KeyedColumnElement[Any], values: KeyedColumnElement[Any]) -> _S:
    """``stmt`` (selecting from ``column``'s table) kept to the rows whose ``column`` is one of ``values`` (a
    column of a `json_rows` subquery of distinct values). SQLite gets ``column IN (SELECT values)``, which it runs
    as an index of the values built once (as a join it scanned the whole array per row of the table); PostgreSQL
    gets a join, which it hashes (its ``IN`` over the array rescanned the array per row of the table: seconds per
    statement at a few thousand rows)."""
    if session.get_bind().dialect.name == "sqlite":
        return stmt.where(column.in_(select(values)))
    return stmt.select_from(column.table.join(values.table, column == values))
