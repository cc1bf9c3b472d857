"""`evaluate_alerts` with no open alert (most accounts of a score run): every alert raised is new, none still open,
none resolved — what the general sorting gives with an open key of another rule or account."""

from __future__ import annotations

from typing import Any

import pytest

from scoring.alerts import evaluate_alerts, raised_alerts
from scoring.model import default_model
from scoring.results import HealthScore
from tests.scoring.build import AS_OF, signals

MODEL = default_model()


@pytest.mark.parametrize("values", [
    {},
    {"usage_trend": -60.0, "active_days_14d": 40, "active_days_prev_14d": 100},
    {"license_utilisation": 120.0, "seats_purchased": 5, "active_users_28d": 6},
])
def test_nothing_open_every_raised_alert_is_new(values: dict[str, Any]) -> None:
    current = HealthScore(7, AS_OF, 40.0, "poor", "tech_touch", (), ())
    found = signals(account_id=7, **values)
    raised = raised_alerts(current, [], found, MODEL)
    alone = evaluate_alerts(current, [], found, MODEL)
    assert alone.new == raised and alone.still_open == () and alone.resolved == ()
    # an open key that is not this account's: the general path, the same outcome
    other = evaluate_alerts(current, [], found, MODEL, {"usage_drop:8"})
    assert (other.new, other.still_open, other.resolved) == (alone.new, alone.still_open, alone.resolved)
    assert bool(values) == bool(alone.new)  # the rules these values trip, raised; none without them
