import datetime as dt
import random

import pytest

from scoring.inputs import ContactFact, CsatAnswer, NpsAnswer, TicketFact
from scoring.signals import SignalSettings, compute_signals
from tests.scoring.build import AS_OF, days_ago, inputs, usage

LOGIN = "Logged In"


def test_no_sources_means_every_source_signal_is_missing() -> None:
    s = compute_signals(inputs(), AS_OF)
    for name in (
        "logins_per_user_week",
        "license_utilisation",
        "open_tickets",
        "csat",
        "nps",
        "sponsor_days_inactive",
        "champion_days_inactive",
        "onboarding_progress",
        "days_to_renewal",
        "arr",
    ):
        assert getattr(s, name) is None, name


def test_connected_but_empty_sources_are_zero_not_missing() -> None:
    s = compute_signals(inputs(usage=(), tickets=(), seats_purchased=10), AS_OF)
    assert (s.weekly_active_users, s.license_utilisation, s.feature_breadth) == (0.0, 0.0, 0.0)
    assert (s.open_tickets, s.urgent_open_tickets, s.ticket_trend) == (0.0, 0.0, 0.0)
    assert s.usage_trend is None  # nothing to compare with
    assert s.days_since_last_login is None


def test_usage_signals_counted_per_window() -> None:
    rows = (
        usage(0, "a", LOGIN, 2),
        usage(3, "b", LOGIN),
        usage(6, "c", "Report Created", 4),
        usage(7, "d", LOGIN),  # outside the 7-day week, inside 14
        usage(15, "a", LOGIN),
        usage(16, "e", "API Call", 3),
        usage(20, "f", LOGIN),  # the week 14 days before
        usage(27, "g", LOGIN),  # last day of the 28-day window
        usage(28, "h", LOGIN),  # outside every window
        usage(-1, "z", LOGIN),  # after as_of: ignored
    )
    s = compute_signals(inputs(usage=rows, seats_purchased=14), AS_OF)
    assert s.weekly_active_users == 3  # a, b, c
    assert s.weekly_active_users_before == 3  # a, e, f
    assert s.active_users_trend == 0.0
    assert s.active_users_28d == 7  # a b c d e f g
    assert s.license_utilisation == pytest.approx(50.0)
    assert (s.events_14d, s.events_prev_14d) == (2 + 1 + 4 + 1, 1 + 3 + 1 + 1)
    assert s.usage_trend == pytest.approx((8 - 6) / 6 * 100)
    assert s.logins_per_user_week == pytest.approx((2 + 1 + 1 + 1 + 1 + 1) / 7 / 4)
    assert s.days_since_last_login == 0
    assert s.key_features_used == ("Report Created", "API Call")
    assert s.feature_breadth == pytest.approx(25.0)
    assert s.feature_depth == pytest.approx((4 + 3) / 7 / 4)
    assert s.user_key_feature_counts == (0, 0, 0, 0, 0, 1, 1)


def test_weekly_active_users_fell() -> None:
    rows = tuple(usage(15, f"u{i}", LOGIN) for i in range(42)) + tuple(usage(1, f"u{i}", LOGIN) for i in range(17))
    s = compute_signals(inputs(usage=rows), AS_OF)
    assert (s.weekly_active_users_before, s.weekly_active_users) == (42, 17)
    assert s.active_users_trend == pytest.approx((17 - 42) / 42 * 100)


def test_zero_count_rows_are_not_activity() -> None:
    s = compute_signals(inputs(usage=(usage(1, "a", LOGIN, 0),)), AS_OF)
    assert s.weekly_active_users == 0
    assert s.days_since_last_login is None


@pytest.mark.parametrize(
    ("ticket", "open_", "urgent", "escalated"),
    [
        (TicketFact("1", "urgent", "open", days_ago(9)), 1, 1, 0),
        (TicketFact("2", "high", "pending", days_ago(2), escalated=True), 1, 0, 1),
        (TicketFact("3", "urgent", "solved", days_ago(9), solved_at=days_ago(1)), 0, 0, 0),
        (TicketFact("4", "urgent", "solved", days_ago(9), solved_at=days_ago(-2)), 1, 1, 0),  # solved after as_of
        (TicketFact("5", "normal", "closed", days_ago(9)), 0, 0, 0),
        (TicketFact("6", "urgent", "open", days_ago(-1)), 0, 0, 0),  # created after as_of
    ],
)
def test_open_ticket_counts(ticket: TicketFact, open_: int, urgent: int, escalated: int) -> None:
    s = compute_signals(inputs(tickets=(ticket,)), AS_OF)
    assert (s.open_tickets, s.urgent_open_tickets, s.escalated_open_tickets) == (open_, urgent, escalated)


def test_ticket_trend_and_spike_windows() -> None:
    ages = [0, 3, 6, 6, 10, 13, 14, 34, 41, 42, 45]
    tickets = tuple(TicketFact(str(i), "normal", "open", days_ago(d)) for i, d in enumerate(ages))
    s = compute_signals(inputs(tickets=tickets), AS_OF)
    assert s.tickets_created_7d == 4
    # The usual rate: days 14-41 back (14, 34, 41); days 7-13 belong to neither window.
    assert s.tickets_weekly_before == pytest.approx(3 / 4)
    assert (s.tickets_created_30d, s.tickets_created_prev_30d) == (7, 4)
    assert s.ticket_trend == pytest.approx((7 - 4) / 4 * 100)


def test_active_user_days_per_fortnight() -> None:
    rows = (usage(0, "a", LOGIN), usage(0, "a", "Report Created", 3), usage(0, "b", LOGIN), usage(13, "a", LOGIN),
            usage(14, "a", LOGIN), usage(20, "c", LOGIN, 5), usage(27, "c", LOGIN), usage(28, "c", LOGIN))
    s = compute_signals(inputs(usage=rows), AS_OF)
    assert (s.active_days_14d, s.active_days_prev_14d) == (3, 3)  # (a,0) (b,0) (a,13) | (a,14) (c,20) (c,27)


def test_oldest_urgent_ticket_age() -> None:
    tickets = tuple(
        TicketFact(str(d), "urgent", "open", dt.datetime.combine(days_ago(d), dt.time(9))) for d in (2, 9, 4)
    )
    s = compute_signals(inputs(tickets=tickets), AS_OF)
    assert (s.urgent_open_tickets, s.oldest_urgent_open_days) == (3, 9)


@pytest.mark.parametrize(
    ("answers", "expected", "responses"),
    [
        ((), None, 0),
        ((CsatAnswer(days_ago(1), True), CsatAnswer(days_ago(2), False)), 50.0, 2),
        ((CsatAnswer(days_ago(89), True), CsatAnswer(days_ago(90), False)), 100.0, 1),
    ],
)
def test_csat_window(answers: tuple[CsatAnswer, ...], expected: float | None, responses: int) -> None:
    s = compute_signals(inputs(csat=answers), AS_OF)
    assert (s.csat, s.csat_responses) == (expected, responses)


def test_nps_and_last_detractor() -> None:
    answers = tuple(NpsAnswer(days_ago(d), score) for d, score in [(1, 10), (2, 9), (3, 7), (5, 3), (5, 6), (200, 0)])
    s = compute_signals(inputs(nps=answers), AS_OF)
    assert s.nps == pytest.approx((2 - 2) / 5 * 100)
    assert (s.last_detractor_day, s.last_detractor_score) == (days_ago(5), 3)


def test_sponsor_and_champion_activity_from_usage_and_contact_record() -> None:
    contacts = (
        ContactFact("Dana@acme.io", "champion", "Dana Lee", last_active=days_ago(41)),
        ContactFact("sam@acme.io", "champion", "Sam Roe", last_active=days_ago(50)),
        ContactFact("exec@acme.io", "executive_sponsor", "Ed Exec", last_active=None),
        ContactFact("user@acme.io", "user", "U Ser", last_active=days_ago(0)),
    )
    rows = (usage(12, "exec@acme.io", LOGIN), usage(45, "sam@acme.io", LOGIN))
    s = compute_signals(inputs(contacts=contacts, usage=rows), AS_OF)
    assert (s.champion_name, s.champion_days_inactive) == ("Dana Lee", 41)
    assert (s.sponsor_name, s.sponsor_days_inactive) == ("Ed Exec", 12)


def test_contact_activity_after_as_of_is_not_known_yet() -> None:
    contacts = (ContactFact("dana@acme.io", "champion", "Dana Lee", last_active=days_ago(-3)),)
    assert compute_signals(inputs(contacts=contacts), AS_OF).champion_days_inactive is None


def test_onboarding_milestones_from_usage_and_crm() -> None:
    rows = (
        usage(20, "a", "Workspace Created"),
        usage(10, "a", "Data Source Connected"),
        usage(-1, "a", "Teammate Invited"),
    )
    s = compute_signals(
        inputs(usage=rows, onboarding_start=days_ago(41), milestones_reached=frozenset({"First Report Created"})), AS_OF
    )
    assert s.days_since_onboarding_start == 41
    assert s.milestones_reached == ("Workspace Created", "Data Source Connected", "First Report Created")
    assert s.milestones_missing == ("Teammate Invited", "First Automation Run")
    assert s.onboarding_progress == pytest.approx(60.0)
    assert s.onboarding_complete is False


def test_renewal_arr_and_custom_settings() -> None:
    settings = SignalSettings(key_features=("X",), login_event="Login", milestones=())
    s = compute_signals(
        inputs(usage=(usage(1, "a", "X"), usage(1, "a", "Login")), renewal_date=days_ago(-45), arr=1200),
        AS_OF,
        settings,
    )
    assert (s.days_to_renewal, s.arr, s.feature_breadth, s.days_since_last_login) == (45, 1200.0, 100.0, 1)
    assert s.onboarding_progress is None


def test_input_order_does_not_matter() -> None:
    rng = random.Random(7)
    events = [LOGIN, "Report Created", "API Call", "Workspace Created"]
    rows = [
        usage(rng.randint(0, 40), f"u{rng.randint(0, 9)}", rng.choice(events), rng.randint(1, 3)) for _ in range(300)
    ]
    tickets = [
        TicketFact(str(i), rng.choice(["low", "urgent"]), "open", days_ago(rng.randint(0, 60))) for i in range(30)
    ]
    contacts = [ContactFact(f"u{i}", "champion", f"Person {i % 3}", days_ago(rng.randint(0, 40))) for i in range(10)]
    first = compute_signals(inputs(usage=tuple(rows), tickets=tuple(tickets), contacts=tuple(contacts)), AS_OF)
    for _ in range(3):
        rng.shuffle(rows)
        rng.shuffle(tickets)
        rng.shuffle(contacts)
        again = compute_signals(inputs(usage=tuple(rows), tickets=tuple(tickets), contacts=tuple(contacts)), AS_OF)
        assert again == first
