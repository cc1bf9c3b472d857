"""Adoption and users (analytics.adoption): hand-computed tables, edge cases, one property."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.adoption import (
    DEFINITIONS,
    AdoptionAccount,
    AdoptionCount,
    ContactPerson,
    EventUse,
    ProductPerson,
    UpgradeFacts,
    UserActivity,
    adoption_by_month,
    adoption_counts,
    feature_adoption,
    feature_adoption_of,
    leaderboard,
    needs_training,
    quarter,
    sponsors,
    tier_class,
    upgrade_ready,
)
from tests.shared import WORLD_AS_OF, WORLD_NOW

KEY = ("Report Created", "API Call")
LOGIN = "Logged In"
SETTINGS = settings(derandomize=True, database=None, max_examples=60, deadline=None)

ACCOUNTS = [
    AdoptionAccount(1, "Enterprise", dt.date(2026, 3, 31)),  # premium (case-insensitive), 2026-Q1
    AdoptionAccount(2, "growth", dt.date(2026, 4, 1)),  # standard, 2026-Q2
    AdoptionAccount(3, None, None),  # standard, never active
]
USES = [
    EventUse(1, "u1", LOGIN, 10, 12), EventUse(1, "u1", "Report Created", 3, 5),
    EventUse(1, "u2", LOGIN, 2, 2),
    EventUse(2, "v1", "API Call", 4, 400), EventUse(2, "v1", "Report Created", 1, 1),
    EventUse(2, "v2", "Page Viewed", 1, 1),
    EventUse(8, "x", "API Call", 9, 9),  # account 8 is not in the book: ignored
    EventUse(3, "w", LOGIN, 0, 0),  # no day: not active
]


def test_every_module_figure_has_a_definition() -> None:
    assert {"active_user", "account_adoption", "user_adoption", "engagement", "needs_training",
            "sponsor_activity", "upgrade_ready", "tier_class", "cohort"} == set(DEFINITIONS)


def test_tier_class_and_quarter() -> None:
    assert [tier_class(t) for t in ("enterprise", " ENTERPRISE ", "growth", None)] == \
        ["premium", "premium", "standard", "standard"]
    assert [quarter(dt.date(2026, m, d)) for m, d in ((1, 1), (3, 31), (4, 1), (12, 31))] == \
        ["2026-Q1", "2026-Q1", "2026-Q2", "2026-Q4"]


def test_feature_adoption_of_the_whole_base() -> None:
    out = {f.feature: f for f in feature_adoption(ACCOUNTS, USES, KEY)}
    report = out["Report Created"]
    # accounts 1 and 2 used it of 3 accounts; active users: u1, u2, v1, v2 = 4, of whom u1 and v1 used it
    assert (report.accounts, report.accounts_using, report.active_users, report.users_using) == (3, 2, 4, 2)
    assert report.account_share == pytest.approx(2 / 3) and report.user_share == 0.5
    api = out["API Call"]  # only v1 of account 2 (account 8 is outside the book)
    assert (api.accounts_using, api.users_using, api.account_share, api.user_share) == (1, 1, 1 / 3, 0.25)


def test_feature_adoption_by_tier_and_by_cohort() -> None:
    by_tier = {(f.group, f.feature): f for f in feature_adoption(ACCOUNTS, USES, KEY, by="tier")}
    assert by_tier[("premium", "API Call")].account_share == 0.0  # 0 of 1 premium account
    assert by_tier[("premium", "Report Created")].user_share == 0.5  # u1 of u1, u2
    std = by_tier[("standard", "API Call")]  # accounts 2, 3; active users v1, v2
    assert (std.accounts, std.accounts_using, std.account_share, std.user_share) == (2, 1, 0.5, 0.5)
    cohorts = {f.group for f in feature_adoption(ACCOUNTS, USES, KEY, by="cohort")}
    assert cohorts == {"2026-Q1", "2026-Q2", "never active"}
    never = [f for f in feature_adoption(ACCOUNTS, USES, KEY, by="cohort") if f.group == "never active"]
    assert [(f.active_users, f.user_share) for f in never] == [(0, None), (0, None)]  # 0 ÷ 0 is none
    with pytest.raises(ValueError, match="'all', 'tier' or 'cohort'"):
        feature_adoption(ACCOUNTS, USES, KEY, by="region")
    with pytest.raises(ValueError, match="at least one key feature"):
        feature_adoption(ACCOUNTS, USES, ())


def test_feature_adoption_from_rows_the_caller_grouped_in_sql() -> None:
    counts = [AdoptionCount("premium", None, 4, 10), AdoptionCount("premium", "API Call", 1, 3),
              AdoptionCount("standard", None, 0, 0), AdoptionCount("ghost", "API Call", 2, 2)]  # no totals: left out
    out = feature_adoption_of(counts, KEY)
    assert [(f.group, f.feature, f.account_share, f.user_share) for f in out] == [
        ("premium", "Report Created", 0.0, 0.0), ("premium", "API Call", 0.25, 0.3),  # 1 ÷ 4, 3 ÷ 10
        ("standard", "Report Created", None, None), ("standard", "API Call", None, None)]  # 0 ÷ 0
    # the per-account path gives these rows for the book above
    assert sorted(adoption_counts(ACCOUNTS, USES, KEY), key=lambda c: c.feature or "") == [
        AdoptionCount("all", None, 3, 4), AdoptionCount("all", "API Call", 1, 1),
        AdoptionCount("all", "Report Created", 2, 2)]


def test_adoption_by_month_across_a_year_end() -> None:
    dec, jan = dt.date(2026, 12, 1), dt.date(2027, 1, 1)
    monthly = [(dec, EventUse(1, "u1", "API Call", 2, 2)), (jan, EventUse(2, "v1", "API Call", 1, 1)),
               (jan, EventUse(1, "u1", LOGIN, 1, 1))]
    out = adoption_by_month(ACCOUNTS, monthly, ("API Call",))
    assert list(out) == [dec, jan]
    assert (out[dec][0].accounts_using, out[dec][0].user_share) == (1, 1.0)
    assert (out[jan][0].accounts_using, out[jan][0].active_users, out[jan][0].user_share) == (1, 2, 0.5)
    with pytest.raises(ValueError, match="first day"):
        adoption_by_month(ACCOUNTS, [(dt.date(2026, 12, 31), USES[0])], KEY)


ACTIVITY = [
    UserActivity(1, "u1", 10, logins=12, name="Una"),  # 10 + 3 report days = 13
    UserActivity(1, "u2", 2, logins=2, logins_before=10),  # 2
    UserActivity(2, "v1", 8, logins=0),  # 8 + 4 API days + 1 report day = 13, fewer active days than u1
    UserActivity(2, "v2", 1),  # 1
    UserActivity(2, "u1", 13),  # the same person (key) in a second account: 13 + 0, ranks on its own
    UserActivity(3, "w", 0, logins_before=3),  # not active: never ranked
]


def test_leaderboard_across_the_base_with_ties_broken_by_active_days_then_account() -> None:
    board = leaderboard(ACTIVITY, USES, KEY, limit=10)
    # 13 each: (2, u1) has 13 active days, (1, u1) 10, (2, v1) 8
    assert [(r.rank, r.account_id, r.user_key, r.engagement) for r in board] == [
        (1, 2, "u1", 13), (2, 1, "u1", 13), (3, 2, "v1", 13), (4, 1, "u2", 2), (5, 2, "v2", 1)]
    assert (board[1].key_feature_days, board[1].name) == (3, "Una")
    assert [r.user_key for r in leaderboard(ACTIVITY, USES, KEY, limit=2)] == ["u1", "u1"]
    with pytest.raises(ValueError, match="at least 1 user"):
        leaderboard(ACTIVITY, USES, KEY, limit=0)


def test_leaderboard_of_one_account() -> None:
    board = leaderboard(ACTIVITY, USES, KEY, account_id=2)
    assert [(r.user_key, r.engagement, r.key_feature_days) for r in board] == [
        ("u1", 13, 0), ("v1", 13, 5), ("v2", 1, 0)]
    assert leaderboard(ACTIVITY, USES, KEY, account_id=404) == []


def test_users_who_need_training() -> None:
    out = {(t.account_id, t.user_key): t.reasons for t in needs_training(ACTIVITY, USES, KEY)}
    assert out == {
        (1, "u2"): ("active on 2 day(s) but used no key feature", "logins fell from 10 to 2"),
        (2, "v2"): ("active on 1 day(s) but used no key feature",),
        (2, "u1"): ("active on 13 day(s) but used no key feature",),  # the u1 of account 2 never used one
    }  # (3, "w"): 3 logins before is under the minimum of 4; not active now
    halved = needs_training([UserActivity(5, "h", 0, logins=2, logins_before=4)], [], KEY)
    assert [t.reasons for t in halved] == [("logins fell from 4 to 2",)]  # 2 * 2 <= 4
    assert needs_training([UserActivity(5, "h", 0, logins=3, logins_before=5)], [], KEY) == []  # 6 > 5


def test_champions_and_sponsors_matched_by_email_case_insensitive() -> None:
    at = WORLD_NOW
    contacts = [
        ContactPerson(1, "Ann@Acme.com", "champion", "Ann", at - dt.timedelta(days=20)),
        ContactPerson(1, "cfo@acme.com", "executive_sponsor", "Cy", None),
        ContactPerson(2, "bo@beta.io", "champion", "Bo", at - dt.timedelta(days=3)),
        ContactPerson(2, "user@beta.io", "user", "Ul", at),  # not a sponsor role
    ]
    people = [ProductPerson(1, "ann-1", " ann@acme.COM", at - dt.timedelta(days=2)),
              ProductPerson(9, "ann-9", "ann@acme.com", at - dt.timedelta(days=40)),
              ProductPerson(2, "bo", "bo@beta.io", None), ProductPerson(2, "x", None, at)]
    out = sponsors(contacts, people, WORLD_AS_OF)
    assert [(s.email, s.days_since, s.user_keys) for s in out] == [
        ("cfo@acme.com", None, ()),  # never seen: first
        ("bo@beta.io", 3, ("bo",)),  # the contact's own activity; the product user was never seen
        ("Ann@Acme.com", 2, ("ann-1", "ann-9")),  # the latest of 20, 2 and 40 days ago
    ]
    assert out[2].last_activity == at - dt.timedelta(days=2)


def _facts(account_id: int, **kw: object) -> UpgradeFacts:
    base: dict[str, object] = dict(snapshots=30, lowest_score=82.0, first_day=WORLD_AS_OF - dt.timedelta(days=29),
                                   seats_purchased=20, active_users=17, active_users_before=17)
    base.update(kw)
    return UpgradeFacts(account_id, **base)  # type: ignore[arg-type]


def test_upgrade_ready_accounts_with_their_reasons() -> None:
    facts = [
        _facts(1),  # 17 / 20 = 85 % seat use
        _facts(2, active_users=16),  # 80 % seats, no growth
        _facts(3, seats_purchased=None, active_users=12, active_users_before=10),  # +20 % exactly
        _facts(4, lowest_score=79.9),  # one snapshot below 80
        _facts(5, first_day=WORLD_AS_OF - dt.timedelta(days=22)),  # scored only from day 8 of the window
        _facts(6, snapshots=0, lowest_score=None, first_day=None),  # no snapshots
        _facts(7, seats_purchased=0, active_users=5, active_users_before=0),  # 0 seats, 0 before: none ÷ 0
        _facts(8, seats_purchased=10, active_users=12, active_users_before=5),  # both reasons
    ]
    out = {u.account_id: u.reason for u in upgrade_ready(facts, WORLD_AS_OF)}
    assert sorted(out) == [1, 3, 8]
    assert out[1] == "health >= 80 on all 30 snapshot(s) since 2026-11-01 (lowest 82); seat use 85 % (17 of 20 seats)"
    assert out[3].endswith("active users up 20 % (10 → 12) on the 30 days before")
    assert "seat use 120 %" in out[8] and "up 140 %" in out[8]
    edge = upgrade_ready([_facts(9, first_day=WORLD_AS_OF - dt.timedelta(days=23))], WORLD_AS_OF)
    assert [u.account_id for u in edge] == [9]  # day 7 of the window is still its first week


@SETTINGS
@given(st.lists(st.tuples(st.integers(1, 4), st.sampled_from("abcde"), st.integers(0, 30), st.integers(0, 10)),
                max_size=30, unique_by=lambda t: (t[0], t[1])),
       st.randoms(use_true_random=False))
def test_leaderboard_order_is_stable_under_shuffling(rows: list[tuple[int, str, int, int]], rnd: random.Random) -> None:
    users = [UserActivity(a, u, d) for a, u, d, _k in rows]
    uses = [EventUse(a, u, "API Call", k) for a, u, _d, k in rows]
    board = leaderboard(users, uses, KEY, limit=50)
    rnd.shuffle(users)
    rnd.shuffle(uses)
    assert leaderboard(users, uses, KEY, limit=50) == board
    assert len(board) == sum(1 for _a, _u, d, _k in rows if d > 0)
    assert [r.engagement for r in board] == sorted((r.engagement for r in board), reverse=True)
