"""When triggers fire: windows for dates and anniversaries, entries counted from publication, and
whether a running run's trigger still holds."""

from __future__ import annotations

import datetime as dt

from plays import Departure, Membership, RaisedAlert, Trigger, TriggerInputs, firings, still_holds
from tests.shared import WORLD_AS_OF
from worklists import AccountFacts

DAY = WORLD_AS_OF


def d(n: int) -> dt.date:
    return DAY + dt.timedelta(days=n)


def test_a_date_offset_fires_from_its_day_for_its_window_and_never_before() -> None:
    trigger = Trigger("date", field="subscription.renewal_date", offset_days=-120, window_days=30)
    facts = {1: AccountFacts(1, renewal_date=d(120)), 2: AccountFacts(2, renewal_date=d(91)),
             3: AccountFacts(3, renewal_date=d(90)), 4: AccountFacts(4, renewal_date=d(121)),
             5: AccountFacts(5)}
    fired = firings(trigger, TriggerInputs(facts=facts), DAY)
    assert [(f.account_id, f.episode, f.reason) for f in fired] == [
        (1, d(120).isoformat(), "date:subscription.renewal_date-120"),
        (2, d(91).isoformat(), "date:subscription.renewal_date-120")]
    assert fired[0].reasons == (f"Renewal date {d(120)} (in 120 days)",)


def test_an_onboarding_offset_counts_forward() -> None:
    trigger = Trigger("date", field="onboarding.start_date", offset_days=30, window_days=7)
    facts = {1: AccountFacts(1, onboarding_start=d(-30)), 2: AccountFacts(2, onboarding_start=d(-37)),
             3: AccountFacts(3, onboarding_start=d(-36))}
    assert [f.account_id for f in firings(trigger, TriggerInputs(facts=facts), DAY)] == [1, 3]


def test_anniversaries_fire_before_each_quarter_and_again_every_year() -> None:
    trigger = Trigger("anniversary", months=(3, 6, 9, 12), every_year=True, offset_days=-14, window_days=14)
    start = dt.date(2025, 3, 10)  # 21 months on 2026-12-10: 14 days before falls in the window
    fired = firings(trigger, TriggerInputs(facts={1: AccountFacts(1, start_date=start)}), DAY)
    assert [(f.episode, f.anchor) for f in fired] == [("21m-2026-12-10", dt.date(2026, 12, 10))]
    too_far = firings(trigger, TriggerInputs(facts={1: AccountFacts(1, start_date=dt.date(2025, 4, 20))}), DAY)
    assert too_far == []


def test_list_entries_count_from_publication_unless_current_members_are_included() -> None:
    members = {1: Membership(d(-10), ("Renewal in 80 days",)), 2: Membership(DAY, ())}
    inputs = TriggerInputs(list_name="Renewals", members=members)
    trigger = Trigger("list_entered", list="renewal-90")
    assert [f.account_id for f in firings(trigger, inputs, DAY, since=None)] == [1, 2]
    assert [f.account_id for f in firings(trigger, inputs, DAY, since=DAY)] == [2]
    first = firings(trigger, inputs, DAY)[0]
    assert first.reasons == (f"Entered list “Renewals” on {d(-10)}", "Renewal in 80 days")
    assert first.episode == d(-10).isoformat()


def test_still_holds_for_auto_close() -> None:
    entered = Trigger("list_entered", list="x")
    inputs = TriggerInputs(list_name="X", members={1: Membership(d(-3))}, departures={2: Departure(d(-1))})
    assert still_holds(entered, 1, d(-3).isoformat(), inputs) == (True, "")
    assert still_holds(entered, 1, d(-40).isoformat(), inputs)[0] is False  # a later stay is another episode
    assert still_holds(entered, 2, d(-9).isoformat(), inputs) == (False, f"left list “X” on {d(-1)}")
    left = Trigger("list_left", list="x")
    assert still_holds(left, 1, d(-9).isoformat(), inputs)[0] is False
    alert = Trigger("alert", rule="usage_drop")
    open_alert = TriggerInputs(alerts={1: RaisedAlert(7, d(-2))})
    assert still_holds(alert, 1, "alert-7", open_alert) == (True, "")
    assert still_holds(alert, 1, "alert-6", open_alert) == (False, "the usage_drop alert resolved")
    date = Trigger("date", field="subscription.renewal_date", offset_days=-30)
    assert still_holds(date, 1, "2027-01-01", TriggerInputs()) == (True, "")
