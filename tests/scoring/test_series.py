"""`signal_series` gives, for every day of a range, exactly what `compute_signals` gives for that day alone."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from scoring.inputs import AccountInputs, ContactFact, CsatAnswer, NpsAnswer, TicketFact, UsageDay
from scoring.series import signal_series
from scoring.signals import SignalSettings, compute_signals
from tests.scoring.build import AS_OF, days_ago

EVENTS = ("Logged In", "Report Created", "API Call", "Dashboard Viewed", "Workspace Created",
          "Teammate Invited", "Something Else")
FIRST = AS_OF - dt.timedelta(days=119)


def _world(seed: int, users: int = 12) -> AccountInputs:
    """One account with every kind of fact, dated before, across and after the range."""
    rng = random.Random(seed)
    keys = [f"user{i}@acme.test" for i in range(users)]
    usage = []
    for _ in range(1500):
        ago = rng.randint(-10, 220)
        day: dt.date = days_ago(ago)
        if rng.random() < 0.1:  # some facts come as datetimes: only the day counts
            day = dt.datetime.combine(day, dt.time(13, 5), dt.UTC)
        usage.append(UsageDay(day, rng.choice(keys), rng.choice(EVENTS), rng.choice((0, 1, 1, 2, 5))))
    usage.append(UsageDay(days_ago(400), "(milestone)", "Workspace Created", 1, 0.0))
    # Milestones first reached inside the range (one of them twice, one with a zero count first).
    usage += [UsageDay(days_ago(60), "user5@acme.test", "Data Source Connected", 0),
              UsageDay(days_ago(45), "user5@acme.test", "Data Source Connected"),
              UsageDay(days_ago(20), "user6@acme.test", "Data Source Connected"),
              UsageDay(days_ago(5), "user7@acme.test", "First Automation Run", 2)]
    tickets = []
    for i in range(60):
        created = days_ago(rng.randint(-5, 200))
        solved = created + dt.timedelta(days=rng.randint(-2, 40)) if rng.random() < 0.6 else None
        status = rng.choice(("new", "open", "pending", "solved", "closed"))
        tickets.append(TicketFact(str(i), rng.choice(("low", "normal", "high", "urgent")), status, created,
                                  solved, rng.random() < 0.3))
    csat = tuple(CsatAnswer(days_ago(rng.randint(-5, 260)), rng.random() < 0.7) for _ in range(40))
    nps = tuple(NpsAnswer(days_ago(rng.randint(-5, 320)), rng.randint(0, 10)) for _ in range(40))
    contacts = (
        ContactFact("USER1@acme.test", "executive_sponsor", "Sam", days_ago(150)),  # matched case-insensitively
        ContactFact("user2@acme.test", "champion", "Alex", days_ago(-3)),  # stored activity after some days
        ContactFact("user3@acme.test", "champion", "Alex", None),
        ContactFact("nobody@acme.test", "champion", None, days_ago(90)),
        ContactFact("user4@acme.test", "admin", "Ada", days_ago(1)),
    )
    return AccountInputs(
        account_id=7, name="Acme", segment="smb", tier="growth", lifecycle_stage="adopting", parent_id=3,
        arr=12000.5, seats_purchased=10, renewal_date=days_ago(-30), onboarding_start=days_ago(100),
        usage=tuple(usage), tickets=tuple(tickets), csat=csat, nps=nps, contacts=contacts,
        milestones_reached=frozenset({"Teammate Invited"}))


def _each_day(inputs: AccountInputs, settings: SignalSettings | None = None,
              first: dt.date = FIRST, last: dt.date = AS_OF) -> list[object]:
    return [compute_signals(inputs, first + dt.timedelta(days=i), settings) for i in range((last - first).days + 1)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_day_equals_compute_signals_for_that_day(seed: int) -> None:
    inputs = _world(seed)
    series = signal_series(inputs, FIRST, AS_OF)
    expected = _each_day(inputs)
    assert len(series) == len(expected) == 120
    assert [s.day for s in series] == [s.day for s in expected]  # type: ignore[attr-defined]
    for got, want in zip(series, expected, strict=True):
        assert got == want, got.day
    # The world moves: the compared days are not all alike.
    assert len({s.weekly_active_users for s in series}) > 3
    assert len({s.open_tickets for s in series}) > 3
    assert len({s.nps for s in series}) > 3
    assert {s.champion_name for s in series} >= {"Alex"}
    assert len({s.milestones_reached for s in series}) >= 3


def test_custom_windows_and_features() -> None:
    settings = SignalSettings(key_features=("API Call", "Report Created", "API Call"), login_event="API Call",
                              milestones=("Teammate Invited", "Workspace Created"), csat_days=7, nps_days=1)
    inputs = _world(4)
    series = signal_series(inputs, FIRST, AS_OF, settings)
    expected = _each_day(inputs, settings)
    assert len(series) == 120
    assert series == expected


def test_onboarding_not_started_with_milestones_known() -> None:
    base = _world(7)
    inputs = AccountInputs(account_id=1, usage=base.usage, onboarding_start=None,
                           milestones_reached=frozenset({"Teammate Invited"}))
    series = signal_series(inputs, FIRST, AS_OF)
    assert len(series) == 120
    assert series == _each_day(inputs)
    assert series[-1].onboarding_progress is not None and series[-1].days_since_onboarding_start is None


def test_onboarding_starting_inside_the_range_before_any_milestone() -> None:
    usage = (UsageDay(days_ago(30), "u", "Workspace Created"), UsageDay(days_ago(10), "u", "Teammate Invited"))
    inputs = AccountInputs(account_id=1, usage=usage, onboarding_start=days_ago(50))
    series = signal_series(inputs, FIRST, AS_OF)
    assert len(series) == 120
    assert series == _each_day(inputs)
    progress = [s.onboarding_progress for s in series]
    assert progress[0] is None and progress[-40] == 0.0 and progress[-1] == 40.0


def test_missing_and_empty_sources() -> None:
    for inputs in (AccountInputs(account_id=1), AccountInputs(account_id=1, usage=(), tickets=())):
        series = signal_series(inputs, FIRST, AS_OF)
        assert len(series) == 120
        assert series == _each_day(inputs)


def test_user_keys_differing_only_in_case_are_computed_day_by_day() -> None:
    base = _world(5)
    twins = (UsageDay(days_ago(40), "User1@acme.test", "Logged In", 1),
             UsageDay(days_ago(3), "user1@ACME.test", "Logged In", 1))
    inputs = AccountInputs(**{**{f: getattr(base, f) for f in base.__slots__}, "usage": base.usage + twins})  # type: ignore[operator]
    series = signal_series(inputs, FIRST, AS_OF)
    assert len(series) == 120
    assert series == _each_day(inputs)


def test_one_day_and_an_empty_range() -> None:
    inputs = _world(6)
    assert signal_series(inputs, AS_OF, AS_OF) == [compute_signals(inputs, AS_OF)]
    assert signal_series(inputs, AS_OF, AS_OF - dt.timedelta(days=1)) == []


def test_tickets_opening_and_solved_inside_the_range() -> None:
    tickets = (
        TicketFact("a", "urgent", "solved", days_ago(50), days_ago(47), True),
        TicketFact("b", "urgent", "solved", days_ago(30), days_ago(30)),  # solved the day it came in
        TicketFact("c", "normal", "closed", days_ago(20)),  # closed without a solve date
        TicketFact("d", "urgent", "open", days_ago(10), None, True),
    )
    inputs = AccountInputs(account_id=1, tickets=tickets)
    series = signal_series(inputs, FIRST, AS_OF)
    assert len(series) == 120
    assert series == _each_day(inputs)
    assert [s.oldest_urgent_open_days for s in series if s.day == days_ago(50)] == [0]
    assert [(s.open_tickets, s.escalated_open_tickets) for s in series if s.day == days_ago(0)] == [(1.0, 1.0)]
