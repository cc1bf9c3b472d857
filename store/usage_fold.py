"""``usage_monthly`` folded set-wise by a writer of ``usage_daily`` that adds a whole batch at once.

Migration 0019's triggers keep ``usage_monthly`` after every write to ``usage_daily``, one row at a time. On
PostgreSQL that is a PL/pgSQL call per daily row; since migration 0032 the trigger steps aside while the
transaction-local setting `SETTING` is `FOLDED`, so a batch writer can add its daily rows with the trigger off
(`trigger_off`, `trigger_on`) and then fold the whole batch with `add_monthly`: one upsert giving what the trigger
gives (per account, user, event and month, and the user's any-event row ``''``: the days' bits OR-ed in and the
counts added). On SQLite the triggers always fire: their compiled programs cost less there than this fold with its
Python side (measured with `bench/collector_phases.py`'s batches, one day or 50 days each); `folds_itself` tells a
writer whether it should fold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import literal, select, text, true
from sqlalchemy.orm import Session

from store.bulk import json_rows
from store.models import UsageMonthly
from store.upsert import insert_for

SETTING = "canary.usage_monthly"
"""Name of the setting; migration 0032's trigger condition spells the same text."""
FOLDED = "folded"

_SET = text(f"SELECT set_config('{SETTING}', :value, true)")
_COLUMNS = ("account_id", "user_key", "event", "month", "days", "count")


def folds_itself(session: Session) -> bool:
    """Whether a batch writer on this database turns the trigger off and folds with `add_monthly` (PostgreSQL)."""
    return session.get_bind().dialect.name == "postgresql"


def trigger_off(session: Session) -> None:
    """Daily writes from here on (to `trigger_on` or the transaction's end) leave ``usage_monthly`` as it is."""
    session.execute(_SET, {"value": FOLDED})


def trigger_on(session: Session) -> None:
    session.execute(_SET, {"value": ""})


def monthly_rows(daily: Iterable[tuple[int, str, str, dt.date, int]]) -> list[tuple[Any, ...]]:
    """What adding ``daily`` (account id, user, event, day, count added) to ``usage_daily`` adds to
    ``usage_monthly``: rows of `_COLUMNS`, in key order. A day's bit is OR-ed in, so a day already counted (an
    existing daily row whose count grew) adds only its count."""
    monthly: dict[tuple[int, str, str, dt.date], list[int]] = {}
    for account_id, user_key, event, day, count in daily:
        month, bit = day.replace(day=1), 1 << (day.day - 1)
        for key in ((account_id, user_key, event, month), (account_id, user_key, "", month)):
            cell = monthly.get(key)
            if cell is None:
                monthly[key] = [bit, count]
            else:
                cell[0] |= bit
                cell[1] += count
    return [(*key, days, count) for key, (days, count) in sorted(monthly.items())]


def add_monthly(session: Session, tenant_id: int, daily: Iterable[tuple[int, str, str, dt.date, int]]) -> None:
    """Fold ``daily`` (see `monthly_rows`) into ``usage_monthly`` in one upsert."""
    rows = monthly_rows(daily)
    if not rows:
        return
    table = UsageMonthly.__table__
    source = json_rows(session, [table.c[name] for name in _COLUMNS], rows)
    stmt = insert_for(session, table).from_select(
        ["tenant_id", *_COLUMNS], select(literal(tenant_id), *[source.c[name] for name in _COLUMNS]).where(true()),
        include_defaults=False)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["tenant_id", "account_id", "user_key", "event", "month"],
        set_={"days": table.c.days.op("|")(stmt.excluded.days), "count": table.c.count + stmt.excluded.count}))
