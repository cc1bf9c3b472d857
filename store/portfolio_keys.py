"""The portfolio's sort and filter values, kept on each account row (`Account.score_key` and the rest).

A portfolio page sorted by score, trend, ARR or renewal, or filtered by band or renewal window, is an
index range over ``accounts`` because these values are stored there instead of being computed from
the latest snapshots and the subscriptions of every account on every request. They are derived data:

- ``health_band``, ``score_key``, ``trend_key``: the account's snapshot on the workspace's latest scored
  day (the day the portfolio shows), `NO_SCORE` / `NO_TREND` without one;
- ``arr``, ``arr_key``, ``renewal_key``: `subscription_facts` as of that day (as of today in a
  workspace never scored).

`refresh` recomputes them from those rows and writes only the accounts whose values differ, in one
``UPDATE ... FROM`` the database works out (the new values joined to each account, compared with ``IS DISTINCT
FROM``): no row of the workspace crosses into Python. Callers:
every scoring run, for every account, once its snapshots, roll-ups and alerts are written (the latest
day may have moved, and with it every account's health and, through the reference day, renewals); the
sync writer, for the accounts whose subscriptions it wrote, deleted, unplaced or merged. Anything else
that writes snapshots or subscriptions must call it too (seeded fixtures and benchmarks do).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Date, Float, Table, and_, column, func, literal, null, or_, select, table, union_all, update
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


def _refresh(session: Session, tenant_id: int, day: dt.date | None, reference: dt.date,
             ids: list[int] | None) -> int:
    """One UPDATE of the accounts (``ids``: only those) whose stored keys differ from what their snapshot of
    `day` and their `subscription_facts` as of `reference` make them; returns how many it changed.

    The new values are driven from the facts (computed once, a materialized CTE) and, unioned to them, the
    accounts without any: each then finds its account by primary key and its snapshot by the unique key
    (a LEFT JOIN from the accounts into the facts would be planned by SQLite as a scan of the facts per account)."""
    accounts: Table = Account.__table__  # type: ignore[assignment]
    snapshots: Table = HealthSnapshot.__table__  # type: ignore[assignment]
    mine = [accounts.c.tenant_id == tenant_id, *([accounts.c.id.in_(ids)] if ids is not None else [])]
    # The facts of this workspace's accounts only (the statement runs outside the session's tenant scoping).
    facts = subscription_facts(reference, ids if ids is not None else select(accounts.c.id).where(*mine)
                               ).element.cte("facts", nesting=True).prefix_with("MATERIALIZED")
    unsubscribed = select(accounts.c.id, null(), null(), null()).where(
        *mine, accounts.c.id.not_in(select(facts.c.account_id)))
    values = union_all(
        select(facts.c.account_id.label("id"), facts.c.arr.label("arr"),
               func.coalesce(facts.c.arr, literal(0.0, Float())).label("arr_key"),
               func.coalesce(facts.c.renewal, literal(NO_RENEWAL, Date())).label("renewal_key")),
        unsubscribed).add_cte(facts, nest_here=True).subquery("subscribed")
    band: Any = null()
    score: Any = literal(NO_SCORE, Float())
    trend: Any = literal(NO_TREND, Float())
    joined: Any = values
    if day is not None:  # else no account has a snapshot to show
        joined = values.outerjoin(snapshots, and_(snapshots.c.tenant_id == tenant_id, snapshots.c.day == day,
                                                  snapshots.c.account_id == values.c.id))
        band, score, trend = (snapshots.c.band, func.coalesce(snapshots.c.score, score),
                              func.coalesce(snapshots.c.trend, trend))
    new = select(values.c.id, band.label("health_band"), score.label("score_key"), trend.label("trend_key"),
                 values.c.arr, values.c.arr_key, values.c.renewal_key).select_from(joined).subquery("new")
    # The target as a bare table clause of the key columns: no `updated_at` set by the model's onupdate (derived
    # values: the account itself did not change), so its index is not rewritten either.
    target = table(accounts.name, column("id"), column("tenant_id"), *(column(k) for k in KEYS))
    statement = (update(target)
                 .where(target.c.id == new.c.id, target.c.tenant_id == tenant_id,
                        or_(*(target.c[k].is_distinct_from(new.c[k]) for k in KEYS)))
                 .values(**{k: new.c[k] for k in KEYS}))
    return session.connection().execute(statement).rowcount or 0
