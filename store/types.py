"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def sqlite_utc_text(value: dt.datetime) -> str:
    """The text `UTCDateTime` binds on SQLite for an aware ``value`` (what SQLAlchemy's SQLite ``DATETIME``
    writes for it in UTC), made without going through the type's processors: for writing many rows at once."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column; attach a time zone")
    return value.astimezone(dt.UTC).isoformat(" ", "microseconds")[:26]


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite has no time zones and hands back naive values; PostgreSQL ``timestamptz``
    hands back aware ones. Values are stored as UTC and always come back aware, so code
    above the store never compares naive with aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class EncodedJSON(TypeDecorator[str]):
    """A JSON column's value already encoded by the caller (the text `json.dumps` would write), bound as it
    is: for bulk writes that build the text faster than encoding each row's dict. Read back, the column's
    own JSON type decodes it as usual; on PostgreSQL the parameter is still cast to JSON."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None
