"""List facts as columns, and a list evaluated over them: the candidates first, then the exact rule.

A workspace's `AccountFacts` as one sequence per field (`FactColumns`, as `sync.lists` reads them: one pass
over the rows of each table, no object per account). `evaluate_columns` narrows each condition to the rows
that may hold it, over the columns (a band, a date window, an open alert's rule, a number's comparison, a
measure's change, an anniversary per start date), combines them as the list matches (all: every condition;
any: one), and only then makes those rows' `AccountFacts` (`FactColumns.row`, once per row for every list
of an evaluation) and runs `evaluate` on them: the members, their order and their reasons are exactly
`evaluate`'s over every account, since a row left out is one whose check could not hold.
Nothing here reads the clock: ``as_of`` is given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from worklists.definition import Condition, ListDefinition, measure_name
from worklists.evaluate import Member, anniversaries, evaluate
from worklists.facts import AccountFacts, EarlierHealth, OpenAlert

_EMPTY: MappingProxyType[Any, Any] = MappingProxyType({})
_ATTRIBUTES = {"health.trend_30d": "trend_30d", "subscription.arr": "arr", "subscription.renewal_date": "renewal_date",
               "subscription.start_date": "start_date", "onboarding.start_date": "onboarding_start"}
"""Field paths whose `AccountFacts` attribute is not the part after the dot (as `evaluate` reads them)."""


@dataclass(frozen=True, slots=True)
class FactColumns:
    """Every field of `AccountFacts`, one sequence each (row ``i`` is account ``account_id[i]``). The measures
    are kept as values in `measure_names` order (None: no snapshot that day), the earlier health as
    (score, *values) per days back (None: none)."""

    account_id: Sequence[int]
    name: Sequence[str]
    segment: Sequence[str | None]
    tier: Sequence[str | None]
    lifecycle_stage: Sequence[str | None]
    owner: Sequence[str | None]
    band: Sequence[str | None]
    score: Sequence[float | None]
    trend_30d: Sequence[float | None]
    measure_names: tuple[str, ...]
    measures: Sequence[tuple[Any, ...] | None]
    earlier: dict[int, Sequence[tuple[Any, ...] | None]]
    open_alerts: Sequence[tuple[OpenAlert, ...]]
    arr: Sequence[float | None]
    renewal_date: Sequence[dt.date | None]
    start_date: Sequence[dt.date | None]
    onboarding_start: Sequence[dt.date | None]
    last_active_date: Sequence[dt.date | None]
    active_users_7d: Sequence[int | None]
    active_users_28d: Sequence[int | None]
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    """Columns as arrays (numbers, day ordinals), made once for every list of an evaluation."""

    def __len__(self) -> int:
        return len(self.account_id)

    def row(self, i: int) -> AccountFacts:
        """Row ``i`` as the `AccountFacts` it stands for."""
        names = self.measure_names
        values = self.measures[i]
        then: dict[int, EarlierHealth] = {}
        for days, column in self.earlier.items():
            found = column[i]
            if found is not None:
                then[days] = EarlierHealth(found[0], MappingProxyType(dict(zip(names, found[1:], strict=True))))
        return AccountFacts(
            account_id=self.account_id[i], name=self.name[i], segment=self.segment[i], tier=self.tier[i],
            lifecycle_stage=self.lifecycle_stage[i], owner=self.owner[i], band=self.band[i], score=self.score[i],
            trend_30d=self.trend_30d[i],
            measures=MappingProxyType(dict(zip(names, values, strict=True))) if values is not None else _EMPTY,
            earlier=MappingProxyType(then) if then else _EMPTY, open_alerts=self.open_alerts[i], arr=self.arr[i],
            renewal_date=self.renewal_date[i], start_date=self.start_date[i],
            onboarding_start=self.onboarding_start[i], last_active_date=self.last_active_date[i],
            active_users_7d=self.active_users_7d[i], active_users_28d=self.active_users_28d[i])


def evaluate_columns(definition: ListDefinition, columns: FactColumns, as_of: dt.date,
                     made: dict[int, AccountFacts] | None = None) -> list[Member]:
    """`evaluate(definition, [every row's facts], as_of)`, the facts made only for the rows that may belong
    (``made``: the rows' facts made so far, shared by the lists of one evaluation)."""
    made = {} if made is None else made
    rows = candidates(definition, columns, as_of)
    facts = []
    for i in rows:
        f = made.get(i)
        if f is None:
            f = made[i] = columns.row(i)
        facts.append(f)
    return evaluate(definition, facts, as_of)


def candidates(definition: ListDefinition, columns: FactColumns, as_of: dt.date) -> list[int]:
    """The rows that may belong to the list, in order: each condition's rows that may hold it (every row when
    a condition is not narrowed here), all of them (``match: all``) or any (``match: any``)."""
    masks = [_may_hold(c, columns, as_of) for c in definition.conditions]
    n = len(columns)
    if definition.match == "all":
        kept = [m for m in masks if m is not None]
        if not kept:
            return list(range(n))
        return np.flatnonzero(np.logical_and.reduce([np.asarray(m, dtype=bool) for m in kept])).tolist()
    if not masks or any(m is None for m in masks):
        return list(range(n))
    return np.flatnonzero(np.logical_or.reduce([np.asarray(m, dtype=bool) for m in masks])).tolist()


Mask = Sequence[bool] | np.ndarray[Any, np.dtype[np.bool_]]


def _column(c: Condition, columns: FactColumns) -> Sequence[Any] | None:
    """The values a condition reads, a row each (None: a field not read from one column)."""
    measure = measure_name(c.field)
    if measure is not None:
        if measure not in columns.measure_names:
            return [None] * len(columns)
        key = ("measure", measure)
        if key not in columns.memo:
            k = columns.measure_names.index(measure)
            columns.memo[key] = [None if v is None else v[k] for v in columns.measures]
        found: Sequence[Any] = columns.memo[key]
        return found
    attribute = _ATTRIBUTES.get(c.field, c.field.split(".", 1)[1])
    return getattr(columns, attribute, None) if attribute not in ("measures", "earlier", "memo") else None


def _numbers(c: Condition, columns: FactColumns, values: Sequence[Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The column as float64, NaN where a value is no number (which no comparison holds, as in `evaluate`)."""
    key = ("numbers", c.field)
    if key not in columns.memo:
        columns.memo[key] = np.array([x if isinstance(x, int | float) else np.nan for x in values], dtype=np.float64)
    found: np.ndarray[Any, np.dtype[np.float64]] = columns.memo[key]
    return found


def _ordinals(c: Condition, columns: FactColumns, values: Sequence[Any]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """The column as day ordinals (0 where a value is no date: ordinals start at 1)."""
    key = ("ordinals", c.field)
    if key not in columns.memo:
        columns.memo[key] = np.array([v.toordinal() if isinstance(v, dt.date) else 0 for v in values],
                                     dtype=np.int64)
    found: np.ndarray[Any, np.dtype[np.int64]] = columns.memo[key]
    return found


def _may_hold(c: Condition, columns: FactColumns, as_of: dt.date) -> Mask | None:
    """The rows whose values may hold the condition (a superset of those `evaluate`'s check keeps); None: any."""
    if c.field == "health.band":
        wanted, inside = frozenset(c.values), c.op == "in"
        return [((b or "none") in wanted) == inside for b in columns.band]
    if c.field == "alert.open_rule":
        if c.op == "none":
            return None
        rules = frozenset(c.values)
        return [bool(alerts) and any(a.rule in rules for a in alerts) for alerts in columns.open_alerts]
    if c.field == "subscription.anniversary":
        first = as_of + dt.timedelta(days=c.from_days or 0)
        last = as_of + dt.timedelta(days=c.to_days or 0)
        said: dict[dt.date | None, bool] = {}

        for start in set(columns.start_date):
            said[start] = start is not None and bool(anniversaries(start, c.months, c.every_year, first, last))
        return [said[start] for start in columns.start_date]
    if c.op in ("is_set", "is_not_set", "in", "not_in", "contains"):
        return None
    if c.op in ("rose_by", "fell_by"):
        return _change(c, columns)
    values = _column(c, columns)
    if values is None:
        return None
    if c.op in ("within", "before", "after"):
        return _dates(c, _ordinals(c, columns, values), as_of)
    holds = _comparison(c)
    if holds is None:
        return None
    with np.errstate(invalid="ignore"):
        return holds(_numbers(c, columns, values))


def _dates(c: Condition, ordinals: np.ndarray[Any, np.dtype[np.int64]], as_of: dt.date) -> Mask:
    today = as_of.toordinal()
    dated = ordinals > 0
    if c.op == "within":
        start, end = today + (c.from_days or 0), today + (c.to_days or 0)
        return dated & (ordinals >= start) & (ordinals <= end)
    limit = today + (c.days or 0)
    if c.op == "before":
        return dated & (ordinals < limit)
    return dated & (ordinals > limit)


def _comparison(c: Condition) -> Callable[[Any], Any] | None:
    """The comparison of `evaluate`'s number check, applied to a whole column at once."""
    value, low, high = c.value, c.min, c.max
    if c.op == "gt" and value is not None:
        return lambda x: x > value
    if c.op == "gte" and value is not None:
        return lambda x: x >= value
    if c.op == "lt" and value is not None:
        return lambda x: x < value
    if c.op == "lte" and value is not None:
        return lambda x: x <= value
    if c.op == "between" and low is not None and high is not None:
        return lambda x: (low <= x) & (x <= high)
    return None


def _change(c: Condition, columns: FactColumns) -> Mask:
    """Rows with health `days` back whose value then and now are both numbers (the change's own test follows)."""
    earlier = columns.earlier.get(c.days or 7)
    if earlier is None:
        return [False] * len(columns)
    if c.measure is None:
        now: Sequence[Any] = columns.score
        then: list[Any] = [None if e is None else e[0] for e in earlier]
    else:
        if c.measure not in columns.measure_names:
            return [False] * len(columns)
        k = columns.measure_names.index(c.measure)
        now = [None if v is None else v[k] for v in columns.measures]
        then = [None if e is None else e[1 + k] for e in earlier]
    return [isinstance(a, int | float) and isinstance(b, int | float) for a, b in zip(now, then, strict=True)]
