"""`evaluate_columns` narrows each condition over columns, then evaluates only the rows that may belong: on a
varied set of accounts, for the shipped lists and for lists using every field kind and operator (match all and
any), it gives exactly `evaluate`'s members, in order, with the same reasons; and `FactColumns.row` gives back
the facts the columns were made from."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import pytest

from worklists import (
    AccountFacts,
    EarlierHealth,
    FactColumns,
    OpenAlert,
    default_lists,
    evaluate,
    evaluate_columns,
    load_definition,
)
from worklists.columns import candidates

AS_OF = dt.date(2026, 11, 30)
MEASURES = ("active_users_trend", "feature_breadth", "license_utilisation")
NAN = float("nan")  # no comparison holds it; a change from or to it does (as `evaluate` reads it)


def _facts(n: int, seed: int) -> list[AccountFacts]:
    rng = random.Random(seed)

    def maybe(value: Any, chance: float = 0.8) -> Any:
        return value if rng.random() < chance else None

    def day(low: int, high: int) -> dt.date:
        return AS_OF + dt.timedelta(days=rng.randint(low, high))

    out = []
    for i in range(n):
        measures = {m: maybe(rng.choice([round(rng.uniform(-100, 100), 1)] * 9 + [NAN])) for m in MEASURES} \
            if rng.random() < 0.85 else {}
        earlier = {}
        for days in (7, 14):
            if rng.random() < 0.6:
                then = {m: maybe(rng.choice([rng.uniform(-100, 100)] * 9 + [NAN])) for m in MEASURES}
                earlier[days] = EarlierHealth(maybe(rng.uniform(0, 100)), MappingProxyType(then))
        alerts = tuple(OpenAlert(rng.choice(["usage_drop", "champion_inactive", "onboarding_overdue", "renewal_risk"]),
                                 f"Alert {i}-{k}", maybe(day(-60, 0), 0.9)) for k in range(rng.choice([0, 0, 0, 1, 2])))
        start = maybe(day(-900, 10))
        score = maybe(rng.uniform(0, 100))
        out.append(AccountFacts(
            account_id=1000 + i, name=rng.choice(["Acme", "Beta Corp", "Gamma", "acme labs"]),
            segment=maybe(rng.choice(["smb", "mid_market", "enterprise", ""])), tier=maybe(rng.choice(["gold", "x"])),
            lifecycle_stage=maybe("customer"), owner=maybe(f"csm{rng.randint(0, 3)}@co.test"),
            band=None if score is None else rng.choice(["good", "average", "poor"]), score=score,
            trend_30d=maybe(rng.uniform(-30, 30)), measures=MappingProxyType(measures),
            earlier=MappingProxyType(earlier), open_alerts=alerts, arr=maybe(float(rng.randint(0, 90000))),
            renewal_date=maybe(day(-60, 500)), start_date=start, onboarding_start=start or maybe(day(-90, 0)),
            last_active_date=maybe(day(-60, 0)), active_users_7d=maybe(rng.randint(0, 12)),
            active_users_28d=maybe(rng.randint(0, 30))))
    return out


def _columns(facts: Sequence[AccountFacts]) -> FactColumns:
    names = MEASURES

    def values(f: AccountFacts) -> tuple[Any, ...] | None:
        return tuple(f.measures.get(m) for m in names) if f.measures else None

    def then(f: AccountFacts, days: int) -> tuple[Any, ...] | None:
        e = f.earlier.get(days)
        return None if e is None else (e.score, *(e.measures.get(m) for m in names))

    def col(name: str) -> list[Any]:
        return [getattr(f, name) for f in facts]

    return FactColumns(
        account_id=col("account_id"), name=col("name"), segment=col("segment"), tier=col("tier"),
        lifecycle_stage=col("lifecycle_stage"), owner=col("owner"), band=col("band"), score=col("score"),
        trend_30d=col("trend_30d"), measure_names=names, measures=[values(f) for f in facts],
        earlier={days: [then(f, days) for f in facts] for days in (7, 14)}, open_alerts=col("open_alerts"),
        arr=col("arr"), renewal_date=col("renewal_date"), start_date=col("start_date"),
        onboarding_start=col("onboarding_start"), last_active_date=col("last_active_date"),
        active_users_7d=col("active_users_7d"), active_users_28d=col("active_users_28d"))


def _list(match: str, *conditions: dict[str, Any]) -> Any:
    return load_definition({"version": 1, "name": "L", "description": "", "match": match,
                            "conditions": list(conditions)})


CONDITIONS: list[dict[str, Any]] = [
    {"field": "health.band", "op": "in", "values": ["good", "none"]},
    {"field": "health.band", "op": "not_in", "values": ["poor"]},
    {"field": "alert.open_rule", "op": "any", "values": ["usage_drop", "renewal_risk"]},
    {"field": "alert.open_rule", "op": "any", "values": ["champion_inactive"], "raised_within_days": 20},
    {"field": "alert.open_rule", "op": "none", "values": ["usage_drop"]},
    {"field": "subscription.anniversary", "op": "within", "months": [3, 6, 9, 12], "every_year": True,
     "from_days": -30, "to_days": 30},
    {"field": "subscription.anniversary", "op": "within", "months": [12], "every_year": False, "from_days": 0,
     "to_days": 90},
    {"field": "subscription.renewal_date", "op": "within", "from_days": 0, "to_days": 120},
    {"field": "subscription.start_date", "op": "before", "days": -365},
    {"field": "onboarding.start_date", "op": "after", "days": -40},
    {"field": "usage.last_active_date", "op": "before", "days": -14},
    {"field": "usage.last_active_date", "op": "is_not_set"},
    {"field": "subscription.arr", "op": "is_set"},
    {"field": "subscription.arr", "op": "between", "min": 10000, "max": 50000},
    {"field": "health.score", "op": "lt", "value": 40},
    {"field": "health.trend_30d", "op": "lte", "value": -5},
    {"field": "usage.active_users_7d", "op": "gt", "value": 3},
    {"field": "usage.active_users_28d", "op": "gte", "value": 10},
    {"field": "health.measures.license_utilisation", "op": "gte", "value": 60},
    {"field": "health.measures.active_users_trend", "op": "lte", "value": -40},
    {"field": "health.measures.usage_trend", "op": "lt", "value": 0},  # a measure the columns do not hold
    {"field": "health.measures.feature_breadth", "op": "rose_by", "by": 5, "days": 7},
    {"field": "health.measures.active_users_trend", "op": "fell_by", "by": 10, "days": 14},
    {"field": "health.score", "op": "fell_by", "by": 3, "days": 7},
    {"field": "health.score", "op": "rose_by", "by": 1, "days": 30},  # no health kept that far back
    {"field": "account.segment", "op": "in", "values": ["SMB", "enterprise"]},
    {"field": "account.segment", "op": "not_in", "values": ["smb"]},
    {"field": "account.name", "op": "contains", "value": "acme"},
    {"field": "account.owner", "op": "is_set"},
]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_narrowed_evaluation_is_evaluate_over_every_account(seed: int) -> None:
    facts = _facts(400, seed)
    columns = _columns(facts)
    assert [columns.row(i) for i in range(len(columns))] == facts
    rng = random.Random(seed)
    definitions = list(default_lists())
    definitions += [_list("all", c) for c in CONDITIONS] + [_list("any", c) for c in CONDITIONS]
    definitions += [_list(rng.choice(["all", "any"]), *rng.sample(CONDITIONS, rng.randint(2, 4))) for _ in range(60)]
    made: dict[int, AccountFacts] = {}
    narrowed = 0
    for definition in definitions:
        expected = evaluate(definition, facts, AS_OF)
        assert evaluate_columns(definition, columns, AS_OF, made) == expected, definition
        rows = candidates(definition, columns, AS_OF)
        assert {facts[i].account_id for i in rows} >= {m.account_id for m in expected}
        narrowed += len(rows) < len(facts)
    assert narrowed > len(definitions) // 2
    assert all(made[i] == facts[i] for i in made)


def test_no_accounts_and_no_conditions() -> None:
    empty = _columns([])
    assert evaluate_columns(_list("all", CONDITIONS[0]), empty, AS_OF) == []
    facts = _facts(5, 9)
    columns = _columns(facts)
    for match in ("all", "any"):
        definition = _list(match, CONDITIONS[0])
        bare = type(definition)(definition.name, definition.description, definition.match, ())
        assert evaluate_columns(bare, columns, AS_OF) == evaluate(bare, facts, AS_OF)
