"""Builders for scoring tests: signals and inputs with only the fields a test cares about."""

from __future__ import annotations

import datetime as dt
from typing import Any

from scoring.inputs import AccountInputs, UsageDay
from scoring.model import HealthModel, load_model
from scoring.signals import Signals

AS_OF = dt.date(2025, 6, 30)


def days_ago(n: int) -> dt.date:
    return AS_OF - dt.timedelta(days=n)


def signals(**values: Any) -> Signals:
    values.setdefault("account_id", 1)
    values.setdefault("day", AS_OF)
    return Signals(**values)


def inputs(**values: Any) -> AccountInputs:
    values.setdefault("account_id", 1)
    return AccountInputs(**values)


def usage(ago: int, user: str, event: str, count: int = 1) -> UsageDay:
    return UsageDay(days_ago(ago), user, event, count)


def one_measure_model(
    direction: str = "higher_is_better", poor: float = 0, good: float = 100, mode: str = "smooth", **extra: Any
) -> HealthModel:
    """A model with a single measure `m` on the `csat` signal."""
    return load_model(
        {
            "measures": {
                "m": {
                    "signal": "csat",
                    "dimension": "satisfaction",
                    "direction": direction,
                    "poor": poor,
                    "good": good,
                    "mode": mode,
                }
            },
            "profiles": [{"name": "all", "measures": {"m": {"weight": 1}}}],
            **extra,
        }
    )
