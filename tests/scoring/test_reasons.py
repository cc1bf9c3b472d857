import pytest

from scoring.engine import score_account
from scoring.model import load_model
from scoring.reasons import describe, explain, needs_change_reasons
from scoring.results import MeasurePart
from tests.scoring.build import signals


def part(signal: str, value: float) -> MeasurePart:
    return MeasurePart("m", signal, "d", "label", value, "poor", 0.0, 1.0)


@pytest.mark.parametrize(
    ("signal", "value", "raw", "text"),
    [
        (
            "active_users_trend",
            -59.5,
            {"weekly_active_users": 17.0, "weekly_active_users_before": 42},
            "Weekly active users fell from 42 to 17 (−60 %) over 14 days",
        ),
        (
            "active_users_trend",
            25.0,
            {"weekly_active_users": 5.0, "weekly_active_users_before": 4},
            "Weekly active users rose from 4 to 5 (+25 %) over 14 days",
        ),
        (
            "usage_trend",
            -50.0,
            {"events_14d": 600, "events_prev_14d": 1200},
            "Usage fell from 1,200 to 600 events (−50 %) over 14 days",
        ),
        ("urgent_open_tickets", 3.0, {"oldest_urgent_open_days": 9}, "3 urgent tickets open for 9 days"),
        ("urgent_open_tickets", 1.0, {"oldest_urgent_open_days": 0}, "1 urgent ticket open since today"),
        ("champion_days_inactive", 41.0, {"champion_name": "Dana Lee"}, "Champion Dana Lee inactive for 41 days"),
        ("sponsor_days_inactive", 1.0, {"sponsor_name": "Ed"}, "Executive sponsor Ed inactive for 1 day"),
        (
            "feature_breadth",
            25.0,
            {"key_features_used": ("a", "b"), "key_features_total": 8},
            "Using 2 of 8 key features",
        ),
        (
            "license_utilisation",
            52.0,
            {"active_users_28d": 26, "seats_purchased": 50},
            "26 of 50 seats used in the last 28 days (52 %)",
        ),
        ("nps", -20.0, {"nps_responses": 10}, "NPS −20 (10 responses)"),
        ("csat", 62.0, {"csat_responses": 1}, "CSAT 62 % (1 response)"),
        ("days_since_last_login", 12.0, {}, "No one has logged in for 12 days"),
        ("days_to_renewal", 45.0, {}, "Renewal in 45 days"),
        (
            "onboarding_progress",
            40.0,
            {
                "milestones_reached": ("A", "B"),
                "milestones_missing": ("C", "D", "E"),
                "days_since_onboarding_start": 41.0,
            },
            "2 of 5 onboarding milestones reached after 41 days; next: C",
        ),
        (
            "ticket_trend",
            200.0,
            {"tickets_created_30d": 9, "tickets_created_prev_30d": 3},
            "New tickets rose from 3 to 9 (+200 %) over 30 days",
        ),
    ],
)
def test_reason_texts(signal: str, value: float, raw: dict[str, object], text: str) -> None:
    assert describe(part(signal, value), signals(**{signal: value, **raw})) == text


MODEL = load_model(
    {
        "measures": {
            "csat": {
                "signal": "csat",
                "dimension": "satisfaction",
                "direction": "higher_is_better",
                "poor": 0,
                "good": 100,
                "mode": "smooth",
            },
            "champion": {
                "signal": "champion_days_inactive",
                "dimension": "relationship",
                "direction": "lower_is_better",
                "poor": 30,
                "good": 0,
                "mode": "smooth",
            },
            "tickets": {
                "signal": "urgent_open_tickets",
                "dimension": "support",
                "direction": "lower_is_better",
                "poor": 2,
                "good": 0,
            },
        },
        "profiles": [
            {"name": "all", "measures": {"csat": {"weight": 1}, "champion": {"weight": 2}, "tickets": {"weight": 1}}}
        ],
        "reasons": {"limit": 2},
    }
)


def test_weak_reasons_largest_cost_first() -> None:
    s = signals(csat=50.0, champion_days_inactive=15.0, champion_name="Dana Lee", urgent_open_tickets=0.0)
    result = score_account(s, MODEL)
    assert [r.text for r in result.reasons] == ["Champion Dana Lee inactive for 15 days", "CSAT 50 % (0 responses)"]
    assert [r.kind for r in result.reasons] == ["weak", "weak"]
    assert result.reasons[0].impact == pytest.approx(2 * 50 / 4)


def test_a_drop_is_explained_by_what_changed() -> None:
    before = score_account(
        signals(csat=90.0, champion_days_inactive=3.0, champion_name="Dana Lee", urgent_open_tickets=0.0), MODEL
    )
    now_signals = signals(
        csat=85.0,
        champion_days_inactive=21.0,
        champion_name="Dana Lee",
        urgent_open_tickets=3.0,
        oldest_urgent_open_days=9,
    )
    now = score_account(now_signals, MODEL, previous=before)
    assert before.score is not None and now.score is not None and before.score - now.score >= 10
    assert [r.text for r in now.reasons] == [
        "Champion Dana Lee inactive for 21 days (was 3 days)",
        "3 urgent tickets open for 9 days (was 0)",
    ]
    assert all(r.kind == "change" for r in now.reasons)
    assert now.reasons[0].impact > now.reasons[1].impact


@pytest.mark.parametrize(
    ("before", "now", "expected"),
    [(80.0, 70.5, False), (80.0, 70.0, True), (72.0, 69.0, True), (50.0, 45.0, False), (30.0, 45.0, True)],
)
def test_when_change_reasons_are_due(before: float, now: float, expected: bool) -> None:
    one = load_model(
        {
            "measures": {
                "c": {
                    "signal": "csat",
                    "dimension": "satisfaction",
                    "direction": "higher_is_better",
                    "poor": 0,
                    "good": 100,
                    "mode": "smooth",
                }
            },
            "profiles": [{"name": "all", "measures": {"c": {"weight": 1}}}],
        }
    )
    previous = score_account(signals(csat=before), one)
    current = score_account(signals(csat=now), one, previous=previous)
    assert needs_change_reasons(current, previous, 10) is expected
    assert [r.kind for r in explain(current, signals(csat=now), previous)] == (["change"] if expected else ["weak"])
