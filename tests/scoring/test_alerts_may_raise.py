"""The alert rules' look-ahead over columns (`scoring.alerts.may_raise`, `history_may_raise`): a whole workspace's
run evaluates the rules, with each account's whole `Signals`, only for the accounts they say may raise. Each rule's
column condition picks exactly the accounts the rule raises for (the usage rule: at least those — its chance check
is not applied), on random accounts of every kind, random bands and thresholds loosened until the rules fire."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any, NamedTuple

import numpy as np
import pytest

from scoring.alerts import HISTORY_RULES, history_may_raise, may_raise, raised_alerts
from scoring.batch import BANDS
from scoring.model import AlertRule, HealthModel, default_model
from scoring.results import HealthScore
from scoring.signal_table import compute_signal_table
from scoring.signals import SignalSettings
from tests.scoring.build import AS_OF, days_ago
from tests.scoring.test_signal_table import FALLBACK, SETTINGS, _account

MODEL = default_model()
LOOSE: dict[str, dict[str, float]] = {
    "usage_drop": {"drop_percent": 10.0, "max_chance_percent": 100.0},
    "onboarding_overdue": {"days": 1.0, "max_days": 200.0},
    "sponsor_inactive": {"days": 5.0},
    "champion_inactive": {"days": 5.0},
    "training_needed": {"feature_share": 60.0, "min_users": 1.0},
    "seat_capacity": {"utilisation_percent": 10.0},
    "ticket_spike": {"min_tickets": 1.0, "factor": 0.5},
    "nps_detractor": {"days": 30.0},
    "renewal_risk": {"days": 90.0},
}


def _only(rule: str, thresholds: dict[str, float] | None, settings: SignalSettings) -> HealthModel:
    """The default model with its signal settings and only `rule` enabled (its thresholds: `thresholds`, else the
    default ones)."""
    alerts = {name: AlertRule(name, name == rule, r.severity, thresholds or dict(r.thresholds) if name == rule
                              else dict(r.thresholds)) for name, r in MODEL.alerts.items()}
    return dataclasses.replace(MODEL, signals=settings, alerts=alerts)


def _score(account_id: int, code: int, rng: random.Random) -> HealthScore:
    band = BANDS[code] if code >= 0 else None
    return HealthScore(account_id, AS_OF, rng.uniform(0, 100) if band else None, band, "p", (), ())


@pytest.mark.parametrize("rule", sorted(LOOSE))
def test_each_rule_raises_exactly_where_its_columns_say(rule: str) -> None:
    rng = random.Random(f"may-{rule}")
    raised_total = 0
    for settings in (*SETTINGS, FALLBACK):
        accounts = [_account(rng, i + 1) for i in range(120)]
        table = compute_signal_table(accounts, AS_OF, settings)
        codes = np.array([rng.choice((-1, 0, 1, 2)) for _ in accounts], dtype=np.int8)
        scores = [_score(a.account_id, int(c), rng) for a, c in zip(accounts, codes.tolist(), strict=True)]
        for thresholds in (None, LOOSE[rule]):
            model = _only(rule, thresholds, settings)
            raised = [bool(raised_alerts(scores[i], (), table.row(i), model)) for i in range(len(accounts))]
            mask = may_raise(model, table, codes, AS_OF).tolist()
            if rule == "usage_drop":  # its chance check is not applied: more accounts kept, none left out
                assert all(m for r, m in zip(raised, mask, strict=True) if r)
            else:
                assert mask == raised, settings
            raised_total += sum(raised)
    assert raised_total >= 5  # the rule fired: the comparison above is not of empty sets


def test_every_rule_together_keeps_every_account_any_raises_for_and_leaves_others_out() -> None:
    rng = random.Random("may-all")
    accounts = [_account(rng, i + 1) for i in range(300)]
    settings = SETTINGS[1]
    model = dataclasses.replace(MODEL, signals=settings)
    table = compute_signal_table(accounts, AS_OF, settings)
    codes = np.array([rng.choice((-1, 0, 1, 2)) for _ in accounts], dtype=np.int8)
    mask = may_raise(model, table, codes, AS_OF).tolist()
    raised = [bool(raised_alerts(_score(a.account_id, int(c), rng), (), table.row(i), model))
              for i, (a, c) in enumerate(zip(accounts, codes.tolist(), strict=True))]
    assert all(m for r, m in zip(raised, mask, strict=True) if r)
    assert sum(raised) > 0 and sum(mask) < len(accounts)  # some raise, some are left out


def test_a_rule_without_a_column_condition_keeps_every_account(monkeypatch: pytest.MonkeyPatch) -> None:
    import scoring.alerts as alerts

    monkeypatch.delitem(alerts._MAY, "seat_capacity")
    rng = random.Random("may-none")
    accounts = [_account(rng, i + 1) for i in range(20)]
    table = compute_signal_table(accounts, AS_OF, MODEL.signals)
    codes = np.zeros(len(accounts), dtype=np.int8)
    assert may_raise(_only("seat_capacity", None, MODEL.signals), table, codes, AS_OF).all()
    assert not may_raise(_only("band_dropped", None, MODEL.signals), table, codes, AS_OF).any()  # history: not here


class _Day(NamedTuple):
    day: dt.date
    score: float | None
    band: str | None


@pytest.mark.parametrize("rule", HISTORY_RULES)
def test_history_rules_raise_exactly_where_the_best_band_and_peak_say(rule: str) -> None:
    """The best band of the band rule's look-back and the peak of the drop rule's window (`history_windows`),
    as the caller reads them in SQL, tell exactly which accounts the history rules raise for."""
    from scoring.alerts import history_windows

    rng = random.Random(f"history-{rule}")
    fired = 0
    for points, lookback in ((15.0, 7.0), (5.0, 3.5), (30.0, 14.0)):
        thresholds = {"points": points, "days": 14.0} if rule == "score_drop" else {"lookback_days": lookback}
        model = _only(rule, thresholds, MODEL.signals)
        band_days, drop_days = history_windows(model)
        for k in range(300):
            code = rng.choice((-1, 0, 1, 2))
            today = _score(k, code, rng)
            history = [_Day(days_ago(rng.randint(1, 20)), s, BANDS[c] if c >= 0 and s is not None else None)
                       for _ in range(rng.randint(0, 4)) for c in (rng.choice((-1, 0, 1, 2)),)
                       for s in (rng.choice((None, rng.uniform(0, 100))),)]
            ranks = [(("poor", "average", "good").index(h.band), h.band) for h in history
                     if h.band and 1 <= (AS_OF - h.day).days <= band_days]
            best = max(ranks)[1] if ranks else None
            scores = [h.score for h in history if h.score is not None and 1 <= (AS_OF - h.day).days <= drop_days]
            peak = max(scores) if scores else None
            raised = bool(raised_alerts(today, history, _signals(k), model))
            assert history_may_raise(model, today.band, today.score, best, peak) == raised, (today, history)
            fired += raised
    assert fired >= 10


def _signals(account_id: int) -> Any:
    from scoring.signals import Signals

    return Signals(account_id, AS_OF)
