"""The portfolio's sort and filter values, kept on each account row (`Account.score_key` and the rest).

A portfolio page sorted by score, trend, ARR or renewal, or filtered by band or renewal window, is an
index range over ``accounts`` because these values are stored there instead of being computed from
the latest snapshots and the subscriptions of every account on every request. They are derived data:

- ``health_band``, ``score_key``, ``trend_key``: the account's snapshot on the workspace's latest scored
  day (the day the portfolio shows), `NO_SCORE` / `NO_TREND` without one;
- ``arr``, ``arr_key``, ``renewal_key``: `subscription_facts` as of that day (as of today in a
  workspace never scored).

`refresh` recomputes them from those rows and writes only the accounts whose values differ. Callers:
every scoring run, for every account, once its snapshots, roll-ups and alerts are written (the latest
day may have moved, and with it every account's health and, through the reference day, renewals); the
sync writer, for the accounts whose subscriptions it wrote, deleted, unplaced or merged. Anything else
that writes snapshots or subscriptions must call it too (seeded fixtures and benchmarks do).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from store.models import NO_RENEWAL, NO_SCORE, NO_TREND, Account, HealthSnapshot
from store.queries import subscription_facts
from store.scoping import current_tenant

CHUNK = 500
KEYS = ("health_band", "score_key", "trend_key", "arr", "arr_key", "renewal_key")


def reference_day(day: dt.date | None, today: dt.date | None = None) -> dt.date:
    """The day renewal windows are counted from: the workspace's latest scored day, else ``today``,
    else the real today (a workspace never scored). The one rule for the keys and the portfolio."""
    return day or today or dt.datetime.now(dt.UTC).date()


def refresh(session: Session, account_ids: Iterable[int] | None = None, *, today: dt.date | None = None) -> int:
    """Bring the keys of `account_ids` (None: every account of the session's tenant) up to date;
    returns how many accounts changed. `today` is the reference day of a workspace with no snapshot."""
    tenant_id = current_tenant(session)
    if tenant_id is None:
        raise ValueError("portfolio keys are refreshed in a tenant's session")
    day: dt.date | None = session.scalar(select(func.max(HealthSnapshot.day)))
    reference = reference_day(day, today)
    if account_ids is None:
        return _refresh(session, tenant_id, day, reference, None)
    ids = sorted(set(account_ids))
    return sum(_refresh(session, tenant_id, day, reference, ids[start : start + CHUNK])
               for start in range(0, len(ids), CHUNK))


def expected_keys(band: str | None, score: float | None, trend: float | None, facts: Any) -> tuple[Any, ...]:
    """The stored values (in `KEYS` order) for a snapshot's band, score and trend and a `subscription_facts` row."""
    renewal = None
    if facts is not None:
        renewal = facts.renewal
        if isinstance(renewal, str):  # SQLite hands back coalesce() of dates as text
            renewal = dt.date.fromisoformat(renewal)
    return (band, NO_SCORE if score is None else score, NO_TREND if trend is None else trend,
            None if facts is None else facts.arr,
            None if facts is None else (0.0 if facts.arr is None else facts.arr),
            None if facts is None else (renewal or NO_RENEWAL))


def _refresh(session: Session, tenant_id: int, day: dt.date | None, reference: dt.date,
             ids: list[int] | None) -> int:
    def only(column: Any) -> list[Any]:
        return [column.in_(ids)] if ids is not None else []

    stored = {r[0]: tuple(r[1:]) for r in session.execute(
        select(Account.id, *(getattr(Account, k) for k in KEYS)).where(*only(Account.id)))}
    health = {} if day is None else {r.account_id: r for r in session.execute(
        select(HealthSnapshot.account_id, HealthSnapshot.band, HealthSnapshot.score, HealthSnapshot.trend)
        .where(HealthSnapshot.day == day, *only(HealthSnapshot.account_id)))}
    facts = {r.account_id: r for r in session.execute(select(subscription_facts(reference, ids)))}
    changes = []
    for account_id, old in stored.items():
        snap = health.get(account_id)
        new = expected_keys(snap.band if snap else None, snap.score if snap else None,
                            snap.trend if snap else None, facts.get(account_id))
        if new != old:
            changes.append({"b_id": account_id, **dict(zip(KEYS, new, strict=True))})
    if changes:
        (_write_sqlite if session.get_bind().dialect.name == "sqlite" else _write)(session, tenant_id, changes)
    return len(changes)


def _write(session: Session, tenant_id: int, changes: list[dict[str, Any]]) -> None:
    """The changed keys in one UPDATE executemany (``b_id``: the account)."""
    table: Table = Account.__table__  # type: ignore[assignment]
    session.connection().execute(
        update(table).where(table.c.id == bindparam("b_id"), table.c.tenant_id == tenant_id)
        .values(updated_at=table.c.updated_at,  # derived values: the account itself did not change
                **{k: bindparam(k) for k in KEYS}),
        changes)


def _write_sqlite(session: Session, tenant_id: int, changes: list[dict[str, Any]]) -> None:
    """`_write` on SQLite: the same UPDATE as one driver ``executemany`` of plain tuples, each value bound as
    its column's type binds it (a score run changes every account's keys: no per-row parameter processing)."""
    connection = session.connection()
    table: Table = Account.__table__  # type: ignore[assignment]
    dialect = connection.dialect
    processors = [table.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in KEYS]
    rows = [(*(value if process is None else process(value)
               for process, value in zip(processors, (change[k] for k in KEYS), strict=True)),
             change["b_id"], tenant_id) for change in changes]
    connection.exec_driver_sql(
        f"UPDATE {table.name} SET {', '.join(f'{k} = ?' for k in KEYS)} "  # noqa: S608
        "WHERE id = ? AND tenant_id = ?", rows)
