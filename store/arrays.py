"""Whole columns of integers read in one pass, for reports over a whole workspace.

An ORM row per subscription costs microseconds each (≈ 2 s for 168,000 rows with the objects analytics builds
from them); the report needs plain integers. `int_columns` runs one Core ``SELECT`` of integer expressions on
the session's connection (inside its transaction) and hands back a NumPy array per column.

Core statements do not pass through the session's tenant filter (`store.scoping`), so the caller names the
tenant-scoped models it reads and this adds ``model.tenant_id = <the session's tenant>`` for each: a session
without a tenant is refused.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from sqlalchemy import Select, literal_column
from sqlalchemy.orm import Session

from store.scoping import scoped_core


def int_columns(session: Session, statement: Select[Any], scoped: tuple[Any, ...]) -> list[np.ndarray]:
    """The integer columns of `statement` (NULL is not allowed: coalesce it), one int64 array each, read in the
    session's transaction for its tenant only (`scoped`: the tenant-scoped models the statement reads)."""
    if not scoped:
        raise ValueError("int_columns reads a workspace's rows: a tenant session and its scoped models are needed")
    statement = scoped_core(session, statement, *scoped, what="int_columns' rows")
    width = len(statement.selected_columns)
    result = session.connection().execute(statement)
    try:
        rows = result.cursor.fetchall()  # the driver's tuples: no Row objects for 100,000s of rows
    finally:
        result.close()
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=len(rows) * width)
    return list(flat.reshape(len(rows), width).T.copy()) if rows else [np.zeros(0, np.int64) for _ in range(width)]


def day_ordinal(session: Session, column: Any) -> Any:
    """SQL for `column` (a DATE) as `datetime.date.toordinal()` would give it, 0 for NULL."""
    from sqlalchemy import Integer, cast, func

    if session.get_bind().dialect.name == "postgresql":
        return func.coalesce(column - literal_column("DATE '0001-01-01'") + 1, 0)
    return func.coalesce(cast(func.julianday(column) - 1721424.5, Integer), 0)
