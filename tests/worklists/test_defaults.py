"""Each shipped list on hand-built facts: who is in, why (the reasons name the values), and the edges of
every date window — all as of `WORLD_AS_OF`, never the clock."""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

import pytest

from tests.shared import WORLD_AS_OF
from worklists import AccountFacts, EarlierHealth, ListDefinition, OpenAlert, add_months, default_lists, evaluate

TODAY = WORLD_AS_OF  # 2026-11-30


def shipped(key: str) -> ListDefinition:
    found = [d for d in default_lists() if d.key == key]
    assert len(found) == 1, key
    return found[0]


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def members(key: str, *facts: AccountFacts) -> dict[int, tuple[str, ...]]:
    return {m.account_id: m.reasons for m in evaluate(shipped(key), facts, TODAY)}


def test_the_shipped_lists_are_the_research_documents_check_ins() -> None:
    assert [d.key for d in default_lists()] == [
        "onboarding-check-in", "business-review-due", "business-review-overdue", "renewal-120", "renewal-90",
        "renewal-60", "renewal-30", "usage-dropped", "key-feature-adopted", "champion-quiet", "onboarding-stalled",
        "upgrade-ready"]
    assert all(d.description for d in default_lists())


def test_onboarding_check_in_is_30_to_36_days_after_the_start() -> None:
    found = members("onboarding-check-in", *(AccountFacts(n, onboarding_start=days(-n)) for n in (29, 30, 33, 36, 37)),
                    AccountFacts(1, onboarding_start=None))
    assert sorted(found) == [30, 33, 36]
    assert found[30] == ("Onboarding start 2026-10-31, 30 days ago (between 36 days ago and 30 days ago)",)


@pytest.mark.parametrize(("window", "inside", "outside"), [(120, (0, 1, 120), (-1, 121)), (90, (0, 90), (-1, 91)),
                                                           (60, (0, 60), (-1, 61)), (30, (0, 30), (-1, 31))])
def test_renewal_lists_hold_renewals_from_today_to_the_window_end(window: int, inside: tuple[int, ...],
                                                                  outside: tuple[int, ...]) -> None:
    facts = [AccountFacts(1000 + n, renewal_date=days(n)) for n in (*inside, *outside)] + [AccountFacts(1)]
    found = members(f"renewal-{window}", *facts)
    assert sorted(found) == sorted(1000 + n for n in inside)
    assert found[1000] == (f"Renewal date 2026-11-30, today (between today and {window} days ahead)",)


def test_business_review_due_at_each_quarterly_anniversary_in_the_next_30_days() -> None:
    facts = [
        AccountFacts(3, start_date=add_months(TODAY, -3)),                           # 3-month anniversary today
        AccountFacts(6, start_date=add_months(days(30), -6)),                        # 6-month, in 30 days: last day
        AccountFacts(9, start_date=add_months(days(31), -9)),                        # 9-month in 31 days: not yet
        AccountFacts(12, start_date=add_months(days(10), -12)),                      # 12-month, in 10 days
        AccountFacts(15, start_date=add_months(days(5), -15)),                       # 15-month: every year again
        AccountFacts(4, start_date=add_months(days(5), -4)),                         # 4 months: no review
        AccountFacts(1, start_date=add_months(days(-1), -3)),                        # yesterday: overdue, not due
        AccountFacts(2, start_date=days(10)),                                        # starts later
    ]
    found = members("business-review-due", *facts)
    assert sorted(found) == [3, 6, 12, 15]
    assert found[3] == ("3-month subscription anniversary on 2026-11-30, today (subscription started 2026-08-30; "
                        "window between today and 30 days ahead)",)
    assert found[12][0].startswith("12-month subscription anniversary on 2026-12-10, in 10 days")
    assert found[15][0].startswith("15-month subscription anniversary on 2026-12-05, in 5 days")


def test_business_review_overdue_in_the_30_days_after_an_anniversary() -> None:
    facts = [AccountFacts(1, start_date=dt.date(2026, 8, 29)),    # 3 months on 2026-11-29: yesterday
             AccountFacts(30, start_date=dt.date(2026, 1, 31)),   # 9 months on 2026-10-31: 30 days ago
             AccountFacts(31, start_date=dt.date(2026, 4, 30)),   # 6 months on 2026-10-30: 31 days ago
             AccountFacts(0, start_date=dt.date(2026, 8, 30))]    # 3 months today: due, not overdue
    found = members("business-review-overdue", *facts)
    assert sorted(found) == [1, 30]
    assert found[1][0].startswith("3-month subscription anniversary on 2026-11-29, yesterday")


def test_anniversaries_of_a_month_end_start_fall_on_the_shorter_months_last_day() -> None:
    assert add_months(dt.date(2026, 8, 31), 3) == dt.date(2026, 11, 30)
    assert add_months(dt.date(2024, 11, 30), 3) == dt.date(2025, 2, 28)
    found = members("business-review-due", AccountFacts(7, start_date=dt.date(2026, 8, 31)))
    assert found[7][0].startswith("3-month subscription anniversary on 2026-11-30, today")


def test_usage_dropped_on_the_alert_or_a_40_percent_fall_in_weekly_active_users() -> None:
    alert = OpenAlert("usage_drop", "Usage dropped 62 % over two weeks", days(-1))
    facts = [AccountFacts(1, open_alerts=(alert,)),
             AccountFacts(2, measures=MappingProxyType({"active_users_trend": -40.0})),
             AccountFacts(3, measures=MappingProxyType({"active_users_trend": -39.9})),
             AccountFacts(4, open_alerts=(alert,), measures=MappingProxyType({"active_users_trend": -75.0})),
             AccountFacts(5, open_alerts=(OpenAlert("ticket_spike", "Ticket spike: 9 new tickets in 7 days"),))]
    found = members("usage-dropped", *facts)
    assert sorted(found) == [1, 2, 4]
    assert found[1] == ("Open alert: Usage dropped 62 % over two weeks (raised 2026-11-29)",)
    assert found[2] == ("Weekly active users, change over 14 days is -40 % (at most -40 %)",)
    assert len(found[4]) == 2


def test_started_using_a_key_feature_when_the_share_of_key_features_rose_this_week() -> None:
    def facts(account_id: int, now: float | None, then: float | None, earlier: bool = True) -> AccountFacts:
        week_ago = EarlierHealth(50.0, MappingProxyType({"feature_breadth": then}))
        return AccountFacts(account_id, measures=MappingProxyType({"feature_breadth": now}),
                            earlier=MappingProxyType({7: week_ago} if earlier else {}))

    found = members("key-feature-adopted", facts(1, 37.5, 25.0), facts(2, 25.0, 25.0), facts(3, 12.5, 25.0),
                    facts(4, 37.5, None), facts(5, 37.5, 25.0, earlier=False))
    assert list(found) == [1]
    assert found[1] == ("Key features used rose from 25 % to 38 % in 7 days (by 12.5; at least 1)",)


@pytest.mark.parametrize(("key", "rule", "title"), [
    ("champion-quiet", "champion_inactive", "Days since the champion was active: 45"),
    ("onboarding-stalled", "onboarding_overdue", "Onboarding not completed 41 days after start")])
def test_alert_based_lists(key: str, rule: str, title: str) -> None:
    found = members(key, AccountFacts(1, open_alerts=(OpenAlert(rule, title, days(-3)),)),
                    AccountFacts(2, open_alerts=(OpenAlert("usage_drop", "Usage dropped"),)), AccountFacts(3))
    assert found == {1: (f"Open alert: {title} (raised 2026-11-27)",)}


def test_upgrade_ready_needs_good_health_and_80_percent_of_seats_in_use() -> None:
    def facts(account_id: int, band: str, used: float) -> AccountFacts:
        return AccountFacts(account_id, band=band, score=82.0, measures=MappingProxyType({"license_utilisation": used}))

    found = members("upgrade-ready", facts(1, "good", 80.0), facts(2, "good", 79.9), facts(3, "average", 95.0),
                    AccountFacts(4, band="good"))
    assert found == {1: ("Health is good (score 82)", "License utilisation is 80 % (at least 80 %)")}


def test_anniversary_answers_shared_by_accounts_with_one_start_date_equal_each_evaluated_alone() -> None:
    starts = [add_months(TODAY, -3), add_months(days(12), -6), add_months(days(40), -3), None, days(10)]
    facts = [AccountFacts(k, start_date=starts[k % len(starts)]) for k in range(20)]
    together = members("business-review-due", *facts)
    alone: dict[int, tuple[str, ...]] = {}
    for f in facts:
        alone |= members("business-review-due", f)
    assert together == alone
    assert sorted(together) == [k for k in range(20) if k % 5 in (0, 1)]
    assert together[5] == together[0] and together[6] == together[1] and together[0] != together[1]
