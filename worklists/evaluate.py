"""Evaluate a list over plain account facts as of a day: its members, each with why it is in.

Every condition is compiled once into a check that returns the reason it holds (a sentence naming the
values: "Renews on 2027-01-14, in 45 days") or None. ``match: all`` keeps an account when every check
holds and gives all their reasons; ``match: any`` keeps it when one does and gives those that hold.
Nothing here reads the clock: ``as_of`` is given.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

from scoring.model import default_model
from scoring.signals import SIGNALS
from worklists.definition import Condition, ListDefinition, field_label, measure_name
from worklists.facts import AccountFacts

Check = Callable[[AccountFacts], str | None]


@dataclass(frozen=True, slots=True)
class Member:
    account_id: int
    reasons: tuple[str, ...]


def evaluate(definition: ListDefinition, facts: Iterable[AccountFacts], as_of: dt.date) -> list[Member]:
    """The accounts of `facts` that belong to the list as of `as_of`, in the order given."""
    checks = [compile_condition(c, as_of) for c in definition.conditions]
    members: list[Member] = []
    if definition.match == "all":
        for f in facts:
            reasons = []
            for check in checks:
                reason = check(f)
                if reason is None:
                    break
                reasons.append(reason)
            else:
                members.append(Member(f.account_id, tuple(reasons)))
    else:
        for f in facts:
            held = tuple(r for r in (check(f) for check in checks) if r is not None)
            if held:
                members.append(Member(f.account_id, held))
    return members


# --- words -----------------------------------------------------------------------------------------------


@cache
def _measure_info(name: str) -> tuple[str, str]:
    """(label, unit) of a measure: the shipped model's words, else the signal's of the same name."""
    measure = default_model().measures.get(name)
    if measure is not None:
        return measure.label, SIGNALS[measure.signal].unit
    info = SIGNALS.get(name)
    return (info.label, info.unit) if info else (name.replace("_", " ").capitalize(), "count")


def _label(path: str) -> str:
    measure = measure_name(path)
    return _measure_info(measure)[0] if measure else field_label(path)


def _unit(path: str) -> str:
    measure = measure_name(path)
    if measure:
        return _measure_info(measure)[1]
    return {"health.trend_30d": "points", "subscription.arr": "money"}.get(path, "count")


def number(value: float, unit: str = "count") -> str:
    if unit == "money":
        return f"{value:,.0f}"
    if unit in ("percent", "change"):
        return f"{value:+.0f} %" if unit == "change" else f"{value:.0f} %"
    if unit == "days":
        return f"{value:.0f} day" + ("" if round(value) == 1 else "s")
    if unit == "points":
        return f"{value:+.0f} points"
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.1f}"


def relative(days: int) -> str:
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    if days == -1:
        return "yesterday"
    return f"in {days} days" if days > 0 else f"{-days} days ago"


def _window(start: int, end: int) -> str:
    return f"between {_offset(start)} and {_offset(end)}"


def _offset(days: int) -> str:
    if days == 0:
        return "today"
    return f"{days} days ahead" if days > 0 else f"{-days} days ago"


def _values(values: tuple[str, ...]) -> str:
    return ", ".join(values)


# --- compiling conditions --------------------------------------------------------------------------------


def _getter(path: str) -> Callable[[AccountFacts], object]:
    measure = measure_name(path)
    if measure is not None:
        return lambda f: f.measures.get(measure)
    attribute = {"health.trend_30d": "trend_30d", "subscription.arr": "arr",
                 "subscription.renewal_date": "renewal_date", "subscription.start_date": "start_date",
                 "onboarding.start_date": "onboarding_start"}.get(path, path.split(".", 1)[1])
    return lambda f: getattr(f, attribute)


def compile_condition(c: Condition, as_of: dt.date) -> Check:
    if c.field == "health.band":
        return _band(c)
    if c.field == "alert.open_rule":
        return _alert(c, as_of)
    if c.field == "subscription.anniversary":
        return _anniversary(c, as_of)
    kind_of = {"is_set": _is_set, "is_not_set": _is_not_set}
    if c.op in kind_of:
        return kind_of[c.op](c)
    get = _getter(c.field)
    if c.op in ("in", "not_in", "contains"):
        return _text(c, get)
    if c.op in ("within", "before", "after"):
        return _date(c, get, as_of)
    if c.op in ("rose_by", "fell_by"):
        return _change(c)
    return _number(c, get)


def _is_set(c: Condition) -> Check:
    get, label, unit = _getter(c.field), _label(c.field), _unit(c.field)

    def check(f: AccountFacts) -> str | None:
        value = get(f)
        if value is None or value == "":
            return None
        shown = number(value, unit) if isinstance(value, float | int) else str(value)
        return f"{label}: {shown}"

    return check


def _is_not_set(c: Condition) -> Check:
    get, label = _getter(c.field), _label(c.field)

    def check(f: AccountFacts) -> str | None:
        value = get(f)
        return f"{label}: not known" if value is None or value == "" else None

    return check


def _text(c: Condition, get: Callable[[AccountFacts], object]) -> Check:
    label = _label(c.field)
    if c.op == "contains":
        needle = str(c.value).casefold()

        def contains(f: AccountFacts) -> str | None:
            value = get(f)
            return f"{label} “{value}” contains “{c.value}”" \
                if isinstance(value, str) and needle in value.casefold() else None

        return contains
    wanted = frozenset(v.casefold() for v in c.values)
    if c.op == "in":
        def among(f: AccountFacts) -> str | None:
            value = get(f)
            return f"{label} is {value}" if isinstance(value, str) and value.casefold() in wanted else None

        return among

    def outside(f: AccountFacts) -> str | None:
        value = get(f)
        if isinstance(value, str) and value.casefold() in wanted:
            return None
        return f"{label} is {value or 'not set'}, not {_values(c.values)}"

    return outside


def _number(c: Condition, get: Callable[[AccountFacts], object]) -> Check:
    label, unit = _label(c.field), _unit(c.field)
    op, value, low, high = c.op, c.value, c.min, c.max
    tests: dict[str, tuple[Callable[[float], bool], str]] = {
        "gt": (lambda x: x > value, f"above {number(value, unit)}" if value is not None else ""),
        "gte": (lambda x: x >= value, f"at least {number(value, unit)}" if value is not None else ""),
        "lt": (lambda x: x < value, f"below {number(value, unit)}" if value is not None else ""),
        "lte": (lambda x: x <= value, f"at most {number(value, unit)}" if value is not None else ""),
        "between": (lambda x: low <= x <= high,  # type: ignore[operator]
                    f"between {number(low, unit)} and {number(high, unit)}" if low is not None and high is not None
                    else ""),
    }
    holds, words = tests[op]

    def check(f: AccountFacts) -> str | None:
        x = get(f)
        if not isinstance(x, int | float) or not holds(x):
            return None
        return f"{label} is {number(x, unit)} ({words})"

    return check


def _change(c: Condition) -> Check:
    label, unit = _label(c.field), _unit(c.field)
    measure, days, by = c.measure, c.days or 7, c.by or 0.0
    rising = c.op == "rose_by"
    shown_unit = "count" if unit in ("change", "points") else unit

    def value_of(score: float | None, measures: object) -> float | None:
        if measure is None:
            return score
        found = measures.get(measure) if hasattr(measures, "get") else None
        return found if isinstance(found, int | float) else None

    def check(f: AccountFacts) -> str | None:
        earlier = f.earlier.get(days)
        if earlier is None:
            return None
        now = value_of(f.score, f.measures)
        then = value_of(earlier.score, earlier.measures)
        if now is None or then is None:
            return None
        moved = now - then if rising else then - now
        if moved < by:
            return None
        verb = "rose" if rising else "fell"
        return (f"{label} {verb} from {number(then, shown_unit)} to {number(now, shown_unit)} in {days} days "
                f"(by {number(moved, 'count')}; at least {number(by, 'count')})")

    return check


def _date(c: Condition, get: Callable[[AccountFacts], object], as_of: dt.date) -> Check:
    label, today = _label(c.field), as_of.toordinal()
    if c.op == "within":
        start, end = today + (c.from_days or 0), today + (c.to_days or 0)
        words = _window(c.from_days or 0, c.to_days or 0)
        holds: Callable[[int], bool] = lambda d: start <= d <= end  # noqa: E731
    elif c.op == "before":
        limit = today + (c.days or 0)
        words = f"before {_offset(c.days or 0)}"
        holds = lambda d: d < limit  # noqa: E731
    else:
        limit = today + (c.days or 0)
        words = f"after {_offset(c.days or 0)}"
        holds = lambda d: d > limit  # noqa: E731

    def check(f: AccountFacts) -> str | None:
        value = get(f)
        if not isinstance(value, dt.date):
            return None
        day = value.toordinal()
        if not holds(day):
            return None
        return f"{label} {value.isoformat()}, {relative(day - today)} ({words})"

    return check


def _band(c: Condition) -> Check:
    wanted = frozenset(c.values)
    inside = c.op == "in"

    def check(f: AccountFacts) -> str | None:
        band = f.band or "none"
        if (band in wanted) != inside:
            return None
        shown = "not scored" if band == "none" else band
        score = f" (score {f.score:.0f})" if f.score is not None else ""
        return f"Health is {shown}{score}" if inside else f"Health is {shown}{score}, not {_values(c.values)}"

    return check


def _alert(c: Condition, as_of: dt.date) -> Check:
    rules = frozenset(c.values)
    since = as_of - dt.timedelta(days=c.raised_within_days - 1) if c.raised_within_days else None

    if c.op == "none":
        def none(f: AccountFacts) -> str | None:
            return None if any(a.rule in rules for a in f.open_alerts) else f"No open alert of {_values(c.values)}"

        return none

    def check(f: AccountFacts) -> str | None:
        found = [a for a in f.open_alerts if a.rule in rules
                 and (since is None or (a.raised_on is not None and a.raised_on >= since))]
        if not found:
            return None
        return "; ".join(f"Open alert: {a.title}" + (f" (raised {a.raised_on.isoformat()})" if a.raised_on else "")
                         for a in found)

    return check


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day of the month `months` later (the month's last day when it is shorter)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def anniversaries(start: dt.date, months: tuple[int, ...], every_year: bool, first: dt.date, last: dt.date
                  ) -> list[tuple[int, dt.date]]:
    """(months since start, date) of every anniversary from `first` to `last`: the given month counts, and
    with `every_year` each of them again every 12 months (3, 6, 9, 12 → 15, 18, 21, 24...)."""
    if last < start:
        return []
    low = max(1, (first.year - start.year) * 12 + first.month - start.month - 1)
    high = (last.year - start.year) * 12 + last.month - start.month + 1
    wanted = set(months)
    found = []
    for m in range(low, high + 1):
        if m in wanted or (every_year and any(m > w and (m - w) % 12 == 0 for w in wanted)):
            day = add_months(start, m)
            if first <= day <= last:
                found.append((m, day))
    return found


def _months(m: int) -> str:
    if m % 12 == 0:
        years = m // 12
        return f"{years}-year" if years > 1 else "12-month"
    return f"{m}-month"


def _anniversary(c: Condition, as_of: dt.date) -> Check:
    first = as_of + dt.timedelta(days=c.from_days or 0)
    last = as_of + dt.timedelta(days=c.to_days or 0)
    words = _window(c.from_days or 0, c.to_days or 0)
    said: dict[dt.date, str | None] = {}  # the answer depends on the start date alone: many accounts share one

    def check(f: AccountFacts) -> str | None:
        if f.start_date is None:
            return None
        if f.start_date in said:
            return said[f.start_date]
        found = anniversaries(f.start_date, c.months, c.every_year, first, last)
        reason = None
        if found:
            m, day = found[0]
            reason = (f"{_months(m)} subscription anniversary on {day.isoformat()}, {relative((day - as_of).days)} "
                      f"(subscription started {f.start_date.isoformat()}; window {words})")
        said[f.start_date] = reason
        return reason

    return check
