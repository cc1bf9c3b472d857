"""`store.bulk.json_rows`: many rows as one JSON parameter come back typed as their columns, on both stores."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, select
from sqlalchemy.dialects import sqlite

from store.bulk import json_rows
from store.models import ProductUser, UsageDaily
from store.types import UTCDateTime, sqlite_utc_text
from tests.shared import WORLD_NOW

FLAG = Column("flag", Boolean)


def test_rows_come_back_as_their_columns_give_them(store: Any) -> None:
    users, usage = ProductUser.__table__, UsageDaily.__table__
    plus_five = dt.timezone(dt.timedelta(hours=5))
    rows = [
        ("u-1", WORLD_NOW, 7, "Report Created", WORLD_NOW.date(), 2.5, True),
        ("é \"quoted\" \\ back", WORLD_NOW.replace(microsecond=123456, tzinfo=plus_five), None, "E", None, 0.1, False),
        ("u-3", None, -1, "x" * 200, dt.date(1, 1, 1), 1e300, None),
    ]
    with store.session() as s:
        source = json_rows(s, [users.c.user_key, users.c.last_seen, usage.c.count, usage.c.event, usage.c.day,
                               usage.c.minutes, FLAG], rows)
        back = [tuple(r) for r in s.execute(select(source))]
    assert back == [
        ("u-1", WORLD_NOW, 7, "Report Created", WORLD_NOW.date(), 2.5, True),
        ("é \"quoted\" \\ back", WORLD_NOW.replace(microsecond=123456, hour=5), None, "E", None, 0.1, False),
        ("u-3", None, -1, "x" * 200, dt.date(1, 1, 1), 1e300, None),
    ]
    assert back[1][1].tzinfo is not None


def test_no_rows_is_an_empty_source(store: Any) -> None:
    with store.session() as s:
        source = json_rows(s, [ProductUser.__table__.c.user_key], [])
        assert s.execute(select(source)).all() == []


@pytest.mark.parametrize("value", [WORLD_NOW, WORLD_NOW.replace(microsecond=9),
                                   dt.datetime(2026, 3, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                                   dt.datetime(1, 1, 1, 0, 0, tzinfo=dt.UTC)])
def test_sqlite_text_is_what_the_type_binds(value: dt.datetime) -> None:
    dialect = sqlite.dialect()
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    assert sqlite_utc_text(value) == process(value)


def test_a_naive_datetime_is_refused_as_the_type_refuses_it() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        sqlite_utc_text(dt.datetime(2026, 1, 1))


def test_decimals_and_json_documents_come_back_as_their_columns_give_them(store: Any) -> None:
    from decimal import Decimal

    from store.models import SourceLink, Subscription

    arr, refs = Subscription.__table__.c.arr, SourceLink.__table__.c.cross_refs
    rows = [(Decimal("1200.50"), {"salesforce": "001A", "nested": {"n": [1, "é"]}}), (None, {}), (Decimal("0"), None)]
    with store.session() as s:
        source = json_rows(s, [arr, refs], rows)
        back = [tuple(r) for r in s.execute(select(source.c.arr, source.c.cross_refs))]
    assert back[0] == (Decimal("1200.50"), {"salesforce": "001A", "nested": {"n": [1, "é"]}})
    assert back[1] == (None, {})
    assert back[2][0] == Decimal("0")
