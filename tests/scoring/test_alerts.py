import datetime as dt
from typing import Any

import pytest

from scoring.alerts import drop_chance, evaluate_alerts, raised_alerts
from scoring.model import default_model, load_model
from scoring.results import HealthScore
from tests.scoring.build import AS_OF, days_ago, signals

MODEL = default_model()


def score(
    band: str | None = "good", value: float | None = 80.0, day: dt.date = AS_OF, account_id: int = 1
) -> HealthScore:
    return HealthScore(account_id, day, value, band, "tech_touch", (), ())  # type: ignore[arg-type]


def past(ago: int, value: float, band: str) -> HealthScore:
    return score(band, value, days_ago(ago))


def rules(current: HealthScore, history: list[HealthScore] | None = None, /, **values: Any) -> dict[str, str]:
    found = raised_alerts(current, history or [], signals(**values), MODEL)
    return {a.rule: a.title for a in found}


@pytest.mark.parametrize(
    ("values", "fires"),
    [
        ({"usage_trend": -50.0, "events_14d": 50, "events_prev_14d": 100}, True),
        ({"usage_trend": -49.9, "events_14d": 50, "events_prev_14d": 100}, False),
        ({"usage_trend": None}, False),
        # A drop the active user-days confirm (chance far below 1 %) and one a small team shows by chance (3.9 %).
        ({"usage_trend": -60.0, "active_days_14d": 40, "active_days_prev_14d": 100}, True),
        ({"usage_trend": -60.0, "active_days_14d": 6, "active_days_prev_14d": 15}, False),
        ({"usage_trend": -80.0, "active_days_14d": 2, "active_days_prev_14d": 14}, True),
    ],
)
def test_usage_drop(values: dict[str, Any], fires: bool) -> None:
    assert ("usage_drop" in rules(score(), **values)) is fires


@pytest.mark.parametrize(
    ("recent", "before", "chance"),
    [
        (0, 0, 1.0),
        (0, 1, 0.5),
        (0, 10, 1 / 1024),
        (5, 5, 638 / 1024),
        (6, 15, 0.0392),
        (2, 14, 137 / 65536),
    ],
)
def test_drop_chance_is_the_binomial_tail(recent: int, before: int, chance: float) -> None:
    assert drop_chance(recent, before) == pytest.approx(chance, abs=5e-5)


def test_drop_chance_approximation_meets_the_exact_tail() -> None:
    exact = drop_chance(470, 530)  # n = 1000: exact
    approx = drop_chance(471, 530)  # n = 1001: normal approximation, one more user-day in the recent half
    assert exact < approx < exact + 0.01


@pytest.mark.parametrize(
    ("days", "complete", "fires"),
    [
        (30.0, False, True),
        (29.0, False, False),
        (180.0, False, True),
        (181.0, False, False),
        (60.0, True, False),
        (60.0, None, False),
    ],
)
def test_onboarding_overdue(days: float, complete: bool | None, fires: bool) -> None:
    found = rules(
        score(),
        days_since_onboarding_start=days,
        onboarding_complete=complete,
        milestones_missing=("Teammate Invited",),
    )
    assert ("onboarding_overdue" in found) is fires


@pytest.mark.parametrize(
    ("rule", "signal", "name"),
    [
        ("sponsor_inactive", "sponsor_days_inactive", "sponsor_name"),
        ("champion_inactive", "champion_days_inactive", "champion_name"),
    ],
)
@pytest.mark.parametrize(("days", "fires"), [(30.0, True), (29.0, False), (None, False)])
def test_relationship_inactive(rule: str, signal: str, name: str, days: float | None, fires: bool) -> None:
    found = rules(score(), **{signal: days, name: "Dana Lee"})
    assert (rule in found) is fires
    if fires:
        assert "Dana Lee inactive for 30 days" in found[rule]


@pytest.mark.parametrize(
    ("counts", "fires"),
    [((0, 1, 1, 5), True), ((0, 1, 2, 5), False), ((2, 2, 2), False)],  # 1 of 8 = 12.5 % < 20 %; 2 of 8 = 25 %
)
def test_training_needed(counts: tuple[int, ...], fires: bool) -> None:
    found = rules(score(), user_key_feature_counts=counts, key_features_total=8, active_users_28d=len(counts))
    assert ("training_needed" in found) is fires


@pytest.mark.parametrize(
    ("utilisation", "active", "title"),
    [
        (90.0, 45, "Active users at 90 % of seats (upsell)"),
        (100.0, 50, "Seat capacity reached (upsell)"),
        (89.9, 44, None),
    ],
)
def test_seat_capacity(utilisation: float, active: int, title: str | None) -> None:
    found = rules(score(), license_utilisation=utilisation, active_users_28d=active, seats_purchased=50)
    assert found.get("seat_capacity") == title


@pytest.mark.parametrize(("new", "usual", "fires"), [(5, 2.5, True), (4, 1.0, False), (6, 3.5, False), (6, 0.0, True)])
def test_ticket_spike(new: int, usual: float, fires: bool) -> None:
    assert ("ticket_spike" in rules(score(), tickets_created_7d=new, tickets_weekly_before=usual)) is fires


@pytest.mark.parametrize(("ago", "fires"), [(0, True), (29, True), (30, False)])
def test_nps_detractor(ago: int, fires: bool) -> None:
    found = raised_alerts(score(), [], signals(last_detractor_day=days_ago(ago), last_detractor_score=4), MODEL)
    assert [a.dedupe_key for a in found] == ([f"nps_detractor:1:{days_ago(ago).isoformat()}"] if fires else [])


@pytest.mark.parametrize(
    ("days", "band", "fires"),
    [(90.0, "average", True), (0.0, "poor", True), (91.0, "poor", False), (30.0, "good", False), (-1.0, "poor", False)],
)
def test_renewal_risk(days: float, band: str, fires: bool) -> None:
    s = {"days_to_renewal": days, "renewal_date": AS_OF + dt.timedelta(days=int(days))}
    assert ("renewal_risk" in rules(score(band, 50.0), **s)) is fires


@pytest.mark.parametrize(
    ("history", "band", "title"),
    [
        ([past(3, 75, "good")], "average", "Health dropped from good to average"),
        ([past(8, 75, "good"), past(1, 60, "average")], "average", None),  # the good day is outside 7 days
        ([past(7, 75, "good")], "poor", "Health dropped from good to poor"),
        ([past(1, 50, "average")], "average", None),
        ([past(1, 50, "poor")], "average", None),  # a rise
    ],
)
def test_band_dropped(history: list[HealthScore], band: str, title: str | None) -> None:
    assert rules(score(band, 50.0), history).get("band_dropped") == title


@pytest.mark.parametrize(
    ("history", "now", "title"),
    [
        ([past(14, 80, "good"), past(5, 70, "good")], 65.0, "Health score fell 15 points in 14 days (80 → 65)"),
        ([past(15, 80, "good"), past(5, 70, "good")], 65.0, None),
        ([past(2, 79.9, "good")], 65.0, None),
    ],
)
def test_score_drop(history: list[HealthScore], now: float, title: str | None) -> None:
    assert rules(score("average", now), history).get("score_drop") == title


def test_dedupe_while_condition_persists() -> None:
    s = signals(
        usage_trend=-60.0, events_14d=40, events_prev_14d=100, champion_days_inactive=40.0, champion_name="Dana"
    )
    first = evaluate_alerts(score(), [], s, MODEL, open_keys=set())
    assert sorted(a.dedupe_key for a in first.new) == ["champion_inactive:1", "usage_drop:1"]
    assert first.still_open == () and first.resolved == ()

    open_keys = {a.dedupe_key for a in first.new} | {"seat_capacity:1", "seat_capacity:12", "usage_drop:10"}
    second = evaluate_alerts(score(), [], s, MODEL, open_keys)
    assert second.new == ()
    assert sorted(a.dedupe_key for a in second.still_open) == ["champion_inactive:1", "usage_drop:1"]
    assert second.resolved == ("seat_capacity:1",)  # other accounts' keys are left alone

    recovered = evaluate_alerts(score(), [], signals(usage_trend=5.0), MODEL, open_keys)
    assert recovered.new == recovered.still_open == ()
    assert recovered.resolved == ("champion_inactive:1", "seat_capacity:1", "usage_drop:1")


def test_disabled_rules_and_custom_thresholds() -> None:
    doc = {
        "measures": {
            "c": {"signal": "csat", "dimension": "satisfaction", "direction": "higher_is_better", "poor": 0, "good": 1}
        },
        "profiles": [{"name": "all", "measures": {"c": {"weight": 1}}}],
        "alerts": {"usage_drop": {"enabled": False}, "champion_inactive": {"days": 10, "severity": "critical"}},
    }
    model = load_model(doc)
    found = raised_alerts(score(), [], signals(usage_trend=-90.0, champion_days_inactive=10.0), model)
    assert [(a.rule, a.severity) for a in found] == [("champion_inactive", "critical")]
